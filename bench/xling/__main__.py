"""``python -m bench.xling [--json]``: Chinese suppliers found for English tenders.

1. Ranking (``../shared/data/zh-suppliers-dev``): the 80 suppliers registered once with only their Chinese text and
   once with only their English text (no codes); every notice ranked; HR@10 and MRR@10 of the right supplier (the
   one whose class is the notice's). Two rows per language: the matcher's offline path (``rank_notices``, the one
   function the matcher's scoring goes through) and the cosine-only reference (the encoder's cosine of notice
   title against supplier text).
2. Code suggestion: for each Chinese description (and each Chinese-only profile, as the matcher reads it to suggest
   codes: name, description and keywords), do the top-5 suggested UNSPSC codes hold the right family and class; and
   on AusTender descriptions of the test months (2024-05-01 .. 2024-06-20, development split), class@5 and
   family@5 against a TF-IDF-nearest-title baseline computed here.
3. The encoder on ``../shared/data/zh-pairs``: top-1 / top-5 of the English title for each Chinese phrase, with and
   without the 50 near-miss titles; phrases/s batched; resident memory.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from bench.quality.data import read_awards
from contracts import Buyer, Classification, CodeScheme, Item, SupplierProfile, TenderNotice
from services.matcher.adapters.codebook import code_index
from services.matcher.adapters.encoder import UseEncoder
from services.matcher.domain.semantic import semantic_text
from services.matcher.domain.suggest import suggest_codes
from services.matcher.ports import Encoder

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
K = 10


@dataclass(frozen=True)
class Supplier:
    id: str
    cls: str
    zh_name: str
    zh_description: str
    zh_keywords: list[str]
    en_description: str
    en_keywords: list[str]

    @property
    def distractor(self) -> bool:
        return self.id.startswith("dev-d")

    def profile(self, language: str) -> SupplierProfile:
        """Only this language's text, no codes (the English twin has no name of its own: its id stands in)."""
        if language == "zh":
            names, description, keywords = {"zh-Hans": self.zh_name}, self.zh_description, self.zh_keywords
        else:
            names, description, keywords = {"en": self.id}, self.en_description, self.en_keywords
        lang = "zh-Hans" if language == "zh" else "en"
        return SupplierProfile(
            supplier_id=self.id,
            names=names,
            country="CN",
            keywords=keywords,
            description={lang: description},
        )


def read_dev(folder: Path) -> tuple[list[TenderNotice], dict[str, str], list[Supplier]]:
    """The notices, each notice's class, the suppliers."""
    notices, classes = [], {}
    for line in (folder / "notices.jsonl").read_text(encoding="utf-8").splitlines():
        n = json.loads(line)
        notices.append(
            TenderNotice(
                notice_id=f"austender:{n['id']}",
                source="austender",
                source_id=n["id"],
                title=n["title"],
                buyer=Buyer(name=n["buyer"], country="AU"),
                items=[
                    Item(
                        description=n["title"],
                        classification=Classification(scheme=CodeScheme.UNSPSC, code=n["unspsc"]),
                    )
                ],
                published_at=datetime.fromisoformat(n["date"].replace("Z", "+00:00")),
            )
        )
        classes[f"austender:{n['id']}"] = n["class"]
    suppliers = [
        Supplier(
            s["id"],
            s["class"],
            s["name_zh"],
            s["description_zh"],
            s["keywords_zh"],
            s["description_en"],
            s["keywords_en"],
        )
        for s in map(json.loads, (folder / "suppliers.jsonl").read_text(encoding="utf-8").splitlines())
    ]
    return notices, classes, suppliers


def rank_notices(notices: Sequence[TenderNotice], profiles: Sequence[SupplierProfile]) -> dict[str, list[str]]:
    """Supplier ids by rank for each notice, through the matcher's offline path (``match NOTICES --profiles P``)."""
    from services.matcher.bootstrap import bootstrap_in_memory, make_encoder
    from services.matcher.settings import Settings

    settings = Settings()
    container = bootstrap_in_memory(settings, encoder=make_encoder(settings))
    container.matcher.profiles.put_many(list(profiles))
    container.matcher.refit()
    out: dict[str, list[str]] = {}
    for notice in notices:
        shortlist = container.matcher.handle_notice(notice)
        out[notice.notice_id] = [e.supplier_id for e in shortlist.entries] if shortlist else []
    return out


def profile_text(p: SupplierProfile) -> str:
    return " ".join([*p.names.values(), *p.description.values(), *p.keywords])


