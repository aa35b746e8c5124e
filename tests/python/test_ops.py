"""The operator page, /ops, over real HTTP against the bridge and the local runtime.

Access first: off (404) without OPS_PASSWORD_HASH; nothing but the sign-in
form without the password; sign-in throttled like authenticate; every button
a POST with the session's CSRF token (refused without it, and GET on a
button's URL answers 405); each refusal changes nothing. Then each view and
each button against the simulated QuickBooks, with the `ops_action` log line
that says who did what. The rules behind the page (verdict, chart, cookies)
are tested as plain functions at the end.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import LogLines
from support.bridge import RunningBridge, bridge_settings, installed_bridge, qbwc, serve_bridge
from support.load import http_request
from support.local_convex import LocalConvex
from support.ops import (
    MESSAGE_3140,
    OPERATOR,
    OPS_PASSWORD,
    OPS_PASSWORD_HASH,
    PUMP_ITEM,
    UNMAPPED_SKU,
    OpsClient,
    make_dead_event,
    make_held_for_mapping,
    ops_settings,
    signed_in,
)
from support.world import ITEMS, SITES, World

from qbwc_bridge import contract
from qbwc_bridge.auth import hash_password
from qbwc_bridge.config import ConfigError, load_settings
from qbwc_bridge.ops import chart, health, present
from qbwc_bridge.ops.access import SESSION_SECONDS, OpsAccess

BUTTONS = ("retry", "retry-all-dead", "map", "snapshot", "refresh-lists", "logout")


@pytest.fixture
def ops(convex: LocalConvex, world: World) -> Iterator[RunningBridge]:
    """A bridge with the operator page on, that has read the world's QuickBooks once."""
    with installed_bridge(ops_settings(convex.url, convex.admin_key), world.quickbooks) as running:
        yield running


def queue_snapshot(world: World) -> dict[str, Any]:
    status = world.queue()
    return {"counts": status["counts"], "dead": [e["refNumber"] for e in status["dead"]]}


def log_records(lines: list[str], event: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in lines if line.startswith("{")]
    return [record for record in records if record.get("event") == event]


# -- off, and nothing without the password ----------------------------------------------------


def test_off_without_the_password_setting(convex: LocalConvex, world: World) -> None:
    with serve_bridge(bridge_settings(convex.url, convex.admin_key)) as bridge:
        client = OpsClient(bridge.url)
        for path in ("/ops", "/ops/", "/ops/login", "/ops/report?report=x"):
            assert client.get(path).status_code == 404, path
        for button in (*BUTTONS, "login"):
            assert client.post(f"/ops/{button}", {"password": OPS_PASSWORD}).status_code == 404


def test_the_password_settings_are_checked_at_start_up() -> None:
    env = {"OPS_PASSWORD_HASH": "pbkdf2_sha256$600000$nothex"}
    with pytest.raises(ConfigError, match="OPS_PASSWORD_HASH"):
        load_settings(env, env_file=None)
    with pytest.raises(ConfigError, match="OPS_PASSWORD"):
        load_settings({"OPS_PASSWORD": "short"}, env_file=None)
    settings = load_settings({"OPS_PASSWORD_HASH": OPS_PASSWORD_HASH}, env_file=None)
    assert settings.ops_enabled and settings.ops_password is None
    assert not load_settings({}, env_file=None).ops_enabled


def test_nothing_is_shown_or_done_without_the_password(world: World, ops: RunningBridge) -> None:
    ref = make_dead_event(world, ops)
    before = queue_snapshot(world)
    stranger = OpsClient(ops.url)
    page = stranger.get("/ops")
    assert page.status_code == 303 and page.headers["Location"] == "/ops/login"
    report = stranger.get("/ops/report?report=0000000000010050qb_recon_reports&rows=all")
    assert report.status_code == 303
    form = stranger.get("/ops/login")
    assert form.status_code == 200
    shown = form.text.split("</style>")[1]
    for secret in (ref, "Acme", "3140", "Filters", "dead", "csrf"):
        assert secret not in shown, secret
    assert "no-store" in form.headers["Cache-Control"]
    assert "default-src 'none'" in form.headers["Content-Security-Policy"]
    for button in BUTTONS:
        refused = stranger.post(f"/ops/{button}", {"event": ref, "csrf": "x", "kind": "item"})
        assert refused.status_code == 403, button
        assert ref not in refused.text
    forged = OpsClient(ops.url)
    forged.http.cookies.set("ops_session", "eyJ1IjoiZXZlIn0.AAAA", path="/ops")
    assert forged.get("/ops").status_code == 303
    assert queue_snapshot(world) == before


