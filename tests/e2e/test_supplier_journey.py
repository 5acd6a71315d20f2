"""One supplier's journey through its preferences page, across the three running services, Kafka, Elasticsearch
and a private SMTP sink: an English alert whose preferences link it follows; a switch to Chinese, after which the
next alert (subject and "why it matched") is in Chinese; alerts off, after which a fitting notice brings nothing;
alerts on again, after which alerts come again; and never one email twice.

The supplier acts as a person with a browser would: it takes the link from the email's text part, opens the page,
changes one field of the form and submits the whole form (``application/x-www-form-urlencoded``, ``Accept:
text/html``).
"""

from __future__ import annotations

import email
import email.policy
import re
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser

from contracts import SupplierProfile
from localrun.demo import IDEMPOTENCY_HEADERS
from localrun.pipeline import DEV_ADMIN_KEY
from services.notifier.domain.pages import PAGE_LABELS
from services.notifier.domain.reasons import REASON_TEMPLATES
from services.notifier.domain.rendering import LABELS
from tests.conftest import Endpoints
from tests.e2e.pipeline import Run, make_notices, pipeline_run, stack_of, write_models

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

#: A few suppliers (each in its own segment, see ``make_suppliers``); the journey is the first one's.
N_SUPPLIERS = 3
BROWSER = {"Accept": "text/html,application/xhtml+xml"}
KEY_HEADER = IDEMPOTENCY_HEADERS[0]


# ------------------------------------------------------------------------------------------------ the supplier


def publish_fitting_notice(run: Run, step: int) -> str:
    """Publish, through ``ingest publish``, one notice that fits the first supplier (``make_notices`` gives notice
    ``j`` to supplier ``j % N_SUPPLIERS``); returns its notice_id."""
    [notice] = make_notices(1, N_SUPPLIERS, run.prefix, start=step * N_SUPPLIERS)
    path = run.work / f"notice-{step}.jsonl"
    write_models(path, [notice])
    run.ledger.expected_inputs.add(notice.notice_id)
    run.cli("ingest", "publish", str(path), "--source", "jsonl")
    return notice.notice_id


def mailbox(run: Run) -> list[EmailMessage]:
    """Every message in the sink's Maildir, parsed in full (the ledger reads headers only)."""
    out = []
    for sub in ("new", "cur"):
        for path in sorted((run.sink.maildir / sub).iterdir()):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            out.append(message)
    return out


def recipient(message: EmailMessage) -> str:
    return str(message["To"].addresses[0].addr_spec)


def alert_key(supplier: SupplierProfile, notice_id: str) -> str:
    return f"{supplier.supplier_id}|{notice_id}|1|new_match"


def wait_for_alert(run: Run, supplier: SupplierProfile, notice_id: str) -> EmailMessage:
    """The one email with this alert's idempotency key, once it is in the Maildir."""
    key = alert_key(supplier, notice_id)
    run.wait_for(f"the alert {key}", lambda _: any(m.key == key for m in run.ledger.mails.values()), timeout=120)
    found = [m for m in mailbox(run) if m[KEY_HEADER] == key]
    assert len(found) == 1, f"{len(found)} emails for {key}"
    assert recipient(found[0]) == supplier.emails[0]
    return found[0]


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "no text/plain part"
    return str(part.get_content())


def preferences_link(message: EmailMessage) -> str:
    """The link a supplier follows: the URL on the email's "Change your alert preferences:" line."""
    label = LABELS["en"]["preferences"]
    found = re.findall(rf"^{re.escape(label)}: (\S+)$", text_part(message), flags=re.MULTILINE)
    assert len(found) == 1, f"no single preferences line in:\n{text_part(message)}"
    return str(found[0])


def reason_lines(text: str, language: str) -> list[str]:
    """The lines under the "why it matched" heading of a text part."""
    heading = f"{LABELS[language]['reasons']}:"
    lines = text.splitlines()
    assert heading in lines, f"no {heading!r} section in:\n{text}"
    out = []
    for line in lines[lines.index(heading) + 1 :]:
        if not line.startswith("  - "):
            break
        out.append(line[4:])
    return out


def reason_pattern(template: str) -> re.Pattern[str]:
    """A template's fixed words, with any text where its placeholders are."""
    return re.compile(".*?".join(re.escape(part) for part in re.split(r"\{[a-z_]+\}", template)))


def template_of(line: str, language: str) -> str | None:
    """The reason code whose template (in that language) renders ``line``, if any."""
    for code, template in REASON_TEMPLATES[language].items():
        if reason_pattern(template).fullmatch(line):
            return code
    return None


def save_form(client: httpx.Client, link: str, **changes: str) -> httpx.Response:
    """Open the preferences page, change some fields of its form and submit the whole form, as a browser does."""
    page = client.get(link, headers=BROWSER)
    assert page.status_code == 200, page.text
    form = LexborHTMLParser(page.text).css_first("form[action^='/preferences']")
    assert form is not None, f"no preferences form on the page:\n{page.text}"
    fields: dict[str, str] = {}
    for node in form.css("input"):
        name, kind = node.attributes.get("name"), node.attributes.get("type")
        if name and (kind != "radio" or "checked" in node.attributes):
            fields[name] = node.attributes.get("value") or ""
    for node in form.css("select"):
        chosen = node.css_first("option[selected]") or node.css_first("option")
        name = node.attributes.get("name")
        if name and chosen is not None:
            fields[name] = chosen.attributes.get("value") or ""
    assert set(changes) <= set(fields), f"the form has no field {set(changes) - set(fields)}"
    action = urljoin(link, form.attributes.get("action") or "")
    return client.post(action, data={**fields, **changes}, headers=BROWSER)


