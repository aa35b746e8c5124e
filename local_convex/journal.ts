/**
 * Persistence for --data FILE: an append-only journal of mutation calls,
 * replayed at start-up at the times they first ran. convex-test gives
 * documents ids from a counter that rolled-back mutations also advance, so
 * failed calls are journaled too; replaying every call in order rebuilds the
 * same documents with the same ids, through public APIs only. Each line is
 * flushed with fsync before the caller gets its answer, and a torn last line
 * (a crash mid-write) is ignored: its mutation was never acknowledged.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { JSONValue } from "convex/values";

export type JournalEntry = {
  at: number;
  kind: "query" | "mutation" | "action";
  path: string;
  args: JSONValue;
  identity: { subject: string; name: string; tokenIdentifier: string } | null;
};

export class Journal {
  constructor(private readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
  }

  read(): JournalEntry[] {
    if (!existsSync(this.file)) return [];
    const lines = readFileSync(this.file, "utf8").split("\n").filter((line) => line !== "");
    const entries: JournalEntry[] = [];
    for (const [index, line] of lines.entries()) {
      try {
        entries.push(JSON.parse(line) as JournalEntry);
      } catch (error) {
        if (index === lines.length - 1) break;
        throw new Error(`${this.file}: line ${index + 1} is corrupt (${String(error)})`);
      }
    }
    return entries;
  }

  append(entry: JournalEntry): void {
    const fd = openSync(this.file, "a");
    try {
      writeSync(fd, JSON.stringify(entry) + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
