"""Hostile input against the three running services: schemathesis over every OpenAPI, hypothesis fuzzing of the
push endpoint, and authorization across services (buyer scopes, supplier scopes, unsubscribe tokens).

One pipeline (the three services with a fresh ``run_id`` on the local stack) serves the whole module.
"""

from __future__ import annotations

import base64
import email
import email.header
import email.policy
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localrun.demo import read_mail
from localrun.pipeline import DEV_ADMIN_KEY, DEV_PUSH_KEY, DEV_UNSUBSCRIBE_SECRET
from tests.conftest import Endpoints
from tests.e2e.pipeline import Run, make_notices, pipeline_run, stack_of, write_models

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

OTHER_AGENCY = "Ministry of Health"
ADMIN = {"X-API-Key": DEV_ADMIN_KEY}


@pytest.fixture(scope="module")
def run(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("hostile")
    with pipeline_run(stack_of(endpoints, tmp), tmp, n_suppliers=6) as r:
        r.load_suppliers(emails_every=1)
        # Notices of our agency (make_notices' buyer) and of another agency, each matching one supplier.
        ours = make_notices(6, r.n_suppliers, r.prefix)
        theirs = [
            n.model_copy(
                update={
                    "buyer": n.buyer.model_copy(update={"name": OTHER_AGENCY, "id": "MOH"}),
                    "source_id": n.source_id + "-moh",
                    "notice_id": n.notice_id + "-moh",
                }
            )
            for n in make_notices(6, r.n_suppliers, r.prefix, start=100)
        ]
        path = tmp / "notices.jsonl"
        write_models(path, ours + theirs)
        r.ledger.expected_inputs = {n.notice_id for n in ours + theirs}
        r.cli("ingest", "publish", str(path), "--source", "jsonl")
        r.wait_for("every shortlist and email", lambda s: s.shortlists == 12 and s.emails >= 12, timeout=120)
        yield r


def url(run: Run, service: str) -> str:
    return run.pipeline.processes[service].url


def create_key(run: Run, *args: str) -> str:
    out = run.cli("matcher", "create-key", *args)
    return out.stdout.strip().splitlines()[-1].strip()


# ------------------------------------------------------------------------------------------------ schemathesis

FUZZ_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("service", ["matcher", "ingest", "notifier"])
def test_openapi_no_5xx_and_responses_match_the_schema(run: Run, service: str) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

    base = url(run, service)
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = {"X-API-Key": DEV_PUSH_KEY if service == "ingest" else DEV_ADMIN_KEY}
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"{service} publishes no operation in its OpenAPI"
    failures: list[str] = []
    for operation in operations:

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(base_url=base, headers=headers, checks=checks, timeout=30)

        try:
            check()
        except Exception as exc:  # one report for every operation, not only the first that fails
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


# --------------------------------------------------------------------------------------------- push fuzzing

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)


def valid_notice_body(run: Run) -> dict[str, Any]:
    notice = make_notices(1, run.n_suppliers, run.prefix + "-push", start=900)[0]
    return json.loads(notice.model_dump_json())