def test_a_wrong_password_is_refused_and_logged(
    world: World, ops: RunningBridge, json_logs: LogLines
) -> None:
    client = OpsClient(ops.url)
    refused = client.login(password="not-the-password")
    assert refused.status_code == 401 and "Wrong password" in refused.text
    assert "ops_session" not in refused.headers.get("Set-Cookie", "")
    assert client.get("/ops").status_code == 303
    empty = client.post("/ops/login", {"name": "", "password": OPS_PASSWORD})
    assert empty.status_code == 400
    (failed,) = log_records(json_logs(), "ops_login_failed")
    assert failed["user"] == OPERATOR and failed["client"] == "127.0.0.1"
    assert "not-the-password" not in "\n".join(json_logs())


def test_sign_in_sets_a_strict_http_only_cookie_secure_behind_https(
    convex: LocalConvex, world: World
) -> None:
    settings = ops_settings(convex.url, convex.admin_key, TRUSTED_PROXIES="127.0.0.1")
    with serve_bridge(settings) as bridge:
        plain = OpsClient(bridge.url).login()
        assert plain.status_code == 303 and plain.headers["Location"] == "/ops"
        cookie = plain.headers["Set-Cookie"]
        assert cookie.startswith("ops_session=")
        for part in ("Path=/ops", "HttpOnly", "SameSite=Strict"):
            assert part in cookie
        assert "Secure" not in cookie
        # Behind the proxy (a trusted address) that says https: Secure.
        proxied = OpsClient(bridge.url).post(
            "/ops/login",
            {"name": OPERATOR, "password": OPS_PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert "Secure" in proxied.headers["Set-Cookie"]
    untrusted = ops_settings(convex.url, convex.admin_key)
    with serve_bridge(untrusted) as bridge:
        said = OpsClient(bridge.url).post(
            "/ops/login",
            {"name": OPERATOR, "password": OPS_PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert "Secure" not in said.headers["Set-Cookie"]


def test_sign_in_is_throttled_per_name_and_address(world: World, ops: RunningBridge) -> None:
    body = "name=mallory&password=wrong-{n}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for n in range(4):  # three free attempts, the fourth failure blocks
        status, _ = http_request(
            "POST", f"{ops.url}/ops/login", body.format(n=n).encode(), headers, source="127.0.0.9"
        )
        assert status == 401
    right = f"name=mallory&password={OPS_PASSWORD}".encode()
    status, text = http_request("POST", f"{ops.url}/ops/login", right, headers, source="127.0.0.9")
    assert status == 429 and b"wait" in text
    # The same name from another address, and another name from anywhere, get in.
    status, _ = http_request("POST", f"{ops.url}/ops/login", right, headers, source="127.0.0.10")
    assert status == 303
    assert signed_in(ops).get("/ops").status_code == 200


def test_get_on_a_button_answers_405_and_changes_nothing(world: World, ops: RunningBridge) -> None:
    ref = make_dead_event(world, ops)
    before = queue_snapshot(world)
    client = signed_in(ops)
    for button in BUTTONS:
        response = client.get(f"/ops/{button}?event={ref}&csrf={client.csrf}")
        assert response.status_code == 405, button
        assert response.headers["Allow"] == "POST"
    assert OpsClient(ops.url).get("/ops/retry").status_code == 405
    assert queue_snapshot(world) == before
    assert client.get("/ops").status_code == 200  # still signed in


def test_a_button_without_the_sessions_csrf_token_is_refused(
    world: World, ops: RunningBridge, json_logs: LogLines
) -> None:
    ref = make_dead_event(world, ops)
    before = queue_snapshot(world)
    client = signed_in(ops)
    other = signed_in(ops)
    assert other.csrf != client.csrf
    for token in (None, "", "forged", other.csrf):
        fields = {"event": ref} if token is None else {"event": ref, "csrf": token}
        refused = client.post("/ops/retry", fields)
        assert refused.status_code == 403, token
        assert "reload the page" in refused.text
    assert client.post("/ops/retry-all-dead", {}).status_code == 403
    assert client.post("/ops/logout", {}).status_code == 403
    assert queue_snapshot(world) == before
    refusals = log_records(json_logs(), "ops_refused")
    assert {r["reason"] for r in refusals} == {"csrf"} and len(refusals) == 6
    assert all(r["user"] == OPERATOR for r in refusals)


def test_forms_that_are_not_the_pages_are_refused(world: World, ops: RunningBridge) -> None:
    client = signed_in(ops)
    big = client.post("/ops/retry", {"csrf": client.csrf, "event": "x" * 10_000})
    assert big.status_code == 413
    as_json = client.post(
        "/ops/retry",
        data=json.dumps({"csrf": client.csrf}),
        headers={"Content-Type": "application/json"},
    )
    assert as_json.status_code == 415
    not_an_event = client.press("retry", event="../../etc")
    assert not_an_event.status_code == 400
    unknown = client.press("map", kind="warehouse", name="X", target="Y")
    assert unknown.status_code == 400
    assert client.get("/ops/nothing-here").status_code == 404


# -- the views ------------------------------------------------------------------------------


def test_the_page_shows_health_dead_events_and_what_waits_for_a_mapping(
    world: World, ops: RunningBridge
) -> None:
    ref = make_dead_event(world, ops)
    make_held_for_mapping(world, ops, count=2)
    client = signed_in(ops)
    page = client.page()
    assert re.search(r'class="verdict red"[^>]*>RED: Needs a person now: 1 dead event', page)
    assert "AMBER: 2 events wait for a mapping" in page
    # Health: QuickBooks as it reported itself, the last session, the queue.
    assert "Acme Parts &amp; Supply" in page and "Multi-location inventory on" in page
    assert "Last finished session" in page and "2 held" in page
    assert re.search(r"<th scope=\"row\">dead</th><td class=\"n\">1</td>", page)
    # The dead event: QuickBooks' message and, apart, the hint; a Retry button and its CLI twin.
    card = page[page.index(f"<h4>{ref}</h4>") :]
    card = card[: card.index("</li>")]
    assert MESSAGE_3140.replace('"', "&#34;") in card
    assert "<strong>What to do:</strong> QuickBooks does not know an item" in card
    event_id = world.state(ref)["eventId"]
    assert f'<button form="retry" name="event" value="{event_id}">Retry' in card
    assert f"qbwc-bridge retry {ref}" in card
    assert re.search(
        r'<form id="retry" method="post" action="/ops/retry"><input type="hidden" name="csrf"', page
    )
    assert "qbwc-bridge retry --all-dead" in page
    # The mapping group: what is missing, how many wait, the command and the form.
    assert f"Part {UNMAPPED_SKU}" in page and "2 events wait" in page
    assert f'qbwc-bridge map item {UNMAPPED_SKU} "Parent:Item"' in html.unescape(page)
    assert f'<input type="hidden" name="name" value="{UNMAPPED_SKU}">' in page
    assert re.search(r'<label for="map-1">QuickBooks item for NEW-9', page)
    # The charts: inline SVG with a text description, no script or stylesheet fetched.
    assert page.count('<svg viewBox="0 0 600 170" role="img"') == 3
    assert "events applied, 0 failed (retried), 1 dead" in page
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(?!data:)', page)
    assert "No drift report yet" in page


def test_green_when_nothing_needs_a_person(world: World, ops: RunningBridge) -> None:
    world.open_stock()
    qbwc(ops, world.quickbooks).run_session()
    page = signed_in(ops).page()
    assert "GREEN: All clear: nothing needs a person." in page
    assert "Dead events (0)" in page


def test_convex_down_is_red_and_sign_in_still_works(convex: LocalConvex) -> None:
    settings = ops_settings(
        "http://127.0.0.1:9",
        "key",
        CONVEX_RETRY_BUDGET_SECONDS="1",
        CONVEX_CONNECT_TIMEOUT_SECONDS="1",
    )
    with serve_bridge(settings) as bridge:
        client = signed_in(bridge)
        response = client.get("/ops")
        assert response.status_code == 503
        assert "RED: Convex cannot be reached" in response.text
        pressed = client.press("snapshot")
        assert pressed.status_code == 303
        assert "Convex did not answer, nothing changed" in client.get("/ops").text


def test_a_bug_answers_500_with_an_error_id_in_the_log(
    world: World, ops: RunningBridge, json_logs: LogLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signed_in(ops)

    def broken(self: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("qbwc_bridge.convex_gateway.ConvexGateway.ops_overview", broken)
    response = client.get("/ops")
    assert response.status_code == 500 and "a bug" not in response.text
    shown = re.search(r"error id ([0-9a-f]{12})", response.text)
    assert shown is not None
    (line,) = log_records(json_logs(), "ops_failed")
    assert line["error_id"] == shown.group(1) and "RuntimeError: a bug" in line["exception"]


# -- the buttons -------------------------------------------------------------------------------


def test_retry_makes_a_dead_event_pending_logs_who_and_says_so_once(
    world: World, ops: RunningBridge, json_logs: LogLines
) -> None:
    ref = make_dead_event(world, ops)
    event_id = world.state(ref)["eventId"]
    client = signed_in(ops)
    done = client.press("retry", event=event_id)
    assert done.status_code == 303 and done.headers["Location"] == "/ops#attention"
    assert world.state(ref)["qbStatus"] == "pending"
    page = client.page()
    assert f"{ref} is pending again" in page
    assert f"{ref} is pending again" not in client.page()  # shown once
    (line,) = log_records(json_logs(), "ops_action")
    assert (line["user"], line["action"], line["target"], line["outcome"]) == (
        OPERATOR,
        "retry",
        event_id,
        "ok",
    )
    # By refNumber too, and a second retry of a pending event is refused by Convex.
    again = client.press("retry", event=ref)
    assert again.status_code == 303
    assert "Convex refused" in client.page()
    assert log_records(json_logs(), "ops_action")[-1]["outcome"] == "refused"
    # After the next Web Connector run it is applied.
    qbwc(ops, world.quickbooks).run_session()
    assert world.state(ref)["qbStatus"] == "applied"


def test_retry_all_dead(world: World, ops: RunningBridge, json_logs: LogLines) -> None:
    world.open_stock()
    for ref in ("AD-000002", "AD-000004"):
        world.quickbooks.fail_next(3140, MESSAGE_3140, ref_number=ref)
    qbwc(ops, world.quickbooks).run_session()
    assert world.queue()["counts"]["dead"] == 2
    client = signed_in(ops)
    assert 'data-confirm="Retry all 2 dead events?"' in client.page()
    assert client.press("retry-all-dead").status_code == 303
    assert world.queue()["counts"]["dead"] == 0
    assert "2 dead event(s) are pending again" in client.page()
    (line,) = log_records(json_logs(), "ops_action")
    assert (line["user"], line["action"], line["outcome"]) == (OPERATOR, "retry-all-dead", "ok")


def test_map_frees_events_held_for_a_mapping(
    world: World, ops: RunningBridge, json_logs: LogLines
) -> None:
    refs = make_held_for_mapping(world, ops, count=2)
    client = signed_in(ops)
    # A name QuickBooks does not have is refused with the closest ones; nothing changes.
    assert (
        client.press("map", kind="item", name=UNMAPPED_SKU, target="Pumps:Water pimp").status_code
        == 303
    )
    page = client.page()
    assert "Convex refused" in page and "Pumps:Water pump" in page
    assert world.state(refs[0])["qbStatus"] == "held"
    done = client.press("map", kind="item", name=UNMAPPED_SKU, target=PUMP_ITEM)
    assert done.status_code == 303
    assert f"item {UNMAPPED_SKU} now maps to QuickBooks item {PUMP_ITEM}" in client.page()
    qbwc(ops, world.quickbooks).run_session()
    assert [world.state(ref)["qbStatus"] for ref in refs] == ["applied", "applied"]
    assert re.search(r"Waiting for a mapping</h3>\s*<p>None.</p>", client.page())
    lines = log_records(json_logs(), "ops_action")
    assert [(line["action"], line["target"], line["outcome"]) for line in lines] == [
        ("map", f"item {UNMAPPED_SKU}", "refused"),
        ("map", f"item {UNMAPPED_SKU}", "ok"),
    ]


def test_snapshot_then_the_drift_report_after_the_next_run(
    world: World, ops: RunningBridge, json_logs: LogLines
) -> None:
    world.open_stock()
    qbwc(ops, world.quickbooks).run_session()
    world.quickbooks.adjust_qoh_by_hand(ITEMS["FLT-200"], -7, site=SITES["WH"])
    client = signed_in(ops)
    assert client.press("snapshot").status_code == 303
    page = client.page()
    assert "Snapshot requested" in page and "requested; the next Web Connector run takes it" in page
    qbwc(ops, world.quickbooks).run_session()
    page = client.page()  # builds the report of the new snapshot
    assert "1 of " in page and "rows drift</strong>" in page
    drift = page[page.index('<table id="drift"') :]
    drift = drift[: drift.index("</table>")]
    assert drift.count("<tr><td>") == 1
    assert "<td>FLT-200</td><td>Filters:Oil filter</td><td>Main Warehouse</td>" in drift
    assert "<td>120</td><td>113</td><td>0</td><td>-7</td>" in drift
    assert "AMBER: Look soon: The last reconciliation found 1 row" in page
    built = log_records(json_logs(), "ops_report_built")
    assert built and built[-1]["done"] is True
    # The whole report, a page at a time; only drifting rows unless asked.
    report_id = re.search(r'href="/ops/report\?report=([^"&]+)"', page)
    assert report_id is not None
    only = client.get(f"/ops/report?report={report_id.group(1)}")
    assert only.status_code == 200 and only.text.count("<tr><td>") == 1
    every = client.get(f"/ops/report?report={report_id.group(1)}&rows=all")
    assert every.text.count("<tr><td>") >= len(ITEMS)
    assert client.get("/ops/report?report=nonsense-id").status_code == 400
    (line,) = log_records(json_logs(), "ops_action")
    assert (line["user"], line["action"], line["outcome"]) == (OPERATOR, "snapshot", "ok")


def test_refresh_lists_and_sign_out(world: World, ops: RunningBridge, json_logs: LogLines) -> None:
    client = signed_in(ops)
    assert client.press("refresh-lists").status_code == 303
    assert "a new pull is requested for the next Web Connector run" in client.page()
    assert world.admin.query("qbMapping:getCompany", {})["refreshRequested"] is True
    out = client.press("logout")
    assert out.status_code == 303 and out.headers["Location"] == "/ops/login"
    assert "Max-Age=0" in out.headers["Set-Cookie"]
    assert client.get("/ops").status_code == 303
    events = [json.loads(line)["event"] for line in json_logs() if line.startswith("{")]
    assert {"ops_login", "ops_action", "ops_logout"} <= set(events)


# -- the rules behind the page ---------------------------------------------------------------------


def overview(**overrides: Any) -> contract.OpsOverview:
    base: dict[str, Any] = {
        "server_time": 10_000_000.0,
        "counts": {"dead": 0},
        "due_count": 0,
        "oldest_due_at": None,
        "open_sessions": (),
        "last_session": None,
        "company": None,
        "dead": (),
        "held_groups": (),
        "held_conflicts": (),
        "held_scanned": 0,
        "held_more": False,
        "report": None,
        "report_to_build": None,
        "hours": (),
    }
    company = contract.CompanyView.parse(
        {
            "companyFile": "",
            "supportedQbxmlVersions": [],
            "refreshRequested": False,
            "snapshotRequested": False,
            "snapshotRunning": False,
        }
    )
    base["company"] = company
    base.update(overrides)
    return contract.OpsOverview(**base)


def test_verdict_levels() -> None:
    assert health.verdict(overview()).level == "green"
    assert health.verdict(None, "refused").level == "red"
    late = overview(oldest_due_at=10_000_000.0 - 20 * 60 * 1000)
    assert health.verdict(late).level == "amber" and "20 min" in health.verdict(late).headline
    stuck = overview(oldest_due_at=10_000_000.0 - 2 * 3600 * 1000)
    assert health.verdict(stuck).level == "red"
    unread = overview(company=None)
    assert health.verdict(unread).level == "amber"
    dead = overview(counts={"dead": 3})
    verdict = health.verdict(dead)
    assert verdict.level == "red" and verdict.headline.startswith(
        "Needs a person now: 3 dead events"
    )
    group = contract.UnmappedRow("item:1", "part", "X", 4, "missing")
    both = health.verdict(overview(counts={"dead": 1}, held_groups=(group,)))
    assert both.level == "red" and [f.level for f in both.findings] == ["red", "amber"]
    assert both.headline.endswith("(and 1 more thing below)")


def test_charts_place_hours_leave_gaps_and_describe_themselves() -> None:
    hour = chart.HOUR_MS
    now = 1000 * hour + 5
    rows = [
        contract.HourFigures(now - now % hour, 7, 1, 0, 3, 12, 600.0),
        contract.HourFigures(now - now % hour - 2 * hour, 3, 0, 2, 2, 5, 60.0),
    ]
    laid = chart.slots(rows, now)
    assert len(laid) == chart.HOURS and laid[-1].figures is rows[0] and laid[-3].figures is rows[1]
    assert laid[-2].figures is None
    applied, depth, wait = chart.charts(rows, now, None)
    assert "10 events applied, 1 failed (retried), 2 dead" in applied.description
    assert "highest: 12 events waiting" in depth.description
    # Two sampled hours with a gap between them: two separate marks, not one line across.
    assert str(depth.svg).count("<circle") == 2 and "<polyline" not in str(depth.svg)
    assert "longest wait: 10 minutes" in wait.description
    assert [chart.nice_ceiling(v) for v in (0, 1, 3, 7, 12, 99, 101)] == [1, 1, 5, 10, 20, 100, 200]


def test_session_cookies_are_signed_expire_and_bind_the_csrf_token() -> None:
    clock = [1_000_000.0]
    access = OpsAccess(password_hash=OPS_PASSWORD_HASH, password=None, clock=lambda: clock[0])
    session, cookie = access.issue("Jane")
    assert access.session(cookie) == session
    payload, signature = cookie.split(".")
    assert access.session(f"{payload}.{signature[:-2]}AA") is None
    assert access.session(cookie + "x") is None and access.session("") is None
    other = OpsAccess(password_hash=hash_password("another", iterations=1000), password=None)
    assert other.session(cookie) is None  # a new password signs everyone out
    assert access.csrf_ok(session, session.csrf)
    second, _ = access.issue("Jane")
    assert not access.csrf_ok(session, second.csrf) and not access.csrf_ok(session, None)
    sealed = access.seal(session, {"kind": "ok", "text": "done"})
    assert access.unseal(session, sealed) == {"kind": "ok", "text": "done"}
    assert access.unseal(second, sealed) is None
    # A browser can send any latin-1 text: it is a forgery like any other, never a 500.
    assert access.session(f"{payload}.{signature[:-1]}é") is None
    assert not access.csrf_ok(session, session.csrf[:-1] + "é")
    assert access.unseal(session, sealed[:-1] + "é") is None
    clock[0] += SESSION_SECONDS + 1
    assert access.session(cookie) is None


def test_split_error_and_commands() -> None:
    assert present.split_error("QuickBooks error 3140: bad -> map it") == (
        "QuickBooks error 3140: bad",
        "map it",
    )
    assert present.split_error(None) == ("", "")
    row = contract.UnmappedRow("site:1", "location", "TRUCK 2", 1, "")
    assert present.map_command(row) == "qbwc-bridge map location 'TRUCK 2' \"Site\""


def test_a_page_load_is_one_convex_query(
    world: World, ops: RunningBridge, convex: LocalConvex
) -> None:
    make_dead_event(world, ops)
    client = signed_in(ops)
    convex.calls(reset=True)
    client.page()
    assert convex.calls() == {"query ops:overview": 1}
