"""Limits on what a service reads: request bodies by size, JSON by nesting depth.

One home for the guards every HTTP entry point needs, so that an oversized or hostile body is refused the same way
everywhere, with the limit named, and never reaches a parser or a model that would answer 500:

    body = await read_body(request, max_bytes)   # BodyTooLarge: answer 413
    value = loads_json(body)                     # JsonRejected: answer 422 (invalid or nested too deep)

The sizes of what travels on Kafka are ``contracts.topics.MAX_MESSAGE_BYTES`` and the budgets derived from it.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from services.infra.exceptions import BodyTooLarge, JsonRejected

#: Containers (objects and arrays) one inside the other that a JSON body may hold. Tenderbridge's own documents nest
#: less than a dozen levels, OCDS releases about as much; the recursion limit of Python (1,000) is far above.
MAX_JSON_DEPTH = 64


class _Streamed(Protocol):
    """What ``read_body`` needs of a request (Starlette's ``Request``)."""

    @property
    def headers(self) -> Any: ...

    def stream(self) -> Any: ...


async def read_body(request: _Streamed, max_bytes: int) -> bytes:
    """The request's body, or ``BodyTooLarge`` as soon as it is known to exceed ``max_bytes``: from its
    Content-Length before reading anything, or while it arrives (chunked), never held whole in memory beyond the
    limit. Read it after authentication, so that a stranger's body costs nothing."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def loads_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``data`` parsed (orjson: a C parser that refuses more than 1,024 levels itself, so no ``RecursionError``),
    then refused if it nests deeper than ``max_depth`` containers. Raises ``JsonRejected`` saying why."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if exc.msg.startswith("depth limit"):
            raise JsonRejected(f"JSON nested more than {max_depth} levels deep") from None
        raise JsonRejected(f"not JSON: {exc}") from None
    if depth_exceeds(value, max_depth):
        raise JsonRejected(f"JSON nested more than {max_depth} levels deep")
    return value


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit`` containers (walked with a stack: safe on any depth)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


#: The last line of a payload that ``cut_payload`` shortened (``str.format`` fields: bytes left out, bytes in all).
CUT_MARKER = "\n[tenderbridge: payload cut here, {cut:,} of {total:,} bytes (UTF-8) left out]"


def json_size(text: str) -> int:
    """The bytes ``text`` takes as a JSON string in a message (quotes, escapes and UTF-8 included)."""
    return len(orjson.dumps(text.encode("utf-8", "replace").decode("utf-8")))


def cut_payload(text: str, max_bytes: int) -> tuple[str, int]:
    """``text``, or its beginning followed by ``CUT_MARKER`` when it takes more than ``max_bytes`` as JSON; and the
    bytes (UTF-8) left out, 0 when nothing was. The cut falls between characters, never inside one."""
    if len(text) * 4 + 2 <= max_bytes or json_size(text) <= max_bytes:  # the first test spares measuring
        return text, 0
    data = text.encode("utf-8", "replace")
    total = len(data)
    room = max(0, max_bytes - len(CUT_MARKER) - 40)  # the marker's own bytes, its numbers included
    keep = room
    while True:
        # ``ignore`` drops only the bytes of a character the cut split at the end: the text came from a ``str``.
        head = data[:keep].decode("utf-8", "ignore")
        cut = total - len(head.encode("utf-8"))
        out = head + CUT_MARKER.format(cut=cut, total=total)
        size = json_size(out)
        if size <= max_bytes or keep == 0:
            return out, cut
        # Escapes (quotes, controls) made the JSON longer than the bytes: keep fewer, in proportion.
        keep = min(keep - 1, room * keep // size)
