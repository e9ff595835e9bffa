// The package as `npm publish` would ship it: packed, installed into an empty
// project with --ignore-scripts and no compiler on PATH, then used from
// require() and import. Also what a user sees with no binary, a corrupt one,
// or on another platform.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';
import { packetMoverScript, useInstalledPackage } from './package-helpers';

const pkg = useInstalledPackage({ before, after });

/** A copy of the installed project whose package has `change` applied (binaries removed, corrupted...). */
function alteredProject(change: (pkg: string) => void): string {
  const copy = mkdtempSync(path.join(os.tmpdir(), 'tuntap-altered-'));
  cpSync(pkg.project, copy, { recursive: true });
  change(path.join(copy, 'node_modules', 'tuntap-ts'));
  return copy;
}

/** Runs a CommonJS program in `dir` with the compiler-less PATH; returns its exit code and output. */
async function runIn(dir: string, file: string, source: string, args: string[] = [], nodeArgs: string[] = []) {
  writeFileSync(path.join(dir, file), source);
  return run(process.execPath, [...nodeArgs, path.join(dir, file), ...args], {
    cwd: dir,
    env: { ...process.env, PATH: pkg.bin },
  });
}

test('the tarball holds the compiled library and its types, the prebuilds, the sources, LICENSE, README and CHANGELOG, and nothing else', () => {
  const files = execFileSync('tar', ['tzf', pkg.tarball], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((f) => f.replace(/^package\//, ''));
  const allowed = [
    /^dist\/lib\/.+\.(js|d\.ts)$/,
    /^prebuilds\/linux-(x64|arm64)\/tuntap-ts\.(glibc|musl)\.node$/,
    /^prebuilds\/SOURCES\.sha256$/,
    /^src\/[a-z_]+\.(cc|h|map)$/,
    /^(binding\.gyp|package\.json|LICENSE|README\.md|CHANGELOG\.md|scripts\/install\.js)$/,
  ];
  assert.deepEqual(
    files.filter((f) => !allowed.some((re) => re.test(f))),
    [],
    'files outside the product',
  );
  for (const needed of [
    'dist/lib/index.js',
    'dist/lib/index.d.ts',
    'binding.gyp',
    'src/addon.cc',
    'LICENSE',
    'CHANGELOG.md',
    'README.md',
  ]) {
    assert.ok(files.includes(needed), `${needed} is shipped`);
  }
  assert.equal(files.filter((f) => f.startsWith('prebuilds/linux-')).length, 4, 'four prebuilds');
  const manifest = JSON.parse(readFileSync(path.join(pkg.installed, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  assert.deepEqual(
    Object.keys(manifest.dependencies).sort(),
    ['node-addon-api', 'node-gyp-build'],
    'typed-emitter (and rxjs with it) is not a runtime dependency',
  );
  assert.equal(existsSync(path.join(pkg.project, 'node_modules', 'rxjs')), false, 'no rxjs in a user install');
});

test('the PATH the install used has no compiler', () => {
  for (const tool of ['cc', 'gcc', 'g++', 'make', 'python3']) {
    const r = execFileSync('/bin/sh', ['-c', `command -v ${tool} || echo absent`], {
      env: { PATH: pkg.bin },
      encoding: 'utf8',
    }).trim();
    assert.equal(r, 'absent', `${tool} is hidden`);
  }
});

for (const kind of ['cjs', 'esm'] as const) {
  privilegedTest(
    `installed without scripts or compiler, the package moves a packet each way through ${kind === 'cjs' ? 'require()' : 'import'} with its prebuild`,
    async () => {
      const net = uniqueSubnet();
      const r = await runIn(pkg.project, `mover.${kind === 'cjs' ? 'cjs' : 'mjs'}`, packetMoverScript('tuntap-ts', kind), [
        uniqueName('pk'),
        net.prefix,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const seen = JSON.parse(r.stdout) as { read: string; reply: string; binary: string };
      assert.equal(seen.read, 'ping');
      assert.equal(seen.reply, 'pong');
      assert.equal(seen.binary, path.join(pkg.installed, 'prebuilds', `linux-${process.arch}`, 'tuntap-ts.glibc.node'));
    },
  );
}

const helpersWithoutNative = `
const { echoReply, internetChecksum, parseCidr, PcapWriter, ipv4UdpPacket, TunDevice, TunError } = require('tuntap-ts');
const { PassThrough } = require('node:stream');
const out = {};
out.cidr = parseCidr('10.1.2.3/24');
const udp = ipv4UdpPacket({ source: '10.0.0.2', destination: '10.0.0.1', sourcePort: 1, destinationPort: 2, payload: Buffer.from('x') });
out.udpLength = udp.length;
const icmp = Buffer.from('450000200000000040010000' + '0a000002' + '0a000001' + '0800000000010001' + '70696e67', 'hex');
icmp.writeUInt16BE(internetChecksum(icmp.subarray(0, 20)), 10);
icmp.writeUInt16BE(internetChecksum(icmp.subarray(20)), 22);
const reply = echoReply(icmp);
out.reply = reply !== null && reply[20] === 0 && reply.subarray(16, 20).join('.') === '10.0.0.2';
const sink = new PassThrough(); let bytes = 0; sink.on('data', (c) => { bytes += c.length; });
const pcap = new PcapWriter(sink, 101); pcap.write(udp); 
setImmediate(async () => {
  out.pcapBytes = bytes;
  try { await TunDevice.open({ name: 'never0' }); out.open = 'opened'; }
  catch (e) { out.open = { isTunError: e instanceof TunError, code: e.code, syscall: e.syscall, message: e.message }; }
  console.log(JSON.stringify(out));
});
`;

test('with no native binary at all, import works, the packet helpers work, and opening a device says the native part is missing and how to build it', async () => {
  const dir = alteredProject((pkg) => rmSync(path.join(pkg, 'prebuilds'), { recursive: true }));
  try {
    const esm = await runIn(
      dir,
      'import.mjs',
      "import { parseCidr } from 'tuntap-ts';\nconsole.log(JSON.stringify(parseCidr('fd00::1/64')));\n",
    );
    assert.equal(esm.code, 0, esm.stderr);
    assert.match(esm.stdout, /"prefixLength":64/);
    const r = await runIn(dir, 'helpers.cjs', helpersWithoutNative);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      cidr: { prefixLength: number };
      udpLength: number;
      reply: boolean;
      pcapBytes: number;
      open: { isTunError: boolean; code: string; syscall: string; message: string };
    };
    assert.equal(out.cidr.prefixLength, 24);
    assert.equal(out.udpLength, 29);
    assert.equal(out.reply, true);
    assert.equal(out.pcapBytes, 24 + 16 + 29, 'pcap file header, record header, packet');
    assert.equal(out.open.isTunError, true);
    assert.equal(out.open.code, 'ENOENT');
    assert.match(out.open.message, /native part of tuntap-ts is missing/);
    assert.match(out.open.message, /npm rebuild tuntap-ts/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const openAndReport = `
const { TunDevice, TunError } = require('tuntap-ts');
TunDevice.open({ name: 'never0' }).then(
  () => console.log(JSON.stringify({ open: 'opened' })),
  (e) => console.log(JSON.stringify({ isTunError: e instanceof TunError, code: e.code, path: e.path, message: e.message })),
);
`;

for (const [what, corrupt] of [
  ['a corrupt prebuild (not an ELF file)', (file: string) => writeFileSync(file, 'not a shared object\n')],
  [
    'a wrong-architecture prebuild (arm64 in the x64 place)',
    (file: string) => cpSync(file.replace(`linux-${process.arch}`, process.arch === 'arm64' ? 'linux-x64' : 'linux-arm64'), file),
  ],
] as const) {
  test(`${what} does not crash the import: opening rejects with a TunError naming the file and the loader's reason`, async () => {
    const target = path.join('prebuilds', `linux-${process.arch}`, 'tuntap-ts.glibc.node');
    const dir = alteredProject((pkg) => corrupt(path.join(pkg, target)));
    try {
      const r = await runIn(dir, 'open.cjs', openAndReport);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { isTunError: boolean; code: string; path: string; message: string };
      assert.equal(out.isTunError, true);
      assert.equal(out.code, 'ENOEXEC');
      assert.equal(out.path, path.join(dir, 'node_modules', 'tuntap-ts', target));
      assert.match(
        out.message,
        /failed to load: .*(invalid ELF header|file too short|wrong ELF class|ELF machine|cannot open shared object)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('on macOS or Windows the package imports, and TunDevice.open rejects with ENOTSUP naming Linux', async () => {
  for (const platform of ['darwin', 'win32']) {
    const fake = `Object.defineProperty(process, 'platform', { value: ${JSON.stringify(platform)} });\n`;
    const r = await runIn(pkg.project, `platform-${platform}.cjs`, fake + openAndReport);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { isTunError: boolean; code: string; message: string };
    assert.equal(out.isTunError, true, platform);
    assert.equal(out.code, 'ENOTSUP', platform);
    assert.match(out.message, new RegExp(`Linux only \\(this is ${platform}\\)`));
  }
});
