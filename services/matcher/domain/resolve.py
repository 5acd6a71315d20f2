"""Entity resolution: which supplier an award winner is.

Public award records (OCDS awards, TED result notices, AusTender's CSV) name the firm that won, sometimes with an
official identifier, always with a name typed by some clerk: "Hays Specialist Recruitment (Aust) P/L", "HAYS
SPECIALIST RECRUITMENT (AUSTRALIA) PTY LIMITED t/a Hays", "HAYS SPECIALIST RECRUI". ``Resolver`` decides, record by
record, which entity (supplier profile) each winner belongs to:

1. **Official identifier** (``identifier``): a registration number the entity already holds (ABN, SIREN, OCDS
   ``parties[].identifier`` scheme + id), compared after ``normalise_identifier``. Two different identifiers of the
   same scheme are never merged, whatever the names say.
2. **Same name** (``name_exact``): the same ``name_key`` (case, accents, punctuation, spacing and the legal-form
   words of ``LEGAL_FORMS`` folded) in the same country; a trading name ("X Pty Ltd t/a Y") is a name of the
   entity too, so a later "Y" joins it (a franchise's trading name shared by several firms is the known risk: the
   benchmark's precision counts it).
3. **Same name but for generic words** (``name_core``): one name only adds words of ``GENERIC_WORDS`` to the other
   ("Sparke Helmore" and "Sparke Helmore Lawyers").
4. **Close name** (``name_fuzzy``): rapidfuzz similarity of the name keys at or above ``ResolverConfig.threshold``
   among the entities of the same block (the first characters of the key, so a record meets hundreds of names,
   not all of them), passed only if no guard objects (``guard``): the numbers must be the same ("ABC Services 1" is
   not "ABC Services 2"), every word of each name must have its like in the other (so "North Cleaning" is not
   "South Cleaning": a substitution, however short), the country must agree, and an identifier of the same scheme
   must not differ.
5. Otherwise a new entity (``new``).

Every decision is a ``Decision`` (the rule, the score, the name or identifier it matched, and the nearest name a
guard refused, with the guard's reason); those that attached a record to an existing entity are the merge log
(``Resolver.merges``). An operator undoes one with ``Resolver.split`` (the records and the names only they brought
move to an entity of their own, and later records of those names join it) or joins two with ``Resolver.merge``;
both are logged as ``OperatorAction``. The resolver holds its state in memory; what outlives it is on the profiles:
every ``PastAward`` carries its decision as evidence, ``domain.awards.seed`` rebuilds a resolver from the stored
profiles (a record attached before stays where it is), and ``domain.awards.split_awards`` is the same split on
stored profiles.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz, process

# --- identifiers ------------------------------------------------------------------------------------------------------

#: Scheme names as publishers write them -> the one spelling they are compared under: the org-id.guide list code
#: (https://org-id.guide, what OCDS ``parties[].identifier.scheme`` and ``contracts.award`` use) where there is one,
#: else a plain ``<country>-<name>``. Other schemes are kept as written, upper-cased; eForms numbers without a
#: scheme arrive as ``<country>-ORGID`` and stay so, so the same number in two countries is two firms.
SCHEME_ALIASES: dict[str, str] = {
    "ABN": "AU-ABN",
    "ACN": "AU-ACN",
    "SIREN": "FR-SIREN",
    "SIRET": "FR-SIRET",
    "USCC": "CN-USCC",  # 统一社会信用代码, GB 32100-2015
    "CRN": "GB-COH",  # Companies House registration number
}


@dataclass(frozen=True, order=True)
class Identifier:
    """An official identifier, normalised: ``scheme`` an org-id.guide code, ``value`` upper case, letters and digits
    only ("84 636 418 838" -> "84636418838")."""

    scheme: str
    value: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.value}"


def normalise_identifier(scheme: str, value: str) -> Identifier:
    """``scheme`` and ``value`` as written -> the ``Identifier`` they compare as.

    A SIRET (14 digits, one establishment) begins with its firm's SIREN (9 digits): it is compared as that SIREN,
    since resolution looks for the firm. ``ValueError`` if either is empty once normalised."""
    # Letters, digits, "_" and "." kept (org-id.guide codes such as BE-BCE_KBO), any other run a "-": the spelling
    # ``contracts.supplier.OrgId`` accepts.
    code = re.sub(r"[^A-Z0-9_.]+", "-", _fold(scheme).upper()).strip("-_.")
    code = SCHEME_ALIASES.get(code, code)
    cleaned = re.sub(r"[^0-9A-Z]", "", unicodedata.normalize("NFKC", value).upper())
    if not code or not cleaned:
        raise ValueError(f"an identifier needs a scheme and a value, got {scheme!r}:{value!r}")
    if code in ("FR-SIREN", "FR-SIRET") and len(cleaned) == 14 and cleaned.isdigit():
        code, cleaned = "FR-SIREN", cleaned[:9]
    return Identifier(code, cleaned)


# --- names ------------------------------------------------------------------------------------------------------------

#: Legal-form words folded out of names, as token sequences (as ``name_tokens`` reads them: lower case, punctuation
#: gone, runs of single letters joined, so "P/L", "S.A." and "L.L.C." read "pl", "sa", "llc"), with where each
#: comes from.
#: ISO 20275 (GLEIF's Entity Legal Forms code list, https://www.gleif.org/en/about-lei/code-lists/iso-20275-entity-
#: legal-forms-code-list) lists them all; these are the ones award records use.
LEGAL_FORMS: dict[str, str] = {
    # Australia: Corporations Act 2001 s148 (company names end "Proprietary Limited", "Pty Ltd", "Limited", "No
    # Liability"); "P/L" and "PL" are the registers' own abbreviations.
    "proprietary limited": "AU Corporations Act 2001 s148",
    "pty limited": "AU Corporations Act 2001 s148",
    "pty ltd": "AU Corporations Act 2001 s148",
    "pty": "AU Corporations Act 2001 s148",
    "pl": "AU (P/L, common abbreviation of Pty Ltd)",
    "no liability": "AU Corporations Act 2001 s148",
    "nl": "AU Corporations Act 2001 s148",
    # United Kingdom and Commonwealth: Companies Act 2006 ss58-59.
    "limited": "UK Companies Act 2006 s59",
    "ltd": "UK Companies Act 2006 s59",
    "plc": "UK Companies Act 2006 s58",
    "public limited company": "UK Companies Act 2006 s58",
    "llp": "UK Limited Liability Partnerships Act 2000",
    # India: Companies Act 2013 s4(1)(a).
    "private limited": "IN Companies Act 2013 s4",
    "pvt ltd": "IN Companies Act 2013 s4",
    # United States: state corporation and LLC statutes (e.g. Delaware GCL s102(a)(1), LLC Act s18-102).
    "incorporated": "US Delaware GCL s102",
    "inc": "US Delaware GCL s102",
    "corporation": "US Delaware GCL s102",
    "corp": "US Delaware GCL s102",
    "company": "US Delaware GCL s102",
    "co": "US Delaware GCL s102",
    "llc": "US Delaware LLC Act s18-102",
    "lp": "US limited partnership",
    # Germany: GmbHG s4, AktG s4, HGB s19.
    "gmbh": "DE GmbHG s4",
    "gmbh and co kg": "DE HGB s19",
    "ag": "DE AktG s4",
    "kg": "DE HGB s19",
    "ohg": "DE HGB s19",
    "ug haftungsbeschrankt": "DE GmbHG s5a",
    "ev": "DE BGB s65",
    # France: Code de commerce L221-1, L223-1, L225-1, L227-1.
    "sarl": "FR Code de commerce L223-1",
    "eurl": "FR Code de commerce L223-1",
    "sa": "FR Code de commerce L225-1",
    "sas": "FR Code de commerce L227-1",
    "sasu": "FR Code de commerce L227-1",
    "snc": "FR Code de commerce L221-1",
    # Italy, Spain, Portugal, Latin America: Codice civile, Ley de Sociedades de Capital, LGSM (Mexico).
    "spa": "IT Codice civile art. 2325",
    "srl": "IT Codice civile art. 2462",
    "sl": "ES Ley de Sociedades de Capital art. 6",
    "slu": "ES Ley de Sociedades de Capital art. 6",
    "lda": "PT Codigo das Sociedades Comerciais art. 200",
    "ltda": "BR Codigo Civil art. 1158",
    "sa de cv": "MX LGSM art. 215",
    "s de rl de cv": "MX LGSM",
    # Benelux and the Nordics.
    "bv": "NL Burgerlijk Wetboek 2:177",
    "nv": "NL Burgerlijk Wetboek 2:66",
    "ab": "SE Aktiebolagslagen",
    "as": "NO Aksjeloven",
    "asa": "NO Allmennaksjeloven",
    "aps": "DK Selskabsloven",
    "oy": "FI Osakeyhtiolaki",
    "oyj": "FI Osakeyhtiolaki",
    # Japan: Companies Act art. 6(2).
    "kabushiki kaisha": "JP Companies Act art. 6",
    "kk": "JP Companies Act art. 6",
}

#: Legal forms written in Chinese and Japanese characters, folded from the end of a name: the PRC Company Law
#: (有限责任公司 or 有限公司 for a limited liability company, 股份有限公司 for a company limited by
#: shares; art. 8 of the 2018 text), Hong Kong's Companies Ordinance (Cap. 622: 有限公司), Japan's Companies
#: Act art. 6 (株式会社); 公司 (company) alone too. Longest first.
CJK_LEGAL_FORMS: tuple[str, ...] = ("股份有限公司", "有限责任公司", "有限責任公司", "株式会社", "有限公司", "公司")

#: Words that introduce a second name or an addressee: the first name is the party ("X Pty Ltd t/a Y", "X atf the Y
#: Trust", "X C/- Y", "X Attn: Accounts Payable").
_SECOND_NAME = re.compile(
    r"\s(?:t/as?|t/a|t\.a\.|trading\s+as|as\s+trustee\s+for|atf|c/-|c/o|care\s+of|attn?:?|aka|a\.k\.a\.)\s.*$",
    re.IGNORECASE,
)
#: A trading name after the party's ("X Pty Ltd t/a Y", "X trading as Y"): the same firm under another name.
_TRADING_AS = re.compile(r"\s(?:t/as?|t\.a\.|trading\s+as)\s+(.+)$", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
#: Spellings of one word: "&" is "and", "Aust" is "Australia".
_SYNONYMS: dict[str, str] = {"aust": "australia", "aus": "australia", "austr": "australia", "intl": "international"}
_LEADING: tuple[tuple[str, ...], ...] = (("the",), ("trustee", "for"))
#: Legal forms after which a name stops too ("BAE Systems Australia Ltd Accounts Receivable").
_CLOSING_FORMS: tuple[tuple[str, ...], ...] = (("pty", "ltd"), ("pty", "limited"), ("limited",), ("ltd",))
#: Truncated tails of legal forms, dropped from names long enough to have been cut at a field width (AusTender's
#: older records stop at 20, 22 or 35 characters: "BIDFOOD AUSTRALIA LIMI").
_CUT_FORMS = frozenset({"l", "li", "lim", "limi", "limit", "limite", "lt", "p", "pt"})
_CUT_WIDTH = 18
#: Words that do not tell firms apart on their own: a name that only adds some of them to another is the same
#: firm's ("Chandler Macleod" and "Chandler Macleod Group", "Sparke Helmore" and "Sparke Helmore Lawyers"); two
#: names that add different ones are not merged by this rule. "Holdings" is not one: a holding company is another
#: legal entity than the firm it holds ("Talent International Holdings"). Nor, by default, are country names: "GHD"
#: and "GHD Australia", "SAI Global" and "SAI Global Australia" are a firm and its national subsidiary, two legal
#: entities (two ABNs); ``ResolverConfig.generic_words`` can add them when one profile per group is wanted.
GENERIC_WORDS = frozenset({"group", "services", "lawyers", "solicitors", "unit", "trust", "and", "of"})
_LEGAL_SEQUENCES: tuple[tuple[str, ...], ...] = tuple(
    sorted((tuple(form.split()) for form in LEGAL_FORMS), key=len, reverse=True)
)


def _fold(text: str) -> str:
    """Lower case, compatibility forms unified (full-width letters), accents removed ("Société" -> "societe")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("&", " and ").replace("+", " and ")


