"""Logging: one writer, JSON lines whoever logs, secrets masked (issue 10, why items 4 and 5)."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable

import pytest
from support.load import BridgeProcess, Tally, grep, random_ticket, run_crowd
from support.local_convex import LocalConvex

from qbwc_bridge.logging import (
    configure_logging,
    excerpt,
    get_logger,
    redact_text,
    register_secret,
)

LogLines = Callable[[], list[str]]
TICKET = random_ticket()
# A configured secret (the deploy key, a password): masked literally wherever it shows.
SECRET = f"sekrit-{random_ticket()[:12]}"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("<strPassword>hunter2-hunter2</strPassword>", "hunter2"),
        ("<ns1:strPassword xmlns:ns1='x'>hunter2-hunter2</ns1:strPassword>", "hunter2"),
        ("<strPassword>hunter2-hunter2 (cut off", "hunter2"),
        ("&lt;strPassword&gt;hunter2-hunter2&lt;/strPassword&gt;", "hunter2"),
        (f"<ticket>{TICKET}</ticket>", TICKET),
        (f"unknown ticket {TICKET} from x", TICKET),
        ("key prod:happy-otter-123|eyJ2MiI6IjVhYjM0ZDE2In0= leaked", "eyJ2MiI6"),
        ("Authorization: Convex prod:x|abcdefgh12345678", "abcdefgh1234"),
        ("headers={'Authorization': 'Bearer s3cr3t-t0k3n'}", "s3cr3t"),
        ("sent Bearer s3cr3t-t0k3n.x", "s3cr3t"),
        ("password=hunter2-hunter2&user=x", "hunter2"),
        ('{"password": "hunter2-hunter2"}', "hunter2"),
    ],
)
def test_secrets_are_masked_wherever_they_appear(text: str, secret: str) -> None:
    assert secret not in redact_text(text)


def test_ordinary_text_is_left_alone() -> None:
    text = "Convex at http://127.0.0.1:9 is unreachable; response_not_for_outstanding_message"
    assert redact_text(text) == text


def test_an_excerpt_is_short_and_masked_before_it_is_cut() -> None:
    body = "<x>" + "y" * 290 + f"<ticket>{TICKET}</ticket>" + "z" * 10_000
    cut = excerpt(body)
    assert len(cut) < 400 and TICKET[:10] not in cut and cut.endswith("chars)")


def test_every_library_logs_json_through_one_writer(json_logs: LogLines) -> None:
    get_logger("qbwc_bridge.x").info("ours", ticket=TICKET, note=f"saw {TICKET}")
    # spyne quotes whole bodies in its parse errors.
    body = f"<strPassword>hunter2-hunter2</strPassword><ticket>{TICKET}</ticket>" + "q" * 2_000_000
    logging.getLogger("spyne.protocol.soap.soap11.invalid").error("%r in string %r", "E", body)
    logging.getLogger("urllib3.connectionpool").warning("Retrying %s", "x")
    records = [json.loads(line) for line in json_logs()]
    assert [r["module"] for r in records] == [
        "qbwc_bridge.x",
        "spyne.protocol.soap.soap11.invalid",
        "urllib3.connectionpool",
    ]
    text = json.dumps(records)
    assert TICKET not in text and "hunter2" not in text
    assert len(records[1]["event"]) < 400


def test_tracebacks_are_masked_too(json_logs: LogLines) -> None:
    # A traceback is text like any other: a secret in an exception's message (a library
    # quoting its arguments, a URL with a key) must be masked in the rendered traceback.
    register_secret(SECRET)
    try:
        raise RuntimeError(f"login failed for {SECRET} with ticket {TICKET}")
    except RuntimeError:
        get_logger("qbwc_bridge.x").exception("ours_failed")
        logging.getLogger("waitress").exception("theirs_failed")
    records = [json.loads(line) for line in json_logs()]
    assert [r["event"] for r in records] == ["ours_failed", "theirs_failed"]
    assert all("RuntimeError: login failed" in r["exception"] for r in records)
    text = json.dumps(records)
    assert SECRET not in text and TICKET not in text


def test_waitress_queue_depth_is_one_structured_warning(json_logs: LogLines) -> None:
    # Why item 5: 14,500 plain "Task queue depth" lines in 60 s.
    queue = logging.getLogger("waitress.queue")
    for depth in range(1, 500):
        queue.warning("Task queue depth is %d", depth)
    (line,) = json_logs()
    record = json.loads(line)
    assert record["event"] == "waitress_queue_depth" and record["level"] == "warning"
    assert record["queue_depth"] == 1 and record["warnings"] == 1


def test_the_stream_is_looked_up_at_each_write(restore_logging: None) -> None:
    # configure_logging used to bind the stderr of the moment: once a test closed that
    # stream (test_cli's in-process runs), every later line failed.
    first, second = io.StringIO(), io.StringIO()
    saved = sys.stderr
    try:
        sys.stderr = first
        configure_logging("json", "info")
        get_logger("t").info("one")
        first.close()
        sys.stderr = second
        get_logger("t").info("two")
    finally:
        sys.stderr = saved
    assert json.loads(second.getvalue())["event"] == "two"


def test_json_lines_under_fifty_concurrent_clients(convex: LocalConvex) -> None:
    # Why item 5: 395 corrupted lines in 60 s with 20 clients; stdlib and structlog
    # wrote to stderr unsynchronised. Here: the real process, its real stderr.
    password = "load-test-password"
    bridge = BridgeProcess.start(
        {
            "CONVEX_URL": convex.url,
            "CONVEX_DEPLOY_KEY": convex.admin_key,
            "QBWC_USERNAME": "qbwc",
            "QBWC_PASSWORD": password,
        }
    )
    tally = Tally()
    try:
        weights = {"healthz": 2, "wrong_password": 3, "right_password": 1, "bad_ticket": 3}
        run_crowd(bridge.url, 50, 4.0, "qbwc", password, {**weights, "truncated_body": 2}, tally)
    finally:
        assert bridge.stop() == 0
    assert tally.requests > 100 and not tally.errors
    assert tally.count(lambda status: status >= 500) == 0, tally.statuses
    assert bridge.non_json_lines() == []
    assert grep(bridge.lines, [password, "Task queue depth", "Traceback (most"]) == []
    events = {record["event"] for record in bridge.records()}
    assert {"auth_failed", "soap_request_refused", "serving"} <= events