@st.composite
def hostile_bodies(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    kind = draw(st.sampled_from(["json", "mutated", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    body = dict(base)
    for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=3, unique=True)):
        if draw(st.booleans()):
            body.pop(key)
        else:
            body[key] = draw(json_values)
    return json.dumps(body).encode()


def test_push_endpoint_fuzzed_never_5xx_bad_bodies_get_problem_json(run: Run) -> None:
    base = valid_notice_body(run)
    push = f"{url(run, 'ingest')}/notices"
    seen: dict[int, int] = {}
    with httpx.Client(timeout=30) as client:
        # A valid body is accepted: the fuzzing below is not just hitting a closed door.
        ok = client.post(push, content=json.dumps(base), headers={"X-API-Key": DEV_PUSH_KEY, **JSON})
        assert ok.status_code == 202, ok.text

        @settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
        @given(body=hostile_bodies(base))
        def fuzz(body: bytes) -> None:
            resp = client.post(push, content=body, headers={"X-API-Key": DEV_PUSH_KEY, **JSON})
            seen[resp.status_code] = seen.get(resp.status_code, 0) + 1
            assert resp.status_code < 500, resp.text
            if resp.status_code >= 400:
                assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
                problem = resp.json()
                assert problem.get("status") == resp.status_code, problem
                assert problem.get("detail") or problem.get("title"), problem
            else:
                assert resp.status_code == 202, resp.text

        fuzz()
        unauthenticated = client.post(push, content=json.dumps(base), headers=JSON)
        assert unauthenticated.status_code == 401, unauthenticated.text
    assert seen.get(422, 0) > 0, seen


JSON = {"Content-Type": "application/json"}


# -------------------------------------------------------------------------------------------- authorization


def notice_ids(run: Run) -> tuple[list[str], list[str]]:
    ours = sorted(i for i in run.ledger.expected_inputs if not i.endswith("-moh"))
    theirs = sorted(i for i in run.ledger.expected_inputs if i.endswith("-moh"))
    return ours, theirs


def test_a_buyer_never_reads_another_agencys_notices_or_shortlists(run: Run) -> None:
    ours, theirs = notice_ids(run)
    mine = {"X-API-Key": create_key(run, "--role", "buyer", "--agency", "Ministry of Public Works")}
    other = {"Authorization": f"Bearer {create_key(run, '--role', 'buyer', '--agency', OTHER_AGENCY)}"}
    base = url(run, "matcher")
    with httpx.Client(base_url=base, timeout=30) as client:
        # Our buyer sees its own notice and shortlist (so the 404s below are about scope, not absence).
        assert client.get(f"/notices/{ours[0]}", headers=mine).status_code == 200
        assert client.get(f"/notices/{ours[0]}/shortlist", headers=mine).status_code == 200
        listed = client.get("/notices", headers=mine, params={"limit": 100})
        assert listed.status_code == 200, listed.text
        assert set(ours) <= set(re.findall(r'"notice_id":\s*"([^"]+)"', listed.text))
        for notice_id in theirs:
            assert client.get(f"/notices/{notice_id}", headers=mine).status_code == 404
            assert client.get(f"/notices/{notice_id}/shortlist", headers=mine).status_code == 404
            as_csv = client.get(f"/notices/{notice_id}/shortlist", headers=mine, params={"format": "csv"})
            assert as_csv.status_code in (404, 422)
            assert client.post(f"/notices/{notice_id}/rematch", headers=mine).status_code in (403, 404)
        assert not set(theirs) & set(re.findall(r'"notice_id":\s*"([^"]+)"', listed.text))
        for notice_id in ours:
            assert client.get(f"/notices/{notice_id}", headers=other).status_code == 404
            assert client.get(f"/notices/{notice_id}/shortlist", headers=other).status_code == 404
        by_agency = client.get("/notices", headers=other, params={"agency": "Ministry of Public Works"})
        assert by_agency.status_code in (200, 403)
        assert not set(ours) & set(re.findall(r'"notice_id":\s*"([^"]+)"', by_agency.text))
        assert client.get(f"/notices/{ours[0]}", headers={"X-API-Key": "tbk_forged"}).status_code == 401
        assert client.get(f"/notices/{ours[0]}").status_code == 401


def test_a_supplier_key_never_reads_or_changes_another_suppliers_profile(run: Run) -> None:
    me, other = f"{run.prefix}-s000", f"{run.prefix}-s001"
    key = {"X-API-Key": create_key(run, "--role", "supplier", "--supplier-id", me)}
    ours, _ = notice_ids(run)
    with httpx.Client(base_url=url(run, "matcher"), timeout=30) as client:
        before = client.get(f"/suppliers/{other}", headers=ADMIN)
        assert before.status_code == 200, before.text
        mine = client.get(f"/suppliers/{me}", headers=key)
        assert mine.status_code == 200, mine.text
        assert client.patch(f"/suppliers/{me}/preferences", headers=key, json={"digest_hour": 9}).status_code == 200

        assert client.get(f"/suppliers/{other}", headers=key).status_code in (403, 404)
        patched = client.patch(f"/suppliers/{other}/preferences", headers=key, json={"unsubscribed": True})
        assert patched.status_code in (403, 404)
        hijack = {**before.json(), "emails": ["attacker@example.org"]}
        assert client.put(f"/suppliers/{other}", headers=key, json=hijack).status_code in (403, 404)
        assert client.delete(f"/suppliers/{other}", headers=key).status_code in (403, 404)
        assert client.post("/suppliers", headers=key, json={**hijack, "supplier_id": "x-new"}).status_code in (403, 404)
        assert client.get(f"/notices/{ours[0]}/shortlist", headers=key).status_code in (403, 404)

        after = client.get(f"/suppliers/{other}", headers=ADMIN)
        assert after.status_code == 200
        assert after.json() == before.json(), "another supplier's profile changed"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsubscribe_header(run: Run, supplier_id: str) -> tuple[str, str]:
    """The ``List-Unsubscribe`` header of an email to the supplier: as written on the wire, and decoded."""
    for path in sorted((run.sink.maildir / "new").iterdir()):
        mail = read_mail(path)
        if mail.key and mail.key.startswith(f"{supplier_id}|"):
            with open(path, "rb") as fh:
                message = email.message_from_binary_file(fh, policy=email.policy.compat32)
            raw = message.get("List-Unsubscribe")
            assert raw, f"no List-Unsubscribe header in {path}"
            raw = re.sub(r"\r?\n[ \t]", " ", str(raw))
            decoded = str(email.header.make_header(email.header.decode_header(raw)))
            return raw, decoded
    raise AssertionError(f"no email for {supplier_id} in {run.sink.maildir}")


def unsubscribe_url_of(run: Run, supplier_id: str) -> str:
    _, decoded = unsubscribe_header(run, supplier_id)
    found = re.fullmatch(r"\s*<([^>]+)>\s*", decoded)
    assert found, f"List-Unsubscribe is not one <URI>: {decoded!r}"
    return found.group(1)


def test_one_click_unsubscribe_headers_follow_rfc_8058(run: Run) -> None:
    """RFC 8058 / RFC 2369: ``List-Unsubscribe: <https://...>`` as a plain angle-bracketed URI (mail clients do not
    decode RFC 2047 encoded-words there), with ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``."""
    supplier_id = f"{run.prefix}-s001"
    raw, _ = unsubscribe_header(run, supplier_id)
    assert re.fullmatch(r"\s*<https?://[^>\s]+/unsubscribe\?token=[A-Za-z0-9_.=-]+>\s*", raw), raw
    for path in (run.sink.maildir / "new").iterdir():
        with open(path, "rb") as fh:
            message = email.message_from_binary_file(fh, policy=email.policy.compat32)
        assert message.get("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click", path


def unsubscribed(run: Run, supplier_id: str) -> bool:
    resp = httpx.get(f"{url(run, 'matcher')}/suppliers/{supplier_id}", headers=ADMIN, timeout=30)
    assert resp.status_code == 200, resp.text
    return bool(resp.json()["preferences"]["unsubscribed"])


def test_unsubscribe_tokens_cannot_be_forged_or_reused_for_another_supplier(run: Run) -> None:
    victim, holder = f"{run.prefix}-s002", f"{run.prefix}-s003"
    link = unsubscribe_url_of(run, holder)
    endpoint, _, query = link.partition("?token=")
    token = query.split("&")[0]
    id_part, *_, mac_part = token.split(".")  # subject[.expires].mac
    assert base64.urlsafe_b64decode(id_part + "=" * (-len(id_part) % 4)).decode() == holder

    def sign(secret: str, purpose: str, supplier_id: str) -> str:
        mac = hmac.new(secret.encode(), purpose.encode() + b"\x00" + supplier_id.encode(), hashlib.sha256).digest()
        return f"{_b64(supplier_id.encode())}.{_b64(mac)}"

    forgeries = {
        "holder's signature on the victim's id": f"{_b64(victim.encode())}.{mac_part}",
        "wrong secret": sign("not-the-secret", "unsubscribe", victim),
        "preferences token used to unsubscribe": sign(DEV_UNSUBSCRIBE_SECRET, "preferences", victim),
        "truncated signature": f"{_b64(victim.encode())}.{mac_part[:-4]}",
        "no signature": _b64(victim.encode()),
        "garbage": "%00%ff..",
    }
    one_click = {"Content-Type": "application/x-www-form-urlencoded"}
    with httpx.Client(timeout=30) as client:
        for label, forged in forgeries.items():
            resp = client.post(f"{endpoint}?token={forged}", content="List-Unsubscribe=One-Click", headers=one_click)
            assert 400 <= resp.status_code < 500, f"{label}: {resp.status_code} {resp.text}"
            page = client.get(f"{endpoint}?token={forged}")
            assert page.status_code < 500, f"{label}: {page.status_code}"
        assert not unsubscribed(run, victim), "a forged token unsubscribed another supplier"

        # The genuine link works for its own supplier (so the rejections above are not a broken endpoint).
        resp = client.post(link, content="List-Unsubscribe=One-Click", headers=one_click)
        assert resp.status_code < 300, resp.text
    deadline = time.monotonic() + 30
    while not unsubscribed(run, holder) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert unsubscribed(run, holder), "the genuine one-click unsubscribe did not reach the matcher"
    assert not unsubscribed(run, victim)


def test_header_injection_through_tender_text_is_impossible(run: Run, tmp_path: Path) -> None:
    """A notice title carrying CR/LF and a fake header must not add a header to any email."""
    hostile = make_notices(1, run.n_suppliers, run.prefix + "-inj", start=500)[0]
    hostile = hostile.model_copy(update={"title": "Supply of seedlings\r\nBcc: victim@example.org\r\nX-Evil: 1"})
    path = tmp_path / "inj.jsonl"
    write_models(path, [hostile])
    run.ledger.expected_inputs.add(hostile.notice_id)
    run.cli("ingest", "publish", str(path), "--source", "jsonl")

    def delivered(_: object) -> bool:
        return any(m.key and f"|{hostile.notice_id}|" in m.key for m in run.ledger.mails.values())

    run.wait_for("the email about the hostile notice", delivered, timeout=90)
    for path in (run.sink.maildir / "new").iterdir():
        raw = path.read_bytes()
        headers = raw.split(b"\n\n", 1)[0]
        assert not re.search(rb"^(Bcc|X-Evil):", headers, re.MULTILINE | re.IGNORECASE), raw[:2000]


def hostile_files(folder: Path) -> dict[str, list[Path]]:
    """Files no parser should choke on, per source: every one must end on the dead-letter topic with a reason."""
    deep = "[" * 5000 + "]" * 5000
    cases: dict[str, dict[str, bytes]] = {
        "jsonl": {
            "broken.jsonl": b'{not json\n{"notice_id": 5}\n[]\n' + b"\xff\xfe\x00\n",
            "deep.jsonl": deep.encode() + b"\n",
            "huge-title.jsonl": json.dumps({"title": "x" * 1_000_000, "notice_id": "e2e:x"}).encode() + b"\n",
        },
        "ocds": {
            "broken.json": b'{"releases": [{"ocid": null, "tag": 7, "tender": "none"}]}',
            "deep.json": ('{"releases": ' + deep + "}").encode(),
            "binary.json": bytes(range(256)),
        },
        "ted": {
            "broken.json": b'{"notices": [{"publication-number": [], "notice-title": 3}]}',
            "binary.json": b"\x00\x01\x02 not json",
        },
        "ungm": {
            "broken.html": b"<html><table><tr><td>Deadline<td>31-Feb-2026 25:61 (GMT 99.99)</table>",
            "binary.html": b"\xff\xd8\xff\xe0 jpeg pretending",
        },
    }
    out: dict[str, list[Path]] = {}
    for source, files in cases.items():
        for name, content in files.items():
            path = folder / source / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            out.setdefault(source, []).append(path)
    return out


def test_hostile_files_through_every_ingest_parser_are_dead_lettered_with_a_reason(run: Run, tmp_path: Path) -> None:
    run.ledger.refresh()
    notices_before = len(run.ledger.notices)
    crashed: list[str] = []
    for source, paths in hostile_files(tmp_path).items():
        for path in paths:
            try:
                run.cli("ingest", "publish", str(path), "--source", source, timeout=120)
            except AssertionError as exc:  # every file is tried; all crashes are reported together
                errors = [line for line in str(exc).splitlines() if "Error" in line] or str(exc).splitlines()
                crashed.append(f"{source} {path.name}: {errors[-1].strip()}")
    assert not crashed, "ingest publish crashed on:\n" + "\n".join(crashed)
    deadline = time.monotonic() + 30
    files = [p for paths in hostile_files(tmp_path).values() for p in paths]
    missing = [p.name for p in files]
    while missing and time.monotonic() < deadline:
        run.ledger.refresh()
        origins = "\n".join(f"{d.get('origin')} {d.get('key')}" for d in run.ledger.notices_dlq)
        missing = [str(p) for p in files if str(p) not in origins]
        time.sleep(0.5)
    assert not missing, f"not dead-lettered: {missing}"
    assert all(d.get("reason") for d in run.ledger.notices_dlq), run.ledger.notices_dlq
    assert len(run.ledger.notices) == notices_before, "a hostile file became a notice"
