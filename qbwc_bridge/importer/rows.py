"""From records to the parts to upsert: cleaning, validation, duplicate SKUs.

Rules, chosen so that a spreadsheet round trip cannot change what is stored:

- The SKU is text, exactly as in the file apart from surrounding whitespace
  (spaces, tabs, no-break spaces, a stray BOM), which is trimmed; inner spaces,
  leading zeros, `1E5`, `12.50`, `-0001` stay as they are. It is never parsed.
- Text fields are trimmed and their inner line breaks normalised to "\\n" (so a
  CRLF and an LF export of the same sheet store the same text). An empty cell
  means "leave this field as it is" and is not sent. SKU, name, QuickBooks full
  name and ListID are single-line values: control characters in them make the
  row bad. Lengths are counted like Convex counts them (UTF-16 code units) with
  Convex's limits, so an over-long value is reported with its line number
  before anything is written.
- Cost and price: `12.5`, `1,234.50`, `$1,234.50`; no exponents, no negative
  amounts, no decimal commas. Anything else makes the row bad.
- Active: yes/no, y/n, true/false, t/f, 1/0, active/inactive (any case).
- A SKU on several lines with identical data is imported once, with a warning.
  With different data every one of those lines is bad: which one is right is
  the user's call. If one occurrence is bad for another reason, the others are
  bad too, so `--skip-bad` never loads a SKU the file disagrees with itself on.
- A row whose cells are all blank is skipped; a non-blank cell beyond the
  header's last column makes the row bad (an unquoted comma shifted it).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from qbwc_bridge.importer.columns import ColumnMap
from qbwc_bridge.importer.source import Record

# Convex's limits (convex/lib/constants.ts): keep in step.
SKU_MAX = 100
TEXT_MAX = {"name": 200, "description": 2000, "qbItemFullName": 159, "qbItemListId": 36}
MULTI_LINE_FIELDS = frozenset({"description"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc
_AMOUNT = re.compile(r"\$?\s*(?P<number>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)")
_BOOLEANS = {
    **dict.fromkeys(("yes", "y", "true", "t", "1", "active"), True),
    **dict.fromkeys(("no", "n", "false", "f", "0", "inactive"), False),
}
# str.strip() already covers Unicode whitespace; the BOM is not whitespace to
# Python but Excel leaves it in cells, and JavaScript's trim() removes it.
_TRIM = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\ufeff"

Payload = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    line: int
    message: str
    sku: str | None = None


@dataclass
class Plan:
    parts: list[Payload] = field(default_factory=list)
    """What `parts:upsertBatch` receives: one payload per good SKU, sorted by SKU."""
    bad: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    rows: int = 0
    """Non-blank data rows read (after the header)."""
    unnamed_with_data: set[int] = field(default_factory=set)
    """Blank-header columns that hold data somewhere: ignored, but the user should know."""


def quote(text: str) -> str:
    """How a value is shown in messages: JSON quoting makes edge spaces and controls visible."""
    return json.dumps(text, ensure_ascii=False)


def utf16_length(text: str) -> int:
    """Length as JavaScript (and so Convex) counts it: characters beyond U+FFFF count twice."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def trim(text: str) -> str:
    return text.strip(_TRIM)


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _text(field_name: str, raw: str, problems: list[str]) -> str | None:
    value = re.sub(r"\r\n?", "\n", trim(raw))
    if value == "":
        return None
    limit = TEXT_MAX[field_name]
    if utf16_length(value) > limit:
        problems.append(f"{field_name} is {utf16_length(value)} characters long (max {limit})")
    if field_name not in MULTI_LINE_FIELDS and _has_control(value):
        problems.append(f"{field_name} {quote(value)} contains a line break or control character")
    return value


def _amount(field_name: str, raw: str, problems: list[str]) -> float | None:
    value = trim(raw)
    if value == "":
        return None
    match = _AMOUNT.fullmatch(value.removeprefix("-"))
    if match is not None and value.startswith("-"):
        problems.append(f"{field_name} {quote(value)} is negative")
        return None
    if match is None:
        problems.append(
            f"{field_name} {quote(value)} is not an amount (write e.g. 12.50 or $1,234.50)"
        )
        return None
    return float(Decimal(match["number"].replace(",", "")))


