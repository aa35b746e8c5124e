/**
 * Who may do what (issue 10, items 8 and 9): admins configure locations,
 * reason codes and mappings and may void anyone's event; employees record
 * events and void their own; nobody learns queue figures without an identity.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { api, internal } from "../../convex/_generated/api";
import { MAX_ADMIN_LIST } from "../../convex/lib/constants";
import { mayVoid } from "../../convex/lib/roles";
import {
  ADMIN,
  EMPLOYEE,
  type T,
  asAdmin,
  asEmployee,
  dumpAll,
  expectCode,
  expectRejectedWithoutWrites,
  getEvent,
  grantAdmin,
  newTest,
  seedWorld,
  stock,
} from "./setup";

const NOW = new Date("2025-03-03T09:00:00Z").getTime();
const OTHER = { subject: "emp-2", name: "Employee Two" };

let t: T;

beforeEach(async () => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
  t = newTest();
  await seedWorld(t);
});

afterEach(() => {
  vi.useRealTimers();
});

describe("mayVoid (the rule)", () => {
  test.each([
    ["the creator", "emp-1", false, true],
    ["an admin who did not create it", "adm-1", true, true],
    ["the creator who is also admin", "emp-1", true, true],
    ["another employee", "emp-2", false, false],
  ])("%s", (_name, subject, admin, allowed) => {
    expect(mayVoid(subject, admin, { createdBy: "emp-1" })).toBe(allowed);
  });
});

describe("admin-only configuration", () => {
  test.each<[string, (t: T) => Promise<unknown>]>([
    ["upsertLocation (new)", (t) => asEmployee(t).mutation(api.inventory.upsertLocation, { code: "NEW" })],
    ["upsertLocation (remap a site)", (t) => asEmployee(t).mutation(api.inventory.upsertLocation, { code: "MAIN", qbSiteFullName: "Elsewhere" })],
    ["upsertLocation (deactivate)", (t) => asEmployee(t).mutation(api.inventory.upsertLocation, { code: "BIN-B", active: false })],
    ["upsertReasonAccount (new)", (t) => asEmployee(t).mutation(api.inventory.upsertReasonAccount, { reasonCode: "NEW", qbAccountFullName: "A" })],
    [
      "upsertReasonAccount (remap an account)",
      (t) => asEmployee(t).mutation(api.inventory.upsertReasonAccount, { reasonCode: "COUNT", qbAccountFullName: "Owner's Equity" }),
    ],
  ])("an employee who is not admin: %s is FORBIDDEN and writes nothing", async (_name, call) => {
    const data = await expectCode(call(t), "FORBIDDEN");
    expect((data as Record<string, unknown>).subject).toBe(EMPLOYEE.subject);
    await expectRejectedWithoutWrites(t, "FORBIDDEN", () => call(t));
  });

  test("remapping a reason is refused, so a pending adjustment still posts to the account it was made for", async () => {
    // The attack: remap COUNT to "Owner's Equity" while an adjustment waits.
    await stock(t, "WID-1", "MAIN", 5);
    await expectCode(
      asEmployee(t).mutation(api.inventory.upsertReasonAccount, { reasonCode: "COUNT", qbAccountListId: "EQUITY-1", qbAccountFullName: "Owner's Equity" }),
      "FORBIDDEN",
    );
    const next = await t.query(internal.qbQueue.getNextPendingQbEvent, {});
    expect(next?.account).toEqual({ listId: "90000001-1", fullName: "Inventory Adjustments" });
  });

  test("granting admin lets the identity configure; revoking takes it away again", async () => {
    const call = () => asEmployee(t).mutation(api.inventory.upsertLocation, { code: "DOCK", qbSiteFullName: "Dock" });
    await expectCode(call(), "FORBIDDEN");
    expect(await grantAdmin(t, EMPLOYEE.subject)).toEqual({ subject: EMPLOYEE.subject, result: "granted" });
    expect((await call()).result).toBe("created");
    expect(await t.mutation(internal.admins.revoke, { subject: EMPLOYEE.subject })).toEqual({ subject: EMPLOYEE.subject, result: "revoked" });
    await expectRejectedWithoutWrites(t, "FORBIDDEN", () =>
      asEmployee(t).mutation(api.inventory.upsertLocation, { code: "DOCK", qbSiteFullName: "Moved" }),
    );
    // Still an employee: records stock movements as before.
    expect((await stock(t, "WID-1", "MAIN", 1)).qbStatus).toBe("pending");
  });

  test("without identity the admin-only functions are UNAUTHENTICATED (not FORBIDDEN)", async () => {
    await expectRejectedWithoutWrites(t, "UNAUTHENTICATED", () => t.mutation(api.inventory.upsertLocation, { code: "NEW" }));
  });
});

describe("admins:grant / revoke / list (deploy key)", () => {
  test("grant is idempotent and keeps the first grant; revoke of a non-admin is 'absent'", async () => {
    vi.setSystemTime(NOW + 1000);
    expect(await t.mutation(internal.admins.grant, { subject: "  ops-jane  ", note: "first admin" })).toEqual({
      subject: "ops-jane",
      result: "granted",
    });
    vi.setSystemTime(NOW + 2000);
    const before = await dumpAll(t);
    expect(await t.mutation(internal.admins.grant, { subject: "ops-jane", note: "again" })).toEqual({ subject: "ops-jane", result: "unchanged" });
    expect(await dumpAll(t)).toEqual(before);

    const { admins, more } = await t.query(internal.admins.list, {});
    expect(more).toBe(false);
    expect(admins).toEqual([
      { subject: ADMIN.subject, grantedAt: NOW, grantedBy: "deploy-key", note: null },
      { subject: "ops-jane", grantedAt: NOW + 1000, grantedBy: "deploy-key", note: "first admin" },
    ]);

    expect(await t.mutation(internal.admins.revoke, { subject: "nobody" })).toEqual({ subject: "nobody", result: "absent" });
    expect(await dumpAll(t)).toEqual(before);
  });

  test("list is bounded and says when there are more", async () => {
    for (const n of [1, 2, 3]) await grantAdmin(t, `ops-${n}`);
    const page = await t.query(internal.admins.list, { limit: 2 });
    expect(page.admins.map((a) => a.subject)).toEqual(["adm-1", "ops-1"]);
    expect(page.more).toBe(true);
    const huge = await t.query(internal.admins.list, { limit: 1e9 });
    expect(huge.admins.length).toBeLessThanOrEqual(MAX_ADMIN_LIST);
    expect(huge.more).toBe(false);
  });

  test.each([
    ["empty", "   "],
    ["a control character", "ops\u0000jane"],
    ["too long", "x".repeat(201)],
  ])("a subject that is %s is INVALID_ARGUMENT with no writes", async (_name, subject) => {
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => t.mutation(internal.admins.grant, { subject }));
    await expectRejectedWithoutWrites(t, "INVALID_ARGUMENT", () => t.mutation(internal.admins.revoke, { subject }));
  });
});

describe("voidEvent by role", () => {
  const voidAs = (who: typeof EMPLOYEE, eventId: Parameters<typeof getEvent>[1]) =>
    t.withIdentity(who).mutation(api.inventory.voidEvent, { eventId, reason: "not mine" });

  test("another employee cannot void my event: FORBIDDEN, nothing written", async () => {
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    await expectRejectedWithoutWrites(t, "FORBIDDEN", () => voidAs(OTHER, eventId));
    expect((await getEvent(t, eventId)).status).toBe("posted");
  });

  test("FORBIDDEN comes before the event's state is revealed (already voided)", async () => {
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    await voidAs(EMPLOYEE, eventId);
    await expectRejectedWithoutWrites(t, "FORBIDDEN", () => voidAs(OTHER, eventId));
  });

  test("the creator voids their own pending event", async () => {
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    expect((await voidAs(EMPLOYEE, eventId)).status).toBe("voided");
    expect(await getEvent(t, eventId)).toMatchObject({ voidedBy: EMPLOYEE.subject, qbStatus: "cancelled" });
  });

  test("an admin voids someone else's event, and the event records the admin", async () => {
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    expect((await asAdmin(t).mutation(api.inventory.voidEvent, { eventId, reason: "duplicate" })).status).toBe("voided");
    expect(await getEvent(t, eventId)).toMatchObject({ createdBy: EMPLOYEE.subject, voidedBy: ADMIN.subject });
  });

  test("an admin is still bound by the QuickBooks rules (ALREADY_VOIDED etc.)", async () => {
    const { eventId } = await stock(t, "WID-1", "MAIN", 5);
    await voidAs(EMPLOYEE, eventId);
    await expectRejectedWithoutWrites(t, "ALREADY_VOIDED", () => asAdmin(t).mutation(api.inventory.voidEvent, { eventId, reason: "x" }));
  });
});

describe("functions:health (no counts without identity)", () => {
  test("without identity: only the server time, no queue figures", async () => {
    await stock(t, "WID-1", "MAIN", 5);
    expect(await t.query(api.functions.health, {})).toEqual({ serverTime: NOW });
  });

  test("signed in: the counts as before", async () => {
    await stock(t, "WID-1", "MAIN", 5);
    const health = await asEmployee(t).query(api.functions.health, {});
    expect(health.serverTime).toBe(NOW);
    expect(health.eventsCreated).toBe(1);
    expect(health.qbStatusCounts?.pending).toBe(1);
  });
});
