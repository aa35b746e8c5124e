"""The page's one-line verdict: red, amber or green, and what needs a person.

Red means someone must act now (nothing reaches QuickBooks, or events will
not go out by themselves); amber means look soon (it moves by itself once a
mapping or QuickBooks is fixed, or something is slower than it should be);
green means nothing needs a person. The SOP's office-manager section
explains each finding and which button fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qbwc_bridge.contract import OpsOverview

Level = Literal["red", "amber", "green"]

# QBWC runs every 5 minutes by default: a due event older than three runs means it is
# not syncing as often as it should; older than an hour, it is not syncing at all.
WAIT_AMBER_SECONDS = 15 * 60
WAIT_RED_SECONDS = 60 * 60


@dataclass(frozen=True)
class Finding:
    level: Literal["red", "amber"]
    text: str
    # The section of the page where the fix is.
    anchor: str


@dataclass(frozen=True)
class Verdict:
    level: Level
    headline: str
    findings: tuple[Finding, ...]


def _minutes(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60:02d} min"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def findings(view: OpsOverview) -> list[Finding]:
    found: list[Finding] = []
    dead = view.counts.get("dead", 0)
    if dead:
        found.append(
            Finding(
                "red",
                f"{_plural(dead, 'dead event')}: QuickBooks refused them; fix the cause, then Retry.",
                "attention",
            )
        )
    if view.held_conflicts:
        count = len(view.held_conflicts)
        found.append(
            Finding(
                "red",
                f"{_plural(count, 'event')} held for a decision: QuickBooks has another "
                "transaction with the same number (SOP section 4).",
                "attention",
            )
        )
    age = view.oldest_due_age_seconds
    if age is not None and age >= WAIT_RED_SECONDS:
        found.append(
            Finding(
                "red",
                f"The oldest event has waited {_minutes(age)} for the Web Connector: "
                "is it running, and can it open QuickBooks?",
                "health",
            )
        )
    elif age is not None and age >= WAIT_AMBER_SECONDS:
        found.append(
            Finding(
                "amber",
                f"The oldest event has waited {_minutes(age)}: the Web Connector runs late.",
                "health",
            )
        )
    if view.company is None:
        found.append(
            Finding(
                "amber",
                "QuickBooks has not been read yet: run the Web Connector once.",
                "health",
            )
        )
    elif view.company.pull_error:
        found.append(
            Finding(
                "amber", f"The last list pull failed: {view.company.pull_error[:200]}", "health"
            )
        )
    if view.held_groups:
        waiting = sum(group.events for group in view.held_groups)
        more = "+" if view.held_more else ""
        found.append(
            Finding(
                "amber",
                f"{waiting}{more} {'event waits' if waiting == 1 and not more else 'events wait'} "
                f"for a mapping ({_plural(len(view.held_groups), 'thing')} to map); "
                "they go out by themselves once mapped.",
                "attention",
            )
        )
    stale = [s for s in view.open_sessions if not s.live]
    if stale:
        found.append(
            Finding(
                "amber",
                "A Web Connector session went quiet past its time limit; "
                "its events are looked up at the next run.",
                "health",
            )
        )
    report = view.report
    if report is not None and report.totals.drift_rows:
        found.append(
            Finding(
                "amber",
                f"The last reconciliation found {_plural(report.totals.drift_rows, 'row')} where "
                "QuickBooks and Convex disagree.",
                "reconciliation",
            )
        )
    return found


def verdict(view: OpsOverview | None, convex_error: str | None = None) -> Verdict:
    """What the summary line says. `view` None: Convex could not be read (`convex_error`)."""
    if view is None:
        finding = Finding(
            "red",
            "Convex cannot be reached: nothing syncs until it answers "
            f"({(convex_error or 'no answer')[:200]}).",
            "health",
        )
        return Verdict("red", finding.text, (finding,))
    found = findings(view)
    if not found:
        return Verdict("green", "All clear: nothing needs a person.", ())
    level: Level = "red" if any(f.level == "red" for f in found) else "amber"
    lead = "Needs a person now" if level == "red" else "Look soon"
    first = next(f for f in found if f.level == level)
    others = len(found) - 1
    tail = f" (and {_plural(others, 'more thing')} below)" if others else ""
    return Verdict(level, f"{lead}: {first.text}{tail}", tuple(found))
