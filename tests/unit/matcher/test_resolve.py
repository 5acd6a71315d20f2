"""Entity resolution of award winners: names folded, guards against merging different firms, decisions explained
and undone by an operator."""

from __future__ import annotations

import pytest

from services.matcher.domain.resolve import (
    GENERIC_WORDS,
    Identifier,
    Resolver,
    ResolverConfig,
    Winner,
    guard,
    name_key,
    name_tokens,
    normalise_identifier,
)

pytestmark = pytest.mark.unit

SAME_NAME = [
    ("Effective People Pty Ltd", "EFFECTIVE PEOPLE P/L"),
    ("Effective People Pty Limited", "effective people"),
    ("HorizonOne Recruitment Pty Ltd", "Horizon One Recruitment"),
    ("The University of Tasmania", "UNIVERSITY OF TASMANIA"),
    ("Société Générale S.A.", "SOCIETE GENERALE SA"),
    ("Siemens Aktiengesellschaft GmbH", "siemens aktiengesellschaft"),
    ("Acme, Inc.", "ACME INC"),
    ("Acme L.L.C.", "Acme LLC"),
    ("Ningbo Medical Co., Ltd.", "Ningbo Medical"),
    ("宁波医疗器械有限公司", "宁波医疗器械"),
    ("宁波医疗器械股份有限公司", "宁波医疗器械"),
    ("Hays Specialist Recruitment (Aust) Pty Ltd", "HAYS SPECIALIST RECRUITMENT (AUSTRALIA) PTY LIMITED"),
    ("DFC Legal Pty Ltd t/a LawyerBank", "DFC Legal"),
    ("RM Hassall & AS White & Others T/A Sparke Helmore", "RM Hassall and AS White and Others"),
    ("UNIVERSITY OF TECHNOLOGY SYDNEY Att: Accounts Payable", "University of Technology Sydney"),
    ("BIDFOOD AUSTRALIA LIMI", "Bidfood Australia Limited"),
    ("BAE SYSTEMS AUSTRALIA LTD ACCOUNTS RECEIVABLE", "BAE Systems Australia Limited"),
    ("The Trustee for Kirra Services Unit Trust", "Kirra Services Unit Trust"),
]

DIFFERENT_NAME = [
    ("Braemac (SA) Pty Ltd", "Braemac Pty Ltd"),  # a state before the legal form is kept
    ("ABC Services 1 Pty Ltd", "ABC Services 2 Pty Ltd"),
    ("North Cleaning", "South Cleaning"),
    ("AG Consulting", "Consulting"),  # legal-form words are folded from the end only
    ("Limited", ""),  # never folded down to nothing
]