def _active(field_name: str, raw: str, problems: list[str]) -> bool | None:
    value = trim(raw)
    if value == "":
        return None
    flag = _BOOLEANS.get(value.casefold())
    if flag is None:
        problems.append(
            f"{field_name} {quote(value)} is not yes/no, true/false, 1/0 or active/inactive"
        )
    return flag


_PARSERS: dict[str, Callable[[str, str, list[str]], Any]] = {
    "name": _text,
    "description": _text,
    "qbItemFullName": _text,
    "qbItemListId": _text,
    "cost": _amount,
    "price": _amount,
    "active": _active,
}


def _sku(raw: str, problems: list[str]) -> str:
    sku = trim(raw)
    if sku == "":
        problems.append("missing SKU")
    elif utf16_length(sku) > SKU_MAX:
        problems.append(f"SKU is {utf16_length(sku)} characters long (max {SKU_MAX})")
    elif _has_control(sku):
        problems.append(f"SKU {quote(sku)} contains a line break or control character")
    return sku


def _parse_row(record: Record, columns: ColumnMap) -> tuple[Payload, list[str]]:
    cells = record.cells
    problems: list[str] = []
    width = len(columns.headers)
    overflow = [cell for cell in cells[width:] if trim(cell)]
    if overflow:
        problems.append(
            f"{len(cells)} cells but the header has {width} columns (an unquoted comma?)"
        )
    payload: Payload = {}
    for field_name, index in columns.fields.items():
        raw = cells[index] if index < len(cells) else ""
        if field_name == "sku":
            payload["sku"] = _sku(raw, problems)
            continue
        value = _PARSERS[field_name](field_name, raw, problems)
        if value is not None:
            payload[field_name] = value
    return payload, problems


def _lines(lines: Iterable[int]) -> str:
    numbers = sorted(lines)
    return ", ".join(str(n) for n in numbers)


_Row = tuple[int, Payload, list[str]]
"""(line, payload, problems) of one occurrence of a SKU."""


def build_plan(records: Iterable[Record], columns: ColumnMap) -> Plan:
    """Parses every data record (the header already consumed) into a Plan."""
    plan = Plan()
    by_sku: dict[str, list[_Row]] = defaultdict(list)
    for record in records:
        if not any(trim(cell) for cell in record.cells):
            continue
        plan.rows += 1
        plan.unnamed_with_data.update(
            i for i in columns.unnamed if i < len(record.cells) and trim(record.cells[i])
        )
        payload, problems = _parse_row(record, columns)
        if payload["sku"] == "":
            plan.bad.append(Problem(record.line, "; ".join(problems)))
        else:
            by_sku[payload["sku"]].append((record.line, payload, problems))
    for sku, rows in sorted(by_sku.items()):
        _settle(sku, rows, plan)
    plan.bad.sort(key=lambda problem: problem.line)
    plan.warnings.sort(key=lambda problem: problem.line)
    return plan


def _settle(sku: str, rows: list[_Row], plan: Plan) -> None:
    """Decides one SKU: a part, a merged duplicate (warning), or bad lines."""
    if len(rows) == 1:
        line, payload, problems = rows[0]
        if problems:
            plan.bad.append(Problem(line, "; ".join(problems), sku))
        else:
            plan.parts.append(payload)
        return
    lines = [line for line, _, _ in rows]
    self_bad = {line for line, _, problems in rows if problems}
    if self_bad:
        for line, _, problems in rows:
            others = _lines(n for n in self_bad if n != line)
            reasons = list(problems)
            if others:
                reasons.append(f"SKU {quote(sku)} is also on bad line {others}")
            plan.bad.append(Problem(line, "; ".join(reasons), sku))
        return
    payloads = [payload for _, payload, _ in rows]
    keys = sorted({key for payload in payloads for key in payload})
    differing = [key for key in keys if len({json.dumps(p.get(key)) for p in payloads}) > 1]
    if differing:
        for line in lines:
            others = _lines(n for n in lines if n != line)
            message = (
                f"SKU {quote(sku)} is also on line {others} with different {', '.join(differing)}"
            )
            plan.bad.append(Problem(line, message, sku))
        return
    message = (
        f"SKU {quote(sku)} is repeated with the same data on lines {_lines(lines)}: imported once"
    )
    plan.warnings.append(Problem(lines[0], message, sku))
    plan.parts.append(payloads[0])
