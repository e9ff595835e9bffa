// The package as `npm publish` would ship it: packed, installed into an empty
// project with --ignore-scripts and no compiler on PATH, then used from
// require() and import. Also what a user sees with no binary, a corrupt one,
// or on another platform.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { privilegedTest, rejectAfter, run, uniqueName, uniqueSubnet } from './helpers';
import { packetMoverScript, repoRoot, useInstalledPackage } from './package-helpers';

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

test('the tarball holds the compiled library and its types, the prebuilds, the sources, LICENSE, README, CHANGELOG and the guide, and nothing else', () => {
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
    /^docs\/(guide\/[a-z-]+|SECURITY)\.md$/,
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
    'docs/SECURITY.md',
    ...readdirSync(path.join(repoRoot, 'docs', 'guide')).map((page) => `docs/guide/${page}`),
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

/** The ```sh or ```js blocks of a section of a shipped Markdown page, in order. */
function shippedBlocks(page: string, heading: string, lang: 'sh' | 'js'): string[] {
  const text = readFileSync(path.join(pkg.installed, page), 'utf8');
  const at = text.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `${page} has no '${heading}'`);
  const section = text.slice(at + 1).split(/\n## /)[0];
  return [...section.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\`$`, 'gm'))].map((m) => m[1]);
}

privilegedTest(
  "the getting-started page's commands, as shipped, run its program from the install: ping gets replies, Ctrl-C ends it",
  async () => {
    const page = path.join('docs', 'guide', 'getting-started.md');
    const [program] = shippedBlocks(page, '## Your first program', 'js');
    writeFileSync(path.join(pkg.project, 'app.mjs'), program);
    // The page's commands, minus sudo (the tests run as root), in a namespace of a name of our own.
    const ns = uniqueName('gs');
    const commands = shippedBlocks(page, '## Run it in a network namespace', 'sh')
      .flatMap((block) => block.trim().split('\n'))
      .map((line) =>
        line
          .replace(/^sudo /, '')
          .replaceAll('tuntap-demo', ns)
          .split(' '),
      );
    assert.deepEqual(
      commands.map((c) => c.join(' ')),
      [
        `ip netns add ${ns}`,
        `ip netns exec ${ns} node app.mjs`,
        `ip netns exec ${ns} ping -c 3 10.0.0.2`,
        `ip netns delete ${ns}`,
      ],
    );
    const [add, start, ping, remove] = commands;
    const env = { ...process.env, PATH: `${pkg.bin}:${process.env.PATH ?? ''}` };
    assert.equal((await run(add[0], add.slice(1))).code, 0);
    try {
      const app = spawn(start[0], start.slice(1), { cwd: pkg.project, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      app.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = once(app, 'exit') as Promise<[number | null, string | null]>;
      try {
        // The page says: once it prints "tun0 is up", ping from another terminal.
        const lines = createInterface({ input: app.stdout });
        await Promise.race([
          (async () => {
            for await (const line of lines) if (/^tun0 is up/.test(line)) return;
            throw new Error(`the program ended without saying it is up: ${stderr}`);
          })(),
          rejectAfter(30_000, () => `the program did not come up: ${stderr}`),
        ]);
        const r = await run(ping[0], ping.slice(1), { env });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /3 packets transmitted, 3 received/);
      } finally {
        app.kill('SIGINT');
      }
      const [code, signal] = await exited;
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, stderr);
    } finally {
      assert.equal((await run(remove[0], remove.slice(1))).code, 0);
    }
  },
);

test('the shipped guide links only to pages the package holds (the link check, run on the install)', async () => {
  const r = await run(process.execPath, [
    path.join(repoRoot, 'scripts', 'check-links.js'),
    '--root',
    path.join(pkg.installed, 'docs'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1[0-9] Markdown files/);
});

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
