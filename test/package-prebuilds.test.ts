// The prebuilt binaries the package ships, checked as binaries: built from
// the current sources, needing no newer glibc than 2.28 and no C++ runtime
// from the system, loadable under musl's own dynamic linker, and the arm64
// one opening a real TUN device under qemu-user with an arm64 Node.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { needTools, privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';
import { cross, packetMoverScript, repoRoot } from './package-helpers';

// Plain CommonJS shared with the scripts (setup, prebuild), loaded from the repository.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sourceHash, HASH_FILE } = require(path.join(repoRoot, 'scripts', 'source-hash.js')) as {
  sourceHash(root: string): string;
  HASH_FILE: string;
};

const PREBUILDS = [
  'linux-x64/tuntap-ts.glibc.node',
  'linux-arm64/tuntap-ts.glibc.node',
  'linux-x64/tuntap-ts.musl.node',
  'linux-arm64/tuntap-ts.musl.node',
].map((f) => path.join(repoRoot, 'prebuilds', f));
const GLIBC_FLOOR = '2.28';

function dynamicSymbols(file: string): { name: string; defined: boolean; bind: string }[] {
  return execFileSync('readelf', ['--dyn-syms', '--wide', file], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && /^\d+:$/.test(f[0] as string))
    .map((f) => ({ name: (f[7] as string).replace(/@.*/, ''), defined: f[6] !== 'UND', bind: f[4] as string }));
}

test('the committed prebuilds were built from the current src/ and binding.gyp (npm run prebuild:all after changing them)', () => {
  for (const file of PREBUILDS) assert.ok(existsSync(file), `${path.relative(repoRoot, file)} exists`);
  const stored = readFileSync(path.join(repoRoot, HASH_FILE), 'utf8').trim();
  assert.equal(stored, sourceHash(repoRoot), `${HASH_FILE} is stale: run npm run prebuild:all and commit prebuilds/`);
});

test(`the glibc prebuilds need no glibc symbol version newer than GLIBC_${GLIBC_FLOOR}`, (t) => {
  if (!needTools(t, ['objdump'])) return;
  for (const file of PREBUILDS.filter((f) => f.endsWith('.glibc.node'))) {
    const versions = [...execFileSync('objdump', ['-T', file], { encoding: 'utf8' }).matchAll(/GLIBC_(\d+)\.(\d+)/g)].map(
      (m) => [Number(m[1]), Number(m[2])] as const,
    );
    assert.ok(versions.length > 0, `${file} names glibc versions`);
    const [major, minor] = versions.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a));
    assert.ok(major === 2 && minor <= 28, `${path.relative(repoRoot, file)} needs GLIBC_${major}.${minor}`);
  }
});

test('the prebuilds need only the C library (their C++ runtime is inside) and export only Node-API entry points', (t) => {
  if (!needTools(t, ['readelf'])) return;
  for (const file of PREBUILDS) {
    const needed = [
      ...execFileSync('readelf', ['-d', file], { encoding: 'utf8' }).matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g),
    ].map((m) => m[1]);
    const allowed = file.endsWith('.musl.node') ? ['libc.so'] : ['libc.so.6', 'libm.so.6', 'libpthread.so.0', 'libdl.so.2'];
    assert.deepEqual(
      needed.filter((lib) => !allowed.includes(lib as string)),
      [],
      `${path.relative(repoRoot, file)} needs only libc`,
    );
    const exported = dynamicSymbols(file)
      .filter((s) => s.defined && s.bind !== 'LOCAL' && s.name !== '')
      .map((s) => s.name)
      .sort();
    // Exported, a static libc++'s __cxa_throw would be bound to the libstdc++ node loads (src/exports.map).
    assert.deepEqual(exported, ['napi_register_module_v1', 'node_api_module_get_api_version_v1'], path.relative(repoRoot, file));
  }
});

