"""The application layer: what happens when a notice arrives or a profile changes. Stores and publisher are
ports, so the same code runs over Elasticsearch + Kafka and over the in-memory fakes."""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contracts import AlertPreferences, NoticeStatus, Shortlist, SupplierProfile, TenderNotice, topics
from contracts.feedback import FeedbackMark, FeedbackReason, ShortlistFeedback, feedback_id
from contracts.supplier import EmailConfirmation
from services.infra.bus import EventPublisher
from services.matcher.domain import MatchModel, ScoringConfig, fit_model, rank, screen
from services.matcher.domain.awards import claim_keys, claimed, find_claims, fit_awards, mark_prospects
from services.matcher.domain.codes import CodeHints, wants_suggestions
from services.matcher.domain.crosswalk import Crosswalk
from services.matcher.domain.feedback import Adjustment, explained_adjustments, notice_similarity
from services.matcher.domain.retrieval import notice_tags, suggested_prefixes
from services.matcher.domain.scoring import SupplierStats
from services.matcher.domain.semantic import (
    ProfileVectors,
    SemanticInput,
    Vector,
    notice_semantic_text,
    phrases,
    semantic_text,
)
from services.matcher.domain.suggest import SuggestedCode
from services.matcher.exceptions import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    RegistrationRefused,
    StoreUnavailable,
    TooLarge,
    TooManyAddresses,
    TooManyRegistrations,
)
from services.matcher.imports import merge_import, same_profile
from services.matcher.keys import Principal, Role, normalize_agency, notice_agencies
from services.matcher.ports import Encoder, FeedbackStore, NoticeStore, ProfileStore, ShortlistStore
from services.matcher.suggestions import TextCodes

log = logging.getLogger(__name__)

#: The latest marks read per ranking (of the notice's agency, or of all with pooling): older ones weigh no more.
FEEDBACK_MARKS_READ = 500

#: Alert preferences that say how and when to write to a supplier, not which notices fit it (``rules`` reads the
#: others: unsubscribed, codes, countries, agencies, min_value).
DELIVERY_PREFERENCES = frozenset({"frequency", "language", "timezone", "digest_hour"})


class MatcherMetrics:
    """Prometheus metrics of one matcher (its own registry, so tests and processes never share counters)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.notices_matched = Counter(
            "matcher_notices_matched", "Notice versions matched into a shortlist", ["status"], registry=registry
        )
        self.stale_notices = Counter(
            "matcher_stale_notices", "Notice versions ignored because a newer one was stored", registry=registry
        )
        self.dead_letters = Counter(
            "matcher_dead_letters", "Messages sent to the dead-letter topic", ["reason"], registry=registry
        )
        self.shortlist_size = Histogram(
            "matcher_shortlist_size",
            "Suppliers per shortlist",
            buckets=(0, 1, 2, 5, 10, 20, 50, 100),
            registry=registry,
        )
        self.match_seconds = Histogram(
            "matcher_match_seconds",
            "Time to retrieve candidates and rank them for one notice",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.profile_changes = Counter(
            "matcher_profile_changes", "Profile creations, updates and deletions", ["kind"], registry=registry
        )
        self.reverse_matches = Counter(
            "matcher_reverse_rematches", "Open notices re-ranked because a profile changed", registry=registry
        )
        self.model_fits = Counter("matcher_model_fits", "Scoring model fits", registry=registry)
        self.addresses_registered = Counter(
            "matcher_addresses_registered",
            "New addresses registered by buyer or supplier keys (each waits for its owner's confirmation)",
            registry=registry,
        )
        self.registrations_refused = Counter(
            "matcher_registrations_refused",
            "Writes refused because their key registered as many new addresses as it may, by window (hour, day)",
            ["window"],
            registry=registry,
        )
        for window in REGISTRATION_WINDOWS:
            self.registrations_refused.labels(window)
        self.feedback_marks = Counter(
            "matcher_feedback_marks", "Buyers' marks on shortlist entries, by mark", ["mark"], registry=registry
        )
        self.supplier_marks = Counter(
            "matcher_supplier_marks",
            'Suppliers\' own "not relevant for me" marks stored for ranking',
            registry=registry,
        )
        self.consumer_recreations = Counter(
            "matcher_consumer_recreations",
            "Consumers closed and created again because their group membership was stuck, by worker and reason",
            ["worker", "reason"],
            registry=registry,
        )
        self.consumer_partitions = Gauge(
            "matcher_consumer_partitions", "Partitions a worker's consumer holds", ["worker"], registry=registry
        )
        self.self_registrations = Counter(
            "matcher_self_registrations",
            "Posts of the public registration form, by outcome (created, known mailbox, refused by a limit...)",
            ["outcome"],
            registry=registry,
        )
        for outcome in SELF_REGISTRATION_OUTCOMES:
            self.self_registrations.labels(outcome)


@dataclass(frozen=True)
class ProfileLimits:
    """What one profile may hold, checked before anything is stored or published (one size policy: what the bus
    cannot carry is refused at the door, never stored and then lost). ``TB_MATCHER_MAX_EMAILS_PER_PROFILE``,
    ``TB_MATCHER_MAX_PROFILE_BYTES``."""

    #: Addresses in ``emails``: each is a confirmation email to someone, and then alerts.
    max_emails: int = 20
    #: The profile as published (its JSON), bytes. Kafka's default ``message.max.bytes`` is about 1 MiB (1,048,588):
    #: half of it leaves room for the double opt-in entries and the notifier's write-backs.
    max_bytes: int = 512 * 1024

    @staticmethod
    def size(profile: SupplierProfile) -> int:
        """The profile's bytes as published: stamped with ``updated_at`` after the check, so with its longest stamp."""
        return len(profile.model_copy(update={"updated_at": _LONGEST_STAMP}).model_dump_json().encode())

    def check(self, profile: SupplierProfile) -> None:
        """``TooManyAddresses`` or ``TooLarge`` naming the limit, else nothing."""
        if len(profile.emails) > self.max_emails:
            raise TooManyAddresses(
                f"supplier {profile.supplier_id!r} lists {len(profile.emails)} addresses; a profile may list at most "
                f"{self.max_emails} (TB_MATCHER_MAX_EMAILS_PER_PROFILE)"
            )
        size = self.size(profile)
        if size > self.max_bytes:
            raise TooLarge(
                f"supplier {profile.supplier_id!r} is {size:,} bytes as stored; a profile may be at most "
                f"{self.max_bytes:,} bytes (TB_MATCHER_MAX_PROFILE_BYTES)"
            )


#: What a post of the public registration form came to (``matcher_self_registrations_total{outcome}``).
SELF_REGISTRATION_OUTCOMES = (
    "created",  # a new profile, its address waiting for confirmation
    "known",  # the mailbox registered already: nothing stored, nothing sent, the same answer
    "invalid",  # the form again, with what is wrong
    "honeypot",  # the field people do not see was filled in: the same answer, nothing done
    "address_limit",  # that mailbox was tried too often: the same answer, nothing done
    "client_limit",  # that client posted too often: 429
    "budget",  # the form's hourly or daily budget of new addresses is spent: 429
    "csrf",  # no valid form token, or posted from another site: 403
)

#: Profiles read per request while a refit streams the stored profiles into the fit.
FIT_PAGE = 1000

#: Profiles whose vectors (whole text and phrases: ~10 rows of 2 KiB) the matcher keeps between rankings: the
#: candidates of the notices of the last hours, not every profile (100k would hold ~2 GB).
PROFILE_VECTORS_CACHED = 20_000

