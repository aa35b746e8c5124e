"""The operator page in a real browser: Playwright driving Debian's Chromium
(/usr/bin/chromium; `.ci/run` installs it) against the bridge, the local
runtime and the QuickBooks simulator.

One walk through what an office manager does: sign in, see a dead event
after QuickBooks' 3140 and events held for a mapping, map the part and press
Retry, watch the event become applied after the next Web Connector run, ask
for a snapshot and see the drift row of a change made directly in
QuickBooks. Screenshots of each state go to tests/artifacts/ops/ (gitignored;
OPS_ARTIFACTS_DIR elsewhere); with UPDATE_DOCS_SCREENSHOT=1 the first state
is also written to docs/ops.png.

Without a browser these tests skip with one line, unless REQUIRE_BROWSER=1
(set by `.ci/run`), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.bridge import RunningBridge, installed_bridge, qbwc
from support.local_convex import LocalConvex
from support.ops import (
    OPERATOR,
    OPS_PASSWORD,
    UNMAPPED_SKU,
    make_dead_event,
    make_held_for_mapping,
    ops_settings,
)
from support.world import ITEMS, SITES, World

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next(
    (
        p
        for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
        if p and Path(p).exists()
    ),
    None,
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 900}
# The item the held part gets once someone creates it in QuickBooks.
NEW_ITEM = "Seals:New part"
PHONE = {"width": 390, "height": 844}


def _no_browser(reason: str) -> None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(
        f"browser tests skipped: {reason} (apt-get install chromium; pip install -e '.[test]')"
    )


@pytest.fixture
def artifacts() -> Path:
    where = Path(os.environ.get("OPS_ARTIFACTS_DIR") or ROOT / "tests" / "artifacts" / "ops")
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A Chromium context with a fresh profile (--user-data-dir), nothing fetched from outside."""
    if CHROMIUM is None:
        _no_browser("no Chromium at /usr/bin/chromium or on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("the playwright package is not installed")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport=LAPTOP,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def ops(convex: LocalConvex, world: World) -> Iterator[RunningBridge]:
    with installed_bridge(ops_settings(convex.url, convex.admin_key), world.quickbooks) as running:
        yield running


def shoot(page: Any, artifacts: Path, name: str, *, full: bool = True) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=full)


def test_an_office_manager_fixes_a_dead_event_and_sees_drift(
    browser: Any, world: World, ops: RunningBridge, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    ref = make_dead_event(world, ops)
    make_held_for_mapping(world, ops, count=2)
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    # Sign in: the page sends a stranger to the form, which has real labels.
    page.goto(f"{ops.url}/ops")
    expect(page).to_have_url(f"{ops.url}/ops/login")
    page.get_by_label("Your name").fill(OPERATOR)
    page.get_by_label("Operator password").fill(OPS_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{ops.url}/ops")

    # Red: the dead event with QuickBooks' message and the hint, and the held part.
    verdict = page.locator("#verdict")
    expect(verdict).to_have_text(
        "RED: Needs a person now: 1 dead event: QuickBooks refused them; fix the cause, then Retry. (and 1 more thing below)"
    )
    card = page.locator("li", has=page.get_by_role("heading", name=ref))
    expect(card).to_contain_text("QuickBooks error 3140: There is an invalid reference")
    expect(card).to_contain_text("What to do:")
    expect(page.get_by_role("heading", name=f"Part {UNMAPPED_SKU}")).to_be_visible()
    expect(page.get_by_role("img", name="Events applied per hour")).to_be_visible()
    shoot(page, artifacts, "01-red-dead-and-held")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        page.set_viewport_size({"width": 1000, "height": 980})
        page.screenshot(path=str(ROOT / "docs" / "ops.png"), full_page=False)
        page.set_viewport_size(LAPTOP)
    phone = browser.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(f"{ops.url}/ops")
    expect(phone.locator("#verdict")).to_contain_text("RED")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(phone, artifacts, "01-red-phone")
    phone.close()

    # The skip link is the first stop of the keyboard.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the page")).to_be_focused()

    # "Retry all dead" asks first (the page's only script); dismissed, nothing happens.
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Retry all dead (1)").click()
    assert asked == ["Retry all 1 dead event?"]
    expect(page.locator(".flash")).to_have_count(0)
    assert world.state(ref)["qbStatus"] == "dead"

    # The held part: create its item in QuickBooks, pull the lists again, map it with the form.
    world.quickbooks.add_item(NEW_ITEM)
    page.get_by_role("button", name="Refresh lists").click()
    expect(page.get_by_role("status")).to_contain_text("pulls QuickBooks' items")
    qbwc(ops, world.quickbooks).run_session()
    page.reload()
    page.get_by_label(f"QuickBooks item for {UNMAPPED_SKU}").fill(NEW_ITEM)
    page.get_by_role("button", name=f"Map {UNMAPPED_SKU}").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"item {UNMAPPED_SKU} now maps to QuickBooks item {NEW_ITEM}"
    )
    # Then retry the dead event (its item was fine: QuickBooks' 3140 was a passing fault).
    page.get_by_role("button", name=f"Retry {ref}").click()
    expect(page.get_by_role("status")).to_contain_text(f"{ref} is pending again")
    shoot(page, artifacts, "02-retried")
    assert world.state(ref)["qbStatus"] == "pending"

    # The next Web Connector run sends it and the freed held events; reloaded, the page is green.
    qbwc(ops, world.quickbooks).run_session()
    page.reload()
    expect(verdict).to_have_text("GREEN: All clear: nothing needs a person.")
    expect(page.get_by_role("heading", name="Dead events (0)")).to_be_visible()
    assert world.state(ref)["qbStatus"] == "applied"
    assert world.queue()["counts"]["held"] == 0
    shoot(page, artifacts, "03-green")

    # Someone changes a quantity directly in QuickBooks; a snapshot shows it as drift.
    world.quickbooks.adjust_qoh_by_hand(ITEMS["FLT-200"], -7, site=SITES["WH"])
    page.get_by_role("button", name="Take a new snapshot").click()
    expect(page.get_by_role("status")).to_contain_text("Snapshot requested")
    qbwc(ops, world.quickbooks).run_session()
    page.reload()
    row = page.locator("#drift tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("FLT-200")
    expect(row).to_contain_text("-7")
    expect(verdict).to_contain_text("AMBER: Look soon: The last reconciliation found 1 row")
    page.locator("#reconciliation").scroll_into_view_if_needed()
    shoot(page, artifacts, "04-drift")
    page.get_by_role("link", name="Every row").click()
    expect(page.get_by_role("heading", name="Every row")).to_be_visible()
    shoot(page, artifacts, "05-report-every-row")

    assert not problems, problems
