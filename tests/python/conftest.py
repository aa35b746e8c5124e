"""Shared fixtures: one local Convex runtime per test session, reset per test.

`local_convex` is the session's runtime (started with --test-clock so tests
can move time instead of sleeping); `convex` is the same runtime emptied and
back on real time, for tests that need a clean database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
import structlog
from support.bridge import RunningBridge, bridge_settings, read_quickbooks, serve_bridge
from support.local_convex import LocalConvex
from support.world import World, build_world

from qbwc_bridge.logging import configure_logging


@pytest.fixture(scope="session")
def local_convex() -> Iterator[LocalConvex]:
    runtime = LocalConvex.start("--test-clock")
    try:
        yield runtime
    finally:
        runtime.stop()


@pytest.fixture
def convex(local_convex: LocalConvex) -> LocalConvex:
    """The session's runtime with an empty database and the real time."""
    local_convex.reset()
    return local_convex


@pytest.fixture
def world(convex: LocalConvex) -> World:
    """The sample business in Convex and in the QuickBooks simulator."""
    return build_world(convex.url, convex.admin_key)


@pytest.fixture
def bridge(convex: LocalConvex, world: World) -> Iterator[RunningBridge]:
    """The bridge, served over real HTTP, that has read the world's QuickBooks once
    (capabilities and lists), as an installed bridge has."""
    with serve_bridge(
        bridge_settings(convex.url, convex.admin_key, QBWC_BATCH_SIZE="25")
    ) as running:
        read_quickbooks(running, world.quickbooks)
        yield running


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Whatever a test configures (configure_logging, an in-process CLI `main()`), the
    next test starts from the logging it had."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    named = {name: logging.getLogger(name) for name in ("spyne", "urllib3", "waitress.queue")}
    levels = {name: logger.level for name, logger in named.items()}
    filters = {name: list(logger.filters) for name, logger in named.items()}
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in named.items():
        logger.setLevel(levels[name])
        logger.filters[:] = filters[name]


LogLines = Callable[[], list[str]]


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str], restore_logging: None) -> LogLines:
    """The bridge's logging as `serve` sets it up (JSON lines on stderr); the returned
    function gives every line written so far, by any thread."""
    configure_logging("json", "info")
    seen: list[str] = []

    def lines() -> list[str]:
        seen.extend(line for line in capsys.readouterr().err.splitlines() if line)
        return list(seen)

    return lines
