// The documentation as readers get it: the site `npm run docs` builds (no
// TypeDoc warning, no broken link, the index grouped by area, class pages
// starting with what users call first), the link check itself, and every
// code sample of the README and the guide compiled against the library.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { run } from './helpers';
import { repoRoot } from './package-helpers';

const SITE = path.join(repoRoot, 'docs-site');
const GUIDE = path.join(repoRoot, 'docs', 'guide');
const guidePages = (): string[] => readdirSync(GUIDE).filter((f) => f.endsWith('.md'));

/** The titles of a built page's index sections (groups), in order. */
function indexGroups(html: string): string[] {
  return [...html.matchAll(/<h[23] class="tsd-(?:index-heading )?anchor-link"[^>]*>([^<]+)/g)]
    .map((m) => m[1].trim())
    .filter((title) => !['Index', 'Settings', 'On This Page'].includes(title));
}

test('npm run docs builds the site with no TypeDoc warning and no broken link: the guide, the index by area, TunDevice from open to close', async () => {
  rmSync(SITE, { recursive: true, force: true });
  const r = await run('npm', ['run', 'docs'], { cwd: repoRoot });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /\[warning\]/);
  assert.match(r.stdout, /no broken link/);

  const index = readFileSync(path.join(SITE, 'modules.html'), 'utf8');
  assert.deepEqual(
    indexGroups(index).filter((g) => g !== 'Tunnels'),
    ['Documents', 'Device', 'Netlink', 'Packets', 'Errors'],
  );
  const device = readFileSync(path.join(SITE, 'classes', 'TunDevice.html'), 'utf8');
  const firstLinks = [...device.matchAll(/<a href="#([^"]+)" class="tsd-index-link/g)].slice(0, 4).map((m) => m[1]);
  assert.deepEqual(firstLinks, ['open', 'readable', 'writable', 'close']);
  const groups = indexGroups(device);
  assert.equal(groups.at(-1), 'Inherited from EventEmitter', groups.join(', '));
  assert.ok(!groups.includes('Methods'), `every TunDevice member is in a named group: ${groups.join(', ')}`);

  const documents = readdirSync(path.join(SITE, 'documents'));
  for (const page of guidePages().filter((p) => p !== 'index.md')) {
    const title = /^# (.+)$/m.exec(readFileSync(path.join(GUIDE, page), 'utf8'))?.[1] ?? page;
    assert.ok(
      documents.includes(`Guide.${title.replace(/ /g, '_')}.html`),
      `the guide's '${title}' (${page}) is in the site: ${documents.join(', ')}`,
    );
  }
});

