"""``python -m bench.xling.build_codes``: regenerate the matcher's code data (``services/matcher/data``) from the
reference data in ``../shared/data``.

Writes the UNSPSC and CPV titles, the code index (title vectors, centroids of labelled AusTender descriptions and
one vector per distinct labelled description, projected to ``--dimensions`` by PCA and stored as int8 with a scale
per row) and the CPV <-> UNSPSC crosswalk. Labelled descriptions are the history months only (signed before
``--split-date``), so that the test months of the development split stay unseen, and never the titles of the
``zh-suppliers-dev`` notices (the notices its suppliers were written after: learning from them would measure
recall of those very texts, not suggestion). Only derived vectors leave this script, never a description.

With ``--exemplars FILE`` (e.g. ``bench/xling/supplier-exemplars.jsonl``: self-descriptions as
manufacturers and service firms write them, labelled with a code; its README says how they were written), one more
row per exemplar text at ``EXEMPLAR_OFFSET``, projected like the other rows (the projection is fitted without them).
Off by default: measured, they did not lift the Chinese suggestions (``bench/xling/README.md``, "Fifth round"), so
the shipped index is built without them and this script's defaults rebuild it as shipped.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz

from bench.quality.data import read_awards
from services.matcher.adapters.codebook import DATA_DIR, INDEX_FILE, CodeData, write_index
from services.matcher.adapters.encoder import UseEncoder

F32 = npt.NDArray[np.float32]
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
#: Score offsets: a title must be this much closer than a labelled centroid to outrank it, and one buyer's single
#: description (noisier than a centroid, but it keeps the many ways buyers word one code apart) more still.
#: Titles alone suggest worse than what buyers wrote under a code, but cover every code. The values and what else was
#: tried: bench/xling/README.md.
TITLE_OFFSET = -0.1
CENTROID_OFFSET = 0.0
DESCRIPTION_OFFSET = -0.15
#: A supplier-style exemplar is written to one code, as precise as a title and fuller, so it gets a title's offset
#: (fixed before it was measured; -0.05 and -0.15 were measured beside it: bench/xling/README.md, "Fifth round").
#: Exemplars are off by default (``--exemplars``).
EXEMPLAR_OFFSET = -0.1
#: Supplier-style exemplar texts written for this project (not shipped: measured, they did not help; README).
EXEMPLARS_FILE = Path(__file__).resolve().parent / "supplier-exemplars.jsonl"


def read_unspsc(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    titles, parents = {}, {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            titles[row["code"]] = row["title"].strip()
            parents[row["code"]] = row["parent"]
    return titles, parents


def read_cpv(path: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    titles, checks, parents = {}, {}, {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            code, _, check = row["code"].partition("-")
            titles[code] = row["title"].strip()
            checks[code] = check
            parents[code] = row["parent"].partition("-")[0]
    return titles, checks, parents


def held_out_texts(shared: Path) -> set[str]:
    """The titles of the ``zh-suppliers-dev`` notices (none when that folder is absent)."""
    path = shared / "zh-suppliers-dev" / "notices.jsonl"
    if not path.is_file():
        return set()
    return {json.loads(line)["title"].strip() for line in path.read_text(encoding="utf-8").splitlines() if line}


def read_exemplars(path: Path) -> list[tuple[str, str]]:
    """``(UNSPSC code, text)`` of every line of an exemplar file (``{"code", "lang", "text"}`` per line), in file
    order. A line that is not such an object, a code that is not 8 digits or an empty text is a ``ValueError`` that
    names the file and the line."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{number}: not JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: expected an object with code, lang and text")
        code, text = row.get("code"), row.get("text")
        if not (isinstance(code, str) and len(code) == 8 and code.isdigit()):
            raise ValueError(f"{path}:{number}: code must be 8 digits, got {code!r}")
        if not (isinstance(text, str) and text.strip()):
            raise ValueError(f"{path}:{number}: empty text")
        out.append((code, text.strip()))
    return out