def _join_initials(tokens: list[str]) -> list[str]:
    """Runs of single letters joined: "s a" -> "sa", "p l" -> "pl", "a c t" -> "act"."""
    out: list[str] = []
    run = ""
    for token in tokens:
        if len(token) == 1 and token.isalpha() and not _CJK.match(token):
            run += token
            continue
        if run:
            out.append(run)
            run = ""
        out.append(token)
    if run:
        out.append(run)
    return out


#: Legal-form words that stack before another ("X Co Ltd", "X Pty Ltd"): once the last form is folded, only these
#: are folded further, so a state or a word in brackets before it stays ("Braemac (SA) Pty Ltd" is not "Braemac").
_STACKING = frozenset({"co", "company", "pty", "proprietary", "corp", "corporation", "inc", "incorporated"})


def _strip_legal_forms(tokens: list[str]) -> list[str]:
    """Legal-form words folded from the end of the name ("X Pty Ltd" and "X Co Ltd" -> "X"), never down to nothing
    (a firm called "Limited" keeps its name)."""
    if tokens:
        last = tokens[-1]
        for suffix in CJK_LEGAL_FORMS:
            if last.endswith(suffix) and len(last) > len(suffix):
                return [*tokens[:-1], last[: -len(suffix)]]
    for form in _LEGAL_SEQUENCES:
        if len(tokens) > len(form) and tuple(tokens[-len(form) :]) == form:
            tokens = tokens[: -len(form)]
            while len(tokens) > 1 and tokens[-1] in _STACKING:
                tokens = tokens[:-1]
            break
    return tokens