test('the link check fails on a missing file and on a missing anchor, in Markdown and in the site', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tuntap-links-'));
  try {
    mkdirSync(path.join(dir, 'md'));
    mkdirSync(path.join(dir, 'site'));
    writeFileSync(
      path.join(dir, 'md', 'a.md'),
      '# A\n\n## Real heading\n\n[ok](#real-heading) [ok](b.md#b) `[not a link](nowhere.md)`\n',
    );
    writeFileSync(path.join(dir, 'md', 'b.md'), '# B\n');
    writeFileSync(
      path.join(dir, 'site', 'a.html'),
      '<h2 id="here">x</h2><a href="#here">ok</a><a href="https://example.org/x">out</a>',
    );
    const check = (...args: string[]) =>
      run(process.execPath, [path.join(repoRoot, 'scripts', 'check-links.js'), '--root', path.join(dir, 'md'), ...args]);

    const clean = await check(path.join(dir, 'site'));
    assert.equal(clean.code, 0, clean.stderr);

    writeFileSync(path.join(dir, 'md', 'c.md'), '# C\n\n[gone](missing.md) [no anchor](a.md#no-such-heading)\n');
    writeFileSync(path.join(dir, 'site', 'b.html'), '<a href="a.html#nope">x</a><img src="gone.png">');
    const broken = await check(path.join(dir, 'site'));
    assert.equal(broken.code, 1);
    const lines = broken.stderr.trim().split('\n').sort();
    assert.deepEqual(lines, [
      'broken link: b.html: a.html#nope (no element with that id)',
      'broken link: b.html: gone.png (no such file)',
      'broken link: c.md: a.md#no-such-heading (no heading with that anchor)',
      'broken link: c.md: missing.md (no such file)',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A code sample and where it is shown. */
interface Sample {
  where: string;
  code: string;
}

/** The ```ts and ```js blocks of a Markdown file. */
function markdownSamples(file: string): Sample[] {
  const text = readFileSync(path.join(repoRoot, file), 'utf8');
  return [...text.matchAll(/^```(?:ts|js)\n([\s\S]*?)^```$/gm)].map((m) => ({
    where: `${file}:${text.slice(0, m.index).split('\n').length}`,
    code: m[1],
  }));
}

/** The ```ts blocks of the doc comments in lib/ (the API reference's examples), but internal helpers'. */
function docCommentSamples(): Sample[] {
  const files = readdirSync(path.join(repoRoot, 'lib'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && f !== path.join('internal', 'validators.ts'))
    .map((f) => path.join('lib', f));
  return files.flatMap((file) => {
    const text = readFileSync(path.join(repoRoot, file), 'utf8');
    return [...text.matchAll(/^\s*\* ```ts\n([\s\S]*?)^\s*\* ```/gm)].map((m) => ({
      where: `${file}:${text.slice(0, m.index).split('\n').length}`,
      code: m[1].replace(/^\s*\* ?/gm, ''),
    }));
  });
}

/** Every name lib/index.ts exports (following `export *`), to import into a sample that uses them without importing. */
function libraryExports(file = path.join(repoRoot, 'lib', 'index.ts')): string[] {
  const text = readFileSync(file, 'utf8');
  const named = [...text.matchAll(/export (?:type )?\{([^}]*)\}/g)].flatMap((m) =>
    m[1]
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean),
  );
  const starred = [...text.matchAll(/export \* from '(\.[^']+)'/g)].flatMap(([, from]) => {
    const base = path.resolve(path.dirname(file), from);
    return libraryExports(existsSync(`${base}.ts`) ? `${base}.ts` : path.join(base, 'index.ts'));
  });
  // A name two modules re-export (Framing) is imported once.
  return [...new Set([...named, ...starred])];
}

// What the fragments take as already there: a device or two, a socket, a packet...
const SAMPLE_GLOBALS = `import type { ArpView, EthernetFrame, EthernetView, IcmpView, IpView, Netlink, NetlinkWatcher } from 'tuntap-ts';
import type { TcpView, TunDevice, UdpView } from 'tuntap-ts';
import type { Socket } from 'node:dgram';
import type { Writable } from 'node:stream';
declare global {
  const dev: TunDevice, other: TunDevice, a: TunDevice, b: TunDevice, queues: TunDevice[];
  const nl: Netlink, watcher: NetlinkWatcher, controller: AbortController, socket: Socket;
  const packet: Buffer, frame: Buffer & EthernetFrame, reply: Buffer, request: Buffer, ipPacket: Buffer, header: Buffer;
  const payload: Buffer, segmentsFromTheNetwork: Buffer[], segments: Buffer[], received: Buffer, stream: Writable;
  let packets: number, pending: Buffer;
  const ip: IpView, tcp: TcpView, udp: UdpView, icmp: IcmpView, eth: EthernetView, arp: ArpView, syn: TcpView, tap: TunDevice;
  const flows: { count(ip: IpView): void; add(ip: IpView, tcp: TcpView): void };
  const id: number, seq: number, host: string, port: number;
  function answer(arp: ArpView): void;
  function dns(payload: Buffer): void;
  const peerMac: string, myMac: string, udpLength: number, payloadLength: number;
  function handle(packet: Buffer): void;
  function handle(slab: Buffer, offset: number, length: number): void;
  function handleIp(packet: Buffer): void;
}
export {};
`;

/**
 * Type-checks each sample as a module of its own (tsc --strict) against
 * lib/ as 'tuntap-ts' (and 'tuntap-ts/packet'); a sample that imports nothing gets every export. A
 * line that ends in "does not compile" must not. Returns the errors.
 */
function compileSamples(samples: Sample[]): string[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tuntap-samples-'));
  try {
    const names = libraryExports();
    const where = new Map<string, string>();
    for (const [i, { where: shown, code }] of samples.entries()) {
      const file = path.join(dir, `sample-${i}.ts`);
      // Every export, but a name the sample declares itself (`const tunnel = udpTunnel(...)`).
      const used = names.filter((n) => !new RegExp(`\\b(?:const|let|function) ${n}\\b`).test(code));
      const imports = /from 'tuntap-ts(\/packet)?'/.test(code) ? '' : `import { ${used.join(', ')} } from 'tuntap-ts';\n`;
      const builtins = ['fs', 'dgram', 'net', 'tls']
        .filter((m) => new RegExp(`\\b${m}\\.`).test(code) && !code.includes(`'node:${m}'`))
        .map((m) => `import ${m} from 'node:${m}';\n`)
        .join('');
      writeFileSync(file, imports + builtins + code.replace(/^(.*\/\/ does not compile)$/gm, '// @ts-expect-error\n$1'));
      where.set(file, shown);
    }
    const globals = path.join(dir, 'globals.d.ts');
    writeFileSync(globals, SAMPLE_GLOBALS);
    const program = ts.createProgram([...where.keys(), globals], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      moduleDetection: ts.ModuleDetectionKind.Force,
      esModuleInterop: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [path.join(repoRoot, 'node_modules', '@types')],
      paths: {
        'tuntap-ts': [path.join(repoRoot, 'lib', 'index.ts')],
        'tuntap-ts/packet': [path.join(repoRoot, 'lib', 'packet', 'index.ts')],
      },
    });
    return ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || where.has(d.file.fileName) || d.file.fileName === globals)
      .map(
        (d) =>
          `${(d.file && where.get(d.file.fileName)) ?? d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('every code sample of the README and the guide compiles (tsc --strict) against the library', () => {
  const samples = ['README.md', ...guidePages().map((p) => path.join('docs', 'guide', p))].flatMap(markdownSamples);
  assert.ok(samples.length >= 25, `found only ${samples.length} samples`);
  assert.deepEqual(compileSamples(samples), []);
});

test("every example in lib/'s doc comments (the API reference's) compiles against the library", () => {
  const samples = docCommentSamples();
  assert.ok(samples.length >= 50, `found only ${samples.length} examples`);
  assert.deepEqual(compileSamples(samples), []);
});

test('the guide shows no command that works only in a clone of the repository', () => {
  for (const page of guidePages()) {
    const text = readFileSync(path.join(GUIDE, page), 'utf8');
    for (const [, block] of text.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```$/gm))
      assert.doesNotMatch(block, /scripts\/|dist\/|npm run |npm test/, `${page}: a command that needs a clone`);
  }
});
