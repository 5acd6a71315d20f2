"""The models exported as versioned JSON Schemas: ``<name>.v<schema_version>.json``."""

from __future__ import annotations

from pydantic import BaseModel

from contracts.api import (
    CodeSuggestions,
    CodeSuggestRequest,
    ImportReport,
    NoticePage,
    PreferencesPatch,
    ProfileSaved,
    ShortlistPage,
    SupplierSearchResults,
)
from contracts.award import AwardRecord
from contracts.dead_letter import DeadLetter
from contracts.feedback import FeedbackRequest, ShortlistFeedback
from contracts.notice import TenderNotice
from contracts.notification import NotificationEvent
from contracts.shortlist import Shortlist
from contracts.supplier import SupplierProfile

SCHEMAS: dict[str, type[BaseModel]] = {
    "tender_notice": TenderNotice,
    "supplier_profile": SupplierProfile,
    "shortlist": Shortlist,
    "notification_event": NotificationEvent,
    "dead_letter": DeadLetter,
    "shortlist_feedback": ShortlistFeedback,
    "award_record": AwardRecord,
    "api_notice_page": NoticePage,
    "api_shortlist_page": ShortlistPage,
    "api_preferences_patch": PreferencesPatch,
    "api_profile_saved": ProfileSaved,
    "api_import_report": ImportReport,
    "api_supplier_search_results": SupplierSearchResults,
    "api_feedback_request": FeedbackRequest,
    "api_code_suggest_request": CodeSuggestRequest,
    "api_code_suggestions": CodeSuggestions,
}


def schema_version(model: type[BaseModel]) -> int:
    field = model.model_fields["schema_version"]
    value = field.default
    if not isinstance(value, int):
        raise TypeError(f"{model.__name__}.schema_version must default to an int")
    return value
