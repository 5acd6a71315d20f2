"""tenderbridge contracts: the event and API models every service speaks.

One module per message kind. Every top-level message carries ``schema_version`` and is exported as a JSON
Schema to ``contracts/schemas/<name>.v<version>.json`` by ``python -m contracts.export``.
"""

from contracts.award import Address, AwardedTender, AwardRecord, Organisation, OrgIdentifier
from contracts.common import (
    Classification,
    CodeScheme,
    Money,
    RegistrationLevel,
)
from contracts.dead_letter import DeadLetter
from contracts.notice import (
    Buyer,
    Document,
    Item,
    NoticeStatus,
    NoticeType,
    ProcurementMethod,
    TenderNotice,
)
from contracts.notification import NotificationEvent, NotificationKind, NotificationStatus
from contracts.shortlist import REASON_CODES, Exclusion, ScoreComponent, Shortlist, ShortlistEntry
from contracts.supplier import AlertFrequency, AlertPreferences, PastAward, SupplierProfile

__all__ = [
    "REASON_CODES",
    "Address",
    "AlertFrequency",
    "AlertPreferences",
    "AwardRecord",
    "AwardedTender",
    "Buyer",
    "Classification",
    "CodeScheme",
    "DeadLetter",
    "Document",
    "Exclusion",
    "Item",
    "Money",
    "NoticeStatus",
    "NoticeType",
    "NotificationEvent",
    "NotificationKind",
    "NotificationStatus",
    "OrgIdentifier",
    "Organisation",
    "PastAward",
    "ProcurementMethod",
    "RegistrationLevel",
    "ScoreComponent",
    "Shortlist",
    "ShortlistEntry",
    "SupplierProfile",
    "TenderNotice",
]