test("the x64 musl prebuild loads under musl's dynamic linker (Node-API stubbed), and the glibc one does not", async (t) => {
  // No Node-API runtime built on musl is reachable here (no musl Node on npm's
  // registry that runs on Debian), so: a musl program dlopens the binary with
  // Node-API's functions defined as stubs, which proves every libc symbol and
  // relocation resolves against real musl. The arm64 musl binary links the
  // same sources against the same musl version, but has no arm64 musl here.
  if (!needTools(t, ['musl-gcc', 'readelf'])) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tuntap-musl-'));
  try {
    const musl = PREBUILDS[2] as string;
    const napi = dynamicSymbols(musl)
      .filter((s) => !s.defined && /^(napi_|node_api_|uv_)/.test(s.name))
      .map((s) => s.name);
    assert.ok(napi.length > 10, 'the binary imports Node-API');
    writeFileSync(path.join(dir, 'stubs.c'), [...new Set(napi)].map((name) => `void ${name}(void) {}\n`).join(''));
    writeFileSync(
      path.join(dir, 'load.c'),
      '#include <dlfcn.h>\n#include <stdio.h>\nint main(int argc, char **argv) {\n' +
        '  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);\n  if (!h) { printf("%s\\n", dlerror()); return 1; }\n' +
        '  printf(dlsym(h, "napi_register_module_v1") ? "loaded\\n" : "no entry point\\n");\n  return 0;\n}\n',
    );
    const loader = path.join(dir, 'load');
    execFileSync('musl-gcc', ['-rdynamic', '-o', loader, path.join(dir, 'load.c'), path.join(dir, 'stubs.c')]);
    assert.equal((await run(loader, [musl])).stdout.trim(), 'loaded');
    const glibc = await run(loader, [PREBUILDS[0] as string]);
    assert.match(glibc.stdout, /symbol not found/, 'musl refuses the glibc build, so the check can tell them apart');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Under qemu-user 7.2 TUNATTACHFILTER is not translated (it carries a pointer
// to a struct sock_fprog): it fails with ENOSYS there, so filters are not tried.
const arm64Ioctls = `
const { TunDevice } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'lib', 'index.js'))});
(async () => {
  const [name] = process.argv.slice(2);
  const dev = await TunDevice.open({ name, multiQueue: true });
  const out = { flags: await dev.getFlags(), sendBufferSize: await dev.getSendBufferSize() };
  await dev.setSendBufferSize(1 << 20);
  out.sendBufferSizeAfter = await dev.getSendBufferSize();
  await dev.setPersist(true);
  out.persist = (await dev.getFlags()).persist;
  await dev.setPersist(false);
  await dev.detachQueue();
  out.detached = (await dev.getFlags()).detached;
  await dev.attachQueue();
  await dev.close();
  const off = await TunDevice.open({ name: name + 'o', offload: { tso: true } });
  out.offload = off.offload;
  await off.close();
  console.log(JSON.stringify(out));
})().catch((error) => { console.error(error); process.exit(1); });
`;

async function runArm64(t: TestContext, script: string, args: string[]): Promise<string | undefined> {
  if (!needTools(t, ['qemu-aarch64', cross.arm64NodePath(), path.join(cross.ARM64_SYSROOT, 'lib', 'libstdc++.so.6')]))
    return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tuntap-arm64-'));
  try {
    writeFileSync(path.join(dir, 'script.cjs'), script);
    // PREBUILDS_ONLY: node-gyp-build skips build/Release, which holds this machine's x64 build.
    const r = await run(
      'qemu-aarch64',
      ['-L', cross.ARM64_SYSROOT, cross.arm64NodePath(), path.join(dir, 'script.cjs'), ...args],
      {
        env: { ...process.env, PREBUILDS_ONLY: '1' },
      },
    );
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

privilegedTest(
  'the arm64 glibc prebuild, in an arm64 Node under qemu-user, opens a TUN device and moves a packet each way',
  async (t) => {
    const net = uniqueSubnet();
    const stdout = await runArm64(t, packetMoverScript(path.join(repoRoot, 'dist', 'lib', 'index.js'), 'cjs'), [
      uniqueName('qa'),
      net.prefix,
    ]);
    if (stdout === undefined) return;
    const seen = JSON.parse(stdout) as { read: string; reply: string; binary: string };
    assert.deepEqual(seen, {
      read: 'ping',
      reply: 'pong',
      binary: path.join(repoRoot, 'prebuilds', 'linux-arm64', 'tuntap-ts.glibc.node'),
    });
  },
  { timeout: 120_000 },
);

privilegedTest(
  'the arm64 prebuild under qemu-user gets TUNGETIFF, TUN{GET,SET}SNDBUF, TUNSETPERSIST, TUNSETQUEUE and TUNSETOFFLOAD through to the kernel',
  async (t) => {
    const stdout = await runArm64(t, arm64Ioctls, [uniqueName('qi')]);
    if (stdout === undefined) return;
    const out = JSON.parse(stdout) as {
      flags: { tun: boolean; multiQueue: boolean };
      sendBufferSize: number;
      sendBufferSizeAfter: number;
      persist: boolean;
      detached: boolean;
      offload: { tso: boolean } | null;
    };
    assert.equal(out.flags.tun, true);
    assert.equal(out.flags.multiQueue, true);
    assert.equal(out.sendBufferSize, 0x7fffffff, "the kernel's default sndbuf (INT_MAX)");
    assert.equal(out.sendBufferSizeAfter, 1 << 20);
    assert.equal(out.persist, true);
    assert.equal(out.detached, true);
    assert.equal(out.offload?.tso, true);
  },
  { timeout: 120_000 },
);
