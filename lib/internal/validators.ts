// Argument checks shared across the public API. Each throws Node's own codes
// (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE) before any
// syscall, and returns the value checked.
import { invalidType, invalidValue, outOfRange } from './errors';

/**
 * An options bag or a record, the one rule for all of them (Node's
 * validateObject): null, arrays, functions and primitives are refused, so
 * `open([])` fails as `addRoute(cidr, [])` does instead of meaning `{}`.
 */
export function validateObject(value: unknown, name: string, expected = 'an object'): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidType(name, expected, value);
  return value as Record<string, unknown>;
}

/** An array (the elements are the caller's to check). */
export function validateArray(value: unknown, name: string): readonly unknown[] {
  if (!Array.isArray(value)) throw invalidType(name, 'an array', value);
  return value;
}

/** A number in [min, max]: a TypeError for '3', a RangeError for NaN or outside (as Node's validateNumber). */
export function validateNumber(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidType(name, 'a number', value);
  if (!(value >= min && value <= max)) throw outOfRange(name, `>= ${min} and <= ${max}`, value);
  return value;
}

/** One of a few allowed values (Node's validateOneOf). */
export function validateOneOf<T>(value: unknown, name: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw invalidValue(
      name,
      value,
      `must be one of: ${allowed.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ')}`,
    );
  }
  return value as T;
}

/** A boolean; with a `fallback`, undefined stands for it (null does not). */
export function validateBoolean(value: unknown, name: string, fallback?: boolean): boolean {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidType(name, 'a boolean', value);
  return value;
}

/** An integer in [min, max]: a TypeError for NaN, 1.5 or '3', a RangeError outside. */
export function validateInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidType(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} and <= ${max}`, value);
  return value;
}

/**
 * A file path handed to a syscall. The kernel reads a C string, so a NUL byte
 * would cut the path short ('/dev/net/tun\0/x' opens /dev/net/tun); Node's
 * fs refuses such paths with ERR_INVALID_ARG_VALUE, and so do we.
 */
export function validatePath(value: unknown, name: string, what: string): string {
  if (typeof value !== 'string') throw invalidType(name, what, value);
  if (value.includes('\0')) throw invalidValue(name, value, 'must be a string without null bytes');
  return value;
}

/** Bytes: a Buffer or another Uint8Array (not a string, which has no one byte form). */
export function validateBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalidType(name, 'a Buffer or Uint8Array', value);
  return value;
}

/** An AbortSignal (options.signal). */
export function validateAbortSignal(signal: unknown, name: string): asserts signal is AbortSignal {
  if (!(signal instanceof AbortSignal)) throw invalidType(name, 'an AbortSignal', signal);
}

/** Interface names are at most IFNAMSIZ - 1 bytes (the kernel ABI's 16, NUL included). */
const IFNAMSIZ = 16;

/**
 * A device name as the kernel's dev_valid_name() checks it, with clearer words.
 *
 * ```ts
 * validateName('tun0'); // 'tun0'
 * validateName('a name with spaces'); // throws ERR_INVALID_ARG_VALUE
 * ```
 */
export function validateName(name: unknown, argument = 'name'): string {
  if (typeof name !== 'string') throw invalidType(argument, 'a string', name);
  if (name === '') return name;
  const bytes = Buffer.byteLength(name);
  if (bytes > IFNAMSIZ - 1) {
    throw invalidValue(argument, name, `must be at most ${IFNAMSIZ - 1} bytes long (it is ${bytes})`);
  }
  if (name === '.' || name === '..') throw invalidValue(argument, name, "must not be '.' or '..'");
  if (/[/:\s\0]/u.test(name)) throw invalidValue(argument, name, "must not contain '/', ':', NUL or whitespace");
  // The kernel's isspace() also counts byte 0xA0, which UTF-8 uses inside
  // characters such as 'à' (C3 A0): dev_valid_name() would refuse the name.
  if (Buffer.from(name).includes(0xa0)) {
    throw invalidValue(
      argument,
      name,
      'must not contain byte 0xA0 (the kernel counts it as whitespace; it is part of some UTF-8 characters)',
    );
  }
  return name;
}
