"""The bridge, served for real (waitress on 127.0.0.1, free port) inside a test."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from qbwc_bridge.auth import LoginThrottle
from qbwc_bridge.config import Settings, load_settings
from qbwc_bridge.convex_gateway import ConvexGateway
from qbwc_bridge.server import build_wsgi_app, create_server, server_url, stop_server
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


def bridge_settings(convex_url: str, admin_key: str, **overrides: str) -> Settings:
    env = {
        "CONVEX_URL": convex_url,
        "CONVEX_DEPLOY_KEY": admin_key,
        "QBWC_USERNAME": USERNAME,
        "QBWC_PASSWORD": PASSWORD,
        "LOG_FORMAT": "json",
        **overrides,
    }
    return load_settings(env, env_file=None)


@contextmanager
def serve_bridge(
    settings: Settings, throttle: LoginThrottle | None = None
) -> Iterator[RunningBridge]:
    """Starts the real WSGI app under waitress; stops it on exit."""
    url, key = settings.require_convex()
    gateway = ConvexGateway(url, key, max_attempts=3, max_seconds=5)
    sync = SyncService(settings, gateway, throttle or LoginThrottle())
    server: Any = create_server(build_wsgi_app(sync, gateway), "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = server_url(server)
    try:
        yield RunningBridge(url=base, soap_url=f"{base}/qbwc", settings=settings, sync=sync)
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
