"""Sending the plan to `parts:upsertBatch` in batches, with a terminal progress bar.

A batch holds at most 500 parts (the mutation's own limit) and about 1 MB of
JSON. Worst case a part is ~2,500 characters, which JSON escaping can make
~15 KB, so 500 of them could near Convex's 8 MiB argument limit; the byte
budget keeps every call far inside that and the 16 MiB write limit. Parts go
in SKU order, so the same file always produces the same batches.

Every batch is its own transaction. A failure part-way leaves the earlier
batches written; that is safe because the upsert is idempotent: run again.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from qbwc_bridge.convex_gateway import ConvexCallError, ConvexUnavailable
from qbwc_bridge.importer.rows import Payload

UPSERT = "parts:upsertBatch"
MAX_BATCH_PARTS = 500
MAX_BATCH_BYTES = 1_000_000


class Gateway(Protocol):
    """What the importer needs from `ConvexGateway` (deploy-key auth)."""

    def mutation(self, path: str, args: dict[str, Any]) -> Any: ...


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)
    """[{"sku", "action": "create" | "update", "fields": [...]}], sorted by SKU."""


class UploadFailed(Exception):
    """A batch was refused or Convex was unreachable; `outcome` holds the batches before it."""

    def __init__(self, batch: int, batches: int, outcome: Outcome, cause: Exception):
        reason = cause.message if isinstance(cause, ConvexCallError) else str(cause)
        super().__init__(f"batch {batch} of {batches} failed: {reason}")
        self.outcome = outcome


def make_batches(
    parts: Sequence[Payload], max_parts: int = MAX_BATCH_PARTS, max_bytes: int = MAX_BATCH_BYTES
) -> list[list[Payload]]:
    batches: list[list[Payload]] = []
    current: list[Payload] = []
    size = 0
    for part in parts:
        part_size = len(json.dumps(part).encode())
        if current and (len(current) >= max_parts or size + part_size > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(part)
        size += part_size
    if current:
        batches.append(current)
    return batches


class Progress:
    """A one-line bar on stderr, only when stderr is a terminal (logs and pipes stay clean)."""

    WIDTH = 30

    def __init__(self, total: int, label: str, stream: TextIO | None = None, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0 and self.stream.isatty()
        self.total = total
        self.label = label
        self.done = 0

    def advance(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        filled = self.WIDTH * self.done // self.total
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
            f"{self.done}/{self.total} ({100 * self.done // self.total}%)"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def upload(
    gateway: Gateway,
    parts: Sequence[Payload],
    *,
    dry_run: bool,
    batch_size: int = MAX_BATCH_PARTS,
    progress: Progress | None = None,
) -> Outcome:
    outcome = Outcome()
    batches = make_batches(parts, max_parts=batch_size)
    try:
        for number, batch in enumerate(batches, start=1):
            args: dict[str, Any] = {"parts": batch}
            if dry_run:
                args["dryRun"] = True
            try:
                result = gateway.mutation(UPSERT, args)
            except (ConvexCallError, ConvexUnavailable) as error:
                raise UploadFailed(number, len(batches), outcome, error) from error
            outcome.created += int(result["created"])
            outcome.updated += int(result["updated"])
            outcome.unchanged += int(result["unchanged"])
            outcome.changes.extend(result["changes"])
            if progress is not None:
                progress.advance(len(batch))
    finally:
        outcome.changes.sort(key=lambda change: change["sku"])
        if progress is not None:
            progress.close()
    return outcome