@pytest.mark.parametrize(("a", "b"), SAME_NAME)
def test_spellings_of_one_name_share_a_key(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT_NAME)
def test_different_names_keep_different_keys(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


GUARDED = [
    ("ABC Services 1", "ABC Services 2", "numbers_differ"),
    ("Face 2 Face Recruitment", "Face to Face Recruitment", "numbers_differ"),
    ("North Cleaning Services", "South Cleaning Services", "word_differs:north"),
    ("Talent International ACT", "Talent International VIC", "word_differs:act"),
    ("Everton Park State School", "Everton Park State High School", "word_differs:high"),
    ("Blue Water Marine Services", "BlueWater Marine Services", None),
    ("Norton Rose Fulbright", "Norton Rose Fullbright", None),  # one typo in a long word
    ("Northern Cleaning Services", "North Cleaning Services", "word_differs:northern"),
    ("Australian Inst of Health and Welfare", "Australian Institute of Health and Welfare", "word_differs:institute"),
    ("DFP Recruitment Serv", "DFP Recruitment Services", None),  # cut short at the end: a field width
    ("Red Hat Asia Pacif", "Red Hat Asia Pacific", None),
]


@pytest.mark.parametrize(("a", "b", "reason"), GUARDED)
def test_guard_refuses_names_that_differ_in_a_number_or_a_word(a: str, b: str, reason: str | None) -> None:
    assert guard(name_tokens(a), name_tokens(b)) == reason


@pytest.mark.parametrize(
    ("scheme", "value", "expected"),
    [
        ("ABN", "84 636 418 838", Identifier("AU-ABN", "84636418838")),
        ("AU-ABN", "84636418838", Identifier("AU-ABN", "84636418838")),
        ("SIREN", "552 120 222", Identifier("FR-SIREN", "552120222")),
        ("FR-SIREN", "55212022200013", Identifier("FR-SIREN", "552120222")),  # a SIRET names its firm's SIREN
        ("SIRET", "552 120 222 00013", Identifier("FR-SIREN", "552120222")),
        ("USCC", "91330200 MA2AB1CD2N", Identifier("CN-USCC", "91330200MA2AB1CD2N")),
        ("gb coh", "0123-4567", Identifier("GB-COH", "01234567")),
        ("DE-ORGID", "hrb 1234", Identifier("DE-ORGID", "HRB1234")),
        ("BE-BCE_KBO", "0403.170.701", Identifier("BE-BCE_KBO", "0403170701")),
        (" Registre/Öffentlich ", "x-1", Identifier("REGISTRE-OFFENTLICH", "X1")),
    ],
)
def test_identifiers_compare_once_normalised(scheme: str, value: str, expected: Identifier) -> None:
    assert normalise_identifier(scheme, value) == expected


@pytest.mark.parametrize(("scheme", "value"), [("", "123"), ("ABN", " - "), ("  ", "")])
def test_an_identifier_without_scheme_or_value_is_refused(scheme: str, value: str) -> None:
    with pytest.raises(ValueError, match="needs a scheme and a value"):
        normalise_identifier(scheme, value)


def abn(value: str) -> tuple[Identifier, ...]:
    return (normalise_identifier("AU-ABN", value),)


def test_an_identifier_wins_over_a_different_name() -> None:
    resolver = Resolver()
    first = resolver.resolve(Winner("r1", "Mediabrands Australia Pty Ltd", abn("19002966001"), "AU"))
    second = resolver.resolve(Winner("r2", "Universal McCann", abn("19 002 966 001"), "AU"))
    assert (first.rule, second.rule) == ("new", "identifier")
    assert second.entity_id == first.entity_id
    assert "same identifier AU-ABN:19002966001" in second.explain()


def test_the_same_name_with_another_identifier_of_the_scheme_is_another_firm() -> None:
    resolver = Resolver()
    first = resolver.resolve(Winner("r1", "Telstra Limited", abn("33051775556"), "AU"))
    second = resolver.resolve(Winner("r2", "TELSTRA LTD", abn("64086174781"), "AU"))
    third = resolver.resolve(Winner("r3", "Telstra", (), "AU"))
    assert second.rule == "new"
    assert second.entity_id != first.entity_id
    assert third.entity_id == first.entity_id  # no identifier to contradict: the first holder of the name


def test_a_record_without_identifier_joins_by_name_and_brings_its_identifier_later() -> None:
    resolver = Resolver()
    named = resolver.resolve(Winner("r1", "CyberCX Pty Ltd", (), "AU"))
    with_id = resolver.resolve(Winner("r2", "CYBERCX", abn("90629363328"), "AU"))
    by_id = resolver.resolve(Winner("r3", "Phriendly Phishing", abn("90629363328"), "AU"))
    assert with_id.rule == "name_exact"
    assert with_id.entity_id == named.entity_id
    assert by_id.rule == "identifier"
    assert by_id.entity_id == named.entity_id


def test_a_trading_name_is_a_name_of_the_firm_both_ways() -> None:
    resolver = Resolver()
    firm = resolver.resolve(Winner("r1", "DFC Legal Pty Ltd t/a LawyerBank", (), "AU")).entity_id
    assert resolver.resolve(Winner("r2", "LAWYERBANK", (), "AU")).entity_id == firm
    assert resolver.resolve(Winner("r3", "Lawyerbank Pty Ltd", (), "AU")).entity_id == firm
    other = Resolver()
    firm = other.resolve(Winner("r1", "Universal McCann", (), "AU")).entity_id
    joined = other.resolve(Winner("r2", "Mediabrands Australia Pty Ltd T/A Universal McCann", (), "AU"))
    assert (joined.entity_id, joined.rule) == (firm, "name_exact")


def test_names_that_only_add_generic_words_merge_and_say_so() -> None:
    resolver = Resolver()
    first = resolver.resolve(Winner("r1", "Sparke Helmore", (), "AU"))
    second = resolver.resolve(Winner("r2", "SPARKE HELMORE LAWYERS", (), "AU"))
    third = resolver.resolve(Winner("r3", "Sparke Helmore Consulting", (), "AU"))
    assert second.rule == "name_core"
    assert second.entity_id == first.entity_id
    assert "but for generic words" in second.explain()
    assert third.rule == "new"


def test_a_national_subsidiary_is_another_firm_unless_country_names_are_made_generic() -> None:
    names = [Winner("r1", "SAI Global Pty Ltd", (), "AU"), Winner("r2", "SAI Global Australia Pty Ltd", (), "AU")]
    apart = Resolver()
    assert [apart.resolve(w).rule for w in names] == ["new", "new"]
    grouped = Resolver(ResolverConfig(generic_words=GENERIC_WORDS | {"australia"}))
    assert [grouped.resolve(w).rule for w in names] == ["new", "name_core"]


def test_a_close_name_merges_with_its_score_and_a_guarded_one_is_explained() -> None:
    resolver = Resolver()
    first = resolver.resolve(Winner("r1", "Infinite Counsulting Pty Limited", (), "AU"))
    typo = resolver.resolve(Winner("r2", "Infinite Consulting Pty Ltd", (), "AU"))
    resolver.resolve(Winner("r3", "ABC Cleaning Services 1", (), "AU"))
    other = resolver.resolve(Winner("r4", "ABC Cleaning Services 2", (), "AU"))
    assert typo.rule == "name_fuzzy"
    assert typo.entity_id == first.entity_id
    assert 90 <= typo.score < 100
    assert typo.matched_name == "Infinite Counsulting Pty Limited"
    assert other.rule == "new"
    assert other.refused is not None
    assert other.refused.reason == "numbers_differ"
    assert "numbers_differ" in other.explain()


def test_the_same_name_in_another_country_is_another_firm() -> None:
    resolver = Resolver()
    first = resolver.resolve(Winner("r1", "Ernst & Young", (), "AU"))
    second = resolver.resolve(Winner("r2", "ERNST AND YOUNG LLP", (), "GB"))
    third = resolver.resolve(Winner("r3", "Ernst & Young", (), None))  # no country: no contradiction
    assert second.entity_id != first.entity_id
    assert third.entity_id == first.entity_id


def test_entity_ids_derive_from_the_record_so_a_rerun_gives_the_same_ids() -> None:
    winners = [
        Winner("r1", "Hays Specialist Recruitment", (), "AU"),
        Winner("r2", "Dell Australia Pty Ltd", abn("46003855561"), "AU"),
        Winner("r3", "HAYS SPECIALIST RECRUITMENT P/L", (), "AU"),
    ]
    resolvers = [Resolver(), Resolver()]
    runs = [[resolver.resolve(w).entity_id for w in winners] for resolver in resolvers]
    assert runs[0] == runs[1]
    assert runs[0][0] == runs[0][2] != runs[0][1]


def test_resolving_a_record_again_keeps_its_decision() -> None:
    resolver = Resolver()
    winner = Winner("r1", "Maddocks Lawyers", (), "AU")
    assert resolver.resolve(winner) == resolver.resolve(winner)
    assert len(resolver.decisions) == 1


def test_an_operator_split_moves_the_records_and_their_name_for_good() -> None:
    resolver = Resolver()
    hyperion = resolver.resolve(Winner("r1", "Hyperion IT Pty Ltd", abn("99638137283"), "AU")).entity_id
    resolver.resolve(Winner("r2", "Twiggit Pty Ltd", abn("99638137283"), "AU"))
    resolver.resolve(Winner("r3", "HYPERION IT", (), "AU"))
    assert [d.record_id for d in resolver.merges] == ["r2", "r3"]

    twiggit = resolver.split(hyperion, ["r2"], reason="Twiggit is a separate client")

    assert resolver.clusters() == {hyperion: ["r1", "r3"], twiggit: ["r2"]}
    later = resolver.resolve(Winner("r4", "TWIGGIT PTY LIMITED", (), "AU"))
    assert later.entity_id == twiggit
    again = resolver.resolve(Winner("r2", "Twiggit Pty Ltd", abn("99638137283"), "AU"))
    assert (again.entity_id, again.rule) == (twiggit, "recorded")
    assert resolver.actions[-1].action == "split"
    assert resolver.actions[-1].record_ids == ("r2",)


def test_an_operator_merge_joins_two_entities_and_a_split_undoes_it() -> None:
    resolver = Resolver()
    csiro = resolver.resolve(Winner("r1", "Commonwealth Scientific and Industrial Research Organisation", (), "AU"))
    short = resolver.resolve(Winner("r2", "CSIRO", (), "AU"))
    assert short.entity_id != csiro.entity_id

    resolver.merge(csiro.entity_id, short.entity_id, reason="CSIRO is its acronym")
    assert resolver.clusters() == {csiro.entity_id: ["r1", "r2"]}
    assert resolver.resolve(Winner("r3", "csiro", (), "AU")).entity_id == csiro.entity_id

    apart = resolver.split(csiro.entity_id, ["r2", "r3"], reason="undo")
    assert resolver.clusters() == {csiro.entity_id: ["r1"], apart: ["r2", "r3"]}
    assert [a.action for a in resolver.actions] == ["merge", "split"]


def test_a_split_of_a_record_from_another_entity_is_refused() -> None:
    resolver = Resolver()
    a = resolver.resolve(Winner("r1", "Alpha Pty Ltd", (), "AU")).entity_id
    resolver.resolve(Winner("r2", "Omega Pty Ltd", (), "AU"))
    with pytest.raises(KeyError, match="'r2' is not in entity"):
        resolver.split(a, ["r2"], reason="wrong")
