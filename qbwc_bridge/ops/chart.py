"""The page's charts, drawn here as inline SVG: no chart library, nothing
fetched by the browser, readable without JavaScript.

Three small panels over the last HOURS hours, from sync_stats_hourly (one
row per hour, absent when nothing happened): events applied per hour (with
failed and dead stacked on top), the queue's depth, and how long the oldest
due event had waited. Depth and wait are sampled when the Web Connector
authenticates, so an hour without a sample is a gap, not a zero. Every
panel has a title and a text description for screen readers; the page
also lists the figures in a table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from markupsafe import Markup, escape

from qbwc_bridge.contract import HourFigures

HOURS = 72
HOUR_MS = 3_600_000
WIDTH, HEIGHT = 600, 170
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 12, 142
COLORS = {"applied": "#00695c", "failed": "#8a5300", "dead": "#b00020", "line": "#1a3c8c"}
_LABEL = "%a %H:00"  # an hour as people read it: "Tue 14:00"


@dataclass(frozen=True)
class Slot:
    """One hour of the chart (figures None: no row for that hour)."""

    start_ms: int
    figures: HourFigures | None


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    description: str
    svg: Markup


def slots(hours: Sequence[HourFigures], now_ms: float) -> list[Slot]:
    """The last HOURS hours, oldest first, with the rows that exist put in their place."""
    current = int(now_ms // HOUR_MS) * HOUR_MS
    by_hour = {int(h.hour): h for h in hours}
    starts = [current - (HOURS - 1 - i) * HOUR_MS for i in range(HOURS)]
    return [Slot(start, by_hour.get(start)) for start in starts]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 x 10^k at or above `value` (1 for nothing)."""
    if value <= 1:
        return 1.0
    scale = 1.0
    while scale * 10 <= value:
        scale *= 10
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return float(step * scale)
    return 10 * scale


def _label(ms: int, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).astimezone(tz).strftime(_LABEL)


def _fmt(value: float) -> str:
    return f"{value:g}"


class _Canvas:
    """Plot coordinates for HOURS slots and a y range 0..top."""

    def __init__(self, top: float) -> None:
        self.top = top
        self.step = (WIDTH - LEFT - RIGHT) / HOURS

    def x(self, slot: int) -> float:
        return LEFT + slot * self.step

    def y(self, value: float) -> float:
        return BOTTOM - (BOTTOM - TOP) * min(value, self.top) / self.top


def _frame(
    key: str,
    title: str,
    description: str,
    canvas: _Canvas,
    body: list[str],
    ticks: list[str],
) -> Markup:
    top = _fmt(canvas.top)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{key}-t {key}-d" '
        f'class="chart" font-size="12" fill="#333">',
        f'<title id="{key}-t">{escape(title)}</title><desc id="{key}-d">{escape(description)}</desc>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}" stroke="#ccc"/>',
        f'<line x1="{LEFT}" y1="{BOTTOM}" x2="{WIDTH - RIGHT}" y2="{BOTTOM}" stroke="#666"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{top}</text>',
        f'<text x="{LEFT - 4}" y="{BOTTOM}" text-anchor="end">0</text>',
        *body,
        *ticks,
        "</svg>",
    ]
    return Markup("".join(parts))


def _ticks(canvas: _Canvas, hours: Sequence[Slot], tz: tzinfo | None) -> list[str]:
    """A label every 12 hours of local time, on the hour it names; the noon ones carry
    class "half", which a narrow screen hides (its labels would overlap)."""
    out = []
    for i, slot in enumerate(hours):
        local = datetime.fromtimestamp(slot.start_ms / 1000, tz).astimezone(tz)
        if local.hour % 12 == 0 and 2 < i < HOURS - 3:
            x = canvas.x(i)
            half = ' class="half"' if local.hour == 12 else ""
            out.append(
                f'<g{half}><line x1="{x:.1f}" y1="{BOTTOM}" x2="{x:.1f}" y2="{BOTTOM + 4}" '
                f'stroke="#666"/><text x="{x:.1f}" y="{BOTTOM + 18}" text-anchor="middle">'
                f"{escape(local.strftime(_LABEL))}</text></g>"
            )
    return out


def _peak(
    hours: Sequence[Slot], value: Callable[[HourFigures], float], tz: tzinfo | None
) -> tuple[float, str]:
    best: tuple[float, str] = (0.0, "")
    for slot in hours:
        if slot.figures is not None and value(slot.figures) > best[0]:
            best = (value(slot.figures), _label(slot.start_ms, tz))
    return best


