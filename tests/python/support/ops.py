"""The operator page (/ops) in tests: settings that turn it on, a signed-in HTTP
client that keeps its cookies like a browser, and the world states the page
shows (a dead event after QuickBooks' 3140, events held for a mapping)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import requests

from qbwc_bridge.auth import hash_password
from qbwc_bridge.config import Settings

from .bridge import RunningBridge, bridge_settings, qbwc
from .world import ITEMS, World

OPS_PASSWORD = "ops-test-password"
# Few PBKDF2 rounds: the format is the production one, the tests stay fast.
OPS_PASSWORD_HASH = hash_password(OPS_PASSWORD, iterations=1000)
OPERATOR = "Jane (office)"
MESSAGE_3140 = 'There is an invalid reference to QuickBooks Item "Filters:Oil filter" in the Inventory Adjustment.'
# An item the world's QuickBooks does not have: its events are held for a mapping.
UNMAPPED_SKU = "NEW-9"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def ops_settings(convex_url: str, admin_key: str, **overrides: str) -> Settings:
    return bridge_settings(convex_url, admin_key, OPS_PASSWORD_HASH=OPS_PASSWORD_HASH, **overrides)


@dataclass
class OpsClient:
    """A browser-like client of one bridge's /ops: cookies kept, redirects not followed."""

    base: str
    http: requests.Session = field(default_factory=requests.Session)
    last_page: str = ""

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        response = self.http.get(self.base + path, allow_redirects=False, timeout=30, **kwargs)
        if response.headers.get("Content-Type", "").startswith("text/html"):
            self.last_page = response.text
        return response

    def post(
        self, path: str, data: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        return self.http.post(
            self.base + path, data=data or {}, allow_redirects=False, timeout=30, **kwargs
        )

    def login(self, name: str = OPERATOR, password: str = OPS_PASSWORD) -> requests.Response:
        return self.post("/ops/login", {"name": name, "password": password})

    def page(self) -> str:
        response = self.get("/ops")
        assert response.status_code == 200, (response.status_code, response.text[:500])
        return response.text

    @property
    def csrf(self) -> str:
        if not CSRF.search(self.last_page):
            self.page()
        found = CSRF.search(self.last_page)
        assert found is not None, "no CSRF token on the page"
        return found.group(1)

    def press(self, action: str, **fields: str) -> requests.Response:
        """A button of the page: its form, with the page's CSRF token."""
        return self.post(f"/ops/{action}", {"csrf": self.csrf, **fields})


def signed_in(bridge: RunningBridge) -> OpsClient:
    client = OpsClient(bridge.url)
    response = client.login()
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return client


def make_dead_event(world: World, bridge: RunningBridge, ref_number: str = "AD-000003") -> str:
    """The opening counts go out; QuickBooks refuses one of them with 3140 (an item it lost
    between the list pull and the send): that event is dead. Returns its refNumber."""
    world.open_stock()
    world.quickbooks.fail_next(3140, MESSAGE_3140, ref_number=ref_number)
    qbwc(bridge, world.quickbooks).run_session()
    assert world.state(ref_number)["qbStatus"] == "dead"
    return ref_number


def make_held_for_mapping(world: World, bridge: RunningBridge, count: int = 2) -> list[str]:
    """A part QuickBooks has no item for: its events are held at the next run. Returns refNumbers."""
    world.admin.mutation(
        "parts:upsertBatch", {"parts": [{"sku": UNMAPPED_SKU, "name": "New part"}]}
    )
    refs = [str(world.adjust(UNMAPPED_SKU, "WH", 5 + n)["refNumber"]) for n in range(count)]
    qbwc(bridge, world.quickbooks).run_session()
    for ref in refs:
        assert world.state(ref)["qbStatus"] == "held", world.state(ref)
    return refs


# An item QuickBooks has, for the mapping form.
PUMP_ITEM = ITEMS["PMP-1"]
