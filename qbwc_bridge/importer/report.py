"""The import report, as text for people or JSON for scripts.

Same file and same Convex state give the same bytes: everything is sorted (bad
rows and warnings by line, changes by SKU) and nothing depends on the clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from qbwc_bridge.importer.columns import ColumnMap
from qbwc_bridge.importer.rows import Plan, Problem, quote
from qbwc_bridge.importer.upload import Outcome


@dataclass
class Report:
    file: str
    encoding: str
    columns: ColumnMap
    plan: Plan
    dry_run: bool
    skip_bad: bool
    outcome: Outcome | None = None
    """None when nothing was sent (bad rows without --skip-bad)."""
    failure: str | None = None
    """Set when a batch failed: "batch 3 of 9 failed: <Convex's reason>"."""

    @property
    def blocked(self) -> bool:
        return bool(self.plan.bad) and not self.skip_bad

    def result_line(self) -> str:
        bad = len(self.plan.bad)
        if self.outcome is None:
            return (
                f"Nothing written: {bad} bad row{'s' if bad != 1 else ''}. Fix them, or use "
                f"--skip-bad to import the other {len(self.plan.parts)} part(s)."
            )
        counts = (
            f"{self.outcome.created} created, {self.outcome.updated} updated, "
            f"{self.outcome.unchanged} unchanged"
        )
        if self.failure is not None:
            before = "checked" if self.dry_run else "written"
            return (
                f"Stopped: {self.failure}. Before it ({before}): {counts}. Importing again is safe."
            )
        skipped = f"; {bad} bad row(s) skipped" if bad else ""
        prefix = "Dry run, nothing written: " if self.dry_run else "Result: "
        return f"{prefix}{counts}{skipped}"

    def to_text(self, quiet: bool = False) -> str:
        lines: list[str] = []
        if not quiet:
            rows = f"{self.plan.rows} row{'' if self.plan.rows == 1 else 's'}"
            lines.append(f"File: {self.file} (encoding {self.encoding}, {rows})")
            described = ", ".join(
                f"{field} = {quote(header.strip())}"
                for field, header in self.columns.describe().items()
            )
            lines.append(f"Columns: {described}")
            ignored = [quote(name) for name in self._ignored_named()] + self._ignored_unnamed()
            if ignored:
                lines.append(f"Ignored columns: {', '.join(ignored)}")
            lines.extend(_section("Warnings", self.plan.warnings))
        lines.extend(_section("Bad rows", self.plan.bad))
        if not quiet and self.outcome is not None and self.outcome.changes:
            lines.append("Changes (dry run):" if self.dry_run else "Changes:")
            lines.extend(
                f"  {change['action']} {quote(change['sku'])}: {', '.join(change['fields'])}"
                for change in self.outcome.changes
            )
        lines.append(self.result_line())
        return "\n".join(lines) + "\n"

    def _ignored_named(self) -> list[str]:
        return [self.columns.headers[i].strip() for i in self.columns.ignored]

    def _ignored_unnamed(self) -> list[str]:
        return [f"column {i + 1} (no header)" for i in sorted(self.plan.unnamed_with_data)]

    def to_json(self) -> str:
        document: dict[str, Any] = {
            "file": self.file,
            "encoding": self.encoding,
            "rows": self.plan.rows,
            "columns": self.columns.describe(),
            "ignoredColumns": self._ignored_named() + self._ignored_unnamed(),
            "warnings": [_problem(p) for p in self.plan.warnings],
            "badRows": [_problem(p) for p in self.plan.bad],
            "dryRun": self.dry_run,
            "written": self.outcome is not None and not self.dry_run,
            "failure": self.failure,
            "created": self.outcome.created if self.outcome else 0,
            "updated": self.outcome.updated if self.outcome else 0,
            "unchanged": self.outcome.unchanged if self.outcome else 0,
            "changes": self.outcome.changes if self.outcome else [],
            "summary": self.result_line(),
        }
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _problem(problem: Problem) -> dict[str, Any]:
    return {"line": problem.line, "sku": problem.sku, "message": problem.message}


def _section(title: str, problems: list[Problem]) -> list[str]:
    if not problems:
        return []
    return [
        f"{title} ({len(problems)}):",
        *(f"  line {problem.line}: {problem.message}" for problem in problems),
    ]
