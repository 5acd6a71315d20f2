from __future__ import annotations

import pytest

from contracts import CodeScheme
from contracts.codes import ancestors, cpv_prefix, read_code, unspsc_prefix
from services.matcher.domain.codes import level_of, tag

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("code", "prefix", "level"),
    [
        ("42132203", "42132203", "commodity"),
        ("42132200", "421322", "class"),
        ("42130000", "4213", "family"),
        ("42000000", "42", "segment"),
        ("10000000", "10", "segment"),
        ("43201000", "432010", "class"),
    ],
)
def test_unspsc_prefix_and_level(code: str, prefix: str, level: str) -> None:
    assert unspsc_prefix(code) == prefix
    t = tag(CodeScheme.UNSPSC, code)
    assert t is not None
    found = level_of(t)
    assert found is not None
    assert found.name == level


@pytest.mark.parametrize("bad", ["4213220", "421322030", "4213220A", ""])
def test_unspsc_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError, match="8 digits"):
        unspsc_prefix(bad)


def test_ancestors() -> None:
    assert ancestors(CodeScheme.UNSPSC, "42132203") == ["42", "4213", "421322", "42132203"]
    assert ancestors(CodeScheme.CPV, "33141000") == ["33", "331", "3314", "33141"]
    assert cpv_prefix("30000000") == "30"
    assert ancestors(CodeScheme.OTHER, "ABC") == ["ABC"]


@pytest.mark.parametrize(
    ("scheme", "text", "expected"),
    [
        (CodeScheme.UNSPSC, "42132203", ("42132203", None)),
        (CodeScheme.UNSPSC, "42-13 22-03", ("42132203", None)),
        (CodeScheme.UNSPSC, "4213", ("42130000", None)),
        (CodeScheme.UNSPSC, "42", ("42000000", None)),
        (CodeScheme.UNSPSC, "4213220", None),
        (CodeScheme.UNSPSC, "00132203", None),
        (CodeScheme.UNSPSC, "4213220x", None),
        (CodeScheme.CPV, "33141000-1", ("33141000", "1")),
        (CodeScheme.CPV, " 33141000 - 1 ", ("33141000", "1")),
        (CodeScheme.CPV, "33141000", ("33141000", None)),
        (CodeScheme.CPV, "3314", None),
        (CodeScheme.CPV, "33141000-12", None),
        (CodeScheme.OTHER, "42132203", None),
    ],
)
def test_read_code_takes_codes_as_people_write_them(
    scheme: CodeScheme, text: str, expected: tuple[str, str | None] | None
) -> None:
    assert read_code(scheme, text) == expected
