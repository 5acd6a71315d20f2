"""API keys and who holds them.

A key is a random token shown once; only its SHA-256 is stored, so a leaked index gives no usable key. Roles:

- ``buyer``: scoped to one agency. A notice belongs to the agency when the key's agency equals the notice's
  ``buyer.id`` or ``buyer.name`` (compared case-insensitively, spaces collapsed): ingest does not always know a
  buyer id, and the name is what a buyer recognises. Notices and shortlists of other agencies answer 404, so a
  buyer cannot even learn that they exist.
- ``supplier``: its own profile only.
- ``admin``: everything; the ``TB_MATCHER_ADMIN_API_KEY`` setting is one, stored admin keys are others.

A stored key is named to operators by its *key id*, the first ``KEY_ID_LENGTH`` hex digits of its hash (public: it
cannot be turned back into the key). A key may expire (``expires_at``) and may be revoked (``revoked_at``,
``revoked_reason``); a revoked key is kept, for audit, and refused from then on. ``last_used_at`` is recorded at
most once per ``LAST_USE_PRECISION`` per key, so that recording it costs the API nearly nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator

from contracts import SupplierProfile, TenderNotice
from contracts.feedback import agency_key
from services.matcher.exceptions import Forbidden

TOKEN_PREFIX = "tbk_"
#: Hex digits of the hash that name a key to operators (``keys list``, ``keys revoke``): 48 bits, so two keys of one
#: office share an id with a probability of about n²/2**49 (nil for thousands of keys); any unique prefix works too.
KEY_ID_LENGTH = 12
#: Shortest prefix ``keys revoke`` accepts: shorter ones would too often name several keys.
MIN_KEY_ID_PREFIX = 4
#: ``last_used_at`` is written again only once it is older than this (one write per key per hour at most).
LAST_USE_PRECISION = timedelta(hours=1)
_HEX = re.compile(r"^[0-9a-f]+$")


class Role(StrEnum):
    BUYER = "buyer"
    SUPPLIER = "supplier"
    ADMIN = "admin"


class Refusal(StrEnum):
    """Why a presented key is refused (the ``reason`` label of ``matcher_api_keys_refused_total``)."""

    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ApiKey(BaseModel):
    """A stored key: its hash and what it may do (never the key itself). The optional fields came later: documents
    stored without them read as a key that never expires, is not revoked and was never seen in use. Fields this
    version does not know (written by a later one) are ignored rather than refusing every request of that key."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key_hash: str
    role: Role
    agency: str | None = None
    supplier_id: str | None = None
    label: str = ""
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    last_used_at: datetime | None = None

    @property
    def key_id(self) -> str:
        return self.key_hash[:KEY_ID_LENGTH]

    def refusal(self, now: datetime) -> Refusal | None:
        """``None`` if the key may be used at ``now``; a revocation outranks an expiry (it says more)."""
        if self.revoked_at is not None:
            return Refusal.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return Refusal.EXPIRED
        return None

    def status(self, now: datetime) -> str:
        refusal = self.refusal(now)
        return "active" if refusal is None else refusal.value

    def use_is_stale(self, now: datetime) -> bool:
        """Whether a use at ``now`` should be written down (the last one recorded is older than the precision)."""
        return self.last_used_at is None or now - self.last_used_at >= LAST_USE_PRECISION

    @model_validator(mode="after")
    def _scope_matches_role(self) -> ApiKey:
        if self.role == Role.BUYER and not self.agency:
            raise ValueError("a buyer key needs an agency")
        if self.role == Role.SUPPLIER and not self.supplier_id:
            raise ValueError("a supplier key needs a supplier_id")
        return self


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    role: Role
    agency: str | None = None
    supplier_id: str | None = None
    #: The stored key's id (``None`` for the admin setting's key): what registration quotas are counted by.
    key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def owns_profile(self, supplier_id: str) -> bool:
        return self.role == Role.SUPPLIER and self.supplier_id == supplier_id

    def sees_notice(self, notice: TenderNotice) -> bool:
        if self.role == Role.ADMIN:
            return True
        if self.role == Role.BUYER and self.agency:
            return normalize_agency(self.agency) in notice_agencies(notice)
        return False

    def of_agency(self, agency: str | None) -> bool:
        """Whether ``agency`` (a notice's buyer, a registrant) names this buyer key's agency, compared as
        ``normalize_agency`` compares agencies everywhere."""
        return (
            self.role == Role.BUYER
            and self.agency is not None
            and agency is not None
            and normalize_agency(agency) == normalize_agency(self.agency)
        )

    def require(self, *roles: Role) -> None:
        """``Forbidden`` unless the key has one of ``roles``."""
        if self.role not in roles:
            raise Forbidden(f"a {self.role.value} key may not do this")

    def require_profile_access(self, supplier_id: str, *, buyers: bool = False) -> None:
        """``Forbidden`` unless the key may use the profile: an admin, the supplier itself, and (``buyers``, for
        reading) any buyer key."""
        if self.is_admin or self.owns_profile(supplier_id):
            return
        if buyers and self.role == Role.BUYER:
            return
        if self.role == Role.SUPPLIER:
            raise Forbidden("a supplier key may only use its own profile")
        raise Forbidden(f"a {self.role.value} key may not change supplier profiles")

    def registrar(self, profile: SupplierProfile) -> str | None:
        """Who registers the addresses a write adds, named in their confirmation email: None for an admin (its
        roster vouches for consent), else the buyer key's agency or the supplier itself (double opt-in)."""
        if self.is_admin:
            return None
        return self.agency or profile.display_name

    def view_of(self, profile: SupplierProfile) -> SupplierProfile:
        """A profile as this key may read it. An address waiting for its owner's consent is the registrant's to
        see: a buyer key sees those its own agency registered (agencies compared by ``normalize_agency``, as for
        notices), not those other agencies typed in (nor who they were); an admin and the supplier itself see
        everything."""
        if self.role != Role.BUYER:
            return profile
        pending = profile.email_confirmations
        if not pending:
            return profile
        own = {a: c for a, c in pending.items() if self.of_agency(c.registered_by)}
        hidden = {a for a, c in pending.items() if c.confirmed_at is None and a not in own}
        return profile.model_copy(
            update={"emails": [e for e in profile.emails if e not in hidden], "email_confirmations": own}
        )


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def normalize_key_id(text: str) -> str:
    """A key id or prefix as typed by an operator: hex digits, case and surrounding spaces ignored."""
    prefix = text.strip().lower()
    if not _HEX.match(prefix) or not MIN_KEY_ID_PREFIX <= len(prefix) <= 64:
        raise ValueError(
            f"{text!r} is not a key id: {MIN_KEY_ID_PREFIX} to 64 hex digits (the KEY ID column of `keys list`)"
        )
    return prefix


