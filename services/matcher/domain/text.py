"""Text normalisation shared by retrieval, scoring and the Elasticsearch document.

One tokenizer (``terms``) serves both sides so the in-process index and Elasticsearch's ``terms`` queries see the
same tokens: lower-cased Latin words (a light plural fold, stop words dropped) and character bigrams over runs of
Chinese characters (CJK text has no spaces; bigrams are what Elasticsearch's ``cjk`` analyzer indexes too).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"([{_CJK}]+)|((?:(?![{_CJK}])[^\W_])+)")
_NON_ALNUM = re.compile(r"[\W_]+")

#: English function words plus procurement words that appear in almost every notice and separate nothing.
STOP_WORDS = frozenset(
    """
    a an and are as at be by for from in into is it of on or the to with without per via etc
    service services supply supplies provision provide providing procurement contract contracts tender tenders
    goods various works work purchase purchasing requirement requirements other general related
    """.split()  # noqa: SIM905 - a word list reads better as text
)

_CJK_RE = re.compile(rf"[{_CJK}]")


def has_cjk(text: str) -> bool:
    return _CJK_RE.search(text) is not None


def _fold(word: str) -> str:
    # A light plural fold (gloves -> glove, batteries -> battery); real stemming would need a dependency and
    # the gain on short procurement descriptions is small.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Tokens of ``text`` in order of appearance (duplicates kept): ``"Nitrile gloves, 手套"`` ->
    ``["nitrile", "glove", "手套"]``."""
    out: list[str] = []
    for cjk, word in tokens(text):
        if cjk:
            if len(cjk) == 1:
                out.append(cjk)
            else:
                out.extend(cjk[i : i + 2] for i in range(len(cjk) - 1))
        elif len(word) > 1 and word not in STOP_WORDS:
            folded = _fold(word)
            if folded not in STOP_WORDS:
                out.append(folded)
    return out


#: A text's runs as ``tokens`` gives them: ``(cjk run, "")`` or ``("", Latin word)``, lower-cased, in order.
Tokens = Sequence[tuple[str, str]]


def tokens(text: str) -> list[tuple[str, str]]:
    """The runs ``terms`` and ``shown_words`` read ``text`` by (``Tokens``): split once, a notice's text serves
    the reasons of every entry of its shortlist."""
    return _TOKEN.findall(text.lower())


def shown_words(text: str | Tokens, wanted: Collection[str], limit: int) -> list[str]:
    """The words of ``text`` (or of its ``tokens``) behind the index terms ``wanted``, as a reader names them, in
    order of appearance and at most ``limit``: a folded word as written (``gloves`` for ``glove``), neighbouring CJK
    bigrams joined back into the run they cover (``打印`` + ``印机`` -> ``打印机``, where the bigrams alone read as
    non-words)."""
    out: dict[str, None] = {}
    for cjk, word in tokens(text) if isinstance(text, str) else text:
        if len(out) >= limit:
            break
        if not cjk:
            if len(word) > 1 and word not in STOP_WORDS and _fold(word) in wanted:
                out.setdefault(word)
        elif len(cjk) == 1:
            if cjk in wanted:
                out.setdefault(cjk)
        else:
            start = end = -1
            for i in range(len(cjk) - 1):
                if cjk[i : i + 2] in wanted:
                    start, end = (i if start < 0 else start), i + 2
                elif start >= 0:
                    out.setdefault(cjk[start:end])
                    start = -1
            if start >= 0:
                out.setdefault(cjk[start:end])
    return list(out)[:limit]


def distinct_terms(text: str) -> list[str]:
    return list(dict.fromkeys(terms(text)))


def normalize_phrase(text: str) -> str:
    """Case- and punctuation-insensitive form used to recognise a repeated contract description or buyer name."""
    return _NON_ALNUM.sub(" ", text.lower()).strip()
