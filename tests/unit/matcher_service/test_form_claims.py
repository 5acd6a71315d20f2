"""The public form's official registration number, over the in-memory bootstrap and the HTTP form: checked per
scheme (check digits where the scheme has one), said beside the field in English and Chinese; a number that public
award records know claims its prospect only once the registrant's address is confirmed, nothing of the prospect is
shown before, a name alone claims nothing, and the answer is the same whether anything waits to be claimed."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from contracts import SupplierProfile
from contracts.supplier import ProfileOrigin
from services.matcher.awards import import_awards
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.domain.registration import read_identifier, self_supplier_id
from services.matcher.entrypoints.http import create_app
from services.matcher.settings import Settings
from tests.unit.matcher_service.award_builders import Org, Record, abn
from tests.unit.matcher_service.builders import NOW, notice
from tests.unit.matcher_service.test_claims import confirm, prospect_id, shortlisted

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.unit

SECRET = "form-secret"
PROSPECT_NAME = "Glove Works Pty Ltd"
PROSPECT_ABN = "51824753556"
#: A valid ABN that no award record names.
OTHER_ABN = "33051775556"
FORM = {
    "company": "GW Medical",
    "country": "AU",
    "description": "nitrile examination gloves",
    "codes": "42132203",
    "language": "en",
    "frequency": "immediate",
    "timezone": "UTC",
}


@pytest.fixture
def container() -> Container:
    """An open notice for gloves, and a prospect (two awards, ABN ``PROSPECT_ABN``) on its shortlist."""
    c = bootstrap_in_memory(
        Settings(matcher_form_secret=SECRET, topic_shortlists="t.shortlists", topic_profiles="t.profiles"),
        clock=lambda: NOW,
    )
    c.matcher.handle_notice(notice("1"))
    import_awards(c.matcher, [Record(f"csv-austender:CN{n}", [Org(PROSPECT_NAME, abn(PROSPECT_ABN))]) for n in (1, 2)])
    return c


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), follow_redirects=False) as c:
        yield c


def prospect_of(c: Container) -> SupplierProfile:
    found = c.matcher.profiles.get(prospect_id(c))
    assert found is not None
    return found


def post(client: TestClient, email: str, lang: str = "en", **fields: str) -> Any:
    page = client.get(f"/register?lang={lang}")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return client.post("/register", data={"csrf": found.group(1), **FORM, "lang": lang, "email": email, **fields})


def registered(c: Container, address: str) -> SupplierProfile:
    profile = c.matcher.profiles.get(self_supplier_id(SECRET.encode(), address))
    assert profile is not None
    return profile


def award_ids(profile: SupplierProfile) -> list[str]:
    return sorted(a.source.award_id for a in profile.past_awards if a.source is not None)


@pytest.mark.parametrize(
    ("scheme", "typed", "read"),
    [
        ("AU-ABN", "51 824 753 556", "AU-ABN:51824753556"),
        ("AU-ABN", "51 824 753 557", None),  # check digits
        ("AU-ABN", "5182475355", None),  # length
        ("FR-SIREN", "732 829 320", "FR-SIREN:732829320"),
        ("FR-SIREN", "732 829 320 00074", "FR-SIREN:732829320"),  # a SIRET names its firm's SIREN
        ("FR-SIREN", "732 829 321", None),
        ("CN-USCC", "91350100M000100Y43", "CN-USCC:91350100M000100Y43"),
        ("CN-USCC", "91350100M000100Y44", None),
        ("CN-USCC", "91350100M000100I43", None),  # I is not one of its characters
        ("GB-COH", "SC123456", "GB-COH:SC123456"),
        ("GB-COH", "0123456", None),
    ],
)
def test_an_identifier_is_read_per_scheme_with_its_check_digit(scheme: str, typed: str, read: str | None) -> None:
    assert read_identifier(scheme, typed) == read


def test_the_form_offers_the_number_and_says_a_name_claims_nothing_in_both_languages(client: TestClient) -> None:
    english = client.get("/register?lang=en").text
    assert 'name="id_scheme"' in english
    assert 'name="id_value"' in english
    assert "Australian Business Number (ABN)" in english
    assert "A company name alone adds none of them" in english
    chinese = client.get("/register?lang=zh-Hans").text
    assert "统一社会信用代码（中国）" in chinese
    assert "仅凭公司名称不会加入任何合同" in chinese


@pytest.mark.parametrize(
    ("lang", "said"),
    [("en", "is not a number of the register chosen"), ("zh-Hans", "不是所选登记机构的号码")],
)
def test_a_wrong_check_digit_is_said_beside_the_field_and_nothing_is_stored(
    client: TestClient, container: Container, lang: str, said: str
) -> None:
    answer = post(client, "sales@gw.example", lang, id_scheme="AU-ABN", id_value="51 824 753 557")
    assert answer.status_code == 422
    assert said in answer.text
    assert 'aria-describedby="identifier-help id_value-error"' in answer.text
    assert 'value="51 824 753 557"' in answer.text  # what was typed stays
    assert container.matcher.profiles.get(self_supplier_id(SECRET.encode(), "sales@gw.example")) is None


def test_a_number_without_its_register_asks_to_choose_one(client: TestClient) -> None:
    answer = post(client, "sales@gw.example", id_value=PROSPECT_ABN)
    assert answer.status_code == 422
    assert 'id="id_scheme-error"' in answer.text


def test_the_prospects_abn_waits_for_the_address_then_claims_the_prospect(
    client: TestClient, container: Container
) -> None:
    prospect = prospect_of(container)
    answer = post(client, "sales@gw.example", id_scheme="AU-ABN", id_value="51 824 753 556")
    assert answer.status_code == 303
    waiting = registered(container, "sales@gw.example")
    # Nothing of the prospect reaches the registrant before the address is confirmed; the prospect is untouched.
    assert (waiting.past_awards, waiting.identifiers, waiting.claimed_at) == ([], [], None)
    assert waiting.pending_identifiers == [f"AU-ABN:{PROSPECT_ABN}"]
    assert container.matcher.profiles.get(prospect.supplier_id) == prospect
    assert prospect.supplier_id in shortlisted(container)

    saved = confirm(container, waiting.supplier_id)
    assert award_ids(saved) == ["csv-austender:CN1", "csv-austender:CN2"]
    assert saved.claimed_at == NOW
    assert (saved.identifiers, saved.pending_identifiers) == ([f"AU-ABN:{PROSPECT_ABN}"], [])
    assert saved.alert_emails() == ["sales@gw.example"]
    assert container.matcher.profiles.get(prospect.supplier_id) is None
    assert saved.supplier_id in shortlisted(container)
    assert prospect.supplier_id not in shortlisted(container)
    # A tombstone for the prospect on the profiles topic.
    published = container.matcher.publisher.published  # type: ignore[attr-defined]
    assert ("t.profiles", prospect.supplier_id, None) in [(m[0], m[1], m[2]) for m in published]


@pytest.mark.parametrize(
    "fields",
    [
        {"id_scheme": "AU-ABN", "id_value": OTHER_ABN},  # a number no award record names
        {"company": PROSPECT_NAME},  # the prospect's name, no number: a name claims nothing here
    ],
)
def test_a_confirmed_registration_without_the_prospects_number_claims_nothing(
    client: TestClient, container: Container, fields: dict[str, str]
) -> None:
    prospect = prospect_of(container)
    assert post(client, "sales@gw.example", **fields).status_code == 303
    saved = confirm(container, registered(container, "sales@gw.example").supplier_id)
    assert (saved.past_awards, saved.claimed_at, saved.pending_identifiers) == ([], None, [])
    assert container.matcher.profiles.get(prospect.supplier_id) == prospect
    assert prospect.supplier_id in shortlisted(container)


def test_the_answer_is_the_same_whether_the_number_has_award_records_or_not(
    client: TestClient, container: Container
) -> None:
    answers = [
        post(client, "a@gw.example", id_scheme="AU-ABN", id_value=PROSPECT_ABN),
        post(client, "b@gw.example", id_scheme="AU-ABN", id_value=OTHER_ABN),
        post(client, "c@gw.example"),
    ]
    assert {(a.status_code, a.headers["location"], a.text) for a in answers} == {
        (303, "/register/sent?lang=en", answers[0].text)
    }
    pages = {client.get(a.headers["location"]).text for a in answers}
    assert len(pages) == 1
    # Each stored alike: pending numbers, no awards.
    for address in ("a@gw.example", "b@gw.example"):
        assert registered(container, address).past_awards == []


def test_a_suppliers_own_key_cannot_add_numbers_waiting_for_confirmation(
    client: TestClient, container: Container
) -> None:
    assert post(client, "sales@gw.example").status_code == 303
    waiting = registered(container, "sales@gw.example")
    typed = waiting.model_copy(update={"pending_identifiers": [f"AU-ABN:{PROSPECT_ABN}"]})
    saved, _ = container.matcher.save_profile(typed, registered_by=waiting.display_name)
    assert saved.pending_identifiers == []
    assert confirm(container, saved.supplier_id).past_awards == []


def test_a_suppliers_own_key_cannot_state_official_identifiers_or_its_origin(
    client: TestClient, container: Container
) -> None:
    assert post(client, "sales@gw.example").status_code == 303
    stored = confirm(container, registered(container, "sales@gw.example").supplier_id)
    typed = stored.model_copy(update={"identifiers": [f"AU-ABN:{PROSPECT_ABN}"], "origin": ProfileOrigin.AWARDS})
    saved, _ = container.matcher.save_profile(typed, registered_by=stored.display_name)
    assert (saved.identifiers, saved.origin) == (stored.identifiers, stored.origin)
    assert saved.past_awards == []
    # An operator (no registrant) may set them.
    by_admin, _ = container.matcher.save_profile(stored.model_copy(update={"identifiers": ["AU-ABN:x"]}))
    assert by_admin.identifiers == ["AU-ABN:x"]
