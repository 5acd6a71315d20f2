"""The supplier base built through the product path, for ``--profiles-from import``: the history's award rows read
by ingest's ``parse`` with the shipped AusTender mapping (as ``python -m services.matcher import-awards`` reads
them) and imported by the matcher's ``import_awards`` on its in-memory bootstrap: entity resolution decides which
rows are one supplier, each becomes a prospect with its awards as evidence."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from bench.quality.data import Award, supplier_key
from contracts import SupplierProfile
from contracts.award import AwardRecord
from services.matcher.adapters.award_files import BadLine, lines_of_ingest_parse, read_award_lines
from services.matcher.awards import import_awards
from services.matcher.bootstrap import bootstrap_in_memory
from services.matcher.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MAPPING = REPO / "services" / "ingest" / "mappings" / "austender-awards.yaml"


def evaluation_key(profile: SupplierProfile) -> str:
    """The evaluation's identity of an imported profile (``data.supplier_key``: the ABN, else the upper-cased name)
    as most of its awards' evidence gives it: a profile that resolution made of several identities counts as its
    most frequent one, and a hit on it for another one is a miss."""
    keys: Counter[str] = Counter()
    for award in profile.past_awards:
        if award.source is None:
            continue
        abn = next((i.partition(":")[2] for i in award.source.winner_identifiers if i.startswith("AU-ABN:")), "")
        keys[supplier_key(abn, award.source.winner_name)] += 1
    return keys.most_common(1)[0][0] if keys else profile.supplier_id


def profiles_through_import(
    path: Path, mapping: Path, history: list[Award], console: Console
) -> tuple[list[SupplierProfile], dict[str, str]]:
    """The profiles ``import_awards`` builds from the rows of ``path`` that are in ``history`` (by contract id), and
    each one's evaluation key by supplier id."""
    wanted = {a.contract_id for a in history}
    skipped: Counter[str] = Counter()

    def records() -> Iterator[AwardRecord]:
        for record in read_award_lines(lines_of_ingest_parse(path, "csv", mapping)):
            if isinstance(record, BadLine):
                skipped[record.reason] += 1
            elif record.contract_id in wanted:
                yield record
            else:
                skipped["not_history"] += 1

    # The largest supplier of the file holds a few thousand awards with their evidence: allow the most a profile
    # may be (the bus's message limit), as an operator importing a whole award file would.
    container = bootstrap_in_memory(Settings(matcher_max_profile_bytes=1_000_000, matcher_max_body_bytes=1_000_000))
    with console.status("importing the history's award records (ingest parse -> import_awards)"):
        report = import_awards(container.matcher, records())
    profiles = list(container.matcher.profiles.all())
    reasons = dict(Counter(r for _, r in report.skipped))
    console.print(
        f"import: {report.winners} winners, {len(profiles)} profiles ({report.prospects} prospects), "
        f"{len(report.merges)} merges, {len(report.refused)} refused by the store; lines left out {dict(skipped)}, "
        f"awards skipped {reasons}",
        highlight=False,
    )
    return profiles, {p.supplier_id: evaluation_key(p) for p in profiles}
