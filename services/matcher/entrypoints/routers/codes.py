"""``/codes``: UNSPSC or CPV codes suggested for texts in any language (a supplier's profile page offers them to
accept; a buyer classifies a notice). Any valid key may ask: the answer holds nothing but the public code lists."""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, Depends

from contracts.api import CodeSuggestions, CodeSuggestRequest, SuggestedCode, TextCodes
from contracts.common import CodeScheme
from services.matcher.adapters.codebook import code_index, cpv_check_digits
from services.matcher.adapters.encoder import UseEncoder
from services.matcher.entrypoints.routers.deps import PrincipalDep, problems
from services.matcher.suggestions import CodeSuggester

router = APIRouter(prefix="/codes", tags=["codes"], responses=problems(400, 401, 403, 413, 422))


@functools.cache
def code_suggester() -> CodeSuggester:
    """The process's one suggester over the multilingual encoder (the model loads on the first request, about 2 s)
    and the shipped code index; tests swap it with ``app.dependency_overrides``."""
    return CodeSuggester(UseEncoder(), code_index)


SuggesterDep = Annotated[CodeSuggester, Depends(code_suggester)]


@router.post("/suggest", response_model=CodeSuggestions)
def suggest(body: CodeSuggestRequest, principal: PrincipalDep, suggester: SuggesterDep) -> CodeSuggestions:
    """The ``top`` codes of ``scheme`` for each text, best first, with titles and scores (0..1). 422 for a scheme
    other than UNSPSC or CPV."""
    lists = suggester.suggest([t.text for t in body.texts], body.scheme, body.top)
    checks = cpv_check_digits()
    return CodeSuggestions(
        items=[
            TextCodes(
                id=t.id,
                codes=[
                    SuggestedCode(
                        scheme=c.scheme,
                        code=c.code,
                        check_digit=checks.get(c.code) if c.scheme == CodeScheme.CPV else None,
                        title=c.title,
                        score=min(max(c.score, 0.0), 1.0),
                    )
                    for c in codes
                ],
            )
            for t, codes in zip(body.texts, lists, strict=True)
        ]
    )
