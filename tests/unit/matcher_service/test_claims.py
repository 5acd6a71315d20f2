"""A prospect becomes a normal profile when its firm registers or claims it, over the in-memory bootstrap: by
official identifier through the public form, by name from a buyer's or admin's write, never by a name typed on the
public form, never past the resolver's guard or across countries, and an operator can undo any claim."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import SupplierProfile
from contracts.supplier import ProfileOrigin
from services.matcher.awards import claim_prospect, import_awards, unclaim_supplier
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.domain.awards import CLAIM_RULE, claimed_from, find_claims
from services.matcher.exceptions import AlreadyExists, InvalidInput
from services.matcher.service import ProfileLimits
from services.matcher.settings import Settings
from tests.unit.matcher_service.award_builders import Org, Record, abn
from tests.unit.matcher_service.builders import NOW, notice, supplier

PROSPECT_NAME = "Glove Works Pty Ltd"
PROSPECT_ABN = "51824753556"


@pytest.fixture
def container() -> Container:
    """One open notice for gloves, and one prospect (two awards of gloves, ABN ``PROSPECT_ABN``) on its shortlist."""
    c = bootstrap_in_memory(Settings(topic_shortlists="t.shortlists", topic_profiles="t.profiles"), clock=lambda: NOW)
    c.matcher.handle_notice(notice("1"))
    records = [Record(f"csv-austender:CN{n}", [Org(PROSPECT_NAME, abn(PROSPECT_ABN))]) for n in (1, 2)]
    import_awards(c.matcher, records)
    assert prospect_id(c) in shortlisted(c)
    return c


def prospect_id(c: Container) -> str:
    [found] = [p.supplier_id for p in c.matcher.profiles.all() if p.is_prospect]
    return found


def shortlisted(c: Container) -> list[str]:
    shortlist = c.matcher.shortlists.latest("ungm:1")
    assert shortlist is not None
    return [e.supplier_id for e in shortlist.entries]


def firm(sid: str, name: str, country: str = "AU", **extra: Any) -> SupplierProfile:
    return supplier(sid, names={"en": name}, country=country, **extra)


def register_on_the_form(c: Container, profile: SupplierProfile) -> str:
    return c.registration.register(profile, mailbox=profile.emails[0])


def assert_claimed(c: Container, claimant_id: str, prospect: str, rule: str) -> SupplierProfile:
    stored = c.matcher.profiles.get(claimant_id)
    assert stored is not None
    assert stored.origin == ProfileOrigin.REGISTERED
    assert stored.claimed_at == NOW
    assert sorted(a.source.award_id for a in stored.past_awards if a.source) == [
        "csv-austender:CN1",
        "csv-austender:CN2",
    ]
    assert {a.source.matched_by for a in stored.past_awards if a.source} == {CLAIM_RULE}
    assert all(a.source and a.source.explanation.startswith(f"claimed from {prospect}:") for a in stored.past_awards)
    assert all(rule in (a.source.explanation if a.source else "") for a in stored.past_awards)
    assert f"AU-ABN:{PROSPECT_ABN}" in stored.identifiers
    assert c.matcher.profiles.get(prospect) is None
    assert prospect not in shortlisted(c)
    assert claimant_id in shortlisted(c)
    return stored


def confirm(c: Container, supplier_id: str) -> SupplierProfile:
    """What the notifier writes when the address's owner uses the confirmation link: the profile back whole, its
    entries confirmed, with an admin key (``NotificationService.confirm_email``)."""
    stored = c.matcher.profiles.get(supplier_id)
    assert stored is not None
    done = {a: e.model_copy(update={"confirmed_at": NOW}) for a, e in stored.email_confirmations.items()}
    saved, _ = c.matcher.save_profile(stored.model_copy(update={"email_confirmations": done}))
    return saved


def test_a_firm_registering_on_the_form_with_the_prospects_abn_claims_it_once_its_address_is_confirmed(
    container: Container,
) -> None:
    prospect = prospect_id(container)
    before = container.matcher.profiles.get(prospect)
    profile = firm("F1", "GW Medical", identifiers=[f"AU-ABN:{PROSPECT_ABN}"])
    assert register_on_the_form(container, profile) == "created"
    # Pending: the firm holds nothing of the prospect's, the prospect stays as it was, and on the shortlist.
    waiting = container.matcher.profiles.get("F1")
    assert waiting is not None
    assert (waiting.past_awards, waiting.identifiers, waiting.claimed_at) == ([], [], None)
    assert waiting.pending_identifiers == [f"AU-ABN:{PROSPECT_ABN}"]
    assert waiting.unconfirmed_emails() == ["f1@example.com"]
    assert container.matcher.profiles.get(prospect) == before
    assert prospect in shortlisted(container)
    saved = confirm(container, "F1")
    assert saved.pending_identifiers == []
    assert saved.unconfirmed_emails() == []
    assert_claimed(container, "F1", prospect, f"same identifier AU-ABN:{PROSPECT_ABN}")


def test_a_name_typed_on_the_public_form_takes_over_no_award_history(container: Container) -> None:
    prospect = prospect_id(container)
    assert register_on_the_form(container, firm("F1", PROSPECT_NAME)) == "created"
    stored = container.matcher.profiles.get("F1")
    assert stored is not None
    assert stored.past_awards == []
    assert stored.claimed_at is None
    assert container.matcher.profiles.get(prospect) is not None
    assert prospect in shortlisted(container)


def test_an_admin_import_claims_the_prospect_by_name_and_says_which_rule_and_names(container: Container) -> None:
    prospect = prospect_id(container)
    counts = container.matcher.import_profiles([firm("F1", "GLOVE WORKS PTY LIMITED")])
    assert counts.stored == 1
    stored = assert_claimed(container, "F1", prospect, "name_exact: 'GLOVE WORKS PTY LIMITED' ~ 'Glove Works Pty Ltd'")
    assert claimed_from(stored) == {prospect: ["csv-austender:CN1", "csv-austender:CN2"]}


def test_a_buyer_creating_the_firm_claims_the_prospect_by_name(container: Container) -> None:
    prospect = prospect_id(container)
    container.matcher.create_profile(firm("F1", "Glove Works"), registered_by="UNICEF")
    assert_claimed(container, "F1", prospect, "name_exact")


@pytest.mark.parametrize(
    ("name", "country", "identifiers"),
    [
        ("Glove Workz Pty Ltd", "CN", []),  # the name would do, the country differs
        ("Glove Works 2 Pty Ltd", "AU", []),  # the guard: numbers differ
        ("Clove Works Pty Ltd", "AU", []),  # the guard: a word substituted
        (PROSPECT_NAME, "AU", ["AU-ABN:11111111111"]),  # same name, another ABN
    ],
)
def test_a_registration_the_resolver_does_not_join_claims_nothing(
    container: Container, name: str, country: str, identifiers: list[str]
) -> None:
    prospect = prospect_id(container)
    container.matcher.import_profiles([firm("F1", name, country, identifiers=identifiers)])
    stored = container.matcher.profiles.get("F1")
    assert stored is not None
    assert (stored.past_awards, stored.claimed_at) == ([], None)
    assert container.matcher.profiles.get(prospect) is not None


def test_an_operator_undoes_a_claim_and_the_prospect_comes_back_with_its_awards(container: Container) -> None:
    prospect = prospect_id(container)
    container.matcher.import_profiles([firm("F1", PROSPECT_NAME)])
    kept, back = unclaim_supplier(container.matcher, "F1", prospect, "another firm of that name")
    assert (kept.past_awards, kept.claimed_at, kept.identifiers) == ([], None, [])
    assert back.supplier_id == prospect
    assert back.is_prospect
    assert sorted(a.source.award_id for a in back.past_awards if a.source) == ["csv-austender:CN1", "csv-austender:CN2"]
    assert all(a.source and "another firm of that name" in a.source.explanation for a in back.past_awards)
    assert prospect in shortlisted(container)
    # The next import of the same records leaves them with the prospect.
    import_awards(container.matcher, [Record("csv-austender:CN1", [Org(PROSPECT_NAME, abn(PROSPECT_ABN))])])
    assert container.matcher.profiles.get("F1") == kept.model_copy(update={"updated_at": NOW})
    with pytest.raises(AlreadyExists):
        unclaim_supplier(container.matcher, "F1", prospect, "again")


def test_an_operator_claims_a_prospect_for_a_registered_supplier_and_can_undo_it(container: Container) -> None:
    prospect = prospect_id(container)
    container.matcher.profiles.put(firm("F1", "Entirely Other Name"))
    claim_prospect(container.matcher, prospect, "F1", "the firm phoned, ABN checked")
    assert_claimed(container, "F1", prospect, "an operator's claim: the firm phoned, ABN checked")
    with pytest.raises(InvalidInput):
        claim_prospect(container.matcher, "F1", "F1", "a registered profile is no prospect")
    unclaim_supplier(container.matcher, "F1", prospect, "wrong firm")
    assert container.matcher.profiles.get(prospect) is not None


def test_a_claim_that_would_make_the_profile_too_large_is_left_out_and_the_registration_goes_on(
    container: Container,
) -> None:
    prospect = prospect_id(container)
    profile = firm("F1", "GW Medical", identifiers=[f"AU-ABN:{PROSPECT_ABN}"])
    container.matcher.limits = ProfileLimits(max_bytes=len(profile.model_dump_json()) + 400)
    assert container.matcher.import_profiles([profile]).stored == 1
    stored = container.matcher.profiles.get("F1")
    assert stored is not None
    assert (stored.past_awards, stored.claimed_at) == ([], None)
    assert container.matcher.profiles.get(prospect) is not None


def test_a_name_claims_the_prospect_of_the_firms_country_not_one_of_unknown_country(container: Container) -> None:
    prospect = prospect_id(container)
    unplaced = Record("csv-austender:CN9", [Org(PROSPECT_NAME, abn("11111111111"), country=None)])
    import_awards(container.matcher, [unplaced])
    others = [p for p in container.matcher.profiles.all() if p.is_prospect and p.supplier_id != prospect]
    assert [p.country for p in others] == ["ZZ"]
    stored = container.matcher.profiles.get(prospect)
    assert stored is not None
    # Whichever the store lists first.
    for listed in ([others[0], stored], [stored, others[0]]):
        [match] = find_claims(firm("F1", PROSPECT_NAME), listed, by_name=True)
        assert (match.prospect_id, match.rule) == (prospect, "name_exact")
    container.matcher.import_profiles([firm("F1", PROSPECT_NAME)])
    assert_claimed(container, "F1", prospect, "name_exact")
    assert container.matcher.profiles.get(others[0].supplier_id) == others[0]
