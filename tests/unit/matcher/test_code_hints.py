"""Codes beyond those stated (``codes.CodeHints``): codes suggested for a code-less supplier or notice, and the CPV
<-> UNSPSC crosswalk, in the ``category`` component and in code retrieval. Each counts below a stated same-scheme
code, says where it comes from (in the buyer's English and in the supplier's language), and is never written into
anyone's own codes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np
import pytest

from contracts import REASON_CODES, Classification, CodeScheme, Item
from services.matcher.adapters.memory import HashingEncoder
from services.matcher.bootstrap import bootstrap_in_memory
from services.matcher.domain import (
    COMPONENTS,
    InMemoryProfileIndex,
    ScoringConfig,
    build_candidate_query,
    fit_model,
    rank,
)
from services.matcher.domain.codes import SUGGESTED_CREDIT, CodeHints
from services.matcher.domain.crosswalk import CROSSWALK_CREDIT, Crosswalk, CrosswalkPair
from services.matcher.domain.model import SEMANTIC_WEIGHT_FLOOR, floor_semantic
from services.matcher.domain.retrieval import SUGGESTED_FIELD, candidate_query_to_es, suggested_prefixes
from services.matcher.domain.semantic import SemanticInput
from services.matcher.domain.suggest import SuggestedCode
from services.matcher.settings import Settings
from services.matcher.suggestions import TextCodes
from services.notifier.domain.reasons import render_reason
from tests.unit.matcher.code_indexes import title_index
from tests.unit.matcher.conftest import NOW, award, notice, supplier

pytestmark = pytest.mark.unit

NOTICE_VECTOR = np.array([1.0, 0.0], dtype=np.float32)
GLOVES = SuggestedCode(CodeScheme.UNSPSC, "42132203", "Medical exam or non surgical procedure gloves", 0.6)
TENTS = SuggestedCode(CodeScheme.UNSPSC, "56101600", "Outdoor furniture", 0.2)
#: A glove maker describing itself in Chinese, with no code of its own.
ZH_GLOVES = supplier("zh-gloves", names={"zh-Hans": "宁波手套有限公司"}, description={"zh-Hans": "医用丁腈检查手套"})


def cpv(code: str) -> Classification:
    return Classification(scheme=CodeScheme.CPV, code=code)


def cpv_notice(code: str = "33141420", title: str = "Surgical gloves") -> object:
    return notice(title=title, codes=(), items=[Item(description=title, classification=cpv(code))])


def table(*rows: tuple[CodeScheme, str, str, float]) -> Crosswalk:
    """A crosswalk of the given ``(from scheme, from code, to code, score)`` rows, best first per code."""
    pairs: dict[tuple[CodeScheme, str], list[CrosswalkPair]] = {}
    for scheme, source, target, score in rows:
        other = CodeScheme.UNSPSC if scheme == CodeScheme.CPV else CodeScheme.CPV
        pairs.setdefault((scheme, source), []).append(CrosswalkPair(other, target, "", score))
    return Crosswalk({k: tuple(v) for k, v in pairs.items()})


CROSSWALK = table(
    (CodeScheme.CPV, "33141420", "42132205", 0.9),
    (CodeScheme.CPV, "33141420", "42132203", 0.6),
    (CodeScheme.UNSPSC, "42132203", "33141420", 0.6),
)


def category(entry: object) -> object:
    return next(c for c in entry.components if c.name == "category")  # type: ignore[attr-defined]


def ranked(n: object, profiles: list[object], hints: CodeHints | None) -> dict[str, object]:
    result = rank(n, profiles, ScoringConfig(threshold=0.0), NOW, hints=hints)  # type: ignore[arg-type]
    return {e.supplier_id: e for e in result.entries}


def test_a_code_suggested_from_a_description_counts_below_a_declared_code_and_says_so_in_both_languages() -> None:
    declared = supplier("declared", codes=("42132203",))
    entries = ranked(notice(), [declared, ZH_GLOVES], CodeHints(profiles={"zh-gloves": (GLOVES, TENTS)}))
    own, guessed = category(entries["declared"]), category(entries["zh-gloves"])
    assert own.score == 1.0
    assert guessed.score == pytest.approx(SUGGESTED_CREDIT)
    assert guessed.score < own.score
    assert guessed.reason_code == "code_suggested"
    assert set(guessed.reason_args) == set(REASON_CODES["code_suggested"])
    assert guessed.reason_args["supplier_code"] == "42132203"
    assert "suggested from the supplier's description" in guessed.reason
    assert render_reason(guessed, "en").startswith("suggested from your description: UNSPSC 42132203")
    assert render_reason(guessed, "zh-Hans").startswith("根据您的描述推荐的类别：UNSPSC 42132203")
    # Without the hint the same supplier has no code to meet the notice with.
    assert category(ranked(notice(), [declared, ZH_GLOVES], None)["zh-gloves"]).score == 0.0


def test_suggested_codes_never_become_the_suppliers_own() -> None:
    hints = CodeHints(profiles={"zh-gloves": (GLOVES,)})
    rank(notice(), [ZH_GLOVES], ScoringConfig(threshold=0.0), NOW, hints=hints)
    assert ZH_GLOVES.codes == []
    # A supplier that declares codes is matched on its own only, whatever suggestions it is handed.
    declared = supplier("declared", codes=("43211500",))
    hints = CodeHints(profiles={"declared": (GLOVES,)})
    assert category(ranked(notice(), [declared], hints)["declared"]).reason_code == "code_none"


def test_a_cpv_notice_meets_a_unspsc_supplier_through_the_crosswalk_below_an_exact_match_scaled_by_the_pair() -> None:
    exact = supplier("exact-cpv").model_copy(update={"codes": [cpv("33141420")]})
    close = supplier("close", codes=("42132205",))
    looser = supplier("looser", codes=("42132203",))
    entries = ranked(cpv_notice(), [exact, close, looser], CodeHints(crosswalk=CROSSWALK))
    scores = {s: category(e).score for s, e in entries.items()}  # type: ignore[attr-defined]
    assert scores["exact-cpv"] == 1.0
    assert scores["close"] == pytest.approx(CROSSWALK_CREDIT * 0.9)
    assert scores["looser"] == pytest.approx(CROSSWALK_CREDIT * 0.6)
    assert scores["exact-cpv"] > scores["close"] > scores["looser"]
    why = category(entries["close"])
    assert why.reason_code == "code_crosswalk"
    assert why.reason_args == {
        "scheme": "CPV",
        "code": "3314142",
        "supplier_code": "42132205",
        "supplier_scheme": "UNSPSC",
        "percent": 90,
    }
    assert why.reason.startswith("CPV 33141420 ≈ UNSPSC 42132205")
    assert "UNSPSC 42132205" in render_reason(why, "en", {(CodeScheme.UNSPSC, "42132205"): "Surgical gloves"})
    assert "对应您登记的 UNSPSC 42132205" in render_reason(why, "zh-Hans")
    # And the other way round: a UNSPSC notice finds a CPV supplier.
    back = ranked(notice(), [exact], CodeHints(crosswalk=CROSSWALK))["exact-cpv"]
    assert category(back).score == pytest.approx(CROSSWALK_CREDIT * 0.6)
    # Without the table, the two schemes never meet.
    assert category(ranked(cpv_notice(), [close], None)["close"]).score == 0.0


def test_codes_suggested_for_a_notice_count_only_when_it_states_none_and_are_never_the_buyers() -> None:
    bare = notice(title="Examination gloves", codes=())
    declared = supplier("declared", codes=("42132203",))
    hints = CodeHints(notice=(GLOVES,))
    why = category(ranked(bare, [declared], hints)["declared"])
    assert why.score == pytest.approx(SUGGESTED_CREDIT)
    assert why.reason_code == "code_notice_suggested"
    assert "suggested from the notice's text" in why.reason
    assert "根据公告内容推荐的类别 UNSPSC 42132203" in render_reason(why, "zh-Hans")
    assert bare.all_classifications() == []  # the notice is left as the buyer published it
    # A notice with codes of its own is matched on those alone.
    coded = notice(codes=("43211500",))
    assert category(ranked(coded, [declared], hints)["declared"]).reason_code != "code_notice_suggested"
    # Suggestions on both sides never meet (meaning already scores that likeness).
    both = ranked(bare, [ZH_GLOVES], CodeHints(notice=(GLOVES,), profiles={"zh-gloves": (GLOVES,)}))
    assert category(both["zh-gloves"]).score == 0.0


def test_retrieval_follows_the_crosswalk_and_the_suggested_codes_in_process_and_in_the_elasticsearch_body() -> None:
    index = InMemoryProfileIndex()
    index.upsert(supplier("unspsc", codes=("42132205",)))
    index.upsert(ZH_GLOVES, suggested=(GLOVES,))
    index.upsert(supplier("laptops", codes=("43211500",)))
    config = ScoringConfig()
    plain = build_candidate_query(cpv_notice(title="x"), config)
    assert index.candidates(plain) == []
    hinted = build_candidate_query(cpv_notice(title="x"), config, hints=CodeHints(crosswalk=CROSSWALK))
    assert [p.supplier_id for p in index.candidates(hinted)] == ["unspsc"]
    # A UNSPSC notice reaches the code-less supplier through its suggested codes (the laptops maker stays out;
    # the glove maker of the same class is found by its own code), at half a declared code's boost.
    query = build_candidate_query(notice(title="x"), config, hints=CodeHints())
    assert [p.supplier_id for p in index.candidates(query)] == ["zh-gloves", "unspsc"]
    without = build_candidate_query(notice(title="x"), config)
    assert [p.supplier_id for p in index.candidates(without)] == ["unspsc"]
    assert dict(query.suggested_terms)["U:42132203"] == pytest.approx(
        dict(query.code_terms)["U:42132203"] * SUGGESTED_CREDIT
    )
    matched = candidate_query_to_es(query)["query"]["bool"]["must"][0]["bool"]["should"]
    fields = [next(iter(c["constant_score"]["filter"]["term"])) for c in matched]
    assert fields.count(SUGGESTED_FIELD) == len(query.suggested_terms) > 0
    assert "U:4213" in suggested_prefixes((GLOVES,))


def test_the_crosswalk_adds_a_bounded_number_of_codes_to_retrieval() -> None:
    many = table(*((CodeScheme.CPV, f"331414{i:02d}", f"4213{i:02d}00", 0.7) for i in range(1, 30)))
    codes = [cpv(f"331414{i:02d}") for i in range(1, 30)]
    n = notice(title="x", codes=(), items=[Item(description="x", classification=c) for c in codes])
    query = build_candidate_query(n, ScoringConfig(), hints=CodeHints(crosswalk=many))
    assert sum(1 for t, _ in query.code_terms if t.startswith("U:")) == 12


def test_a_code_less_profile_is_matched_on_codes_suggested_once_when_it_is_written() -> None:
    encoder = HashingEncoder()
    titles = {"42132203": "nitrile examination gloves", "56101500": "tents and tarpaulins"}
    calls: list[CodeScheme] = []

    def index_of(scheme: CodeScheme) -> object:
        calls.append(scheme)
        return title_index(encoder, titles, scheme=scheme)

    text_codes = TextCodes(index_of, {CodeScheme.UNSPSC: 1})  # type: ignore[arg-type]
    container = bootstrap_in_memory(Settings(), clock=lambda: NOW, encoder=encoder, code_data=(None, text_codes))
    matcher = container.matcher
    own = supplier("gloves", keywords=("nitrile examination gloves",))
    matcher.profiles.put(own)
    assert calls  # suggested where the profile is indexed
    n = notice(title="Procurement of medical consumables")
    first = matcher._match(n, previous_ids=[])
    entry = next(e for e in first.entries if e.supplier_id == "gloves")
    assert category(entry).reason_code == "code_suggested"
    assert first.algorithm.endswith("+semantic:" + encoder.model)
    seen = len(calls)
    matcher._match(n, previous_ids=[])
    assert len(calls) == seen  # the profile's suggestions are kept while its text stays the same
    stored = matcher.profiles.get("gloves")
    assert stored is not None
    assert stored.codes == []


def test_a_code_less_profile_saved_later_reaches_the_open_notices_of_its_suggested_codes() -> None:
    encoder = HashingEncoder()
    titles = {"42132203": "nitrile examination gloves", "56101500": "tents and tarpaulins"}
    text_codes = TextCodes(lambda scheme: title_index(encoder, titles, scheme=scheme), {CodeScheme.UNSPSC: 1})  # type: ignore[arg-type]
    # No kNN channel (the fake encoder finds "tents" close to any English title): only codes lead here.
    config = dataclasses.replace(Settings().scoring_config(), retrieval_knn_k=0)
    matcher = bootstrap_in_memory(
        Settings(), clock=lambda: NOW, config=config, encoder=encoder, code_data=(None, text_codes)
    ).matcher
    # An open notice that shares no word with the supplier: only its code can lead a reverse match to it.
    open_notice = notice(title="Procurement of medical consumables", deadline_at=NOW + timedelta(days=20))
    matcher.notices.put(open_notice)
    assert matcher.handle_notice(open_notice) is not None
    gloves = supplier("gloves", keywords=("nitrile examination gloves",))
    tents = supplier("tents", keywords=("tents and tarpaulins",))
    matcher.profiles.put_many([gloves, tents])
    assert matcher.reverse_match_many([gloves, tents]) == 1
    stored = matcher.shortlists.get(open_notice.notice_id, open_notice.version)
    assert stored is not None
    assert [e.supplier_id for e in stored.entries] == ["gloves"]
    assert category(stored.entries[0]).reason_code == "code_suggested"


def test_the_semantic_floor_weighs_newcomers_and_suppliers_with_history_keep_the_learned_weights() -> None:
    veteran = supplier("veteran", codes=("42132203",), past_awards=[award("42132203", "Nitrile gloves")])
    newcomer = supplier("newcomer", codes=("42132203",))
    model = fit_model([veteran, newcomer], learn=False)
    learned = dict.fromkeys(COMPONENTS, 0.0) | {"category": 0.6, "history": 0.38, "semantic": 0.02}
    model.weights = floor_semantic(learned)
    model.history_weights = learned
    vectors = SemanticInput(NOTICE_VECTOR, {})
    entries = {
        e.supplier_id: e
        for e in rank(notice(), [veteran, newcomer], ScoringConfig(), NOW, model=model, vectors=vectors).entries
    }
    weight = {s: {c.name: c.weight for c in e.components} for s, e in entries.items()}
    assert weight["newcomer"]["semantic"] == pytest.approx(SEMANTIC_WEIGHT_FLOOR)
    assert weight["veteran"]["semantic"] == pytest.approx(0.02)
    for e in entries.values():  # each total is what its own components show
        assert e.total_score == pytest.approx(sum(c.contribution for c in e.components), abs=1e-5)
    # Without history weights, everyone has the floored ones.
    model.history_weights = None
    flat = rank(notice(), [veteran, newcomer], ScoringConfig(), NOW, model=model, vectors=vectors).entries
    semantic = [next(c.weight for c in e.components if c.name == "semantic") for e in flat]
    assert semantic == pytest.approx([SEMANTIC_WEIGHT_FLOOR] * 2)


def test_a_notice_without_codes_is_matched_on_suggested_codes_kept_out_of_its_stored_classification() -> None:
    encoder = HashingEncoder()
    titles = {"42132203": "nitrile examination gloves", "56101500": "tents and tarpaulins"}
    text_codes = TextCodes(lambda scheme: title_index(encoder, titles, scheme=scheme), {CodeScheme.UNSPSC: 1})
    container = bootstrap_in_memory(Settings(), clock=lambda: NOW, encoder=encoder, code_data=(None, text_codes))
    matcher = container.matcher
    matcher.profiles.put(supplier("declared", codes=("42132203",), names={"en": "Acme"}))
    bare = notice(title="nitrile examination gloves", codes=())
    shortlist = matcher.handle_notice(bare)
    assert shortlist is not None
    [entry] = shortlist.entries
    why = category(entry)
    assert why.reason_code == "code_notice_suggested"
    assert why.reason_args["code"] == "42132203"
    assert shortlist.notice is not None
    assert shortlist.notice.all_classifications() == []
    stored = matcher.notices.get(bare.notice_id)
    assert stored is not None
    assert stored.all_classifications() == []