def labelled(austender: Path, split: str, held_out: set[str]) -> list[tuple[str, str]]:
    """``(UNSPSC code, description)`` of every history award (one per award), bar the held-out texts."""
    return [
        (a.unspsc, a.description)
        for a in read_awards(austender)
        if a.signed.date().isoformat() < split
        and len(a.unspsc) == 8
        and a.unspsc.isdigit()
        and a.description
        and a.description not in held_out
    ]


def labelled_centroids(awards: list[tuple[str, str]], vectors_of: dict[str, F32]) -> tuple[list[str], F32]:
    """The mean vector of the award descriptions filed under each UNSPSC code (one per award)."""
    rows: dict[str, list[str]] = defaultdict(list)
    for code, description in awards:
        rows[code].append(description)
    codes = sorted(rows)
    out = np.stack([np.mean([vectors_of[d] for d in rows[c]], axis=0) for c in codes]).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return codes, out


def pca(sample: F32, dimensions: int) -> F32:
    centred = sample - sample.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    result: F32 = vt[:dimensions].T.astype(np.float32)
    return result


def crosswalk_rows(
    cpv: tuple[list[str], F32, dict[str, str], dict[str, str]],
    unspsc: tuple[list[str], F32, dict[str, str], dict[str, str]],
    centroids: dict[str, F32],
    per_code: int,
) -> list[tuple[str, str, str, float]]:
    """``(from scheme, from code, to code, score)``, the ``per_code`` best of each code both ways.

    Score = 0.6 x the closer of title-title and title-centroid cosine (labelled text where there is some) + 0.15 x
    the parents' title cosine (the hierarchies agree) + 0.25 x rapidfuzz's token-set ratio of the titles (the same
    words), over each code's 30 nearest titles."""
    c_codes, c_vec, c_titles, c_parent = cpv
    u_codes, u_vec, u_titles, u_parent = unspsc
    c_at = {c: i for i, c in enumerate(c_codes)}
    u_at = {c: i for i, c in enumerate(u_codes)}
    u_best = u_vec.copy()
    for code, v in centroids.items():
        if code in u_at:
            u_best[u_at[code]] = v  # compared as max(title, centroid) below
    out: list[tuple[str, str, str, float]] = []

    def pair_score(ci: int, ui: int, title_cos: float) -> float:
        cent = float(c_vec[ci] @ u_best[ui]) if u_codes[ui] in centroids else -1.0
        cp, up = c_parent.get(c_codes[ci], ""), u_parent.get(u_codes[ui], "")
        parents = float(c_vec[c_at[cp]] @ u_vec[u_at[up]]) if cp in c_at and up in u_at else 0.0
        words = fuzz.token_set_ratio(c_titles[c_codes[ci]].lower(), u_titles[u_codes[ui]].lower()) / 100
        return 0.6 * max(title_cos, cent) + 0.15 * parents + 0.25 * words

    for name, a_vec, b_vec, a_is_cpv in (("CPV", c_vec, u_vec, True), ("UNSPSC", u_vec, c_vec, False)):
        a_codes = c_codes if a_is_cpv else u_codes
        b_codes = u_codes if a_is_cpv else c_codes
        for start in range(0, len(a_codes), 1000):
            sims = a_vec[start : start + 1000] @ b_vec.T
            near = np.argpartition(-sims, 30, axis=1)[:, :30]
            for r, row in enumerate(near):
                ai = start + r
                scored = []
                for bi in row.tolist():
                    ci, ui = (ai, bi) if a_is_cpv else (bi, ai)
                    scored.append((pair_score(ci, ui, float(sims[r, bi])), b_codes[bi]))
                scored.sort(key=lambda t: (-t[0], t[1]))
                out.extend((name, a_codes[ai], b, round(s, 4)) for s, b in scored[:per_code])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=SHARED, help="the reference data folder (../shared/data)")
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    ap.add_argument("--split-date", default="2024-05-01", help="labelled descriptions signed before this day only")
    ap.add_argument("--dimensions", type=int, default=128, help="PCA dimensions of the stored vectors")
    ap.add_argument("--crosswalk-per-code", type=int, default=3)
    ap.add_argument(
        "--exemplars",
        type=Path,
        default=None,
        help=f"supplier-style exemplar texts, one UNSPSC row each (e.g. {EXEMPLARS_FILE}); none by default",
    )
    args = ap.parse_args(argv)
    started = time.perf_counter()
    u_titles, u_parents = read_unspsc(args.shared / "unspsc" / "unspsc-ungm.csv")
    c_titles, c_checks, c_parents = read_cpv(args.shared / "cpv" / "cpv2008-en.csv")
    austender = args.shared / "austender" / "awards-2023-07_2024-06.csv.gz"
    encoder = UseEncoder(batch_size=512, cache_size=0)
    u_codes, c_codes = sorted(u_titles), sorted(c_titles)
    u_vec = encoder.encode([u_titles[c] for c in u_codes])
    c_vec = encoder.encode([c_titles[c] for c in c_codes])
    awards = labelled(austender, args.split_date, held_out_texts(args.shared))
    descriptions = sorted({description for _, description in awards})
    d_vec = encoder.encode(descriptions)
    vector_of = dict(zip(descriptions, d_vec, strict=True))
    cent_codes, cent_vec = labelled_centroids(awards, vector_of)
    pairs_of = sorted(set(awards))  # one row per distinct (code, description)
    exemplars = [] if args.exemplars is None else read_exemplars(args.exemplars)
    e_vec = encoder.encode([text for _, text in exemplars]) if exemplars else np.zeros((0, u_vec.shape[1]), np.float32)
    print(
        f"encoded {len(u_codes)} UNSPSC and {len(c_codes)} CPV titles, {len(descriptions)} descriptions "
        f"({len(pairs_of)} distinct labelled rows), {len(exemplars)} exemplars",
        file=sys.stderr,
    )

    projection = pca(np.concatenate([u_vec, c_vec, d_vec]), args.dimensions)
    data = CodeData(
        model=encoder.model,
        projection=projection,
        unspsc_codes=[*u_codes, *cent_codes, *(code for code, _ in pairs_of), *(code for code, _ in exemplars)],
        unspsc_vectors=np.concatenate([u_vec, cent_vec, np.stack([vector_of[d] for _, d in pairs_of]), e_vec])
        @ projection,
        unspsc_offsets=np.array(
            [TITLE_OFFSET] * len(u_codes)
            + [CENTROID_OFFSET] * len(cent_codes)
            + [DESCRIPTION_OFFSET] * len(pairs_of)
            + [EXEMPLAR_OFFSET] * len(exemplars),
            np.float32,
        ),
        cpv_codes=c_codes,
        cpv_vectors=c_vec @ projection,
        cpv_offsets=np.full(len(c_codes), TITLE_OFFSET, np.float32),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    write_index(args.out / INDEX_FILE, data)
    _write_csv(args.out / "unspsc-titles.csv", ["code", "title"], [(c, u_titles[c]) for c in u_codes])
    _write_csv(
        args.out / "cpv-titles.csv", ["code", "check_digit", "title"], [(c, c_checks[c], c_titles[c]) for c in c_codes]
    )
    pairs = crosswalk_rows(
        (c_codes, c_vec, c_titles, c_parents),
        (u_codes, u_vec, u_titles, u_parents),
        dict(zip(cent_codes, cent_vec, strict=True)),
        args.crosswalk_per_code,
    )
    _write_csv(args.out / "crosswalk.csv.gz", ["from_scheme", "from_code", "to_code", "score"], pairs)
    sizes = {p.name: p.stat().st_size for p in sorted(args.out.iterdir()) if p.is_file()}
    print(f"wrote {sizes} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


def _write_csv(path: Path, header: list[str], rows: Sequence[tuple[object, ...]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    # mtime 0: the same rows give the same bytes, so a rebuild changes nothing in git
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


if __name__ == "__main__":
    raise SystemExit(main())
