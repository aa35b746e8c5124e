"""What every .qwc must hold for QBWC to load it (shared by the qwc and docs tests)."""

from __future__ import annotations

import re

from lxml import etree

REQUIRED = (
    "AppName",
    "AppID",
    "AppURL",
    "AppDescription",
    "AppSupport",
    "UserName",
    "OwnerID",
    "FileID",
    "QBType",
    "IsReadOnly",
)
GUID = re.compile(r"^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$")


def assert_qwc_shape(root: etree._Element) -> None:
    """Root, required elements, QBFS, braced upper-case GUIDs, a schedule, read-write."""
    assert root.tag == "QBWCXML"
    for tag in REQUIRED:
        assert root.find(tag) is not None, f"{tag} missing"
    assert root.findtext("QBType") == "QBFS"
    assert root.findtext("IsReadOnly") == "false"
    assert GUID.match(root.findtext("OwnerID") or "")
    assert GUID.match(root.findtext("FileID") or "")
    assert int(root.findtext("Scheduler/RunEveryNMinutes") or "0") >= 1
