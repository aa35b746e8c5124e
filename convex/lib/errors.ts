import { ConvexError } from "convex/values";
import type { ErrorCode } from "./constants";

/** Data carried by every validation error: machine code + human message. */
export type ErrorData = { code: ErrorCode; message: string } & Record<string, string | number | boolean | null>;

/**
 * Throw a validation error. Convex rolls back the whole mutation on a throw,
 * so a rule checked anywhere before the last write leaves nothing behind.
 */
export function fail(
  code: ErrorCode,
  message: string,
  details: Record<string, string | number | boolean | null> = {},
): never {
  throw new ConvexError({ ...details, code, message } as ErrorData);
}
