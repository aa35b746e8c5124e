"""The bridge, served for real (waitress on 127.0.0.1, free port) inside a test."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from qbwc_bridge.auth import LoginThrottle
from qbwc_bridge.config import Settings, load_settings
from qbwc_bridge.metrics import BridgeMetrics
from qbwc_bridge.server import build_bridge, server_url, stop_server
from qbwc_bridge.sync import SyncService

from .qbwc_simulator import QbwcSimulator, QuickBooks

USERNAME = "qbwc-test"
PASSWORD = "s3cret-password"


@dataclass
class RunningBridge:
    url: str
    soap_url: str
    settings: Settings
    sync: SyncService
    metrics: BridgeMetrics


def bridge_settings(convex_url: str, admin_key: str, **overrides: str) -> Settings:
    env = {
        "CONVEX_URL": convex_url,
        "CONVEX_DEPLOY_KEY": admin_key,
        "QBWC_USERNAME": USERNAME,
        "QBWC_PASSWORD": PASSWORD,
        "LOG_FORMAT": "json",
        # A Convex that is down is found out quickly in tests.
        "CONVEX_RETRY_BUDGET_SECONDS": "5",
        **overrides,
    }
    return load_settings(env, env_file=None)


@contextmanager
def serve_bridge(
    settings: Settings, throttle: LoginThrottle | None = None
) -> Iterator[RunningBridge]:
    """Starts the real WSGI app under waitress, wired as `serve` wires it; stops it on exit."""
    url, key = settings.require_convex()
    bridge = build_bridge(settings, url, key, "127.0.0.1", 0, throttle=throttle)
    server: Any = bridge.server
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = server_url(server)
    try:
        yield RunningBridge(
            url=base,
            soap_url=f"{base}/qbwc",
            settings=settings,
            sync=bridge.sync,
            metrics=bridge.metrics,
        )
    finally:
        stop_server(server)
        thread.join(timeout=10)
        assert not thread.is_alive(), "bridge server did not stop"


def qbwc(
    bridge: RunningBridge | Sequence[RunningBridge], quickbooks: QuickBooks, **options: Any
) -> QbwcSimulator:
    """A Web Connector with the right credentials, pointed at one bridge (or several, in turn)."""
    bridges = [bridge] if isinstance(bridge, RunningBridge) else list(bridge)
    urls = [b.soap_url for b in bridges]
    return QbwcSimulator(
        urls[0] if len(urls) == 1 else urls, USERNAME, PASSWORD, quickbooks, **options
    )


def read_quickbooks(bridge: RunningBridge, quickbooks: QuickBooks) -> None:
    """The first Web Connector run of an installation: QuickBooks' capabilities and lists are
    read before any event goes out. Tests about events start after it, as production does."""
    report = qbwc(bridge, quickbooks).run_session()
    assert report.percents and report.percents[-1] == 100, report


@contextmanager
def installed_bridge(settings: Settings, quickbooks: QuickBooks) -> Iterator[RunningBridge]:
    """`serve_bridge` plus its first run (`read_quickbooks`): start it before making events."""
    with serve_bridge(settings) as running:
        read_quickbooks(running, quickbooks)
        yield running