def _cut_after_closing_form(tokens: list[str]) -> list[str]:
    for i in range(1, len(tokens)):
        for form in _CLOSING_FORMS:
            if tuple(tokens[i : i + len(form)]) == form and i + len(form) < len(tokens):
                return tokens[: i + len(form)]
    return tokens


@functools.lru_cache(maxsize=65536)
def _name_tokens(name: str) -> tuple[str, ...]:
    first = _SECOND_NAME.sub("", f" {name.strip()} ").strip() or name
    tokens = _join_initials(_WORD.findall(_fold(first)))
    tokens = _cut_after_closing_form([_SYNONYMS.get(t, t) for t in tokens])
    for lead in _LEADING:
        if len(tokens) > len(lead) and tuple(tokens[: len(lead)]) == lead:
            tokens = tokens[len(lead) :]
    if len(name) >= _CUT_WIDTH and len(tokens) > 1 and tokens[-1] in _CUT_FORMS:
        tokens = tokens[:-1]
    return tuple(_strip_legal_forms(tokens))


def name_tokens(name: str) -> list[str]:
    """The words a name is compared on: its first name only (before "t/a", "atf", "c/-", "attn", or what follows
    "Pty Ltd"), folded by ``_fold``, initials joined, "the" and "trustee for" dropped in front, synonyms unified,
    and legal forms (whole or cut short) folded from the end."""
    return list(_name_tokens(name))