def rank_by_cosine(
    notices: Sequence[TenderNotice], profiles: Sequence[SupplierProfile], encoder: Encoder
) -> dict[str, list[str]]:
    """The reference: the encoder's cosine of the notice title against the supplier's whole text."""
    s = encoder.encode([n.title for n in notices]) @ encoder.encode([profile_text(p) for p in profiles]).T
    ids = [p.supplier_id for p in profiles]
    return {
        n.notice_id: [ids[j] for j in np.argsort(-row, kind="stable")[:K]] for n, row in zip(notices, s, strict=True)
    }


def hit_rates(ranked: dict[str, list[str]], right: dict[str, str]) -> dict[str, float]:
    hits, rr = 0, 0.0
    for notice_id, want in right.items():
        top = ranked.get(notice_id, [])[:K]
        if want in top:
            hits += 1
            rr += 1 / (top.index(want) + 1)
    return {"hr@10": round(hits / len(right), 4), "mrr@10": round(rr / len(right), 4)}


def code_hit(codes: Sequence[str], cls: str, level: str) -> bool:
    """Does one of ``codes`` fall under the family (4 digits) or the class (6; a class given at family level,
    ``421300``, is met by any code of the family ``4213``; one given at segment level, ``860000``, by any code of
    the segment ``86``: the dev set labels one supplier so)."""
    if cls[2:6] == "0000":
        return any(c[:2] == cls[:2] for c in codes)
    if level == "family" or cls.endswith("00"):
        return any(c[:4] == cls[:4] for c in codes)
    return any(c[:6] == cls[:6] for c in codes)


def suggestion_shares(
    texts: Sequence[str], classes: Sequence[str], suggest: Callable[[list[str]], list[list[str]]], top: int = 5
) -> dict[str, float]:
    """The share of ``texts`` whose first ``top`` suggested codes hold their class's family, and its class."""
    codes = [found[:top] for found in suggest(list(texts))]
    n = len(classes)
    return {
        f"family@{top}": round(sum(code_hit(c, k, "family") for c, k in zip(codes, classes, strict=True)) / n, 4),
        f"class@{top}": round(sum(code_hit(c, k, "class") for c, k in zip(codes, classes, strict=True)) / n, 4),
        "n": n,
    }


def encoder_suggest(encoder: Encoder, top: int = 5) -> Callable[[list[str]], list[list[str]]]:
    index = code_index(CodeScheme.UNSPSC)
    return lambda texts: [[s.code for s in row] for row in suggest_codes(encoder.encode(texts), index, top=top)]


