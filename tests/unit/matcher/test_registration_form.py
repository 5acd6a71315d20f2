"""The self-registration form read into a profile: every wrong field named (none hides another), codes read as
people write them, one supplier id per mailbox whatever its spelling, opaque without the secret."""

from __future__ import annotations

import pytest

from contracts import CodeScheme
from services.matcher.domain.registration import mailbox_key, read_codes, read_registration, self_supplier_id

pytestmark = pytest.mark.unit

GOOD = {
    "company": "Ningbo Care Gloves Co.",
    "country": "cn",
    "email": "Sales@Example.com",
    "description": "nitrile gloves",
    "codes": "42132203\nCPV 33141420-0, 4213",
    "language": "en",
    "frequency": "daily_digest",
    "timezone": "Asia/Shanghai",
}


@pytest.mark.parametrize(
    ("address", "mailbox"),
    [
        ("J.Doe+news@GoogleMail.com", "jdoe@gmail.com"),
        ("j.doe@gmail.com", "jdoe@gmail.com"),
        ("J.Doe+x@example.com", "j.doe@example.com"),  # other providers: dots are part of the mailbox
        ("sales@EXAMPLE.com", "sales@example.com"),
    ],
)
def test_a_mailbox_is_the_address_without_case_plus_tags_or_ignored_dots(address: str, mailbox: str) -> None:
    assert mailbox_key(address) == mailbox


def test_one_supplier_id_per_mailbox_and_another_secret_gives_another() -> None:
    same = {self_supplier_id(b"k", a) for a in ("jdoe@gmail.com", "J.Doe+1@googlemail.com", "jdoe+2@GMAIL.com")}
    assert len(same) == 1
    assert self_supplier_id(b"k", "jdoe@gmail.com") != self_supplier_id(b"other", "jdoe@gmail.com")
    assert self_supplier_id(b"k", "jdoe@gmail.com") != self_supplier_id(b"k", "jane@gmail.com")


def test_codes_are_read_as_people_write_them_and_the_others_named() -> None:
    codes, wrong = read_codes("42132203, CPV 33141420-0；4213\n33141000-1, 00112233, glove")
    assert [(c.scheme, c.code, c.check_digit) for c in codes] == [
        (CodeScheme.UNSPSC, "42132203", None),
        (CodeScheme.CPV, "33141420", "0"),
        (CodeScheme.UNSPSC, "42130000", None),
        (CodeScheme.CPV, "33141000", "1"),
    ]
    assert wrong == ["00112233", "glove"]


def test_a_good_form_is_a_profile_with_its_preferences() -> None:
    read = read_registration(GOOD, b"k", "en")
    assert read.errors == {}
    profile = read.profile
    assert profile is not None
    assert profile.country == "CN"
    assert profile.emails == ["sales@example.com"]  # as the contract normalises it
    assert profile.supplier_id == self_supplier_id(b"k", "sales@example.com")
    assert len(profile.codes) == 3
    assert profile.preferences.frequency.value == "daily_digest"
    assert profile.preferences.timezone == "Asia/Shanghai"


def test_chinese_text_is_stored_under_zh_hans() -> None:
    read = read_registration({**GOOD, "company": "义乌手套厂", "description": "丁腈手套"}, b"k", "zh-Hans")
    assert read.profile is not None
    assert read.profile.names == {"zh-Hans": "义乌手套厂"}
    assert read.profile.description == {"zh-Hans": "丁腈手套"}


def test_every_wrong_field_is_named_at_once() -> None:
    bad = {
        "company": "",
        "country": "China",
        "email": "shop@gloves",
        "description": "x" * 4001,
        "codes": "abc",
        "language": "fr",
        "frequency": "hourly",
        "timezone": "Mars/Olympus",
    }
    read = read_registration(bad, b"k", "en")
    assert read.profile is None
    assert {name: code for name, (code, _) in read.errors.items()} == {
        "company": "required",
        "country": "country",
        "email": "email",
        "description": "too_long",
        "codes": "codes",
        "language": "choice",
        "frequency": "choice",
        "timezone": "timezone",
    }
    assert read.values["country"] == "CHINA"  # echoed back into the form


def test_controls_and_bidi_overrides_are_removed_from_what_is_typed() -> None:
    read = read_registration({**GOOD, "company": "Evil\u202eCo\x00"}, b"k", "en")
    assert read.profile is not None
    assert read.profile.names == {"en": "EvilCo"}