def trading_name(name: str) -> str | None:
    """The trading name a name gives after "t/a" or "trading as", or None."""
    found = _TRADING_AS.search(f" {name.strip()}")
    if found is None:
        return None
    return _SECOND_NAME.sub("", f" {found.group(1).strip()} ").strip() or None


def core_key(tokens: list[str], generic: frozenset[str] = GENERIC_WORDS) -> str:
    """The name key without the ``generic`` words (the key itself when nothing else is left)."""
    core = [t for t in tokens if t not in generic]
    return "".join(core or tokens)


def name_key(name: str) -> str:
    """The key two names are the same name by: ``name_tokens`` without spaces, so "HorizonOne" and "Horizon One"
    meet. Empty for a name made of punctuation only."""
    return "".join(name_tokens(name))


_DIGITS = re.compile(r"\d+")


def _numbers(tokens: Iterable[str]) -> list[str]:
    return sorted(n.lstrip("0") or "0" for t in tokens for n in _DIGITS.findall(t))


def _has_like(token: str, name: list[str], other: list[str], compact_other: str) -> bool:
    """Whether ``token`` (a word of ``name``) has its like in the ``other`` name: the same word; the start of one, or
    one's start, where the shorter (3+ letters) ends its name, as a name cut at a field width does ("RED HAT ASIA
    PACIF", "Red Hat Asia Pacific"; "North Cleaning" and "Northern Cleaning" stay apart); a word one typo away (long
    words only); or, for words of 4+ letters, part of the other name written together ("horizon" in "horizonone")."""
    if token in other:
        return True
    for word in other:
        short, long = (token, word) if len(token) <= len(word) else (word, token)
        cut = short == name[-1] if short is token else short == other[-1]
        if len(short) >= 3 and cut and long.startswith(short):
            return True
    if len(token) >= 6 and any(fuzz.ratio(token, o) >= 85 for o in other if abs(len(o) - len(token)) <= 2):
        return True
    return len(token) >= 4 and token in compact_other


