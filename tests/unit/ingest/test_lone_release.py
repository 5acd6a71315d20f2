"""A lone release is decoded straight into the fields the mapper reads; it must map exactly as the release decoded
whole does, and every other document must go the general way."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import TenderNotice
from services.ingest.adapters.files import files_under
from services.ingest.domain import ocds
from services.ingest.domain.model import Context, Outcome, Rejection
from tests.conftest import shared_data
from tests.unit.ingest.util import json_values, release

pytestmark = pytest.mark.unit

CTX = Context(source="ocds", detect_language=False)


def lone_release(data: bytes) -> dict[str, Any] | None:
    """What ``parse`` reads of a document it takes for one release, or None when it reads it another way."""
    document = ocds.delivered(data)
    return document if document is not None and ocds.is_lone_release(document) else None


def same(fast: Outcome, whole: Outcome) -> None:
    assert type(fast) is type(whole)
    if isinstance(fast, TenderNotice):
        assert isinstance(whole, TenderNotice)
        assert fast.model_dump() == whole.model_dump()
    else:
        assert isinstance(fast, Rejection)
        assert isinstance(whole, Rejection)
        assert (fast.reason, fast.detail, fast.key) == (whole.reason, whole.detail, whole.key)


def read_alone(doc: dict[str, Any]) -> Outcome:
    data = orjson.dumps(doc)
    assert lone_release(data) is not None, "a lone release takes the fast path"
    [outcome] = ocds.parse(data, CTX)
    return outcome


def sample_releases() -> list[dict[str, Any]]:
    releases: list[dict[str, Any]] = []
    for path in files_under(shared_data("ocds-samples")):
        try:
            doc, _ = ocds.decode(path.read_bytes())
        except ValueError:
            continue
        releases.extend(r for r, _, _ in ocds.releases_of(doc, []) if r is not None)
    return releases


def test_every_real_release_maps_the_same_read_alone_as_decoded_whole() -> None:
    releases = sample_releases()
    assert len(releases) > 300
    kinds = set()
    for whole in releases:
        fast = read_alone(whole)
        # The reference is the mapper given the whole release, every field of it, as it was before it read only
        # its own fields: on real data nothing may change.
        same(fast, ocds.map_fields(whole, CTX, None, whole))
        kinds.add(type(fast))
    assert kinds == {TenderNotice, Rejection}


def test_only_the_fields_read_are_decoded() -> None:
    doc = release(awards=[{"id": "a1", "value": {"amount": 1}}], contracts=[{"id": "c1"}])
    doc["tender"]["milestones"] = [{"id": "m1"}]
    doc["tender"]["items"][0]["classification"]["uri"] = "https://example.org/cpv"
    fields = lone_release(orjson.dumps(doc))
    assert fields is not None
    assert not {"awards", "contracts", "initiationType"} & fields.keys()
    assert "milestones" not in fields["tender"]
    assert fields["tender"]["items"][0]["classification"] == {
        "scheme": "CPV",
        "id": "50000000-5",
        "description": "Repair",
    }
    assert fields == ocds.read_fields(doc)


@pytest.mark.parametrize(
    "data",
    [
        orjson.dumps({"releases": [release()]}),  # a release package
        orjson.dumps({"records": [{"ocid": "x", "compiledRelease": release()}]}),
        orjson.dumps({"ocid": "x", "compiledRelease": release()}),  # a single record
        orjson.dumps({**release(), "releases": [release()]}),  # a record that also states its ocid
        orjson.dumps(release()) + b"\n" + orjson.dumps(release()),  # JSON Lines
        orjson.dumps([release()]),
        orjson.dumps({"id": "1", "title": "x"}),  # neither a release nor a package
        orjson.dumps(release(title="Caf\u00e9")).replace("\u00e9".encode(), b"\xe9"),  # Windows-1252
        b'{"ocid": "x", "tender": ',  # broken
    ],
)
def test_any_other_document_is_read_whole(data: bytes) -> None:
    assert lone_release(data) is None
    assert list(ocds.parse(data, CTX))  # and still answered, by the general reading


def test_a_release_nested_near_the_limit_in_what_is_read_is_measured_whole() -> None:
    deep: Any = "x"
    for _ in range(ocds.MAX_DEPTH):
        deep = [deep]
    data = orjson.dumps(release(title=deep))
    assert lone_release(data) is None
    [rejection] = ocds.parse(data, CTX)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == "invalid_json"


def test_a_rejected_lone_release_carries_the_bytes_delivered() -> None:
    data = b'{"ocid": "ocds-abc123-9", "tag": ["award"],  "awards": [{"id": "a1"}]}'
    [rejection] = ocds.parse(data, CTX)
    assert isinstance(rejection, Rejection)
    assert rejection.reason == "not_a_notice"
    assert rejection.payload == data.decode()


def test_an_object_with_none_of_the_fields_read_counts_as_absent() -> None:
    # The buyer object names nothing the mapper reads: the buyer is found among the parties, read alone or whole.
    doc = release(buyer={"uri": "https://example.org/buyer"})
    fast = read_alone(doc)
    assert isinstance(fast, TenderNotice)
    assert fast.buyer.name == "Met Office"
    same(fast, ocds.map_release(doc, CTX))


PATHS = [
    ("tender",), ("buyer",), ("parties",), ("planning",), ("tag",), ("date",), ("ocid",), ("language",),
    ("tender", "items"), ("tender", "value"), ("tender", "tenderPeriod"), ("tender", "documents"),
    ("tender", "title"), ("tender", "procuringEntity"), ("buyer", "address"), ("buyer", "identifier"),
    ("tender", "items", 0, "classification"), ("tender", "items", 0, "additionalClassifications"),
    ("tender", "items", 0, "unit"), ("tender", "items", 0, "deliveryAddress"), ("tender", "items", 0, "quantity"),
    ("parties", 0, "address"), ("parties", 0, "roles"), ("awards",), ("tender", "milestones"),
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    path=st.sampled_from(PATHS),
    value=json_values,
    extra=st.dictionaries(st.sampled_from(["uri", "details", "awards", "x"]), json_values, max_size=2),
)
def test_a_broken_release_maps_the_same_read_alone_as_decoded_whole(
    path: tuple[str | int, ...], value: Any, extra: dict[str, Any]
) -> None:
    doc: Any = release(**extra)
    doc["buyer"].update(extra)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    fast = read_alone(doc)
    same(fast, ocds.map_release(orjson.loads(orjson.dumps(doc)), CTX))


def test_json_lines_are_read_line_by_line_and_a_broken_line_is_rejected_alone() -> None:
    good = [orjson.dumps(release(ocid=f"ocds-abc123-000{i}")) for i in (1, 2, 3)]
    data = b"\n" + good[0] + b"\r\n\n" + b'{"ocid": "ocds-abc123-0009", "tender": ' + b"\n" + good[1] + b"\n" + good[2]
    outcomes = list(ocds.parse(data, CTX))
    assert [o.source_id for o in outcomes if isinstance(o, TenderNotice)] == [
        "ocds-abc123-0001",
        "ocds-abc123-0002",
        "ocds-abc123-0003",
    ]
    [broken] = [o for o in outcomes if isinstance(o, Rejection)]
    assert broken.reason == "invalid_json"
    assert broken.detail.startswith("line 4: ")
    assert broken.payload == '{"ocid": "ocds-abc123-0009", "tender": '


@pytest.mark.parametrize(
    "data",
    [
        b'{\n  "releases": []\n}',  # a pretty-printed package
        b'{"uri": "x",\n "releases": []}',
        orjson.dumps(release()) + b"\n\n",  # one line
        b"[" + orjson.dumps(release()) + b",\n" + orjson.dumps(release()) + b"]",
    ],
)
def test_a_single_document_over_several_lines_is_not_json_lines(data: bytes) -> None:
    assert ocds.json_lines(data) is None


def payload_value(rejection: Rejection) -> Any:
    try:
        return orjson.loads(rejection.payload)
    except orjson.JSONDecodeError:
        return rejection.payload


def test_every_sample_file_reads_the_same_as_when_decoded_whole() -> None:
    files = files_under(shared_data("ocds-samples"))
    documents = [path.read_bytes() for path in files]
    # The samples hold one release package; all their releases in one package make another.
    documents.append(orjson.dumps({"uri": "https://example.org/all", "releases": sample_releases()}))
    packages = 0
    for data in documents:
        fast = list(ocds.parse(data, CTX))
        try:
            doc, warnings = ocds.decode(data)
        except ValueError:
            continue  # not JSON: both readings are the general one
        whole = list(ocds.parse_document(doc, CTX, warnings))
        assert len(fast) == len(whole)
        for a, b in zip(fast, whole, strict=True):
            same(a, b)
            if isinstance(a, Rejection) and isinstance(b, Rejection):
                assert payload_value(a) == payload_value(b)  # the release as published, every field
        document = ocds.delivered(data)
        packages += document is not None and "releases" in document
    assert packages == 2, "release packages take the fast path"


def test_a_package_reads_each_release_and_rejects_with_the_whole_release() -> None:
    award = {"ocid": "ocds-abc123-0002", "tag": ["award"], "awards": [{"id": "a1", "value": {"amount": 5}}]}
    package = {"uri": "https://example.org/p", "releases": [release(), award, "junk", {"id": "x"}]}
    data = orjson.dumps(package)
    document = ocds.delivered(data)
    assert document is not None
    assert "releases" in document
    notice, not_a_notice, junk, unknown = ocds.parse(data, CTX)
    assert isinstance(notice, TenderNotice)
    assert isinstance(not_a_notice, Rejection)
    assert not_a_notice.reason == "not_a_notice"
    assert orjson.loads(not_a_notice.payload) == award  # awards included
    assert isinstance(junk, Rejection)
    assert (junk.reason, junk.payload) == ("not_ocds", "junk")
    assert isinstance(unknown, Rejection)
    assert unknown.reason == "not_ocds"
    assert orjson.loads(unknown.payload) == {"id": "x"}


def test_a_record_whose_releases_are_not_an_array_is_still_read() -> None:
    # Found by the property test: the record's tags were taken from ``releases`` whatever it held.
    record = {"ocid": "ocds-abc123-0001", "compiledRelease": release(tag=["compiled"]), "releases": True}
    [notice] = ocds.parse(orjson.dumps({"records": [record]}), CTX)
    assert isinstance(notice, TenderNotice)


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(
    "data",
    [
        BOM + orjson.dumps(release()),  # a lone release
        BOM + orjson.dumps({"releases": [release()]}),  # a package
        BOM + orjson.dumps(release()) + b"\r\n" + orjson.dumps(release(ocid="ocds-abc123-0002")),  # JSON Lines
        BOM + orjson.dumps({"records": [{"ocid": "x", "compiledRelease": release()}]}),  # read whole
    ],
)
def test_a_utf8_byte_order_mark_is_skipped(data: bytes) -> None:
    outcomes = list(ocds.parse(data, CTX))
    assert outcomes
    assert all(isinstance(o, TenderNotice) for o in outcomes), outcomes
    assert not any(o.warnings for o in outcomes if isinstance(o, TenderNotice))


def test_a_utf8_byte_order_mark_is_skipped_by_every_kind() -> None:
    from services.ingest.domain.sources import parse_bytes

    notice = orjson.dumps({"notice_id": "demo:1", "source": "demo", "source_id": "1", "title": "Gloves",
                           "buyer": {"name": "UNICEF"}})  # fmt: skip
    [outcome] = parse_bytes("jsonl", BOM + notice + b"\n", Context(source="demo", detect_language=False))
    assert isinstance(outcome, TenderNotice)
