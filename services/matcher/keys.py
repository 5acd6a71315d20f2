"""API keys and who holds them.

A key is a random token shown once; only its SHA-256 is stored, so a leaked index gives no usable key. Roles:

- ``buyer``: scoped to one agency. A notice belongs to the agency when the key's agency equals the notice's
  ``buyer.id`` or ``buyer.name`` (compared case-insensitively, spaces collapsed): ingest does not always know a
  buyer id, and the name is what a buyer recognises. Notices and shortlists of other agencies answer 404, so a
  buyer cannot even learn that they exist.
- ``supplier``: its own profile only.
- ``admin``: everything; the ``TB_MATCHER_ADMIN_API_KEY`` setting is one, stored admin keys are others.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator

from contracts import TenderNotice

TOKEN_PREFIX = "tbk_"


class Role(StrEnum):
    BUYER = "buyer"
    SUPPLIER = "supplier"
    ADMIN = "admin"


class ApiKey(BaseModel):
    """A stored key: its hash and what it may do (never the key itself)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_hash: str
    role: Role
    agency: str | None = None
    supplier_id: str | None = None
    label: str = ""
    created_at: datetime

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


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def normalize_agency(value: str) -> str:
    return " ".join(value.split()).casefold()


def notice_agencies(notice: TenderNotice) -> list[str]:
    """The agency keys a buyer key is compared with: the buyer's id and name, normalized."""
    out = [normalize_agency(notice.buyer.name)]
    if notice.buyer.id:
        out.append(normalize_agency(notice.buyer.id))
    return out
