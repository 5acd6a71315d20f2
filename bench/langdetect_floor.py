"""How often a detected language is right, and how often one is given, before and after the confidence floor.

``python -m bench.langdetect_floor [--data ../shared/data] [--every 10]``

Texts whose language is known:
- ``ocds``: title + description of the OCDS sample notices that state their language, read through
  ``python -m services.ingest parse ... --source ocds`` with detection off (a stated tag that is no language, like
  Moldova's ``md``, is left out; Armenian ``hy`` is kept: langdetect has no profile for it, so any answer is wrong);
- ``ted``: TED Search API v3 titles, by the language key of ``title-proc``;
- ``eforms``: eForms notices' procurement title + description, by their ``languageID``;
- ``austender``: every ``--every``-th AusTender contract description (English);
- ``demo``: the generated demo notices (``.data/demo-data/notices.jsonl``), when present.

"before" is the former rule (the most probable language, whatever the text), "after" is ``detect_language``.
Coverage: share of texts answered; accuracy: share of answers that are right.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

from services.ingest.domain.normalize import ISO639_3, _cached_langdetect, detect_language, language_probabilities

REPO = Path(__file__).resolve().parents[1]
_UBL = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
Sample = tuple[str, str]  # (language, text)


def naive(text: str) -> str | None:
    """The rule before the floor: the most probable language, or None when langdetect has nothing."""
    probabilities = language_probabilities(text)
    return max(probabilities, key=lambda k: probabilities[k]) if probabilities else None


def languages() -> set[str]:
    """Tags that are languages: langdetect's own plus the ISO 639-1 codes ingest reads, plus Armenian."""
    import langdetect

    profiles = Path(langdetect.__file__).parent / "profiles"
    return {p.name.split("-")[0] for p in profiles.iterdir()} | set(ISO639_3.values()) | {"hy"}


def ocds_samples(data: Path) -> Iterator[Sample]:
    env = {**os.environ, "TB_INGEST_DETECT_LANGUAGE": "false", "TB_LOG_LEVEL": "ERROR"}
    cmd = [sys.executable, "-m", "services.ingest", "parse", str(data / "ocds-samples"), "--source", "ocds"]
    out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=True).stdout
    known = languages()
    skipped: dict[str, int] = {}
    for line in out.splitlines():
        notice = json.loads(line)
        lang = (notice.get("language") or "").split("-")[0]
        if lang in known:
            yield lang, f"{notice['title']} {notice.get('description', '')}"
        elif lang:
            skipped[lang] = skipped.get(lang, 0) + 1
    if skipped:
        print(f"ocds: left out, stated tags that are no language: {skipped}")


def ted_samples(data: Path) -> Iterator[Sample]:
    for file in sorted((data / "ted-samples" / "api-v3").glob("*.json")):
        for notice in json.loads(file.read_text(encoding="utf-8")).get("notices", []):
            for key, title in (notice.get("title-proc") or {}).items():
                if key in ISO639_3 and isinstance(title, str):
                    yield ISO639_3[key], f"{title} "


def eforms_samples(data: Path) -> Iterator[Sample]:
    for file in sorted((data / "ted-samples" / "eforms").rglob("*.xml")):
        project = ET.parse(file).getroot().find("cac:ProcurementProject", _UBL)
        if project is None:
            continue
        descriptions = {e.get("languageID"): e.text or "" for e in project.findall("cbc:Description", _UBL)}
        for name in project.findall("cbc:Name", _UBL):
            key = (name.get("languageID") or "").lower()
            if key in ISO639_3:
                yield ISO639_3[key], f"{name.text or ''} {descriptions.get(name.get('languageID'), '')}"


def austender_samples(data: Path, every: int) -> Iterator[Sample]:
    with gzip.open(data / "austender" / "awards-2023-07_2024-06.csv.gz", "rt", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i % every == 0:
                yield "en", f"{row['contract_description']} "


def demo_samples(path: Path) -> Iterator[Sample]:
    for line in path.read_text(encoding="utf-8").splitlines():
        notice = json.loads(line)
        if notice.get("language"):
            yield notice["language"].split("-")[0], f"{notice['title']} {notice.get('description') or ''}"


def score(samples: list[Sample], rule: Callable[[str], str | None]) -> tuple[float, float, int, float]:
    """(coverage, accuracy, wrong answers, CPU seconds)."""
    _cached_langdetect.cache_clear()  # each rule pays for its own langdetect calls
    started = time.process_time()
    answers = [(rule(text), lang) for lang, text in samples]
    cpu = time.process_time() - started
    given = [(a, lang) for a, lang in answers if a is not None]
    right = sum(a == lang for a, lang in given)
    return len(given) / len(samples), (right / len(given) if given else float("nan")), len(given) - right, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--every", type=int, default=10, help="read every n-th AusTender description")
    parser.add_argument("--demo", type=Path, default=REPO / ".data" / "demo-data" / "notices.jsonl")
    args = parser.parse_args()
    sets: dict[str, list[Sample]] = {}
    if (args.data / "ocds-samples").exists():
        sets["ocds"] = list(ocds_samples(args.data))
    if (args.data / "ted-samples").exists():
        sets["ted"] = list(ted_samples(args.data))
        sets["eforms"] = list(eforms_samples(args.data))
    if (args.data / "austender").exists():
        sets["austender"] = list(austender_samples(args.data, args.every))
    if args.demo.exists():
        sets["demo"] = list(demo_samples(args.demo))
    if not sets:
        raise SystemExit(f"no data under {args.data}")
    print(f"{'set':10} {'texts':>6} | {'before: coverage':>16} {'accuracy':>8} {'wrong':>5} | "
          f"{'after: coverage':>15} {'accuracy':>8} {'wrong':>5} | cpu before/after s")  # fmt: skip
    for name, samples in sets.items():
        before = score(samples, naive)
        after = score(samples, detect_language)
        print(
            f"{name:10} {len(samples):6d} | {before[0]:16.3f} {before[1]:8.3f} {before[2]:5d} | "
            f"{after[0]:15.3f} {after[1]:8.3f} {after[2]:5d} | {before[3]:.2f}/{after[3]:.2f}"
        )
    for text in ("Solar panels", "Labour Hire", "Aeronautical Life Support Equipment"):
        print(f"{text!r}: before {naive(text)!r}, after {detect_language(text)!r}")


if __name__ == "__main__":
    main()