def guard(a: list[str], b: list[str], ignore: frozenset[str] = frozenset()) -> str | None:
    """Why two names that read alike are not the same firm, or None: their numbers differ ("ABC Services 1" and
    "ABC Services 2"), or a word of either has no like in the other ("North Cleaning" and "South Cleaning";
    "Smith Legal" and "Smith Legal Cleaning" too: a name that adds a word may be another firm). Words in ``ignore``
    need no like."""
    if _numbers(a) != _numbers(b):
        return "numbers_differ"
    compact_a, compact_b = "".join(a), "".join(b)
    for token in a:
        if not token.isdigit() and token not in ignore and not _has_like(token, a, b, compact_b):
            return f"word_differs:{token}"
    for token in b:
        if not token.isdigit() and token not in ignore and not _has_like(token, b, a, compact_a):
            return f"word_differs:{token}"
    return None


# --- the resolver -----------------------------------------------------------------------------------------------------

#: ``recorded``: the record was attached to its entity before (a stored profile's award, ``Resolver.seed``).
Rule = Literal["recorded", "identifier", "name_exact", "name_core", "name_fuzzy", "new"]


@dataclass(frozen=True)
class Winner:
    """What resolution reads of an award's winner: the record it comes from, the name as written, its official
    identifiers and its country (ISO 3166-1 alpha-2 or as the source wrote it; compared case-insensitively)."""

    record_id: str
    name: str
    identifiers: tuple[Identifier, ...] = ()
    country: str | None = None


@dataclass(frozen=True)
class Refusal:
    """The nearest name a guard refused, and why (part of a decision's explanation)."""

    entity_id: str
    name: str
    score: float
    reason: str


@dataclass(frozen=True)
class Decision:
    """Which entity a record went to and why: ``rule``, the ``score`` (0-100, rapidfuzz ratio of the name keys; 100
    for identifiers and equal keys), and what it matched (``matched_name`` as first written, ``matched_identifier``)."""

    record_id: str
    entity_id: str
    rule: Rule
    name: str
    score: float = 100.0
    matched_name: str | None = None
    matched_identifier: Identifier | None = None
    refused: Refusal | None = None

    @property
    def is_merge(self) -> bool:
        """Whether this decision attached the record to an entity that existed (``new`` and ``recorded`` did not)."""
        return self.rule not in ("new", "recorded")

    def explain(self) -> str:
        """One line for an operator."""
        if self.rule == "recorded":
            text = f"{self.name!r} stays with {self.entity_id}: attached there before"
        elif self.rule == "identifier":
            text = f"{self.name!r} joined {self.entity_id}: same identifier {self.matched_identifier}"
        elif self.rule == "name_exact":
            text = f"{self.name!r} joined {self.entity_id}: same name as {self.matched_name!r} once folded"
        elif self.rule == "name_core":
            text = (
                f"{self.name!r} joined {self.entity_id}: same name as {self.matched_name!r} but for generic words"
                f" ({self.score:.0f}% alike)"
            )
        elif self.rule == "name_fuzzy":
            text = f"{self.name!r} joined {self.entity_id}: name {self.score:.0f}% like {self.matched_name!r}"
        else:
            text = f"{self.name!r} is a new entity {self.entity_id}"
        if self.refused is not None:
            r = self.refused
            text += f" (not {r.entity_id} {r.name!r} at {r.score:.0f}%: {r.reason})"
        return text


