// scripts/setup.js and scripts/build-native.js as a fresh machine and a
// second run see them: each build tool is looked for by itself, and an
// up-to-date addon is not compiled again.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { run } from './helpers';
import { cross, repoRoot } from './package-helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { TOOLS } = require(path.join(repoRoot, 'scripts', 'test-tools.js')) as { TOOLS: Record<string, string> };

/** A PATH folder holding the named tools (as links to the real ones) and nothing else. */
function pathWith(tools: Record<string, string>): string {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'tuntap-path-'));
  for (const [name, target] of Object.entries(tools)) symlinkSync(target, path.join(bin, name));
  return bin;
}

function which(tool: string): string {
  return execFileSync('/bin/sh', ['-c', `command -v '${tool}' || true`], { encoding: 'utf8' }).trim();
}

test('setup on a machine with cc but no g++ reports g++ missing, and nothing it has', async () => {
  // Debian's gcc alone: `cc` exists, g++ does not. The old check looked for `cc` and passed.
  // Every tool setup looks for, but the compiler under test and the C headers.
  const others = Object.keys(TOOLS).filter((t) => t !== 'g++' && !t.startsWith('/'));
  const tools: Record<string, string> = { cc: which('gcc'), gcc: which('gcc') };
  for (const t of others) if (which(t) !== '') tools[t] = which(t);
  const bin = pathWith(tools);
  const absentHere = others.filter((t) => tools[t] === undefined);
  try {
    const env = { ...process.env, PATH: bin, CI: '' };
    const r = await run(process.execPath, [path.join(repoRoot, 'scripts', 'setup.js'), '--check'], { env });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const missing = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.replace(/^missing: /, ''));
    assert.ok(missing.includes('g++'), r.stdout);
    assert.deepEqual(
      missing.filter((pkg) => pkg !== 'g++'),
      [...new Set(absentHere.map((t) => TOOLS[t]))],
    );
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test('setup on a machine with every tool reports nothing missing', async () => {
  const r = await run(process.execPath, [path.join(repoRoot, 'scripts', 'setup.js'), '--check'], {
    env: { ...process.env, CI: '' },
  });
  assert.equal(r.stdout, '');
  assert.equal(r.code, 0);
});

test('setup --cross --check reports each npm binary not unpacked in the cache', async () => {
  const cache = mkdtempSync(path.join(os.tmpdir(), 'tuntap-cache-'));
  try {
    const r = await run(process.execPath, [path.join(repoRoot, 'scripts', 'setup.js'), '--check', '--cross'], {
      env: { ...process.env, CI: '', XDG_CACHE_HOME: cache },
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    for (const pkg of cross.NPM_BINARIES) assert.ok(r.stdout.includes(`missing: npm ${pkg.name}@${pkg.version}\n`), r.stdout);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('build:native leaves an addon built from the current sources alone, silently', async (t) => {
  const addon = path.join(repoRoot, 'build', 'Release', 'tuntap.node');
  if (!existsSync(addon)) {
    t.skip('no build/Release/tuntap.node (npm run build makes it)');
    return;
  }
  // The first run may compile (sources changed since the last build); the second must not.
  const first = await run(process.execPath, [path.join(repoRoot, 'scripts', 'build-native.js')], { cwd: repoRoot });
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const before = statSync(addon).mtimeMs;
  const second = await run(process.execPath, [path.join(repoRoot, 'scripts', 'build-native.js')], { cwd: repoRoot });
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout + second.stderr, '', 'no output (no gyp log)');
  assert.equal(statSync(addon).mtimeMs, before, 'not rebuilt');
});
