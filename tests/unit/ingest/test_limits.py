"""``services.infra.limits``: bodies refused by size before they are read whole, JSON by nesting depth, never a
``RecursionError``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.infra.exceptions import BodyTooLarge, JsonRejected
from services.infra.limits import MAX_JSON_DEPTH, depth_exceeds, loads_json, read_body

pytestmark = pytest.mark.unit


class Body:
    """A request as ``read_body`` sees it: headers and chunks; counts the chunks read."""

    def __init__(self, chunks: list[bytes], content_length: str | None = None) -> None:
        self.headers = {} if content_length is None else {"content-length": content_length}
        self.chunks = chunks
        self.read = 0

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.read += 1
            yield chunk


def test_a_body_within_the_limit_is_read_whole() -> None:
    assert asyncio.run(read_body(Body([b"ab", b"cd"]), 4)) == b"abcd"


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    body = Body([b"x" * 10], content_length="10")
    with pytest.raises(BodyTooLarge, match="limit of 9 bytes"):
        asyncio.run(read_body(body, 9))
    assert body.read == 0


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    body = Body([b"x" * 5, b"x" * 5, b"x" * 5, b"x" * 5])
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(body, 9))
    assert body.read == 2


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 100_000 + b"]" * 100_000,  # the notifier's finding: RecursionError in a recursive parser
        b'{"a":' * 2_000 + b"1" + b"}" * 2_000,
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
    ],
)
def test_json_nested_too_deep_is_refused_with_the_limit(data: bytes) -> None:
    with pytest.raises(JsonRejected, match=f"{MAX_JSON_DEPTH} levels"):
        loads_json(data)


def test_json_at_the_limit_is_read() -> None:
    data = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert loads_json(data) is not None
    assert not depth_exceeds(loads_json(data), MAX_JSON_DEPTH)


def test_not_json_says_so() -> None:
    with pytest.raises(JsonRejected, match="not JSON"):
        loads_json(b"{nope")