@dataclass(frozen=True)
class OperatorAction:
    """An operator's correction: ``split`` moved ``record_ids`` out of ``entity_id`` into ``other_id``; ``merge``
    moved every record of ``other_id`` into ``entity_id``."""

    action: Literal["split", "merge"]
    entity_id: str
    other_id: str
    record_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class ResolverConfig:
    #: Minimum rapidfuzz ratio (0-100) of two name keys for ``name_fuzzy``.
    threshold: float = 90.0
    #: Characters of the name key that form its block: only names sharing them are compared.
    block_chars: int = 4
    #: Name keys shorter than this are matched exactly only (short names say too little).
    min_fuzzy_length: int = 6
    #: Words a name may add to another and still be the same firm's (rule ``name_core``).
    generic_words: frozenset[str] = GENERIC_WORDS


@dataclass
class Entity:
    entity_id: str
    #: name key -> the name as first written
    names: dict[str, str] = field(default_factory=dict)
    identifiers: set[Identifier] = field(default_factory=set)
    country: str | None = None
    records: list[str] = field(default_factory=list)


def _country(value: str | None) -> str | None:
    return value.strip().casefold() or None if value else None


def entity_id_for(winner: Winner) -> str:
    """A stable id for the entity a winner founds, derived from the record (idempotent imports): from its first
    identifier, else from its country and name key."""
    basis = (
        str(min(winner.identifiers)) if winner.identifiers else f"{_country(winner.country)}|{name_key(winner.name)}"
    )
    return "award-" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


