"""How the page words things: times in the books' time zone, durations, quantities,
QuickBooks' message split from the bridge's hint, and the CLI command each
button mirrors (shown next to it, so the page also teaches the runbook)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime, tzinfo

from qbwc_bridge.contract import UnmappedRow

# `unmapped` kinds -> `qbwc-bridge map` kinds, and what the QuickBooks side is called.
MAP_KINDS = {"part": "item", "location": "location", "reason": "reason"}
TARGET_NOUNS = {
    "item": "QuickBooks item",
    "location": "QuickBooks site",
    "reason": "QuickBooks account",
}


@dataclass(frozen=True)
class Format:
    """Formatting against one clock: Convex's time when the page was read."""

    now_ms: float
    tz: tzinfo | None

    def when(self, ms: float | None) -> str:
        if ms is None:
            return "never"
        local = datetime.fromtimestamp(ms / 1000, self.tz).astimezone(self.tz)
        return f"{local:%a} {local.day} {local:%b %H:%M}"

    def ago(self, ms: float | None) -> str:
        if ms is None:
            return "never"
        return f"{self.duration(max(0.0, (self.now_ms - ms) / 1000))} ago"

    @staticmethod
    def duration(seconds: float | None) -> str:
        if seconds is None:
            return "-"
        whole = int(seconds)
        if whole < 120:
            return f"{whole} s"
        if whole < 7200:
            return f"{whole // 60} min"
        if whole < 72 * 3600:
            return f"{whole // 3600} h {(whole % 3600) // 60:02d} min"
        return f"{whole // 86400} days"

    @staticmethod
    def qty(value: float) -> str:
        return f"{value:g}"

    @staticmethod
    def signed(value: float) -> str:
        return f"{value:+g}"


def split_error(text: str | None) -> tuple[str, str]:
    """(QuickBooks' message, the bridge's hint): the status table appends the hint after " -> "."""
    message, _, hint = (text or "").partition(" -> ")
    return message.strip(), hint.strip()


def map_kind(row: UnmappedRow) -> str:
    return MAP_KINDS.get(row.kind, row.kind)


def map_command(row: UnmappedRow) -> str:
    kind = map_kind(row)
    placeholder = {"item": "Parent:Item", "location": "Site", "reason": "Account"}.get(kind, "Name")
    return f'qbwc-bridge map {kind} {shlex.quote(row.name)} "{placeholder}"'
