"""Who gets which email for a shortlist, when a digest is due, and how long to wait before a retry. Pure.

The idempotency key of every email is ``NotificationEvent.make_key(supplier, notice, version, kind)`` (digests:
``<supplier>|digest|<local date>``), so a redelivered shortlist, a restart or two saved searches that shortlist the
same supplier all land on the same key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from contracts import (
    AlertFrequency,
    AlertPreferences,
    NoticeStatus,
    NotificationEvent,
    NotificationKind,
    Shortlist,
    ShortlistEntry,
    SupplierProfile,
    TenderNotice,
)
from contracts.codes import clean_digits, prefix
from contracts.supplier import one_per_mailbox


@dataclass(frozen=True)
class Delivery:
    """One email to send now (or, for a digest-mode new match, to queue for the digest)."""

    kind: NotificationKind
    supplier_id: str
    notice_id: str
    notice_version: int
    entry: ShortlistEntry | None = None

    @property
    def key(self) -> str:
        return NotificationEvent.make_key(self.supplier_id, self.notice_id, self.notice_version, self.kind)


@dataclass(frozen=True)
class Skip:
    """An email not sent on purpose, with the reason (reported as a ``skipped`` NotificationEvent)."""

    kind: NotificationKind
    supplier_id: str
    notice_id: str
    notice_version: int
    reason: str

    @property
    def key(self) -> str:
        return NotificationEvent.make_key(self.supplier_id, self.notice_id, self.notice_version, self.kind)


@dataclass
class Plan:
    send: list[Delivery] = field(default_factory=list)
    queue: list[Delivery] = field(default_factory=list)
    skip: list[Skip] = field(default_factory=list)
    #: Suppliers whose queued (not yet digested) items for this notice must be withdrawn: the notice is cancelled.
    withdraw: list[str] = field(default_factory=list)


def digest_key(supplier_id: str, local_day: date) -> str:
    return f"{supplier_id}|digest|{local_day.isoformat()}"


def undeliverable(profile: SupplierProfile | None, as_of: datetime | None = None) -> str | None:
    """Why nobody can be emailed for this profile, or None. ``as_of``: when the notice version the email is about
    was received (``received_of``): an address confirmed after that gets no email about it."""
    if profile is None:
        return "unknown_supplier"
    if profile.is_prospect:
        return "prospect"  # known only from public award records, which carry no consent to be contacted
    if profile.preferences.unsubscribed:
        return "unsubscribed"
    if not profile.emails:
        return "no_email"
    if not profile.alert_emails():
        return "unconfirmed_email"  # double opt-in: no address confirmed by its owner yet
    if as_of is not None and not profile.alert_emails(as_of):
        return "confirmed_after_notice"  # consent covers the tenders received after it, not the backlog
    return None


def received_of(notice: TenderNotice) -> datetime | None:
    """When this notice version reached tenderbridge (ingest stamps every version): an address is alerted about a
    version only if its owner had confirmed it by then. None (a notice without the stamp): no such limit."""
    return notice.received_at


def recipients(profile: SupplierProfile, as_of: datetime | None) -> SupplierProfile:
    """``profile`` with only the addresses an email about a version received at ``as_of`` may go to (confirmed by
    then), each mailbox once."""
    return profile.model_copy(update={"emails": one_per_mailbox(profile.alert_emails(as_of))})


def _code_matches(wanted: str, notice: TenderNotice) -> bool:
    digits = clean_digits(wanted)
    for c in notice.all_classifications():
        code = clean_digits(c.code)
        try:
            p = prefix(c.scheme, digits) if len(digits) == 8 else digits
        except ValueError:
            p = digits
        if p and code.startswith(p):
            return True
    return False


def preferences_block(prefs: AlertPreferences, notice: TenderNotice) -> str | None:
    """The supplier's alert filters (on top of matching) that this notice fails, as a reason; None if it passes.

    A filter the notice carries no data for (no countries, no value) does not block: better one extra alert than
    a missed tender.
    """
    if prefs.codes and not any(_code_matches(c, notice) for c in prefs.codes):
        return "preferences_codes"
    countries = set(notice.delivery_countries) | set(notice.beneficiary_countries)
    if prefs.countries and countries and not countries & set(prefs.countries):
        return "preferences_countries"
    if prefs.agencies:
        wanted = {a.casefold() for a in prefs.agencies}
        if not {notice.buyer.name.casefold(), (notice.buyer.id or "").casefold()} & wanted:
            return "preferences_agencies"
    value, floor = notice.estimated_value, prefs.min_value
    if value is not None and floor is not None and value.currency == floor.currency and value.amount < floor.amount:
        return "preferences_min_value"
    return None


def _ordered(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def plan_shortlist(shortlist: Shortlist, profiles: Mapping[str, SupplierProfile | None], alerted: set[str]) -> Plan:
    """Decide every email for one shortlist.

    ``profiles`` maps supplier id to its current profile (None when unknown or deleted), with local unsubscribes
    already applied; ``alerted`` holds the suppliers already emailed about an earlier version of this notice (for a
    cancellation: about any version), whether or not they are still on a shortlist.

    - cancelled: a cancellation to each alerted supplier (among the entries, ``previously_shortlisted`` or not:
      one alerted about an earlier version and ranked out since is told too); nothing to the others (their queued
      digest items are withdrawn).
    - active / amended: an amendment to every supplier already alerted (on the entries, previously shortlisted, or
      neither); a new match to entries never alerted, if their preferences allow it (queued when they take the
      daily digest).

    Every email is about this version: an address its owner confirmed after the version was received
    (``received_of``) is not written to; a supplier left with no such address is skipped (``confirmed_after_notice``).
    """
    plan = Plan()
    sid, version = shortlist.notice_id, shortlist.notice_version
    as_of = received_of(shortlist.notice)
    by_supplier = {e.supplier_id: e for e in shortlist.entries}
    everyone = _ordered([*by_supplier, *shortlist.previously_shortlisted, *sorted(alerted)])
    if shortlist.notice_status == NoticeStatus.CANCELLED:
        for supplier in everyone:
            kind = NotificationKind.CANCELLATION
            if supplier not in alerted:
                plan.skip.append(Skip(kind, supplier, sid, version, "never_alerted"))
                plan.withdraw.append(supplier)
            elif reason := undeliverable(profiles.get(supplier), as_of):
                plan.skip.append(Skip(kind, supplier, sid, version, reason))
            else:
                plan.send.append(Delivery(kind, supplier, sid, version, by_supplier.get(supplier)))
        return plan
    for supplier in everyone:
        entry = by_supplier.get(supplier)
        profile = profiles.get(supplier)
        if supplier in alerted:
            kind = NotificationKind.AMENDMENT
            if reason := undeliverable(profile, as_of):
                plan.skip.append(Skip(kind, supplier, sid, version, reason))
            else:
                plan.send.append(Delivery(kind, supplier, sid, version, entry))
            continue
        kind = NotificationKind.NEW_MATCH
        if entry is None:
            # On the previous version's shortlist, never alerted (filtered then), and off the new one: nothing.
            plan.skip.append(Skip(NotificationKind.AMENDMENT, supplier, sid, version, "never_alerted"))
            continue
        reason = undeliverable(profile, as_of)
        if reason is None and profile is not None:
            reason = preferences_block(profile.preferences, shortlist.notice)
        if reason is not None:
            plan.skip.append(Skip(kind, supplier, sid, version, reason))
        elif profile is not None and profile.preferences.frequency == AlertFrequency.DAILY_DIGEST:
            plan.queue.append(Delivery(kind, supplier, sid, version, entry))
        else:
            plan.send.append(Delivery(kind, supplier, sid, version, entry))
    return plan


def digest_day(prefs: AlertPreferences, now: datetime) -> date | None:
    """The supplier's local day if its digest hour has come today (sent at or after ``digest_hour``, so a notifier
    that was down at that hour still sends it later the same day), else None."""
    local = now.astimezone(ZoneInfo(prefs.timezone))
    return local.date() if local.hour >= prefs.digest_hour else None


@dataclass(frozen=True)
class DigestItem:
    key: str
    notice: TenderNotice
    entry: ShortlistEntry | None


@dataclass
class DigestSections:
    closing_soon: list[DigestItem] = field(default_factory=list)
    others: list[DigestItem] = field(default_factory=list)
    #: Deadline already passed or notice superseded: not worth an email any more.
    dropped: list[DigestItem] = field(default_factory=list)


def digest_sections(items: Iterable[DigestItem], now: datetime, closing_soon_days: int = 7) -> DigestSections:
    """Group queued matches for one digest: latest version per notice, passed deadlines dropped, deadlines within
    ``closing_soon_days`` first (soonest first), then the rest by deadline (none last)."""
    latest: dict[str, DigestItem] = {}
    out = DigestSections()
    for item in items:
        current = latest.get(item.notice.notice_id)
        if current is None or item.notice.version > current.notice.version:
            if current is not None:
                out.dropped.append(current)
            latest[item.notice.notice_id] = item
        else:
            out.dropped.append(item)
    horizon = now + timedelta(days=closing_soon_days)
    far = datetime.max.replace(tzinfo=now.tzinfo)
    for item in sorted(latest.values(), key=lambda i: (i.notice.deadline_at or far, i.notice.notice_id)):
        deadline = item.notice.deadline_at
        if deadline is not None and deadline <= now:
            out.dropped.append(item)
        elif deadline is not None and deadline <= horizon:
            out.closing_soon.append(item)
        else:
            out.others.append(item)
    return out


def backoff_delay(attempt: int, base_s: float, cap_s: float, jitter: float) -> float:
    """Delay before retry number ``attempt`` (1 = after the first failure): exponential with full jitter
    (``jitter`` in [0, 1)), so many notifiers hitting one recovering server spread out."""
    return float(jitter * min(cap_s, base_s * 2 ** (attempt - 1)))