#: The longest ``updated_at`` a profile can be published with (microseconds written out).
_LONGEST_STAMP = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)

#: The windows new addresses are counted over, per registrant key.
REGISTRATION_WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


class RegistrationQuota:
    """New addresses one key may register per hour and per day (``TB_MATCHER_NEW_ADDRESSES_PER_KEY_HOUR`` /
    ``_DAY``): every new address is a confirmation email to a stranger, so a buyer or supplier key must not be able
    to turn the double opt-in into a mail cannon. Sliding windows, counted in this process (several matcher
    processes each allow the limit; the notifier's own per-registrant budget is the global backstop).

    A write is admitted whole or refused whole (``TooManyRegistrations``, with the seconds until it would fit)."""

    def __init__(self, per_hour: int, per_day: int, metrics: MatcherMetrics | None = None) -> None:
        self.limits = {"hour": per_hour, "day": per_day}
        self.metrics = metrics
        self._registered: dict[str, deque[tuple[datetime, int]]] = {}
        self._lock = threading.Lock()

    def admit(self, registrant: str, count: int, now: datetime) -> None:
        if count <= 0:
            return
        with self._lock:
            log_ = self._registered.setdefault(registrant, deque())
            while log_ and now - log_[0][0] >= REGISTRATION_WINDOWS["day"]:
                log_.popleft()
            for window, span in REGISTRATION_WINDOWS.items():
                recent = [(at, n) for at, n in log_ if now - at < span]
                used = sum(n for _, n in recent)
                limit = self.limits[window]
                if used + count > limit:
                    if self.metrics is not None:
                        self.metrics.registrations_refused.labels(window).inc()
                    raise TooManyRegistrations(
                        f"this write registers {count} new addresses and this key registered {used} in the last "
                        f"{window}; a key may register at most {limit} new addresses per {window} "
                        f"(TB_MATCHER_NEW_ADDRESSES_PER_KEY_{window.upper()})",
                        retry_after=_retry_after(recent, used + count - limit, span, now),
                    )
            log_.append((now, count))
        if self.metrics is not None:
            self.metrics.addresses_registered.inc(count)


def _retry_after(recent: list[tuple[datetime, int]], excess: int, span: timedelta, now: datetime) -> int:
    """Seconds until enough of ``recent`` leaves the window for ``excess`` more addresses to fit (at least 1)."""
    freed = 0
    for at, n in recent:
        freed += n
        if freed >= excess:
            return max(int((at + span - now).total_seconds()) + 1, 1)
    return max(int(span.total_seconds()), 1)