def tfidf_suggest(titles: dict[str, str]) -> Callable[[list[str]], list[list[str]]]:
    """The baseline: the codes of the 5 UNSPSC titles nearest by TF-IDF cosine (word unigrams and bigrams)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    codes = list(titles)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    matrix = vectorizer.fit_transform([titles[c] for c in codes])

    def suggest(texts: list[str]) -> list[list[str]]:
        sims = (vectorizer.transform(texts) @ matrix.T).toarray()
        return [[codes[j] for j in np.argsort(-row, kind="stable")[:5]] for row in sims]

    return suggest


def zh_pairs(folder: Path, encoder: Encoder) -> dict[str, float]:
    def tsv(name: str) -> list[dict[str, str]]:
        with (folder / name).open(encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter="\t"))

    pairs, distractors = tsv("pairs.tsv"), tsv("distractors.tsv")
    zh = encoder.encode([p["zh_supplier_phrase"] for p in pairs])
    en = encoder.encode([p["en_tender_title"] for p in pairs])
    dis = encoder.encode([d["en_tender_title_distractor"] for d in distractors])
    out: dict[str, float] = {}
    for name, titles in (("", en), ("_with_distractors", np.concatenate([en, dis]))):
        order = np.argsort(-(zh @ titles.T), axis=1)
        out["top1" + name] = round(float(np.mean(order[:, 0] == np.arange(len(pairs)))), 4)
        out["top5" + name] = round(float(np.mean([i in order[i, :5] for i in range(len(pairs))])), 4)
    right = np.sum(zh * en, axis=1)
    out["cosine_right_mean"] = round(float(right.mean()), 3)
    out["cosine_distractor_mean"] = round(float((zh @ dis.T).mean()), 3)
    return out


def rss_mb() -> float:
    """The process's resident memory now (Linux ``/proc``), else its peak so far."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def throughput(texts: list[str]) -> float:
    """Phrases per second, batched, without cache (the model loaded first, not timed); ``texts`` distinct, since the
    encoder encodes a text repeated within one call once."""
    fresh = UseEncoder(cache_size=0)
    fresh.encode(["load"])
    started = time.perf_counter()
    fresh.encode(texts)
    return round(len(texts) / (time.perf_counter() - started), 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Chinese suppliers found for English tenders (issue 14 figures)")
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--split-date", default="2024-05-01")
    ap.add_argument("--until", default="2024-06-21")
    args = ap.parse_args(argv)
    dev = args.shared / "zh-suppliers-dev"
    if not dev.is_dir():
        print(f"{dev} is absent: nothing to measure", file=sys.stderr)
        return 2
    started = time.perf_counter()
    test = [
        a
        for a in read_awards(args.shared / "austender" / "awards-2023-07_2024-06.csv.gz")
        if args.split_date <= a.signed.date().isoformat() < args.until and len(a.unspsc) == 8 and a.description
    ]
    result: dict[str, object] = {}
    # The encoder first, so that the memory it takes is read before the matcher adds its own (resident memory now,
    # not the peak: reading the award file peaks higher than the model takes).
    rss_before = rss_mb()
    encoder = UseEncoder()
    pairs: dict[str, float] = {}
    pairs_dir = args.shared / "zh-pairs"
    if pairs_dir.is_dir():
        pairs = zh_pairs(pairs_dir, encoder)
    pairs["phrases_per_second"] = throughput(list(dict.fromkeys(a.description for a in test))[:3000])
    pairs["rss_mb_before_model"] = round(rss_before, 1)
    pairs["rss_mb_with_model"] = round(rss_mb(), 1)
    result["encoder"] = pairs

    notices, classes, suppliers = read_dev(dev)
    right = {nid: s.id for nid, cls in classes.items() for s in suppliers if s.cls == cls and not s.distractor}
    result |= {"notices": len(notices), "suppliers": len(suppliers)}
    ranking: dict[str, dict[str, float]] = {}
    for language in ("zh", "en"):
        profiles = [s.profile(language) for s in suppliers]
        ranking[f"matcher_{language}"] = hit_rates(rank_notices(notices, profiles), right)
        ranking[f"cosine_{language}"] = hit_rates(rank_by_cosine(notices, profiles, encoder), right)
    result["ranking"] = ranking

    real = [s for s in suppliers if not s.distractor]
    ours = encoder_suggest(encoder)
    unspsc = code_index(CodeScheme.UNSPSC).titles
    baseline = tfidf_suggest(dict(unspsc))
    suggestion: dict[str, dict[str, float]] = {
        "zh_description": suggestion_shares([s.zh_description for s in real], [s.cls for s in real], ours),
        # The text the matcher suggests a code-less profile's codes from (``TextCodes`` over the profile's vector).
        "zh_profile": suggestion_shares([semantic_text(s.profile("zh")) for s in real], [s.cls for s in real], ours),
        "en_description": suggestion_shares([s.en_description for s in real], [s.cls for s in real], ours),
        # The headroom: a right family not among the 20 best cannot be brought into the 5 by re-ranking them.
        "zh_description_top20": suggestion_shares(
            [s.zh_description for s in real], [s.cls for s in real], encoder_suggest(encoder, 20), top=20
        ),
    }
    texts, codes = [a.description for a in test], [a.unspsc[:6] for a in test]
    suggestion["austender_test"] = suggestion_shares(texts, codes, ours)
    suggestion["austender_test_tfidf_baseline"] = suggestion_shares(texts, codes, baseline)
    base = suggestion["austender_test_tfidf_baseline"]["class@5"]
    suggestion["austender_class@5_ratio"] = {
        "x": round(suggestion["austender_test"]["class@5"] / base, 2) if base else 0.0
    }
    result["suggestion"] = suggestion

    result["model"] = encoder.model
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["seconds"] = round(time.perf_counter() - started, 1)

    print("ranking (HR@10 / MRR@10), 88 notices, suppliers with one language's text and no codes")
    for name, row in ranking.items():
        print(f"  {name:12} HR@10 {row['hr@10']:.3f}  MRR@10 {row['mrr@10']:.3f}")
    print("code suggestion (top 5 UNSPSC codes)")
    for name, row in suggestion.items():
        print(f"  {name:32} " + "  ".join(f"{k} {v}" for k, v in row.items()))
    print(
        "encoder (zh-pairs, throughput on 3,000 distinct AusTender descriptions): "
        + "  ".join(f"{k} {v}" for k, v in pairs.items())
    )
    print(f"{result['model']}, max RSS {result['max_rss_mb']} MB, {result['seconds']} s")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
