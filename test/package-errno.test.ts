// lib/internal/errno.ts names and describes Linux errnos without the addon (so errors
// can be made where it is missing, or on another platform); checked here
// against glibc's strerror (through the addon) and Node's own errno names.
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { linuxErrnoMessage, linuxErrnoName } from '../lib/internal/errno';
import { native } from '../lib/internal/native';

test("every Linux errno's message in JavaScript is glibc's strerror word for word", () => {
  for (let errno = 1; errno <= 133; errno += 1) assert.equal(linuxErrnoMessage(errno), native.strerror(errno), `errno ${errno}`);
});

test('every errno Node names on Linux has that name in JavaScript (EAGAIN, not EWOULDBLOCK, for an alias)', () => {
  const first = new Map<number, string>();
  for (const [name, value] of Object.entries(os.constants.errno)) if (!first.has(value)) first.set(value, name);
  for (const [value, name] of first) assert.equal(linuxErrnoName(value), name, `errno ${value}`);
  assert.equal(linuxErrnoName(200), 'E200');
});

test('each errno the library names as a constant has the number Linux gives that name', async () => {
  const errno = await import('../lib/internal/errno');
  const named = Object.entries(errno).filter(([name]) => /^E[A-Z0-9]+$/.test(name));
  assert.ok(named.length >= 10, `found ${named.length} constants`);
  for (const [name, value] of named) {
    // EOPNOTSUPP is ENOTSUP's other name on Linux; the table has the latter.
    assert.equal(linuxErrnoName(value as number), name === 'EOPNOTSUPP' ? 'ENOTSUP' : name, name);
  }
});