@dataclass(frozen=True)
class ImportCounts:
    #: Profiles created or changed: stored, published and re-matched.
    stored: int = 0
    #: Lines that changed nothing (the profile as stored already said it all): skipped.
    unchanged: int = 0
    #: Lines refused by ``ProfileLimits`` (too many addresses, too big): supplier id and the reason.
    refused: tuple[tuple[str, str], ...] = ()

    def __add__(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(self.stored + other.stored, self.unchanged + other.unchanged, self.refused + other.refused)


@dataclass(frozen=True)
class RerankCounts:
    """What ``Matcher.rerank_open`` did: notices ranked again, of them shortlists that changed (stored and
    published), and notices asked for by id that are not open (closed, cancelled) or not stored."""

    ranked: int = 0
    changed: int = 0
    not_open: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


def _default_fitter(profiles: Iterable[SupplierProfile], config: ScoringConfig, learn: bool) -> MatchModel:
    return fit_model(profiles, config=config, learn=learn)


@dataclass
class Matcher:
    profiles: ProfileStore
    notices: NoticeStore
    shortlists: ShortlistStore
    publisher: EventPublisher
    topic_shortlists: str
    topic_profiles: str
    metrics: MatcherMetrics
    config: ScoringConfig = field(default_factory=ScoringConfig)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    ineligible: frozenset[str] = frozenset()
    refit_every_changes: int = 200
    reverse_match_limit: int = 200
    #: Learn component weights from award history at each fit (``False``: ``config.weights`` as given).
    learn_weights: bool = True
    model: MatchModel | None = None
    limits: ProfileLimits = field(default_factory=ProfileLimits)
    #: New addresses per registrant key; ``None``: no quota (the offline ``match``, tests of other rules).
    registrations: RegistrationQuota | None = None
    #: Fits a model over profiles (``fit_model`` with the matcher's config); swappable so a test can hold a fit.
    fitter: Callable[[Iterable[SupplierProfile], ScoringConfig, bool], MatchModel] = field(default=_default_fitter)
    #: Buyers' marks on shortlist entries, and the topic they are published on.
    feedback: FeedbackStore | None = None
    topic_feedback: str = topics.FEEDBACK.name
    #: Every agency's marks move every agency's shortlists (``TB_MATCHER_FEEDBACK_POOLING``).
    feedback_pooling: bool = False

    def __post_init__(self) -> None:
        if self.encoder is not None and self.fitter is _default_fitter:
            encoder = self.encoder
            self.fitter = lambda profiles, config, learn: fit_model(
                profiles, config=config, learn=learn, encoder=encoder
            )

    #: Embeds notices and profiles for the ``semantic`` component and the kNN candidate channel; ``None``: meaning is
    #: not scored (the component counts for nothing) and retrieval is by codes and terms alone.
    encoder: Encoder | None = None
    #: Profile vectors by supplier id, with the texts they were computed from (recomputed when those change), the
    #: ``PROFILE_VECTORS_CACHED`` most recently used.
    _profile_vectors: OrderedDict[str, tuple[tuple[str, ...], ProfileVectors]] = field(default_factory=OrderedDict)
    #: The worker and the buyer API's threads rank at once: the cache is read and written under this lock.
    _vectors_lock: threading.Lock = field(default_factory=threading.Lock)
    #: The CPV <-> UNSPSC crosswalk the ``category`` component and code retrieval follow (``None``: codes of the two
    #: schemes never meet).
    crosswalk: Crosswalk | None = None
    #: Suggests codes for profiles and notices that state none, from their vectors (needs ``encoder``; ``None``: no
    #: suggested codes). The profile store indexes a profile's when it writes it (retrieval); ranking reads them
    #: from ``_suggested``, computed once per profile text.
    text_codes: TextCodes | None = None
    #: Codes suggested for code-less profiles by supplier id, with the text they were suggested from, the
    #: ``PROFILE_VECTORS_CACHED`` most recently used (under ``_vectors_lock``).
    _suggested: OrderedDict[str, tuple[str, tuple[SuggestedCode, ...]]] = field(default_factory=OrderedDict)
    _changes_since_fit: int = 0
    _fitted_at: float = 0.0
    #: Profile records this matcher published to the profiles topic (stores and deletes).
    _profiles_published: int = 0
    #: At the last ``note_profile_log``: the topic's end offsets (summed) and ``_profiles_published``.
    _profile_log: tuple[int, int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _refit_thread: threading.Thread | None = None
    _refit_error: BaseException | None = None

    # -- the scoring model ------------------------------------------------------------------------------------------

    def refit(self) -> None:
        """Fit the domain model over every stored profile and swap it in (readers keep the old one meanwhile).

        The profiles are read page by page (``ProfileStore.page``, ``FIT_PAGE`` at a time) into the fit, which
        learns the weights from a bounded sample of them (``model.LEARNING_SAMPLE``)."""
        started = time.monotonic()
        changes_before = self._changes_since_fit
        first = self.profiles.page(None, FIT_PAGE)
        read = [0]

        def stored() -> Iterator[SupplierProfile]:
            page = first
            while page:
                read[0] += len(page)
                yield from page
                page = self.profiles.page(page[-1].supplier_id, FIT_PAGE) if len(page) == FIT_PAGE else []

        # With no profiles there is nothing to learn from: rank with the configured weights.
        model = self.fitter(stored(), self.config, self.learn_weights) if first else None
        with self._lock:
            self.model = model
            # Changes made while fitting are not in this model: they count towards the next fit.
            self._changes_since_fit = max(self._changes_since_fit - changes_before, 0)
            self._fitted_at = time.monotonic()
        self.metrics.model_fits.inc()
        log.info("scoring model fitted over %d profiles in %.2fs", read[0], time.monotonic() - started)

    def note_profile_log(self, end_total: int) -> int:
        """Count the profile changes other processes made (``import-suppliers``, another matcher instance) towards
        the next refit: ``end_total`` is the profiles topic's end offsets summed over its partitions, which every
        writer's change moves on; what it grew by since the last look, less what this matcher published meanwhile
        (counted when it was made), is theirs. The first look only takes the position. Returns that count."""
        with self._lock:
            seen, self._profile_log = self._profile_log, (end_total, self._profiles_published)
            if seen is None:
                return 0
            others = max(end_total - seen[0] - (self._profiles_published - seen[1]), 0)
            self._changes_since_fit += others
        return others

    def _refit_due(self, interval_seconds: float) -> bool:
        return self._changes_since_fit >= self.refit_every_changes or (
            interval_seconds > 0 and time.monotonic() - self._fitted_at >= interval_seconds
        )

    def refit_if_due(self, interval_seconds: float) -> bool:
        """Refit in the calling thread when enough profiles changed or ``interval_seconds`` passed."""
        due = self._refit_due(interval_seconds)
        if due:
            # Counted as attempted first: an unavailable store postpones the refit by one interval, not forever.
            self._fitted_at = time.monotonic()
            self.refit()
        return due

    def refit_in_background(self, interval_seconds: float) -> bool:
        """Start a refit on a background thread when one is due and none is running; ``True`` if one started.

        Matching goes on with the current model meanwhile; the new one is swapped in under the lock when ready
        (a fit over 100k profiles takes seconds to minutes, which must not stall the notice worker). A fit that
        failed with ``StoreUnavailable`` is postponed by one interval; any other error is raised here, in the
        caller's thread, so the worker stops as it would on an unexpected error of its own.
        """
        with self._lock:
            error, self._refit_error = self._refit_error, None
            if error is not None:
                raise error
            if self._refit_thread is not None and self._refit_thread.is_alive():
                return False
            if not self._refit_due(interval_seconds):
                return False
            self._fitted_at = time.monotonic()
            thread = threading.Thread(target=self._background_refit, name="matcher-refit", daemon=True)
            self._refit_thread = thread
        thread.start()
        return True

    def _background_refit(self) -> None:
        try:
            self.refit()
        except StoreUnavailable as exc:
            log.warning("model refit postponed, Elasticsearch unavailable: %s", exc)
        except BaseException as exc:  # handed to the worker thread, which raises it (see refit_in_background)
            log.exception("model refit failed")
            with self._lock:
                self._refit_error = exc

    def wait_for_refit(self, timeout: float | None = None) -> bool:
        """Wait for a background refit to finish; ``True`` when none is running (any more)."""
        thread = self._refit_thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # -- notices ----------------------------------------------------------------------------------------------------

    def handle_notice(self, notice: TenderNotice) -> Shortlist | None:
        """Store the notice version, build its shortlist, store it and publish it (the caller flushes).

        Returns ``None`` for a version older than the stored one (out of order, already superseded). A version
        already matched is published again as stored, so a redelivery after a crash repeats the same shortlist.
        The notice's vector is encoded once, stored with it (reverse matching finds it by meaning) and ranked with.
        """
        vector = None if notice.status == NoticeStatus.CANCELLED else self._notice_vector(notice)
        if not self.notices.put(notice, vector):
            self.metrics.stale_notices.inc()
            log.info("ignored %s v%d: a newer version is stored", notice.notice_id, notice.version)
            return None
        existing = self.shortlists.get(notice.notice_id, notice.version)
        if existing is not None:
            self.publisher.publish(self.topic_shortlists, notice.notice_id, existing)
            return existing
        previous = self.shortlists.latest(notice.notice_id, before_version=notice.version)
        if notice.status == NoticeStatus.CANCELLED:
            shortlist = self._cancellation(notice, previous)
        else:
            shortlist = self._match(notice, previous_ids=_supplier_ids(previous), notice_vector=vector)
        # Another replica may be ranking the same version (a partition handed over while the old owner still works
        # on its batch): the first stored wins, and both publish that one.
        stored = self.shortlists.add(shortlist)
        self.publisher.publish(self.topic_shortlists, notice.notice_id, stored)
        if stored is shortlist:
            self.metrics.notices_matched.labels(notice.status.value).inc()
            self.metrics.shortlist_size.observe(len(shortlist.entries))
        return stored

    def notice_for(self, principal: Principal, notice_id: str) -> TenderNotice:
        """A notice as a buyer or admin key may read it. Another agency's notice is ``NotFound`` exactly like a
        missing one (a buyer cannot probe for it); so is an empty id, which no notice has."""
        principal.require(Role.ADMIN, Role.BUYER)
        notice = self.notices.get(notice_id) if notice_id else None
        if notice is None or not principal.sees_notice(notice):
            raise NotFound(f"no notice {notice_id!r}")
        return notice

    def shortlist_of(self, notice: TenderNotice) -> Shortlist | None:
        """The current version's shortlist, or (while the matcher has not ranked it yet) the latest earlier one."""
        return self.shortlists.get(notice.notice_id, notice.version) or self.shortlists.latest(notice.notice_id)

    def rematch(self, notice_id: str) -> Shortlist:
        """Rank the stored version of a notice again (new profiles, new weights) and republish its shortlist."""
        notice = self.notices.get(notice_id)
        if notice is None:
            raise NotFound(f"no notice {notice_id!r}")
        if notice.status == NoticeStatus.CANCELLED:
            current = self.shortlists.get(notice_id, notice.version)
            if current is None:
                raise NotFound(f"no shortlist for cancelled notice {notice_id!r}")
            return current
        shortlist = self._rerank(notice)
        self.publisher.flush()
        return shortlist

    def rerank_open(
        self, notice_ids: Iterable[str] | None = None, progress: Callable[[], None] | None = None
    ) -> RerankCounts:
        """Rank open notices again (every one, or those of ``notice_ids``) and store and publish the shortlists whose
        entries changed: after an upgrade of the matcher or a change of weights, shortlists stored so far are the
        old ranking's. An unchanged shortlist is left as it is; a changed one goes out as any re-rank does (the
        notifier's keys send nobody the same alert twice). ``progress`` is called once per notice looked at."""
        now = self.clock()
        missing: list[str] = []
        not_open: list[str] = []

        def chosen() -> Iterator[TenderNotice]:
            if notice_ids is None:
                yield from self.notices.open_notices(now)
                return
            for notice_id in notice_ids:
                notice = self.notices.get(notice_id)
                if notice is None:
                    missing.append(notice_id)
                elif not notice.is_open(now):
                    not_open.append(notice_id)
                else:
                    yield notice

        ranked = changed = 0
        for notice in chosen():
            current = self.shortlists.get(notice.notice_id, notice.version)
            ranked += 1
            if self._rerank_if_changed(notice, current, None):
                changed += 1
                if changed % 100 == 0:
                    self.publisher.flush()
            if progress is not None:
                progress()
        self.publisher.flush()
        return RerankCounts(ranked, changed, tuple(not_open), tuple(missing))

    def _previous_ids(self, notice: TenderNotice, current: Shortlist | None) -> list[str]:
        """Who was shortlisted before this version: as the version's stored shortlist says, else from the latest
        shortlist of an earlier version."""
        if current is not None:
            return current.previously_shortlisted
        return _supplier_ids(self.shortlists.latest(notice.notice_id, before_version=notice.version))

    def _rerank(self, notice: TenderNotice) -> Shortlist:
        current = self.shortlists.get(notice.notice_id, notice.version)
        previous_ids = self._previous_ids(notice, current)
        shortlist = self._match(notice, previous_ids=previous_ids)
        self.shortlists.put(shortlist)
        self.publisher.publish(self.topic_shortlists, notice.notice_id, shortlist)
        return shortlist

    def _notice_vector(self, notice: TenderNotice) -> Vector | None:
        """The notice's title and description encoded (``None`` without an encoder)."""
        if self.encoder is None:
            return None
        vector: Vector = self.encoder.encode([notice_semantic_text(notice.title, notice.description)])[0]
        return vector

    def _match(
        self,
        notice: TenderNotice,
        previous_ids: list[str],
        candidates: list[SupplierProfile] | None = None,
        notice_vector: Vector | None = None,
    ) -> Shortlist:
        started = time.perf_counter()
        if notice_vector is None:
            notice_vector = self._notice_vector(notice)
        # Codes suggested for a notice that states none (none valid): a side input, never the buyer's classification.
        notice_codes: tuple[SuggestedCode, ...] = ()
        if self.text_codes is not None and notice_vector is not None and not notice_tags(notice):
            notice_codes = self.text_codes.for_vectors(notice_vector[None, :])[0]
        hints = CodeHints(self.crosswalk, notice_codes)
        if candidates is None:
            candidates = self.profiles.candidates(notice, self.config, notice_vector, hints)
        model = self.model  # one read: a background refit may swap it meanwhile
        now = self.clock()
        # The hard rules first: records, vectors (encoded on a cache miss), suggested codes and buyers' marks are
        # read only for the candidates they keep.
        screened = screen(notice, candidates, now, self.ineligible)
        kept = screened.kept
        stored = self.stored_scoring(kept)
        profile_vectors = self.profile_vectors(kept, stored)
        vectors = None if notice_vector is None else SemanticInput(notice_vector, profile_vectors)
        hints = dataclasses.replace(hints, profiles=self.suggested_codes(kept, profile_vectors))
        result = rank(
            notice,
            kept,
            self.config,
            now,
            model=model,
            ineligible=self.ineligible,
            vectors=vectors,
            adjustments=self._adjustments(notice, [p.supplier_id for p in kept]),
            hints=hints,
            encoder=None if self.encoder is None else self.encoder.model,
            stored=stored,
            exclusions=screened.exclusions,
        )
        # Prospects (known only from award records) are marked with their evidence for the buyer.
        entries = mark_prospects(result.entries, {p.supplier_id: p for p in candidates})
        self.metrics.match_seconds.observe(time.perf_counter() - started)
        return Shortlist(
            shortlist_id=Shortlist.make_id(notice.notice_id, notice.version),
            notice_id=notice.notice_id,
            notice_version=notice.version,
            notice_status=notice.status,
            notice=notice,
            entries=entries,
            exclusions=result.exclusions,
            previously_shortlisted=previous_ids if notice.version > 1 else [],
            algorithm=result.algorithm,
            generated_at=self.clock(),
        )

    def stored_scoring(self, profiles: list[SupplierProfile]) -> dict[str, SupplierStats]:
        """The statistics stored with ``profiles`` (``ProfileStore.stored_scoring``), by supplier id: the model
        computes (and caches) only those of the others."""
        return {p.supplier_id: st for p in profiles if (st := self.profiles.stored_scoring(p)) is not None}

    def profile_vectors(
        self, profiles: list[SupplierProfile], records: Mapping[str, SupplierStats] | None = None
    ) -> dict[str, ProfileVectors]:
        """Each profile's vectors (``semantic.ProfileVectors``) by supplier id, encoded once per profile text and
        kept while it stays the same; empty without an encoder. ``records``: the statistics stored with them
        (``stored_scoring``), whose phrases were split when the profile was written."""
        encoder = self.encoder
        if encoder is None:
            return {}
        split = records or {}
        out: dict[str, ProfileVectors] = {}
        todo: list[tuple[SupplierProfile, tuple[str, ...]]] = []
        with self._vectors_lock:
            for p in profiles:
                record = split.get(p.supplier_id)
                key = (semantic_text(p), *(phrases(p) if record is None else record.phrases))
                cached = self._profile_vectors.get(p.supplier_id)
                if cached is not None and cached[0] == key:
                    out[p.supplier_id] = cached[1]
                    self._profile_vectors.move_to_end(p.supplier_id)
                else:
                    todo.append((p, key))
        if todo:
            # The whole texts: as stored with the profile when it was written, else encoded now, in one batch; the
            # phrases only if a reason reads them (a shortlisted entry).
            # A stored vector of another dimension (another encoder wrote it) is encoded again.
            stored = [
                v if (v := self.profiles.stored_vector(p)) is not None and v.shape[0] == encoder.dimension else None
                for p, _ in todo
            ]
            unstored = [key[0] for (_, key), v in zip(todo, stored, strict=True) if v is None]
            encoded: Iterator[Vector] = iter(encoder.encode(unstored) if unstored else [])
            rows = [next(encoded) if v is None else v for v in stored]
            with self._vectors_lock:
                for (p, key), row in zip(todo, rows, strict=True):
                    vectors = ProfileVectors(row, key[1:], encoder.encode)
                    self._profile_vectors[p.supplier_id] = (key, vectors)
                    out[p.supplier_id] = vectors
                while len(self._profile_vectors) > PROFILE_VECTORS_CACHED:
                    self._profile_vectors.popitem(last=False)
        return out

    def suggested_codes(
        self, profiles: list[SupplierProfile], vectors: dict[str, ProfileVectors]
    ) -> dict[str, tuple[SuggestedCode, ...]]:
        """The codes suggested for those of ``profiles`` that state none (``codes.wants_suggestions``), by supplier
        id, from their vectors (``profile_vectors``): computed once per profile text, as the store indexed them."""
        text_codes = self.text_codes
        if text_codes is None:
            return {}
        out: dict[str, tuple[SuggestedCode, ...]] = {}
        todo: list[tuple[SupplierProfile, str]] = []
        with self._vectors_lock:
            for p in profiles:
                if p.supplier_id not in vectors or not wants_suggestions(p):
                    continue
                key = semantic_text(p)
                cached = self._suggested.get(p.supplier_id)
                if cached is not None and cached[0] == key:
                    self._suggested.move_to_end(p.supplier_id)
                    out[p.supplier_id] = cached[1]
                else:
                    todo.append((p, key))
        if todo:
            rows = np.stack([vectors[p.supplier_id].vector for p, _ in todo])
            found = text_codes.for_profiles([p for p, _ in todo], rows)
            with self._vectors_lock:
                for (p, key), codes in zip(todo, found, strict=True):
                    self._suggested[p.supplier_id] = (key, codes)
                    out[p.supplier_id] = codes
                while len(self._suggested) > PROFILE_VECTORS_CACHED:
                    self._suggested.popitem(last=False)
        return {k: v for k, v in out.items() if v}

    def _cancellation(self, notice: TenderNotice, previous: Shortlist | None) -> Shortlist:
        entries = [] if previous is None else previous.entries
        return Shortlist(
            shortlist_id=Shortlist.make_id(notice.notice_id, notice.version),
            notice_id=notice.notice_id,
            notice_version=notice.version,
            notice_status=NoticeStatus.CANCELLED,
            notice=notice,
            entries=entries,
            previously_shortlisted=[e.supplier_id for e in entries],
            algorithm=previous.algorithm if previous is not None else self.config.algorithm,
            generated_at=self.clock(),
        )

    # -- buyers' marks ----------------------------------------------------------------------------------------------

    def _adjustments(self, notice: TenderNotice, candidates: list[str]) -> dict[str, Adjustment]:
        """What marks add to each supplier for this notice: the notice's agency's latest marks (every agency's with
        pooling) and the candidates' own latest marks, those of other notices weighted by how alike the notices
        are."""
        if self.feedback is None:
            return {}
        agencies = frozenset(notice_agencies(notice))
        own = self.feedback.from_suppliers(FEEDBACK_MARKS_READ, candidates) if candidates else []
        marks = {m.feedback_id: m for m in own}
        for agency in [None] if self.feedback_pooling else sorted(agencies):
            for m in self.feedback.for_agency(agency, FEEDBACK_MARKS_READ):
                marks[m.feedback_id] = m
        if not marks:
            return {}
        similarity: dict[str, float] = {}
        for other_id in {m.notice_id for m in marks.values()} - {notice.notice_id}:
            other = self.notices.get(other_id)
            similarity[other_id] = 0.0 if other is None else notice_similarity(notice, other)
        return explained_adjustments(
            marks.values(), notice.notice_id, agencies, similarity, pooled=self.feedback_pooling
        )

    def _feedback_store(self) -> FeedbackStore:
        if self.feedback is None:
            raise RuntimeError("this matcher was built without a feedback store")
        return self.feedback

    def mark_entry(
        self,
        principal: Principal,
        notice_id: str,
        supplier_id: str,
        mark: FeedbackMark,
        reason: FeedbackReason | None = None,
    ) -> ShortlistFeedback:
        """A buyer's mark on one supplier of a notice's shortlist (an entry or one ruled out): stored, replacing the
        agency's earlier mark on it, and published on the feedback topic. The notice must be one the key sees;
        the mark is the key's agency's (an admin marks for the notice's buyer). ``NotFound`` for a supplier the
        shortlist does not list; ``InvalidInput`` for a reason with another mark than not relevant."""
        notice = self.notice_for(principal, notice_id)
        if reason is not None and mark != FeedbackMark.NOT_RELEVANT:
            raise InvalidInput("a reason goes with mark not_relevant only")
        shortlist = self.shortlist_of(notice)
        listed = set() if shortlist is None else {e.supplier_id for e in shortlist.entries}
        listed |= set() if shortlist is None else {x.supplier_id for x in shortlist.exclusions}
        if supplier_id not in listed:
            raise NotFound(f"supplier {supplier_id!r} is not on the shortlist of notice {notice.notice_id!r}")
        agency = self.marking_agency(principal, notice)
        saved = ShortlistFeedback(
            feedback_id=feedback_id(agency, notice.notice_id, supplier_id),
            notice_id=notice.notice_id,
            notice_version=shortlist.notice_version if shortlist is not None else notice.version,
            supplier_id=supplier_id,
            agency=agency,
            mark=mark,
            reason=reason,
            marked_by=principal.key_id,
            marked_at=self.clock(),
        )
        self._feedback_store().put(saved)
        self.publisher.publish(self.topic_feedback, saved.feedback_id, saved)
        # The buyer sees the mark move the shortlist at once: its notice is ranked again (if still open).
        if notice.is_open(self.clock()):
            self._rerank_if_changed(notice, self.shortlists.get(notice.notice_id, notice.version), None)
        self.publisher.flush()
        self.metrics.feedback_marks.labels(mark.value).inc()
        return saved

    def store_supplier_mark(self, mark: ShortlistFeedback) -> bool:
        """Store a supplier's own "not relevant for me" mark (``by_supplier``, published by the notifier) for
        ranking; False, storing nothing, for a buyer's mark (the matcher stored it when it made it). The notice's
        open shortlist is ranked again when the supplier is on it: the buyer reading it sees the supplier's word at
        once. Idempotent (keyed by ``feedback_id``)."""
        if not mark.by_supplier:
            return False
        notice = self.notices.get(mark.notice_id)
        self._feedback_store().put(mark)
        self.metrics.supplier_marks.inc()
        if notice is not None and notice.is_open(self.clock()):
            current = self.shortlists.get(notice.notice_id, notice.version)
            if mark.supplier_id in _supplier_ids(current):
                self._rerank_if_changed(notice, current, None)
        return True

    @staticmethod
    def marking_agency(principal: Principal, notice: TenderNotice) -> str:
        """Whose marks a key writes and reads on a notice: a buyer key's agency; for an admin, the notice's buyer."""
        if principal.role == Role.BUYER and principal.agency:
            return normalize_agency(principal.agency)
        return normalize_agency(notice.buyer.id or notice.buyer.name)

    def marks_on(self, principal: Principal, notice: TenderNotice) -> dict[str, ShortlistFeedback]:
        """Supplier id -> the mark the key's agency set on it for this notice (never another agency's)."""
        marks = self._feedback_store().for_notice(notice.notice_id, self.marking_agency(principal, notice))
        out: dict[str, ShortlistFeedback] = {}
        for m in marks:  # latest first
            out.setdefault(m.supplier_id, m)
        return out

    # -- profiles ---------------------------------------------------------------------------------------------------

    def create_profile(
        self,
        profile: SupplierProfile,
        *,
        registered_by: str | None = None,
        registrant: str | None = None,
        claim_by_name: bool = True,
    ) -> tuple[SupplierProfile, int]:
        """Create a profile; a registered firm claims the prospects it is (``_claim_prospects``; ``claim_by_name``
        False: by official identifier only, as from the public form)."""
        if self.profiles.get(profile.supplier_id) is not None:
            raise AlreadyExists(f"supplier {profile.supplier_id!r} exists; use PUT to replace it")
        prospects = self._prospects([profile], by_name=claim_by_name)
        profile, gone = self._claim_prospects(profile, prospects, by_name=claim_by_name)
        saved = self.save_profile(profile, registered_by=registered_by, registrant=registrant)
        self._retire_claimed(gone)
        return saved

    # -- claims: a registering firm takes over the prospects it is (``domain.awards.find_claims``) -------------------

    def _prospects(self, registered: Iterable[SupplierProfile], *, by_name: bool) -> dict[str, SupplierProfile]:
        """The stored prospects that registrations may claim, by id: those sharing an identifier with one of them,
        or (``by_name``) a name key of the resolver (a query of the store, not a read of every profile)."""
        keys = list(dict.fromkeys(k for p in registered for k in claim_keys(p, by_name=by_name)))
        return {p.supplier_id: p for p in self.profiles.find_by_keys(keys, prospects_only=True)} if keys else {}

    def _claim_prospects(
        self, profile: SupplierProfile, prospects: dict[str, SupplierProfile], *, by_name: bool
    ) -> tuple[SupplierProfile, list[str]]:
        """``profile`` with the awards of the prospects entity resolution says it is (each claimed, explained),
        and their ids (taken out of ``prospects``: the caller deletes them once the claimant is stored). A profile
        that is itself a prospect claims nothing. A claim that would take the profile over ``limits`` is left for
        an operator (logged): the registration itself goes on."""
        if profile.is_prospect or not prospects:
            return profile, []
        gone = []
        for match in find_claims(profile, prospects.values(), by_name=by_name):
            merged = claimed(prospects[match.prospect_id], profile, match, self.clock())
            # At the size limit, the oldest awards are folded rather than the claim refused (``fit_awards``).
            merged = fit_awards(merged, self.limits.max_bytes, self.limits.size).profile
            try:
                self.limits.check(merged)
            except InvalidInput as exc:
                log.warning("claim of %r by %r left out: %s", match.prospect_id, profile.supplier_id, exc)
                continue
            profile = merged
            del prospects[match.prospect_id]
            log.info("claim: %s", match.explain(profile.supplier_id))
            gone.append(match.prospect_id)
        return profile, gone

    def _confirmed_claims(
        self, before: SupplierProfile | None, profile: SupplierProfile
    ) -> tuple[SupplierProfile, list[str]]:
        """A claim from the public form waits for the registrant's address (``pending_identifiers``): once a write
        confirms an address that was waiting (the notifier's, when its owner used the link; an admin's that
        vouches for it), the pending identifiers join the profile's and claim the prospects that carry them, by
        identifier only. Returns the profile and the prospects to retire once it is stored."""
        if before is None or not profile.pending_identifiers or profile.is_prospect:
            return profile, []
        still = set(profile.unconfirmed_emails())
        if not any(a in profile.emails and a not in still for a in before.unconfirmed_emails()):
            return profile, []
        identifiers = list(dict.fromkeys([*profile.identifiers, *profile.pending_identifiers]))
        profile = profile.model_copy(update={"identifiers": identifiers, "pending_identifiers": []})
        return self._claim_prospects(profile, self._prospects([profile], by_name=False), by_name=False)

    def _retire_claimed(self, prospect_ids: Iterable[str]) -> None:
        """Delete claimed prospects: a tombstone on the profiles topic, and the shortlists that listed one ranked
        again without it (its claimant, holding its awards now, is ranked in its place)."""
        for prospect_id in prospect_ids:
            if self.profiles.get(prospect_id) is not None:
                self.delete_profile(prospect_id)

    def save_profile(
        self,
        profile: SupplierProfile,
        *,
        flush: bool = True,
        registered_by: str | None = None,
        registrant: str | None = None,
    ) -> tuple[SupplierProfile, int]:
        """Store a profile, publish it to the profiles topic and re-rank the open notices that fit it (when the write
        is new or changes something matching reads: ``matching_changed``; a confirmation's write-back re-ranks none).

        ``registered_by``: who writes it when it is not an admin (a buyer key's agency, the supplier itself): the
        addresses it adds wait for their owner's confirmation (``email_confirmations``). Returns the stored profile
        and the number of shortlists that changed (and were republished, for the same notice version, so the
        notifier alerts only suppliers it has not alerted yet).

        Refused before anything is stored: a profile over ``limits`` (``TooManyAddresses``, ``TooLarge``), and new
        addresses beyond the registrant's quota (``TooManyRegistrations``; ``registrant`` names the key, by
        default ``registered_by``).
        """
        before = self.profiles.get(profile.supplier_id)
        if before is not None and registered_by is not None:
            # What waits for confirmation is the matcher's: a supplier's or buyer's key cannot state it. Nor can it
            # change the official identifiers or the origin: award records are resolved by identifier first, so a
            # typed identifier would take over another firm's past and future awards (an operator sets them, or the
            # public form's number once the address is confirmed).
            kept = {
                "pending_identifiers": before.pending_identifiers,
                "identifiers": before.identifiers,
                "origin": before.origin,
            }
            if profile.identifiers != before.identifiers or profile.origin != before.origin:
                log.warning(
                    "%s: identifiers and origin kept as stored (only an operator changes them)", before.supplier_id
                )
            profile = profile.model_copy(update=kept)
        confirmations = email_confirmations(before, profile, profile, registered_by, self.clock())
        profile = profile.model_copy(update={"email_confirmations": confirmations})
        profile, gone = self._confirmed_claims(before, profile)
        self.limits.check(profile)
        if registered_by is not None:
            self._admit_registrations(registrant or registered_by, [(before, profile)])
        changed = before is None or matching_changed(before, profile)
        saved = self._store(profile, existed=before is not None, matching_changed=changed, flush=flush)
        self._retire_claimed(gone)
        return saved

    def _admit_registrations(
        self, registrant: str, writes: Iterable[tuple[SupplierProfile | None, SupplierProfile]]
    ) -> None:
        """Count the addresses that ``writes`` (stored profile or None, profile to store) add against the
        registrant's quota; ``TooManyRegistrations`` refuses them all."""
        if self.registrations is None:
            return
        new = sum(len(set(after.emails) - set(before.emails if before else ())) for before, after in writes)
        self.registrations.admit(registrant, new, self.clock())

    def _store(
        self, profile: SupplierProfile, *, existed: bool, matching_changed: bool, flush: bool = True
    ) -> tuple[SupplierProfile, int]:
        """Stamp, store and publish a profile; when something matching reads changed, re-rank the open notices it
        concerns and count it towards the next refit."""
        profile = profile.model_copy(update={"updated_at": self.clock()})
        self.profiles.put(profile)
        self._publish_profile(profile.supplier_id, profile)
        changed = self.reverse_match(profile) if matching_changed else 0
        if flush:
            self.publisher.flush()
        self.metrics.profile_changes.labels("update" if existed else "create").inc()
        if matching_changed:
            self._changes_since_fit += 1
        return profile, changed

    def _publish_profile(self, supplier_id: str, profile: SupplierProfile | None) -> None:
        """A profile (None: a deletion's tombstone) on the profiles topic, counted as this matcher's own record
        (``note_profile_log`` tells other writers' records from these)."""
        self.publisher.publish(self.topic_profiles, supplier_id, profile)
        self._profiles_published += 1

    def update_preferences(self, supplier_id: str, patch: dict[str, Any]) -> SupplierProfile:
        """Change some alert preferences. A change of delivery only (frequency, language, time zone, digest hour)
        cannot move the supplier on any shortlist: the profile is stored and published without re-matching, so
        the supplier's preferences page saves at once. Anything else (unsubscribed, codes, countries, agencies,
        minimum value: the preference rules) re-matches the open notices as any profile change does.

        ``null`` for a preference puts it back to its default (the patch's schema allows null for every field;
        ``min_value``'s default is null itself)."""
        profile = self.profiles.get(supplier_id)
        if profile is None:
            raise NotFound(f"no supplier {supplier_id!r}")
        fields = AlertPreferences.model_fields
        patch = {
            k: fields[k].get_default(call_default_factory=True) if v is None and k in fields else v
            for k, v in patch.items()
        }
        merged = AlertPreferences.model_validate({**profile.preferences.model_dump(), **patch})
        changed = {k for k in AlertPreferences.model_fields if getattr(merged, k) != getattr(profile.preferences, k)}
        delivery_only = bool(changed) and changed <= DELIVERY_PREFERENCES
        # Preferences are the supplier's (its page, its key, the notifier on its behalf): a roster re-import keeps
        # what it set here (``merge_import``).
        chosen = {**profile.set_by_supplier, **dict.fromkeys((f"preferences.{k}" for k in patch), self.clock())}
        updated = profile.model_copy(update={"preferences": merged, "set_by_supplier": chosen})
        self.limits.check(updated)  # a patch's lists can grow a profile past what the bus carries
        saved, _ = self._store(updated, existed=True, matching_changed=not delivery_only)
        return saved

    def delete_profile(self, supplier_id: str) -> None:
        if not self.profiles.delete(supplier_id):
            raise NotFound(f"no supplier {supplier_id!r}")
        self._publish_profile(supplier_id, None)
        # The open shortlists that listed the supplier are ranked again without it.
        for notice in self._open_notices_listing(supplier_id):
            self._rerank_if_changed(notice, self.shortlists.get(notice.notice_id, notice.version), candidates=None)
        self.publisher.flush()
        self.metrics.profile_changes.labels("delete").inc()
        self._changes_since_fit += 1

    def reverse_match(self, profile: SupplierProfile) -> int:
        """Re-rank the open notices that fit a new or changed profile; store and publish the shortlists whose
        entries changed. Returns how many changed."""
        return self.reverse_match_many([profile])

    def reverse_match_many(self, profiles: list[SupplierProfile]) -> int:
        """``reverse_match`` for several new or changed profiles at once: every open notice that fits one of them
        (or lists one of them) is re-ranked once, however many of them it concerns. Returns how many changed.

        A notice that none of its batch suppliers is on (shortlist or exclusions) yet can only gain some of them,
        so it is re-ranked over the suppliers already there plus those (one multi-get instead of a full retrieval:
        scores do not depend on the other candidates). A supplier already there may move down or out, so such a
        notice is re-ranked with a full retrieval.
        """
        batch = {p.supplier_id: p for p in profiles}
        notices: dict[str, TenderNotice] = {}
        concerned: dict[str, set[str]] = {}
        subscribed = [p for p in batch.values() if not p.preferences.unsubscribed]
        # Their vectors (as stored with them when written, else encoded; kept for the re-ranks below): the open
        # notices nearest in meaning are found by them, and codes are suggested from them.
        vectors = self.profile_vectors(subscribed)
        suggested = self._suggested_prefixes(subscribed, vectors)
        for profile in batch.values():
            # An unsubscribed supplier can join no shortlist (the preference rules exclude it): only the notices it
            # is on can change, and those are the ones listing it below.
            fitting = (
                []
                if profile.preferences.unsubscribed
                else self.notices.open_for_profile(
                    profile,
                    self.clock(),
                    self.reverse_match_limit,
                    suggested.get(profile.supplier_id, []),
                    vector=v.vector if (v := vectors.get(profile.supplier_id)) is not None else None,
                )
            )
            # Notices the supplier is shortlisted for but no longer fits (codes or keywords changed) are revisited.
            for notice in [*fitting, *self._open_notices_listing(profile.supplier_id)]:
                notices.setdefault(notice.notice_id, notice)
                concerned.setdefault(notice.notice_id, set()).add(profile.supplier_id)
        changed = 0
        for notice in notices.values():
            current = self.shortlists.get(notice.notice_id, notice.version)
            candidates = None
            if current is not None:
                known = [e.supplier_id for e in current.entries] + [x.supplier_id for x in current.exclusions]
                joining = sorted(concerned[notice.notice_id])
                if not set(joining) & set(known):
                    candidates = [*self.profiles.get_many(known), *(batch[s] for s in joining)]
            changed += self._rerank_if_changed(notice, current, candidates)
        return changed

    def _suggested_prefixes(
        self, profiles: list[SupplierProfile], vectors: dict[str, ProfileVectors]
    ) -> dict[str, list[str]]:
        """For the profiles that state no codes: the prefixes of the codes suggested from their text (``vectors``:
        ``profile_vectors``), by supplier id (what the store indexes apart from their own, so forward retrieval
        finds them by those)."""
        found = self.suggested_codes(profiles, vectors)
        return {sid: suggested_prefixes(codes) for sid, codes in found.items()}

    def _open_notices_listing(self, supplier_id: str) -> list[TenderNotice]:
        out = []
        for shortlist in self.shortlists.with_supplier(supplier_id, self.reverse_match_limit):
            notice = self.notices.get(shortlist.notice_id)
            if notice is not None and notice.version == shortlist.notice_version and notice.is_open(self.clock()):
                out.append(notice)
        return out

    def _rerank_if_changed(
        self, notice: TenderNotice, current: Shortlist | None, candidates: list[SupplierProfile] | None
    ) -> int:
        """Rank a notice's current version again; store and publish the shortlist if its entries changed."""
        previous_ids = self._previous_ids(notice, current)
        fresh = self._match(notice, previous_ids, candidates)
        self.metrics.reverse_matches.inc()
        # Unchanged entries (same suppliers, ranks, scores, names) need no new message.
        if current is not None and fresh.entries == current.entries:
            return 0
        self.shortlists.put(fresh)
        self.publisher.publish(self.topic_shortlists, notice.notice_id, fresh)
        return 1

    def rerank_stored(self, notice: TenderNotice) -> bool:
        """Rank a stored notice version again (``backfill``): store and publish its shortlist if its entries
        changed (``True``), as ``rerank_open`` does for each notice (the caller flushes)."""
        return bool(self._rerank_if_changed(notice, self.shortlists.get(notice.notice_id, notice.version), None))

    def import_profiles(
        self,
        profiles: Iterable[SupplierProfile],
        batch: int = 500,
        *,
        registered_by: str | None = None,
        registrant: str | None = None,
    ) -> ImportCounts:
        """Store profiles in batches, publish each, re-match open notices for each; flush once per batch.

        A line for a supplier already stored is merged into its profile (``merge_import``: stated fields replace,
        the supplier's own alert choices stay); a line that changes nothing is skipped: not stored, not published,
        not re-matched, so re-importing the same roster is cheap and sends nobody anything. ``registered_by``: a
        buyer key's agency (not an admin): the addresses it registers wait for their owner's confirmation, and
        count, all lines together, against the quota of ``registrant`` (default ``registered_by``): over it, the
        whole import is refused before anything is stored (``TooManyRegistrations``). A line over ``limits`` is
        refused alone (``ImportCounts.refused``).
        """
        if registered_by is not None and self.registrations is not None:
            profiles = list(profiles)
            stored = {p.supplier_id: p for p in self.profiles.get_many(list({p.supplier_id for p in profiles}))}
            self._admit_registrations(registrant or registered_by, [(stored.get(p.supplier_id), p) for p in profiles])
        counts = ImportCounts()
        chunk: list[SupplierProfile] = []
        for profile in profiles:
            chunk.append(profile)
            if len(chunk) >= batch:
                counts += self._import_chunk(chunk, registered_by)
                chunk = []
        return counts + self._import_chunk(chunk, registered_by)

    def _import_chunk(self, lines: list[SupplierProfile], registered_by: str | None = None) -> ImportCounts:
        if not lines:
            return ImportCounts()
        stored = {p.supplier_id: p for p in self.profiles.get_many(list(dict.fromkeys(p.supplier_id for p in lines)))}
        changed: dict[str, SupplierProfile] = {}
        refused: list[tuple[str, str]] = []
        # The prospects the chunk's new registered profiles may claim, in one query.
        claimable = self._prospects(
            [p for p in lines if p.supplier_id not in stored and not p.is_prospect], by_name=True
        )
        claims: list[str] = []
        now = self.clock()
        for line in lines:
            before = changed.get(line.supplier_id) or stored.get(line.supplier_id)
            profile = line if before is None else merge_import(before, line)
            if before is None and not profile.is_prospect:
                profile, gone = self._claim_prospects(profile, claimable, by_name=True)
            else:
                gone = []
            confirmations = email_confirmations(before, profile, line, registered_by, now)
            profile = profile.model_copy(update={"email_confirmations": confirmations})
            try:
                self.limits.check(profile)
            except InvalidInput as exc:
                log.warning("import: supplier %r refused: %s", line.supplier_id, exc)
                refused.append((line.supplier_id, str(exc)))
                continue
            if before is not None and same_profile(before, profile):
                continue
            changed[line.supplier_id] = profile
            claims.extend(gone)
        chunk = [p.model_copy(update={"updated_at": self.clock()}) for p in changed.values()]
        unchanged = len(lines) - len(chunk) - len(refused)
        if chunk:
            self.profiles.put_many(chunk)
            for profile in chunk:
                self._publish_profile(profile.supplier_id, profile)
            self.reverse_match_many(chunk)
            self.publisher.flush()
            self.metrics.profile_changes.labels("import").inc(len(chunk))
            self._changes_since_fit += len(chunk)
        self._retire_claimed(claims)
        if unchanged:
            self.metrics.profile_changes.labels("import_unchanged").inc(unchanged)
        return ImportCounts(stored=len(chunk), unchanged=unchanged, refused=tuple(refused))


#: What a profile write can change without moving the supplier on any shortlist: the save's stamp, double opt-in
#: (the notifier's write-back of a confirmation), who set which field, and how alerts are delivered.
_NOT_MATCHING = frozenset({"updated_at", "email_confirmations", "set_by_supplier"})


def matching_changed(before: SupplierProfile, after: SupplierProfile) -> bool:
    """Whether a write changes anything matching reads (as ``update_preferences`` decides for preferences): a write
    of only what ``_NOT_MATCHING`` and ``DELIVERY_PREFERENCES`` name re-ranks nothing, so it republishes no
    shortlist (a confirmation's write-back must not bring the supplier the backlog of open tenders)."""
    exclude: dict[str, Any] = {**dict.fromkeys(_NOT_MATCHING, True), "preferences": set(DELIVERY_PREFERENCES)}
    return before.model_dump(exclude=exclude) != after.model_dump(exclude=exclude)


def email_confirmations(
    before: SupplierProfile | None,
    profile: SupplierProfile,
    stated: SupplierProfile,
    registered_by: str | None,
    now: datetime,
) -> dict[str, EmailConfirmation]:
    """The double opt-in entries of ``profile`` (``before``, the stored profile or None, with the write of
    ``stated``, what the caller sent, laid over it), so that no alert goes to an address its owner never agreed to.

    ``registered_by`` None: an admin, whose roster vouches for consent. Entries the write states are kept as stated
    (the notifier records a confirmation, and its profile page saves, by writing the whole profile back); otherwise
    the addresses the write lists are confirmed as they are (their pending entries dropped; confirmed ones keep
    their proof) and the other stored entries stay. A buyer's key or the supplier's own key (``registered_by``
    names it): entries it states are ignored (nobody confirms for an address's owner); an address already in the
    stored profile keeps its state (confirmed stays confirmed, waiting keeps its registration), a new one waits for
    confirmation, registered by ``registered_by`` now. Entries of addresses not in ``emails`` are dropped (one
    removed and added again is a new registration)."""
    stored = before.email_confirmations if before is not None else {}
    entries: dict[str, EmailConfirmation]
    if registered_by is None:
        if "email_confirmations" in stated.model_fields_set:
            entries = dict(stated.email_confirmations)
        else:
            vouched = set(stated.emails) if "emails" in stated.model_fields_set else set()
            entries = {a: c for a, c in stored.items() if c.confirmed_at is not None or a not in vouched}
    else:
        known = set(before.emails) if before is not None else set()
        entries = {}
        for address in profile.emails:
            if address not in known:
                entries[address] = EmailConfirmation(registered_by=registered_by, registered_at=now)
            elif address in stored:
                entries[address] = stored[address]
    return {a: c for a, c in entries.items() if a in profile.emails}


def _supplier_ids(shortlist: Shortlist | None) -> list[str]:
    return [] if shortlist is None else [e.supplier_id for e in shortlist.entries]


class SlidingWindows:
    """Events per key within sliding windows (``name -> (span, limit)``), counted in this process: ``admit``
    records an event, or says in how many seconds the key may come again and which window is full."""

    def __init__(self, limits: dict[str, tuple[timedelta, int]]) -> None:
        self.limits = limits
        self._events: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str, now: datetime) -> tuple[str, int] | None:
        longest = max(span for span, _ in self.limits.values())
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and now - events[0] >= longest:
                events.popleft()
            for name, (span, limit) in self.limits.items():
                recent = [at for at in events if now - at < span]
                if len(recent) >= limit:
                    return name, max(math.ceil((recent[len(recent) - limit] + span - now).total_seconds()), 1)
            events.append(now)
        return None


#: The fields a firm sets on the registration form (``SupplierProfile.set_by_supplier``).
SELF_SET_FIELDS = ("codes", "description", "preferences.language", "preferences.frequency", "preferences.timezone")


@dataclass
class SelfRegistration:
    """The public form's use case: limits first, then the profile, created through the matcher with the double
    opt-in (its address waits for its owner's confirmation, registered by the firm itself, so the notifier's email
    says "you registered"). The answer is the same whether the mailbox was new, known or tried too often: only
    the client's own limits and the form's budget are said (429), and they tell nothing about an address."""

    matcher: Matcher
    #: Posts per client address (IP): ``hour`` and ``day`` windows.
    per_client: SlidingWindows
    #: Registrations per mailbox (``mailbox_key``): beyond it, nothing is done (and the same answer given).
    per_mailbox: SlidingWindows
    #: Code suggestions per client address (IP): each runs the text encoder.
    per_client_suggestions: SlidingWindows
    #: The quota key all public registrations share (``TB_MATCHER_NEW_ADDRESSES_PER_KEY_*``): the form's budget.
    registrant: str = "public-registration-form"

    def note(self, outcome: str) -> None:
        self.matcher.metrics.self_registrations.labels(outcome).inc()

    def admit_client(self, client: str, *, suggestion: bool = False) -> None:
        """``RegistrationRefused`` (``client_limit``) once a client posted valid forms (or, ``suggestion``, asked
        for code suggestions) too often."""
        windows = self.per_client_suggestions if suggestion else self.per_client
        refused = windows.admit(client, self.matcher.clock())
        if refused is not None:
            self.note("client_limit")
            raise RegistrationRefused("client_limit", *refused)

    def register(self, profile: SupplierProfile, mailbox: str) -> str:
        """Create the profile unless its mailbox is known or tried too often; the outcome, counted."""
        if self.per_mailbox.admit(mailbox, self.matcher.clock()) is not None:
            outcome = "address_limit"
        else:
            # What the firm typed is its own: an agency's roster import later leaves it as chosen (``merge_import``).
            own = dict.fromkeys(SELF_SET_FIELDS, self.matcher.clock())
            # Anyone can type any firm's name or identifier here: a name claims nothing, and the identifiers typed wait
            # for the address's confirmation before they claim the prospects that carry them (``_confirmed_claims``).
            pending = list(dict.fromkeys([*profile.pending_identifiers, *profile.identifiers]))
            profile = profile.model_copy(
                update={"set_by_supplier": own, "identifiers": [], "pending_identifiers": pending}
            )
            try:
                self.matcher.create_profile(
                    profile, registered_by=profile.display_name, registrant=self.registrant, claim_by_name=False
                )
                outcome = "created"
            except AlreadyExists:
                outcome = "known"
            except TooManyRegistrations as exc:
                self.note("budget")
                raise RegistrationRefused("budget", "hour", exc.retry_after) from exc
        self.note(outcome)
        return outcome