class Resolver:
    """Resolves winners one at a time against the entities seen so far (``seed`` adds known profiles first)."""

    def __init__(self, config: ResolverConfig | None = None) -> None:
        self.config = config or ResolverConfig()
        self.entities: dict[str, Entity] = {}
        self.decisions: list[Decision] = []
        self.actions: list[OperatorAction] = []
        self._by_identifier: dict[Identifier, str] = {}
        self._by_key: dict[str, list[str]] = defaultdict(list)  # name key -> entity ids (one per country)
        self._by_core: dict[str, list[tuple[str, str]]] = defaultdict(list)  # core key -> (entity id, name key)
        self._blocks: dict[str, dict[str, str]] = defaultdict(dict)  # block -> name key -> entity id
        self._block_texts: dict[str, dict[str, str]] = defaultdict(dict)  # block -> name key -> its words, spaced
        self._tokens: dict[str, list[str]] = {}
        self._record_entity: dict[str, str] = {}
        self._decision_of: dict[str, Decision] = {}
        self._record_name: dict[str, tuple[str, str]] = {}  # record -> (key, name)

    # -- reading ------------------------------------------------------------------------------------------------------

    @property
    def merges(self) -> list[Decision]:
        """The merge log: every decision that attached a record to an entity that already existed."""
        return [d for d in self.decisions if d.is_merge]

    def entity_of(self, record_id: str) -> str:
        return self._record_entity[record_id]

    def clusters(self) -> dict[str, list[str]]:
        """Entity id -> its record ids."""
        return {e.entity_id: list(e.records) for e in self.entities.values() if e.records}

    # -- resolving ----------------------------------------------------------------------------------------------------

    def seed(
        self,
        entity_id: str,
        names: Iterable[str],
        identifiers: Iterable[Identifier],
        country: str | None,
        records: Iterable[str] = (),
    ) -> None:
        """Make a known profile an entity that records can join (a registered supplier, a prospect stored earlier),
        with the records attached to it before: resolved again, they stay there (rule ``recorded``)."""
        entity = self.entities.setdefault(entity_id, Entity(entity_id, country=_country(country)))
        for name in names:
            self._add_name(entity, name)
        for identifier in identifiers:
            self._add_identifier(entity, identifier)
        for record in records:
            if record not in self._record_entity:
                entity.records.append(record)
                self._record_entity[record] = entity_id

    def resolve(self, winner: Winner) -> Decision:
        """Attach ``winner``'s record to an entity (an existing one or a new one) and return the decision. A record
        resolved before keeps its entity: its decision again, or ``recorded`` where a seed or an operator put it."""
        if winner.record_id in self._record_entity:
            entity_id = self._record_entity[winner.record_id]
            earlier = self._decision_of.get(winner.record_id)
            if earlier is not None and earlier.entity_id == entity_id:
                return earlier
            self._record_name.setdefault(winner.record_id, (name_key(winner.name), winner.name))
            decision = Decision(winner.record_id, entity_id, "recorded", winner.name)
            self._note(decision)
            return decision
        decision = self._decide(winner)
        entity = self.entities.get(decision.entity_id)
        if entity is None:
            entity = self.entities[decision.entity_id] = Entity(decision.entity_id, country=_country(winner.country))
        self._add_name(entity, winner.name)
        trading = trading_name(winner.name)
        if trading is not None:
            self._add_name(entity, trading)
        for identifier in winner.identifiers:
            if identifier.scheme not in {i.scheme for i in entity.identifiers}:
                self._add_identifier(entity, identifier)
        entity.records.append(winner.record_id)
        self._record_entity[winner.record_id] = entity.entity_id
        self._record_name[winner.record_id] = (name_key(winner.name), winner.name)
        self._note(decision)
        return decision

    def _note(self, decision: Decision) -> None:
        self.decisions.append(decision)
        self._decision_of[decision.record_id] = decision

    def _decide(self, winner: Winner) -> Decision:
        country = _country(winner.country)
        for identifier in sorted(winner.identifiers):
            found = self._by_identifier.get(identifier)
            if found is not None:
                return Decision(winner.record_id, found, "identifier", winner.name, matched_identifier=identifier)
        schemes = {i.scheme: i for i in winner.identifiers}
        tokens = name_tokens(winner.name)
        key = "".join(tokens)
        if not key:
            return Decision(winner.record_id, self._new_id(winner), "new", winner.name)
        trading = trading_name(winner.name)
        for other_key in (key, name_key(trading) if trading else ""):
            for found in self._by_key.get(other_key, ()) if other_key else ():
                if self._refusal(self.entities[found], country, schemes) is None:
                    name = self.entities[found].names[other_key]
                    return Decision(winner.record_id, found, "name_exact", winner.name, matched_name=name)
        generic = self.config.generic_words
        core = core_key(tokens, generic)
        for found, other_key in self._by_core.get(core, ()):
            other = self._tokens[other_key]
            nested = set(tokens) <= set(other) or set(other) <= set(tokens)
            if (
                nested
                and guard(tokens, other, generic) is None
                and self._refusal(self.entities[found], country, schemes) is None
            ):
                score = round(fuzz.ratio(" ".join(tokens), " ".join(other)), 1)
                name = self.entities[found].names[other_key]
                return Decision(winner.record_id, found, "name_core", winner.name, score=score, matched_name=name)
        refused: Refusal | None = None
        if len(key) >= self.config.min_fuzzy_length:
            block = self._blocks.get(key[: self.config.block_chars], {})
            choices = self._block_texts.get(key[: self.config.block_chars], {})
            for _, score, other_key in process.extract(
                " ".join(tokens), choices, scorer=fuzz.ratio, score_cutoff=self.config.threshold, limit=5
            ):
                entity_id = block[other_key]
                entity = self.entities[entity_id]
                reason = self._refusal(entity, country, schemes) or guard(tokens, self._tokens[other_key])
                if reason is None:
                    return Decision(
                        winner.record_id,
                        entity_id,
                        "name_fuzzy",
                        winner.name,
                        score=round(score, 1),
                        matched_name=entity.names[other_key],
                    )
                if refused is None:
                    refused = Refusal(entity_id, entity.names[other_key], round(score, 1), reason)
        return Decision(winner.record_id, self._new_id(winner), "new", winner.name, refused=refused)

    def _new_id(self, winner: Winner) -> str:
        base = entity_id_for(winner)
        entity_id, n = base, 1
        while entity_id in self.entities:  # the same name split apart by an operator, or a clash of countries
            n += 1
            entity_id = f"{base}-{n}"
        return entity_id

    def _conflicting_ids(self, entity_id: str, schemes: dict[str, Identifier]) -> bool:
        return any(i.scheme in schemes and schemes[i.scheme] != i for i in self.entities[entity_id].identifiers)

    def _refusal(self, entity: Entity, country: str | None, schemes: dict[str, Identifier]) -> str | None:
        if country and entity.country and country != entity.country:
            return "country_differs"
        if self._conflicting_ids(entity.entity_id, schemes):
            return "identifier_differs"
        return None

    def _add_name(self, entity: Entity, name: str) -> None:
        tokens = name_tokens(name)
        key = "".join(tokens)
        if not key or key in entity.names:
            return
        entity.names[key] = name
        self._tokens[key] = tokens
        self._by_key[key].append(entity.entity_id)
        self._by_core[core_key(tokens, self.config.generic_words)].append((entity.entity_id, key))
        self._blocks[key[: self.config.block_chars]].setdefault(key, entity.entity_id)
        self._block_texts[key[: self.config.block_chars]][key] = " ".join(tokens)

    def _add_identifier(self, entity: Entity, identifier: Identifier) -> None:
        entity.identifiers.add(identifier)
        self._by_identifier.setdefault(identifier, entity.entity_id)

    # -- operator corrections -----------------------------------------------------------------------------------------

    def split(self, entity_id: str, record_ids: Iterable[str], reason: str) -> str:
        """Move ``record_ids`` out of ``entity_id`` into a new entity, with the names only they brought: later records
        of those names join the new entity. Returns its id. ``KeyError`` if a record is not in ``entity_id``."""
        moving = list(dict.fromkeys(record_ids))
        source = self.entities[entity_id]
        for record in moving:
            if self._record_entity.get(record) != entity_id:
                raise KeyError(f"record {record!r} is not in entity {entity_id!r}")
        if not moving:
            raise ValueError("a split needs at least one record")
        staying = [r for r in source.records if r not in set(moving)]
        kept_keys = {self._record_name.get(r, ("", ""))[0] for r in staying}
        new_id, n = f"{entity_id}-split", 1
        while new_id in self.entities:
            n += 1
            new_id = f"{entity_id}-split{n}"
        target = self.entities[new_id] = Entity(new_id, country=source.country)
        for record in moving:
            key, name = self._record_name.get(record, ("", ""))
            if key and key not in kept_keys:
                self._move_name(source, target, key, name)
            target.records.append(record)
            self._record_entity[record] = new_id
        source.records = staying
        self.actions.append(OperatorAction("split", entity_id, new_id, tuple(moving), reason))
        return new_id

    def merge(self, entity_id: str, other_id: str, reason: str) -> None:
        """Move every record, name and identifier of ``other_id`` into ``entity_id`` (an operator's decision)."""
        if entity_id == other_id:
            raise ValueError("an entity cannot be merged with itself")
        target, source = self.entities[entity_id], self.entities[other_id]
        for key, name in list(source.names.items()):
            self._move_name(source, target, key, name)
        for identifier in source.identifiers:
            target.identifiers.add(identifier)
            self._by_identifier[identifier] = entity_id
        for record in source.records:
            self._record_entity[record] = entity_id
        moved = tuple(source.records)
        target.records.extend(moved)
        del self.entities[other_id]
        self.actions.append(OperatorAction("merge", entity_id, other_id, moved, reason))

    def _move_name(self, source: Entity, target: Entity, key: str, name: str) -> None:
        source.names.pop(key, None)
        target.names.setdefault(key, name)
        owners = self._by_key[key]
        owners[:] = [target.entity_id, *(e for e in owners if e not in (source.entity_id, target.entity_id))]
        self._blocks[key[: self.config.block_chars]][key] = target.entity_id
