"""The gateway's own transport: Convex's wire format, what is retried, and time bounds.

A scripted HTTP server plays Convex, so each reply (a ConvexError, a 5xx, a
reply that never comes) can be chosen; the end-to-end tests cover the real
functions on the local runtime.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from support.black_hole import black_hole

from qbwc_bridge.convex_gateway import (
    SLOW_CALL_SECONDS,
    ConvexCallError,
    ConvexGateway,
    ConvexUnavailable,
    deadline,
)

Reply = tuple[int, Any]  # (HTTP status, JSON body or raw bytes)


class FakeConvex(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeConvex

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.requests.append({"url": self.path, **json.loads(self.rfile.read(length))})
        self.server.headers_seen.append(dict(self.headers))
        status, body = self.server.replies.pop(0) if self.server.replies else (200, _ok(None))
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: Any) -> None:
        pass


def _ok(value: Any) -> dict[str, Any]:
    return {"status": "success", "value": value, "logLines": []}


@pytest.fixture
def fake() -> Iterator[FakeConvex]:
    server = FakeConvex()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def gateway(url: str, **options: Any) -> ConvexGateway:
    settings: dict[str, Any] = {"max_wait": 0.05, "max_seconds": 5, **options}
    return ConvexGateway(url, "prod:test|secret-key", **settings)


def test_speaks_convex_wire_format(fake: FakeConvex) -> None:
    fake.replies.append((200, _ok({"n": {"$integer": "BwAAAAAAAAA="}, "s": "x"})))
    assert gateway(fake.url).query("qbQueue:getQueueStatus", {"deadLimit": 1}) == {"n": 7, "s": "x"}
    (request,) = fake.requests
    assert request == {
        "url": "/api/query",
        "path": "qbQueue:getQueueStatus",
        "format": "convex_encoded_json",
        "args": {"deadLimit": 1},
    }
    headers = fake.headers_seen[0]
    assert headers["Authorization"] == "Convex prod:test|secret-key"
    assert headers["Convex-Client"].startswith("python-")


def test_a_convex_error_is_final_with_its_code(fake: FakeConvex) -> None:
    error = {
        "status": "error",
        "errorMessage": "x",
        "errorData": {"code": "NOT_FOUND", "message": "No such event"},
    }
    fake.replies.append((200, error))
    with pytest.raises(ConvexCallError) as raised:
        gateway(fake.url).mutation("qbQueue:retryFailedEvent", {"eventId": "e1"})
    assert (raised.value.code, raised.value.message) == ("NOT_FOUND", "No such event")
    assert len(fake.requests) == 1  # a decision is never retried


def test_a_failed_function_and_a_4xx_are_final(fake: FakeConvex) -> None:
    fake.replies.append((200, {"status": "error", "errorMessage": "Uncaught Error: boom"}))
    with pytest.raises(ConvexCallError, match="boom"):
        gateway(fake.url).query("functions:ping")
    fake.replies.append((400, {"code": "BadRequest", "message": "Could not find function"}))
    with pytest.raises(ConvexCallError, match="400 BadRequest: Could not find function"):
        gateway(fake.url).query("functions:nope")
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    "reply",
    [
        (500, {"code": "InternalServerError", "message": "x"}),
        (502, b"<html>Bad Gateway</html>"),
        (503, b""),
        (408, b""),
        (429, {"code": "TooManyRequests", "message": "slow down"}),
    ],
)
def test_transient_replies_are_retried(fake: FakeConvex, reply: Reply) -> None:
    fake.replies.extend([reply, reply, (200, _ok({"serverTime": 5.0}))])
    assert gateway(fake.url).query("functions:ping") == {"serverTime": 5.0}
    assert len(fake.requests) == 3


def test_retries_stop_at_the_attempt_limit(fake: FakeConvex) -> None:
    fake.replies.extend([(503, b"")] * 10)
    with pytest.raises(ConvexUnavailable, match="unreachable"):
        gateway(fake.url, max_attempts=3).query("functions:ping")
    assert len(fake.requests) == 3


def test_a_reply_that_is_not_convex_json_is_final(fake: FakeConvex) -> None:
    fake.replies.append((200, b"<html>captive portal</html>"))
    with pytest.raises(ConvexCallError, match="unexpected reply"):
        gateway(fake.url).query("functions:ping")


def test_a_convex_that_never_answers_is_given_up_within_the_budget() -> None:
    # Why item 1: ConvexHttpClient posted without a timeout and waited for ever.
    with black_hole() as hole:
        started = time.monotonic()
        with pytest.raises(ConvexUnavailable):
            gateway(hole.url, read_timeout=0.4, max_seconds=1.2).query("functions:ping")
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.0
    assert hole.connections >= 2  # it did try again within the budget


def test_a_deadline_is_shared_by_every_call_inside_it() -> None:
    with black_hole() as hole:
        slow = gateway(hole.url, read_timeout=5, max_seconds=30)
        started = time.monotonic()
        with deadline(0.6):
            for _ in range(3):
                with pytest.raises(ConvexUnavailable):
                    slow.query("functions:ping")
        assert time.monotonic() - started < 1.2


def test_calls_beyond_the_slots_are_refused_at_once_when_convex_hangs() -> None:
    with black_hole() as hole:
        slots = gateway(hole.url, read_timeout=1.6, max_seconds=1.6, max_in_flight=2)
        threads = [threading.Thread(target=_swallow, args=(slots,), daemon=True) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(SLOW_CALL_SECONDS + 0.2)  # both slots taken, by calls that hang
        started = time.monotonic()
        with pytest.raises(ConvexUnavailable, match="slot"):
            slots.query("functions:ping")
        assert time.monotonic() - started < 1.0
        for thread in threads:
            thread.join(10)


def test_a_burst_waits_for_a_slot_while_convex_is_quick(fake: FakeConvex) -> None:
    one_at_a_time = gateway(fake.url, max_in_flight=1)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: one_at_a_time.query("functions:ping"), range(16)))
    assert len(answers) == 16 and len(fake.requests) == 16


def _swallow(gw: ConvexGateway) -> None:
    with contextlib.suppress(ConvexUnavailable):
        gw.query("functions:ping")


def test_every_call_is_observed(fake: FakeConvex) -> None:
    seen: list[tuple[str, str]] = []
    observed = gateway(fake.url, observer=lambda path, _s, outcome: seen.append((path, outcome)))
    fake.replies.extend(
        [
            (200, _ok({"serverTime": 1.0})),
            (200, {"status": "error", "errorData": {"code": "X", "message": "no"}}),
        ]
    )
    observed.ping()
    with pytest.raises(ConvexCallError):
        observed.query("qbQueue:getEventState")
    assert seen == [("functions:ping", "ok"), ("qbQueue:getEventState", "error")]


def test_an_event_is_named_by_its_id_or_its_ref_number(fake: FakeConvex) -> None:
    state = {
        "eventId": "jd7evt",
        "refNumber": "TR-000123",
        "qbStatus": "dead",
        "retryCount": 0.0,
        "nextAttemptAt": 0.0,
        "qbLookupRequired": False,
    }
    fake.replies.extend([(200, _ok(state)), (200, _ok(None))])
    gw = gateway(fake.url)
    assert gw.event_id_of("jd7evt") == "jd7evt"  # an id is taken as it is: no call
    assert gw.event_id_of("TR-000123") == "jd7evt"
    with pytest.raises(ConvexCallError) as raised:
        gw.event_id_of("AD-000009")
    assert (raised.value.code, raised.value.message) == ("EVENT_NOT_FOUND", "no event AD-000009")
    assert [(r["path"], r["args"]) for r in fake.requests] == [
        ("qbQueue:getEventState", {"refNumber": "TR-000123"}),
        ("qbQueue:getEventState", {"refNumber": "AD-000009"}),
    ]
