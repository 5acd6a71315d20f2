"""Buyers' marks over the in-memory fakes: the API and the notice page's forms store a mark for the key's agency
and publish it; a later mark replaces the earlier one; marks are never shown to another agency; a reason goes with
"not relevant" only; the page's forms need their signed token and the same site."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from contracts.feedback import FeedbackMark, ShortlistFeedback, feedback_id
from services.matcher.bootstrap import Container
from services.matcher.entrypoints.http import create_app
from tests.unit.matcher_service.builders import ADMIN, BUYER_A, BUYER_B, h

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.unit

NOTICE = "ungm:a1"  # UNICEF's, shortlisting S1, S2 and S3 (``api_container``)


@pytest.fixture
def client(api_container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(api_container), follow_redirects=False) as c:
        yield c


def published(container: Container) -> list[ShortlistFeedback]:
    topic = container.settings.topic_feedback
    return [m[2] for m in container.matcher.publisher.published if m[0] == topic]  # type: ignore[attr-defined]


def test_a_buyer_marks_an_entry_and_the_mark_is_stored_and_published(
    client: TestClient, api_container: Container
) -> None:
    answer = client.post(
        f"/notices/{NOTICE}/feedback",
        json={"supplier_id": "S2", "mark": "not_relevant", "reason": "too_small"},
        headers=h(BUYER_A),
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["agency"], body["mark"], body["reason"]) == ("unicef", "not_relevant", "too_small")
    assert body["feedback_id"] == feedback_id("unicef", NOTICE, "S2")
    stored = api_container.matcher.feedback.for_notice(NOTICE, "unicef")  # type: ignore[union-attr]
    assert [m.model_dump(mode="json") for m in stored] == [body]
    assert [m.model_dump(mode="json") for m in published(api_container)] == [body]


def test_a_later_mark_replaces_the_earlier_one(client: TestClient, api_container: Container) -> None:
    for mark in ("not_relevant", "invite"):
        client.post(f"/notices/{NOTICE}/feedback", json={"supplier_id": "S1", "mark": mark}, headers=h(BUYER_A))
    stored = api_container.matcher.feedback.for_notice(NOTICE, None)  # type: ignore[union-attr]
    assert [(m.supplier_id, m.mark) for m in stored] == [("S1", FeedbackMark.INVITE)]


@pytest.mark.parametrize(
    ("key", "body", "status"),
    [
        (BUYER_B, {"supplier_id": "S1", "mark": "invite"}, 404),  # WFP does not see UNICEF's notice
        (BUYER_A, {"supplier_id": "NOPE", "mark": "invite"}, 404),  # not on the shortlist
        (BUYER_A, {"supplier_id": "S1", "mark": "relevant", "reason": "other"}, 422),  # a reason only with not_relevant
        (BUYER_A, {"supplier_id": "S1", "mark": "maybe"}, 422),
    ],
)
def test_marks_that_cannot_be_made_are_refused(client: TestClient, key: str, body: dict[str, str], status: int) -> None:
    assert client.post(f"/notices/{NOTICE}/feedback", json=body, headers=h(key)).status_code == status


def test_a_supplier_key_cannot_mark(client: TestClient) -> None:
    from tests.unit.matcher_service.builders import SUPPLIER_S1

    answer = client.post(
        f"/notices/{NOTICE}/feedback", json={"supplier_id": "S1", "mark": "invite"}, headers=h(SUPPLIER_S1)
    )
    assert answer.status_code == 403


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_the_page_marks_an_entry_with_a_form_and_shows_the_mark(client: TestClient, api_container: Container) -> None:
    client.post("/ui/login", data={"api_key": BUYER_A})
    page = client.get(f"/ui/notices/{NOTICE}")
    assert page.text.count('name="mark" value="not_relevant"') == 3  # one set of forms per entry
    form = {"csrf": csrf_of(page.text), "supplier_id": "S3", "mark": "not_relevant", "reason": "wrong_products"}
    answer = client.post(f"/ui/notices/{NOTICE}/feedback", data=form)  # the sign-in cookie, no header
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/notices/ungm%3Aa1#entry-S3"
    shown = client.get(f"/ui/notices/{NOTICE}").text
    assert re.search(r'id="mark-S3"><span class="mark mark-not_relevant">Not relevant</span>: wrong products', shown)
    # An admin reads the buyer's marks (it marks for the notice's buyer); nobody else can reach the notice.
    assert 'class="mark mark-not_relevant"' in client.get(f"/ui/notices/{NOTICE}", headers=h(ADMIN)).text


def test_marks_stay_with_the_agency_that_made_them(api_container: Container) -> None:
    from services.matcher.keys import Principal, Role

    unicef, wfp = Principal(Role.BUYER, agency=" Unicef "), Principal(Role.BUYER, agency="WFP")
    matcher = api_container.matcher
    matcher.mark_entry(unicef, NOTICE, "S1", FeedbackMark.INVITE)
    notice = matcher.notices.get(NOTICE)
    assert notice is not None
    assert set(matcher.marks_on(unicef, notice)) == {"S1"}
    assert matcher.marks_on(wfp, notice) == {}  # WFP's own marks on it: none


def test_a_page_form_without_its_token_or_from_another_site_marks_nothing(
    client: TestClient, api_container: Container
) -> None:
    client.post("/ui/login", data={"api_key": BUYER_A})
    good = csrf_of(client.get(f"/ui/notices/{NOTICE}").text)
    form = {"supplier_id": "S1", "mark": "invite"}
    assert client.post(f"/ui/notices/{NOTICE}/feedback", data={**form, "csrf": "1.bad"}).status_code == 403
    cross = client.post(
        f"/ui/notices/{NOTICE}/feedback", data={**form, "csrf": good}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    client.cookies.clear()
    assert client.post(f"/ui/notices/{NOTICE}/feedback", data={**form, "csrf": good}).status_code == 401
    assert api_container.matcher.feedback.for_notice(NOTICE, None) == []  # type: ignore[union-attr]


def test_a_page_form_for_no_such_entry_or_notice_answers_a_page_not_json(
    client: TestClient, api_container: Container
) -> None:
    client.post("/ui/login", data={"api_key": BUYER_A})
    form = {"csrf": csrf_of(client.get(f"/ui/notices/{NOTICE}").text), "mark": "invite"}
    for notice_id, supplier_id in ((NOTICE, "nobody"), ("ungm:none", "S1")):
        answer = client.post(f"/ui/notices/{notice_id}/feedback", data={**form, "supplier_id": supplier_id})
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert "no such supplier on its shortlist" in answer.text
    assert api_container.matcher.feedback.for_notice(NOTICE, None) == []  # type: ignore[union-attr]
