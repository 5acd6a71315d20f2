"""Whatever arrives, mappers answer with notices or rejections that say why; they never raise."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import TenderNotice
from services.ingest.domain import csvmap, ocds, ted
from services.ingest.domain.model import Context, Rejection
from services.ingest.domain.sources import KINDS, parse_bytes
from services.ingest.entrypoints.http import map_pushed
from tests.unit.ingest.util import json_values, release, scalars

pytestmark = pytest.mark.unit

CTX = Context(source="ocds", detect_language=False)
MAPPING = csvmap.CsvMapping(name="p", columns={"source_id": "id", "title": "t", "deadline": "d", "amount": "a"})

OCDS_KEYS = ["ocid", "tag", "tender", "buyer", "parties", "releases", "records", "compiledRelease", "title", "items"]
ocds_like = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from([*OCDS_KEYS, "id", "scheme"]), children)
    ),
    max_leaves=30,
)


def check(outcomes: list[Any], *, at_least_one: bool = True) -> None:
    assert outcomes or not at_least_one
    for outcome in outcomes:
        assert isinstance(outcome, TenderNotice | Rejection)
        if isinstance(outcome, Rejection):
            assert outcome.reason
            assert outcome.detail


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), data=st.binary(max_size=300))
def test_random_bytes_never_raise(kind: str, data: bytes) -> None:
    outcomes = list(parse_bytes(kind, data, CTX, MAPPING if kind == "csv" else None))
    for outcome in outcomes:
        assert isinstance(outcome, TenderNotice | Rejection)


@settings(max_examples=100, deadline=None)
@given(doc=json_values)
def test_random_json_never_raises(doc: Any) -> None:
    check(list(ocds.parse_document(doc, CTX)))
    check(list(ted.parse_document(doc, CTX)), at_least_one=False)  # an empty TED response is fine
    check([map_pushed(doc, CTX)])


@settings(max_examples=100, deadline=None)
@given(doc=ocds_like)
def test_ocds_shaped_garbage_never_raises(doc: Any) -> None:
    check(list(ocds.parse(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS), CTX)))


@settings(max_examples=100, deadline=None)
@given(path=st.sampled_from([("tender",), ("buyer",), ("tender", "items"), ("tender", "tenderPeriod"), ("date",),
                             ("tender", "value"), ("parties",), ("tag",), ("tender", "title")]),
       value=json_values)  # fmt: skip
def test_a_valid_release_with_one_field_broken_never_raises(path: tuple[str, ...], value: Any) -> None:
    doc: dict[str, Any] = release()
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    check(list(ocds.parse_document(doc, CTX)))


nasty_text = st.text(alphabet='{}[]"\\ab\n\u00e9\u4e2d', max_size=12)
nested = st.recursive(
    st.one_of(st.none(), st.integers(-1000, 1000), nasty_text),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(nasty_text, children, max_size=3)),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(doc=nested, limit=st.integers(0, 8), ascii_only=st.booleans())
def test_depth_told_from_bytes_agrees_with_the_decoded_tree(doc: Any, limit: int, ascii_only: bool) -> None:
    # Strings full of brackets, quotes and backslashes; json escapes non-ASCII (\u00e9) and spaces its separators.
    data = json.dumps(doc).encode() if ascii_only else orjson.dumps(doc)
    assert ocds.json_depth_exceeds(data, limit) == ocds.depth_exceeds(doc, limit)


@settings(max_examples=300, deadline=None)
@given(doc=nested, stop=st.integers(1, 10))
def test_container_levels_of_a_decoded_document_are_its_depth_or_one_less(doc: Any, stop: int) -> None:
    # ``decode`` accepts a document without measuring it exactly when its tracked levels stay under the limit: that
    # is safe only if the true depth is never more than one level deeper (the untracked dicts are the leaves).
    decoded = orjson.loads(orjson.dumps(doc))
    levels = ocds.container_levels(decoded, stop)
    assert levels <= stop
    if levels < stop:
        assert not ocds.depth_exceeds(decoded, levels + 1)
        assert levels == 0 or ocds.depth_exceeds(decoded, levels - 1)
    else:
        assert ocds.depth_exceeds(decoded, stop - 1)


def test_a_document_nested_one_level_past_the_limit_is_rejected_whatever_its_innermost_container() -> None:
    for innermost in ("{}", "[]", '{"a": 1}', "[1]"):
        for extra in (0, 1):
            depth = ocds.MAX_DEPTH + extra  # containers, the innermost included
            data = ("[" * (depth - 1) + innermost + "]" * (depth - 1)).encode()
            outcomes = list(ocds.parse(data, CTX))
            rejected = [o for o in outcomes if isinstance(o, Rejection) and o.reason == "invalid_json"]
            assert bool(rejected) == bool(extra), (innermost, depth)
