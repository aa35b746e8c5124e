"""Shared fixtures: one local Convex runtime per test session, reset per test.

`local_convex` is the session's runtime (started with --test-clock so tests
can move time instead of sleeping); `convex` is the same runtime emptied and
back on real time, for tests that need a clean database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.bridge import RunningBridge, bridge_settings, serve_bridge
from support.local_convex import LocalConvex
from support.world import World, build_world


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
def bridge(convex: LocalConvex) -> Iterator[RunningBridge]:
    """The bridge, served over real HTTP, on the emptied runtime."""
    with serve_bridge(
        bridge_settings(convex.url, convex.admin_key, QBWC_BATCH_SIZE="25")
    ) as running:
        yield running
