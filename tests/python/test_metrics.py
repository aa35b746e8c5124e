"""/metrics: off without METRICS_TOKEN, behind it otherwise, and cheap for Convex."""

from __future__ import annotations

import re
import threading

import pytest
from support.bridge import PASSWORD, USERNAME, bridge_settings, qbwc, serve_bridge
from support.load import http_request
from support.local_convex import LocalConvex
from support.qbwc_simulator import SoapClient
from support.world import World

from qbwc_bridge.cached import CachedProbe
from qbwc_bridge.metrics import authorized

TOKEN = "metrics-token-0123456789abcdef"


def scrape(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, body = http_request("GET", f"{url}/metrics", headers=headers)
    return status, body.decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus text format."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))).strip(",") == wanted:
            return float(match.group(2))
    raise AssertionError(f"no {name}{{{wanted}}} in:\n{text}")


def test_metrics_are_off_without_a_token(convex: LocalConvex) -> None:
    with serve_bridge(bridge_settings(convex.url, convex.admin_key)) as bridge:
        assert scrape(bridge.url)[0] == 404


def test_metrics_need_the_token(convex: LocalConvex) -> None:
    settings = bridge_settings(convex.url, convex.admin_key, METRICS_TOKEN=TOKEN)
    with serve_bridge(settings) as bridge:
        assert scrape(bridge.url, None)[0] == 401
        assert scrape(bridge.url, TOKEN[:-1] + "x")[0] == 401
        assert scrape(bridge.url, TOKEN + "x")[0] == 401
        status, _ = http_request(
            "GET", f"{bridge.url}/metrics", headers={"Authorization": f"Basic {TOKEN}"}
        )
        assert status == 401
        assert scrape(bridge.url)[0] == 200


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (TOKEN, False),
        (None, False),
        ("Bearer ", False),
    ],
)
def test_bearer_check(header: str | None, ok: bool) -> None:
    assert authorized(header, TOKEN) is ok


def test_queue_figures_soap_calls_and_convex_latency(world: World, convex: LocalConvex) -> None:
    world.open_stock()  # 5 events due
    settings = bridge_settings(convex.url, convex.admin_key, METRICS_TOKEN=TOKEN)
    with serve_bridge(settings) as bridge:
        SoapClient(bridge.soap_url).call("authenticate", strUserName=USERNAME, strPassword="no")
        convex.calls(reset=True)
        status, text = scrape(bridge.url)
        assert status == 200
        assert sample(text, "qbwc_bridge_queue_status_up") == 1
        assert sample(text, "qbwc_bridge_queue_events", qb_status="pending") == 5
        assert sample(text, "qbwc_bridge_queue_due_events") == 5
        assert sample(text, "qbwc_bridge_queue_oldest_due_age_seconds") >= 0
        assert sample(text, "qbwc_bridge_open_sessions") == 0
        assert (
            sample(text, "qbwc_bridge_soap_calls_total", method="authenticate", outcome="nvu") == 1
        )
        # Scraped again and again: Convex is read once (the figures are cached).
        for _ in range(10):
            assert scrape(bridge.url)[0] == 200
        assert convex.calls() == {"query qbQueue:getQueueStatus": 1}

        qbwc(bridge, world.quickbooks).run_session()
        _, text = scrape(bridge.url)
        assert (
            sample(text, "qbwc_bridge_soap_calls_total", method="authenticate", outcome="ok") == 1
        )
        assert (
            sample(text, "qbwc_bridge_soap_calls_total", method="receiveResponseXML", outcome="ok")
            >= 1
        )
        count = sample(
            text,
            "qbwc_bridge_convex_call_seconds_count",
            function="qbSessions:authenticate",
            outcome="ok",
        )
        assert count == 1
        assert sample(text, "qbwc_bridge_soap_call_seconds_count", method="sendRequestXML") >= 1
        assert PASSWORD not in text


def test_healthz_asks_convex_once_for_many_requests(convex: LocalConvex) -> None:
    with serve_bridge(bridge_settings(convex.url, convex.admin_key)) as bridge:
        convex.calls(reset=True)
        for _ in range(20):
            assert http_request("GET", f"{bridge.url}/healthz")[0] == 200
        assert convex.calls() == {"query functions:ping": 1}


def test_a_cached_probe_runs_one_probe_at_a_time_and_nobody_waits_for_it() -> None:
    now = [0.0]
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def probe() -> int:
        calls.append(1)
        started.set()
        release.wait(5)
        return len(calls)

    cached = CachedProbe(probe, ttl=5, clock=lambda: now[0])
    first = threading.Thread(target=cached.get)
    first.start()
    started.wait(5)
    assert cached.get() is None  # the first probe runs elsewhere: no answer yet, no wait
    release.set()
    first.join(5)
    probed = cached.get()
    assert probed is not None and probed.value == 1
    now[0] = 4.9
    assert cached.get() is probed  # fresh: no probe
    now[0] = 5.1
    started.clear()
    release.clear()
    refresher = threading.Thread(target=cached.get)
    refresher.start()
    started.wait(5)
    assert cached.get() is probed  # stale while another thread refreshes it
    release.set()
    refresher.join(5)
    latest = cached.get()
    assert latest is not None and latest.value == 2 and len(calls) == 2
