"""The .qwc file QBWC loads to learn where the bridge is and who it is.

OwnerID and FileID are derived from the app name (UUIDv5), so running the
command again gives the same file: QuickBooks remembers these IDs, and a
changed pair would look like a new application (and a reused pair on
another app gives QBWC1039).
"""

from __future__ import annotations

import ipaddress
import uuid
from urllib.parse import urlparse

from lxml import etree

_NAMESPACE = uuid.UUID("5b0f7f3e-2f55-4a43-9d2c-7d4e6f1a9c10")
LOCAL_HOSTS = frozenset({"localhost"})


class QwcError(ValueError):
    """The URL or options would give a .qwc that QBWC refuses."""


def _guid(app_name: str, role: str) -> str:
    return "{" + str(uuid.uuid5(_NAMESPACE, f"{role}:{app_name}")).upper() + "}"


def check_app_url(url: str) -> None:
    """QBWC demands https (except for localhost) and a host name, not an IP address."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    if parsed.scheme not in ("http", "https") or not host:
        raise QwcError(f"AppURL must be a full http(s) URL, got {url!r}.")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise QwcError(f"QBWC does not accept an IP address in AppURL ({host}); use a host name.")
    if parsed.scheme != "https" and host not in LOCAL_HOSTS:
        raise QwcError(f"QBWC only accepts https URLs (except http://localhost), got {url!r}.")


def render_qwc(
    url: str,
    user_name: str,
    app_name: str = "Inventory QuickBooks Sync",
    description: str = "Sends inventory transfers and adjustments from Convex to QuickBooks.",
    support_url: str | None = None,
    run_every_minutes: int = 5,
    owner_id: str | None = None,
    file_id: str | None = None,
) -> bytes:
    check_app_url(url)
    parsed = urlparse(url)
    support = support_url or f"{parsed.scheme}://{parsed.netloc}/"
    support_host = urlparse(support).hostname
    if support_host != parsed.hostname:
        raise QwcError(f"AppSupport must be on the same host as AppURL ({parsed.hostname}).")
    if not 1 <= run_every_minutes <= 1440:
        raise QwcError("RunEveryNMinutes must be between 1 and 1440.")
    root = etree.Element("QBWCXML")
    fields = [
        ("AppName", app_name),
        ("AppID", ""),
        ("AppURL", url),
        ("AppDescription", description),
        ("AppSupport", support),
        ("UserName", user_name),
        ("OwnerID", owner_id or _guid(app_name, "owner")),
        ("FileID", file_id or _guid(app_name, "file")),
        ("QBType", "QBFS"),
    ]
    for tag, text in fields:
        etree.SubElement(root, tag).text = text
    scheduler = etree.SubElement(root, "Scheduler")
    etree.SubElement(scheduler, "RunEveryNMinutes").text = str(run_every_minutes)
    etree.SubElement(root, "IsReadOnly").text = "false"
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