def applied_chart(hours: Sequence[Slot], tz: tzinfo | None) -> Chart:
    figures = [s.figures for s in hours if s.figures is not None]
    total = sum(f.applied for f in figures)
    failed = sum(f.failed for f in figures)
    dead = sum(f.dead for f in figures)
    canvas = _Canvas(nice_ceiling(max((f.applied + f.failed + f.dead for f in figures), default=0)))
    # One path per series (a bar is "M x y h w V bottom h -w Z"): a fraction of the bytes of
    # one <rect> per bar, which matters with 72 hours x 3 series on every page load.
    bars: dict[str, list[str]] = {"applied": [], "failed": [], "dead": []}
    width = max(1.0, canvas.step - 2)
    for i, slot in enumerate(hours):
        f = slot.figures
        if f is None:
            continue
        base = 0.0
        for name, count in (("applied", f.applied), ("failed", f.failed), ("dead", f.dead)):
            if count <= 0:
                continue
            y_top, y_bottom = canvas.y(base + count), canvas.y(base)
            if y_bottom - y_top < 0.5:
                y_top = y_bottom - 0.5
            bars[name].append(
                f"M{canvas.x(i) + 1:.1f} {y_top:.1f}h{width:.1f}V{y_bottom:.1f}h-{width:.1f}Z"
            )
            base += count
    body = [f'<path fill="{COLORS[name]}" d="{"".join(d)}"/>' for name, d in bars.items() if d]
    peak, when = _peak(hours, lambda f: f.applied, tz)
    description = (
        f"Last {HOURS} hours: {total} events applied, {failed} failed (retried), {dead} dead"
        + (f"; most applied in one hour: {peak:g} ({when})." if peak else ".")
    )
    title = "Events applied per hour"
    svg = _frame("applied", title, description, canvas, body, _ticks(canvas, hours, tz))
    return Chart("applied", title, description, svg)


def _line_chart(
    key: str,
    title: str,
    hours: Sequence[Slot],
    value: Callable[[HourFigures], float],
    tz: tzinfo | None,
    describe: Callable[[float, str, int], str],
) -> Chart:
    sampled = [
        (i, value(s.figures)) for i, s in enumerate(hours) if s.figures and s.figures.samples
    ]
    canvas = _Canvas(nice_ceiling(max((v for _, v in sampled), default=0)))
    body = []
    run: list[str] = []
    previous = None
    # One polyline per run of consecutive sampled hours: an hour without a sample is a gap.
    for i, v in sampled:
        point = f"{canvas.x(i) + canvas.step / 2:.1f},{canvas.y(v):.1f}"
        if previous is not None and i != previous + 1:
            body.append(_polyline(run))
            run = []
        run.append(point)
        previous = i
    if run:
        body.append(_polyline(run))
    peak, when = _peak([s for s in hours if s.figures and s.figures.samples], value, tz)
    description = describe(peak, when, len(sampled))
    return Chart(
        key,
        title,
        description,
        _frame(key, title, description, canvas, body, _ticks(canvas, hours, tz)),
    )


def _polyline(points: list[str]) -> str:
    if len(points) == 1:
        x, y = points[0].split(",")
        return f'<circle cx="{x}" cy="{y}" r="2.5" fill="{COLORS["line"]}"/>'
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="{COLORS["line"]}" stroke-width="2"/>'


def depth_chart(hours: Sequence[Slot], tz: tzinfo | None) -> Chart:
    return _line_chart(
        "depth",
        "Queue depth (events waiting, highest per hour)",
        hours,
        lambda f: float(f.depth_max),
        tz,
        lambda peak, when, n: (
            f"Sampled in {n} of the last {HOURS} hours; "
            + (
                f"highest: {peak:g} events waiting ({when})."
                if peak
                else "never more than 0 waiting."
            )
        ),
    )


def wait_chart(hours: Sequence[Slot], tz: tzinfo | None) -> Chart:
    return _line_chart(
        "wait",
        "Oldest due event's wait (minutes, longest per hour)",
        hours,
        lambda f: round(f.oldest_due_age_max_seconds / 60, 1),
        tz,
        lambda peak, when, n: (
            f"Sampled in {n} of the last {HOURS} hours; "
            + (f"longest wait: {peak:g} minutes ({when})." if peak else "no event waited.")
        ),
    )


def charts(hours: Sequence[HourFigures], now_ms: float, tz: tzinfo | None) -> list[Chart]:
    laid_out = slots(hours, now_ms)
    return [applied_chart(laid_out, tz), depth_chart(laid_out, tz), wait_chart(laid_out, tz)]
