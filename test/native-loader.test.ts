// Loading the addon: every entry point says why it cannot (with the loader's
// hint), the musl prebuild is chosen on any musl system, and a runtime that
// lacks the libuv functions the core needs gets ENOTSUP before the addon runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TunError } from '../lib';
import { libcOf, prebuildForLibc, unsupportedRuntime } from '../lib/internal/native';
import { needTools, privilegedTest } from './helpers';
import { cross } from './package-helpers';

const lib = path.join(__dirname, '..', 'lib');
const prebuilds = path.join(__dirname, '..', '..', 'prebuilds', `linux-${process.arch}`);

interface Outcome {
  call: string;
  code?: string;
  errno?: number;
  syscall?: string;
  hint?: string;
  path?: string;
  ok?: boolean;
}

/**
 * Runs each entry point in a fresh Node (the addon loads once per process)
 * and reports how it failed. `preload`: code run first (--require).
 */
function entryPoints(env: Record<string, string>, preload?: string): Outcome[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tuntap-loader-'));
  try {
    const args: string[] = [];
    if (preload !== undefined) {
      writeFileSync(path.join(dir, 'preload.js'), preload);
      args.push('--require', path.join(dir, 'preload.js'));
    }
    const script = `
      const { TunDevice, Netlink } = require(${JSON.stringify(lib)});
      const calls = {
        'TunDevice.open': () => TunDevice.open({ name: 'loader0' }),
        'TunDevice.create': () => TunDevice.create({ name: 'loader0' }),
        'TunDevice.delete': () => TunDevice.delete('loader0'),
        'TunDevice.fromFd': () => TunDevice.fromFd(0),
        'Netlink.open': () => Netlink.open(),
        'Netlink.watch': () => Netlink.watch(),
      };
      (async () => {
        const out = [];
        for (const [call, f] of Object.entries(calls)) {
          try {
            const opened = await f();
            out.push({ call, ok: true });
            if (opened && typeof opened.close === 'function') await opened.close();
          } catch (e) {
            out.push({ call, code: e.code, errno: e.errno, syscall: e.syscall, hint: e.hint, path: e.path });
          }
        }
        console.log(JSON.stringify(out));
      })();`;
    const run = spawnSync(process.execPath, [...args, '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, ...env },
    });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    return JSON.parse(run.stdout.trim().split('\n').pop()!) as Outcome[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('without a loadable addon every entry point, Netlink included, gives the loader’s error and hint', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tuntap-loader-'));
  try {
    const notElf = path.join(dir, 'tuntap.node');
    writeFileSync(notElf, 'not an ELF file');
    for (const [file, code] of [
      [path.join(dir, 'missing.node'), 'ENOENT'],
      [notElf, 'ENOEXEC'],
    ] as const) {
      for (const outcome of entryPoints({ TUNTAP_NATIVE_PATH: file })) {
        const what = `${outcome.call} with ${file}`;
        assert.equal(outcome.code, code, what);
        assert.equal(outcome.syscall, 'dlopen', what);
        assert.equal(outcome.path, file, what);
        assert.match(outcome.hint ?? '', /npm rebuild tuntap-ts/, what);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the libc is read from the report header: glibc names its version, anything else is musl', () => {
  assert.equal(libcOf({ glibcVersionRuntime: '2.36' }), 'glibc');
  assert.equal(libcOf({}), 'musl');
  assert.equal(libcOf(undefined), 'musl');
  // This Node: glibc (Debian), as its report says.
  assert.equal(libcOf((process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header), 'glibc');
});

test('a prebuild for the other libc is swapped for the one for this libc, and a local build is left alone', () => {
  const glibc = path.join(prebuilds, 'tuntap-ts.glibc.node');
  const musl = path.join(prebuilds, 'tuntap-ts.musl.node');
  assert.ok(existsSync(glibc) && existsSync(musl), 'both prebuilds are in the package');
  assert.equal(
    prebuildForLibc(glibc, () => 'musl'),
    musl,
  );
  assert.equal(
    prebuildForLibc(musl, () => 'glibc'),
    glibc,
  );
  assert.equal(
    prebuildForLibc(glibc, () => 'glibc'),
    glibc,
  );
  const local = path.join(__dirname, '..', '..', 'build', 'Release', 'tuntap.node');
  assert.equal(
    prebuildForLibc(local, () => assert.fail('a local build needs no libc check')),
    local,
  );
  assert.throws(
    () => prebuildForLibc('/nowhere/tuntap-ts.glibc.node', () => 'musl'),
    (e: TunError) => e instanceof TunError && e.code === 'ENOENT' && /no prebuilt addon for musl/.test(e.hint ?? ''),
  );
});

test('on a musl system without /etc/alpine-release the musl prebuild is the one loaded', () => {
  // No Node built on musl runs here: the report's header is made to say
  // musl (no glibcVersionRuntime), and node-gyp-build, which looks only for
  // /etc/alpine-release, still picks the glibc prebuild. The loader must
  // move to the musl one (which then fails to load under glibc's Node).
  assert.ok(!existsSync('/etc/alpine-release'));
  const preload = `
    const getReport = process.report.getReport.bind(process.report);
    process.report.getReport = (...args) => {
      const report = getReport(...args);
      delete report.header.glibcVersionRuntime;
      return report;
    };`;
  const [open] = entryPoints({ PREBUILDS_ONLY: '1', TUNTAP_NATIVE_PATH: '' }, preload);
  assert.equal(open?.syscall, 'dlopen');
  assert.equal(open?.path, path.join(prebuilds, 'tuntap-ts.musl.node'));
  // And on this glibc system, the glibc one, which loads.
  const run = spawnSync(
    process.execPath,
    [
      '-e',
      `require(${JSON.stringify(path.join(lib, 'internal', 'native'))}).binding();
       console.log(Object.keys(require.cache).find((f) => f.endsWith('.node')));`,
    ],
    { encoding: 'utf8', timeout: 30_000, env: { ...process.env, PREBUILDS_ONLY: '1', TUNTAP_NATIVE_PATH: '' } },
  );
  assert.equal(run.stdout.trim(), path.join(prebuilds, 'tuntap-ts.glibc.node'), run.stderr);
});

test('Bun and Deno are refused by name before the addon is loaded; Node is not', () => {
  assert.match(unsupportedRuntime({ node: '22.6.0', bun: '1.4.5' }, {}) ?? '', /^Bun 1\.4\.5 .*uv_poll_init/);
  assert.match(unsupportedRuntime({ node: '22.6.0', deno: '2.9.6' }, {}) ?? '', /^Deno 2\.9\.6 .*uv_fs_close/);
  assert.match(unsupportedRuntime({ node: '22.6.0' }, { Deno: {} }) ?? '', /^Deno /);
  assert.equal(unsupportedRuntime(process.versions), undefined);
});

test('a runtime that looks like Deno gets ENOTSUP at every entry point, with a hint, and the process lives on', () => {
  for (const outcome of entryPoints({}, 'globalThis.Deno = {};')) {
    assert.equal(outcome.code, 'ENOTSUP', outcome.call);
    assert.equal(outcome.errno, -95, outcome.call);
    assert.equal(outcome.syscall, 'dlopen', outcome.call);
    assert.match(outcome.hint ?? '', /run tuntap-ts under Node\.js/, outcome.call);
  }
});

// The real runtimes: the variable's binary, else the one scripts/setup.js
// unpacked from npm in CI (or with --cross).
for (const [runtime, variable, installed, args] of [
  ['Bun', 'TUNTAP_TEST_BUN', cross.bunPath(), []],
  ['Deno', 'TUNTAP_TEST_DENO', cross.denoPath(), ['run', '-A']],
] as const) {
  const binary = process.env[variable] || installed;
  privilegedTest(`under ${runtime}, TunDevice.open rejects with ENOTSUP instead of ending the process`, (t) => {
    if (!needTools(t, [binary])) return;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tuntap-runtime-'));
    try {
      const script = path.join(dir, 'open.cjs');
      writeFileSync(
        script,
        `require(${JSON.stringify(lib)}).TunDevice.open({ name: 'rt0' }).then(
          async (dev) => { await dev.close(); console.log('opened'); },
          (e) => console.log(JSON.stringify({ code: e.code, syscall: e.syscall, hint: e.hint })),
        );`,
      );
      const run = spawnSync(binary, [...args, script], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
      const outcome = JSON.parse(run.stdout.trim().split('\n').pop()!) as Outcome;
      assert.equal(outcome.code, 'ENOTSUP');
      assert.equal(outcome.syscall, 'dlopen');
      assert.match(outcome.hint ?? '', new RegExp(`^${runtime} `));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
