/* eslint-disable */
/**
 * Generated `api` utility.
 *
 * THIS CODE IS AUTOMATICALLY GENERATED.
 *
 * To regenerate, run `npx convex dev`.
 * @module
 */

import type {
  ApiFromModules,
  FilterApi,
  FunctionReference,
} from "convex/server";
import type * as admins from "../admins.js";
import type * as functions from "../functions.js";
import type * as inventory from "../inventory.js";
import type * as lib_adminTables from "../lib/adminTables.js";
import type * as lib_auth from "../lib/auth.js";
import type * as lib_company from "../lib/company.js";
import type * as lib_constants from "../lib/constants.js";
import type * as lib_contract from "../lib/contract.js";
import type * as lib_counters from "../lib/counters.js";
import type * as lib_errors from "../lib/errors.js";
import type * as lib_ledger from "../lib/ledger.js";
import type * as lib_lookup from "../lib/lookup.js";
import type * as lib_mapping from "../lib/mapping.js";
import type * as lib_mappingLog from "../lib/mappingLog.js";
import type * as lib_names from "../lib/names.js";
import type * as lib_qbTables from "../lib/qbTables.js";
import type * as lib_queue from "../lib/queue.js";
import type * as lib_reconcile from "../lib/reconcile.js";
import type * as lib_roles from "../lib/roles.js";
import type * as lib_sessions from "../lib/sessions.js";
import type * as lib_snapshot from "../lib/snapshot.js";
import type * as lib_stats from "../lib/stats.js";
import type * as lib_sync from "../lib/sync.js";
import type * as lib_validate from "../lib/validate.js";
import type * as lib_views from "../lib/views.js";
import type * as mappingLog from "../mappingLog.js";
import type * as ops from "../ops.js";
import type * as parts from "../parts.js";
import type * as qbMapping from "../qbMapping.js";
import type * as qbQueue from "../qbQueue.js";
import type * as qbRecon from "../qbRecon.js";
import type * as qbSessions from "../qbSessions.js";

/**
 * A utility for referencing Convex functions in your app's API.
 *
 * Usage:
 * ```js
 * const myFunctionReference = api.myModule.myFunction;
 * ```
 */
declare const fullApi: ApiFromModules<{
  admins: typeof admins;
  functions: typeof functions;
  inventory: typeof inventory;
  "lib/adminTables": typeof lib_adminTables;
  "lib/auth": typeof lib_auth;
  "lib/company": typeof lib_company;
  "lib/constants": typeof lib_constants;
  "lib/contract": typeof lib_contract;
  "lib/counters": typeof lib_counters;
  "lib/errors": typeof lib_errors;
  "lib/ledger": typeof lib_ledger;
  "lib/lookup": typeof lib_lookup;
  "lib/mapping": typeof lib_mapping;
  "lib/mappingLog": typeof lib_mappingLog;
  "lib/names": typeof lib_names;
  "lib/qbTables": typeof lib_qbTables;
  "lib/queue": typeof lib_queue;
  "lib/reconcile": typeof lib_reconcile;
  "lib/roles": typeof lib_roles;
  "lib/sessions": typeof lib_sessions;
  "lib/snapshot": typeof lib_snapshot;
  "lib/stats": typeof lib_stats;
  "lib/sync": typeof lib_sync;
  "lib/validate": typeof lib_validate;
  "lib/views": typeof lib_views;
  mappingLog: typeof mappingLog;
  ops: typeof ops;
  parts: typeof parts;
  qbMapping: typeof qbMapping;
  qbQueue: typeof qbQueue;
  qbRecon: typeof qbRecon;
  qbSessions: typeof qbSessions;
}>;
export declare const api: FilterApi<
  typeof fullApi,
  FunctionReference<any, "public">
>;
export declare const internal: FilterApi<
  typeof fullApi,
  FunctionReference<any, "internal">
>;
