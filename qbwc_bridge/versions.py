"""Version numbers the bridge compares: qbXML's ("13.0") and the Web Connector's ("2.3.0.215").

One parser for both, so a setting, QBWC's reported version and the renderer
can never read the same text differently. Malformed text is a ValueError;
configuration turns it into a start-up error naming the variable.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_DOTTED = re.compile(r"\d{1,9}(?:\.\d{1,9})*")


def parse_dotted(text: str, parts: int | None = None) -> tuple[int, ...]:
    """ "2.3.0.215" -> (2, 3, 0, 215); with `parts`, exactly that many numbers."""
    cleaned = text.strip()
    if not _DOTTED.fullmatch(cleaned):
        raise ValueError(f"{text!r} is not a dotted version number")
    numbers = tuple(int(part) for part in cleaned.split("."))
    if parts is not None and len(numbers) != parts:
        raise ValueError(f"{text!r} must have {parts} parts")
    return numbers


class QbxmlVersion(NamedTuple):
    """A qbXML version; compares as a tuple, prints as qbXML writes it ("13.0")."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> QbxmlVersion:
        major, minor = parse_dotted(text, parts=2)
        return cls(major, minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def negotiate(configured: QbxmlVersion, major: int | None, minor: int | None) -> QbxmlVersion:
    """min(configured, what QBWC reports): never ask QuickBooks for more than it speaks."""
    if major is None or major <= 0:
        return configured
    return min(configured, QbxmlVersion(major, max(minor or 0, 0)))