# ------------------------------------------------------------------------------------------------ the journey


def test_a_supplier_changes_language_and_turns_alerts_off_and_on_from_the_link_in_its_email(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    with (
        pipeline_run(stack_of(endpoints, tmp_path), tmp_path, n_suppliers=N_SUPPLIERS) as run,
        httpx.Client(timeout=60) as browser,
    ):
        supplier = run.load_suppliers(emails_every=1)[0]
        address = supplier.emails[0]
        sent: list[str] = []

        # 1. A fitting notice: one alert, in English, with the preferences link in its text part.
        first = publish_fitting_notice(run, 0)
        alert = wait_for_alert(run, supplier, first)
        sent.append(first)
        assert str(alert["Subject"]).startswith(LABELS["en"]["subject_new_match"].split("{")[0])
        english = reason_lines(text_part(alert), "en")
        assert english, text_part(alert)
        assert all(template_of(line, "en") for line in english), english
        link = preferences_link(alert)
        assert link.startswith(run.pipeline.processes["notifier"].url + "/preferences?token="), link

        # 2. Chinese from the form: the saved page is in Chinese, and so is the next alert, reasons included.
        saved = save_form(browser, link, language="zh-Hans")
        assert saved.status_code == 200, saved.text
        assert 'lang="zh-Hans"' in saved.text, saved.text
        assert PAGE_LABELS["zh-Hans"]["saved_title"] in saved.text, saved.text
        second = publish_fitting_notice(run, 1)
        alert = wait_for_alert(run, supplier, second)
        sent.append(second)
        assert str(alert["Subject"]).startswith(LABELS["zh-Hans"]["subject_new_match"].split("{")[0]), alert["Subject"]
        chinese = reason_lines(text_part(alert), "zh-Hans")
        assert chinese, text_part(alert)
        for line in chinese:
            assert template_of(line, "zh-Hans") is not None, f"not a Chinese reason: {line!r}"
            assert template_of(line, "en") is None, f"an English reason in a Chinese email: {line!r}"
        html = alert.get_body(preferencelist=("html",))
        assert html is not None, "no text/html part"
        items = {li.text() for li in LexborHTMLParser(str(html.get_content())).css("li")}
        assert set(chinese) <= items, f"the HTML part's reasons {items} are not the text part's {chinese}"
        assert PAGE_LABELS["zh-Hans"]["preferences_title"] in browser.get(link, headers=BROWSER).text

        # 3. Alerts off: the matcher leaves the supplier out of the next fitting notice's shortlist, saying why (or,
        #    had the forward to it failed, the notifier skips it), and once the notifier has handled every shortlist
        #    published so far, no email came for it.
        saved = save_form(browser, link, alerts="off")
        assert saved.status_code == 200, saved.text
        assert PAGE_LABELS["zh-Hans"]["alerts_off"] in saved.text, saved.text
        third = publish_fitting_notice(run, 2)
        run.wait_for(
            f"the shortlist of {third}",
            lambda _: any(s.notice_id == third for s in run.ledger.shortlists.values()),
            120,
        )
        shortlist = browser.get(
            f"{run.pipeline.processes['matcher'].url}/notices/{third}/shortlist", headers={"X-API-Key": DEV_ADMIN_KEY}
        )
        assert shortlist.status_code == 200, shortlist.text
        page = shortlist.json()
        if supplier.supplier_id in {e["supplier_id"] for e in page["entries"]}:
            # The page's forward to the matcher gave up (5 s on a busy machine; it is retried later): then the
            # notifier, which applied the unsubscribe at once, skips the supplier itself and says so.
            skipped = alert_key(supplier, third)
            run.wait_for(
                f"a skipped event for {skipped}", lambda _: "skipped" in run.ledger.events.get(skipped, []), 60
            )
        else:
            reasons = {x["reason"] for x in page["exclusions"] if x["supplier_id"] == supplier.supplier_id}
            assert reasons == {"the supplier has unsubscribed from alerts"}, page
        run.wait_for(
            "the notifier to handle every shortlist so far",
            lambda _: run.handled_up_to_now("notifier", "shortlists"),
            timeout=60,
        )
        to_supplier = [m for m in mailbox(run) if recipient(m) == address]
        assert sorted(m[KEY_HEADER] for m in to_supplier) == sorted(alert_key(supplier, n) for n in sent)

        # 4. Alerts on again: the matcher re-matches the open notices before the page answers, so the notice that
        #    came while alerts were off is sent now (once), and the next fitting notice brings its alert again.
        saved = save_form(browser, link, alerts="on")
        assert saved.status_code == 200, saved.text
        assert PAGE_LABELS["zh-Hans"]["alerts_on"] in saved.text, saved.text
        wait_for_alert(run, supplier, third)
        sent.append(third)
        fourth = publish_fitting_notice(run, 3)
        alert = wait_for_alert(run, supplier, fourth)
        sent.append(fourth)
        assert str(alert["Subject"]).startswith(LABELS["zh-Hans"]["subject_new_match"].split("{")[0]), alert["Subject"]

        # Nothing twice: every email in the sink has its own key, and the ledger finds nothing lost or doubled.
        summary = run.settle(timeout=120)
        detail = f"{summary.human()}\n{run.logs_tail()}"
        keys = Counter(str(m[KEY_HEADER]) for m in mailbox(run))
        assert keys, detail
        assert max(keys.values()) == 1, keys
        assert summary.duplicate_emails == 0, detail
        assert summary.lost == 0, detail
        assert summary.parked_emails == 0, detail
        mine = sorted(m[KEY_HEADER] for m in mailbox(run) if recipient(m) == address)
        assert mine == sorted(alert_key(supplier, n) for n in sent), detail