def select_keys(
    keys: Iterable[ApiKey],
    *,
    now: datetime,
    role: Role | None = None,
    agency: str | None = None,
    supplier_id: str | None = None,
    status: str | None = None,
) -> list[ApiKey]:
    """The keys ``keys list`` shows, oldest first: of a role, of an agency (compared as a notice's agency is), of a
    supplier, in a status (``active``, ``revoked``, ``expired`` at ``now``)."""
    wanted = normalize_agency(agency) if agency else None
    out = [
        k
        for k in keys
        if (role is None or k.role == role)
        and (wanted is None or (k.agency is not None and normalize_agency(k.agency) == wanted))
        and (supplier_id is None or k.supplier_id == supplier_id)
        and (status is None or k.status(now) == status)
    ]
    return sorted(out, key=lambda k: (k.created_at, k.key_hash))


#: The one form agencies are compared in (a key's agency, a notice's buyer id and name, a registrant, a mark's
#: agency): the contract's ``agency_key``, which the notifier applies to the marks it publishes too.
normalize_agency = agency_key


def notice_agencies(notice: TenderNotice) -> list[str]:
    """The agency keys a buyer key is compared with: the buyer's id and name, normalized."""
    out = [normalize_agency(notice.buyer.name)]
    if notice.buyer.id:
        out.append(normalize_agency(notice.buyer.id))
    return out
