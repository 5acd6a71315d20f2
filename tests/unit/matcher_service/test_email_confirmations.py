"""``SupplierProfile.email_confirmations`` (double opt-in): what the field means (older records without it: every
address confirmed), and how the matcher decides it on each write: an admin's roster vouches for consent, a buyer's
or the supplier's own key registers addresses that wait for their owner; a removed address loses its entry, an
admin's re-import confirms what it lists, the notifier's write-back of a confirmation is kept."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 package for its test client; plain httpx (installed) works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from contracts import SupplierProfile
from contracts.supplier import EmailConfirmation
from services.matcher.bootstrap import Container
from services.matcher.service import email_confirmations
from tests.unit.matcher_service.builders import ADMIN, BUYER_A, NOW, SUPPLIER_S1, h, supplier

pytestmark = pytest.mark.unit

SCHEMA = Path(__file__).parents[3] / "contracts" / "schemas" / "supplier_profile.v1.json"
EARLIER = NOW - timedelta(days=3)


def waiting(by: str = "UNICEF", at: datetime = EARLIER) -> EmailConfirmation:
    return EmailConfirmation(registered_by=by, registered_at=at)


def confirmed(at: datetime = EARLIER) -> EmailConfirmation:
    return EmailConfirmation(registered_by="UNICEF", registered_at=at - timedelta(days=1), confirmed_at=at)


def test_a_record_without_the_field_has_every_address_confirmed() -> None:
    old = supplier("OLD", emails=["a@example.com", "b@example.com"]).model_dump(mode="json")
    del old["email_confirmations"]
    profile = SupplierProfile.model_validate_json(json.dumps(old))
    assert profile.email_confirmations == {}
    assert profile.alert_emails() == ["a@example.com", "b@example.com"]
    assert profile.unconfirmed_emails() == []
    jsonschema.validate(old, json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_only_a_waiting_address_is_kept_from_alerts() -> None:
    profile = supplier("S", emails=["new@example.com", "yes@example.com", "roster@example.com"]).model_copy(
        update={"email_confirmations": {"new@example.com": waiting(), "yes@example.com": confirmed()}}
    )
    assert profile.unconfirmed_emails() == ["new@example.com"]
    assert profile.alert_emails() == ["yes@example.com", "roster@example.com"]
    jsonschema.validate(profile.model_dump(mode="json"), json.loads(SCHEMA.read_text(encoding="utf-8")))
    with pytest.raises(ValueError, match="email"):
        SupplierProfile.model_validate({**profile.model_dump(), "email_confirmations": {"not-an-address": waiting()}})


def test_a_buyer_registers_addresses_that_wait_and_nobody_confirms_for_their_owner() -> None:
    stated = supplier("S", emails=["a@example.com"]).model_copy(
        update={"email_confirmations": {"a@example.com": confirmed()}}  # a buyer cannot say it was confirmed
    )
    assert email_confirmations(None, stated, stated, "UNICEF", NOW) == {"a@example.com": waiting("UNICEF", NOW)}


def test_a_key_that_is_not_an_admin_keeps_each_stored_address_as_it_was_and_registers_the_new_ones() -> None:
    before = supplier("S", emails=["roster@example.com", "ok@example.com", "wait@example.com"]).model_copy(
        update={"email_confirmations": {"ok@example.com": confirmed(), "wait@example.com": waiting()}}
    )
    edit = supplier("S", emails=["roster@example.com", "ok@example.com", "wait@example.com", "new@example.com"])
    assert email_confirmations(before, edit, edit, "Supplier S", NOW) == {
        "ok@example.com": confirmed(),
        "wait@example.com": waiting(),
        "new@example.com": waiting("Supplier S", NOW),
    }


def test_an_address_removed_loses_its_entry_and_comes_back_as_a_new_registration() -> None:
    before = supplier("S", emails=["ok@example.com", "wait@example.com"]).model_copy(
        update={"email_confirmations": {"ok@example.com": confirmed(), "wait@example.com": waiting()}}
    )
    removed = supplier("S", emails=["wait@example.com"])
    after_removal = email_confirmations(before, removed, removed, "Supplier S", NOW)
    assert after_removal == {"wait@example.com": waiting()}
    stored = removed.model_copy(update={"email_confirmations": after_removal})
    back = supplier("S", emails=["wait@example.com", "ok@example.com"])
    later = NOW + timedelta(hours=1)
    again = email_confirmations(stored, back, back, "Supplier S", later)
    assert again["ok@example.com"] == waiting("Supplier S", later)


def test_an_admin_roster_vouches_for_what_it_lists_and_leaves_the_rest() -> None:
    before = supplier("S", emails=["ok@example.com", "wait@example.com", "other@example.com"]).model_copy(
        update={
            "email_confirmations": {
                "ok@example.com": confirmed(),
                "wait@example.com": waiting(),
                "other@example.com": waiting(),
            }
        }
    )
    line = SupplierProfile.model_validate(
        {"supplier_id": "S", "names": {"en": "S"}, "country": "CN", "emails": ["ok@example.com", "wait@example.com"]}
    )
    merged = line.model_copy(update={"emails": ["ok@example.com", "wait@example.com", "other@example.com"]})
    # The line lists two addresses: the waiting one is confirmed as it is; the proof of the confirmed one stays;
    # "other" (not on the line, kept by the merge) still waits.
    assert email_confirmations(before, merged, line, None, NOW) == {
        "ok@example.com": confirmed(),
        "other@example.com": waiting(),
    }
    # A line without emails vouches for nothing.
    codes_only = SupplierProfile.model_validate({"supplier_id": "S", "names": {"en": "S"}, "country": "CN"})
    assert email_confirmations(before, before, codes_only, None, NOW) == before.email_confirmations


def test_an_admin_write_that_states_the_entries_is_kept_as_stated() -> None:
    """The notifier records a confirmation (and its profile page saves) by writing the whole profile back."""
    before = supplier("S", emails=["wait@example.com"]).model_copy(
        update={"email_confirmations": {"wait@example.com": waiting()}}
    )
    write_back = SupplierProfile.model_validate_json(before.model_dump_json())
    assert email_confirmations(before, write_back, write_back, None, NOW) == {"wait@example.com": waiting()}
    done = {"wait@example.com": waiting().model_copy(update={"confirmed_at": NOW})}
    confirm = SupplierProfile.model_validate({**before.model_dump(), "email_confirmations": done})
    assert email_confirmations(before, confirm, confirm, None, NOW) == done


# -- through the matcher's API --------------------------------------------------------------------------------------


@pytest.fixture
def client(api_container: Container) -> Iterator[TestClient]:
    from services.matcher.entrypoints.http import create_app

    with TestClient(create_app(api_container)) as c:
        yield c


def stored(api_container: Container, supplier_id: str) -> SupplierProfile:
    profile = api_container.matcher.profiles.get(supplier_id)
    assert profile is not None
    return profile


def test_the_api_asks_consent_for_what_buyers_and_suppliers_register_and_not_for_an_admin(
    client: TestClient, api_container: Container
) -> None:
    body = supplier("NEW", emails=["owner@example.com"]).model_dump(mode="json")
    assert client.post("/suppliers", json=body, headers=h(BUYER_A)).status_code == 201
    assert stored(api_container, "NEW").email_confirmations == {"owner@example.com": waiting("UNICEF", NOW)}
    assert stored(api_container, "NEW").alert_emails() == []

    assert client.post("/suppliers", json={**body, "supplier_id": "ADM"}, headers=h(ADMIN)).status_code == 201
    assert stored(api_container, "ADM").alert_emails() == ["owner@example.com"]

    lines = supplier("IMP", emails=["imp@example.com"]).model_dump_json()
    assert client.post("/suppliers/import", content=lines, headers=h(BUYER_A)).json()["imported"] == 1
    assert stored(api_container, "IMP").unconfirmed_emails() == ["imp@example.com"]
    # The agency's admin re-imports its roster listing that address: it vouches for it.
    assert client.post("/suppliers/import", content=lines, headers=h(ADMIN)).json()["imported"] == 1
    assert stored(api_container, "IMP").alert_emails() == ["imp@example.com"]

    # The supplier's own key adds an address and says it is confirmed: it waits all the same; the roster's stays.
    mine = stored(api_container, "S1").model_dump(mode="json")
    mine["emails"] = [*mine["emails"], "new@example.com"]
    mine["email_confirmations"] = {"new@example.com": confirmed().model_dump(mode="json")}
    assert client.put("/suppliers/S1", json=mine, headers=h(SUPPLIER_S1)).status_code == 200
    s1 = stored(api_container, "S1")
    assert s1.unconfirmed_emails() == ["new@example.com"]
    assert s1.email_confirmations["new@example.com"].registered_by == "Supplier S1"
    assert s1.alert_emails() == ["s1@example.com"]
