// Helpers for the tests of the package as users get it: the packed tarball,
// installed into an empty project, and the prebuilt binaries run as they are.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The repository's root (dist/test/ is two levels below it). */
export const repoRoot = path.join(__dirname, '..', '..');

/** Where scripts/setup.js put the cross and runtime test tools (plain CommonJS shared with it). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const cross = require(path.join(repoRoot, 'scripts', 'cross-tools.js')) as {
  ARM64_SYSROOT: string;
  NPM_BINARIES: { name: string; version: string }[];
  arm64NodePath(): string;
  bunPath(): string;
  denoPath(): string;
};

/**
 * A program that opens a TUN device with the package, gives it an address,
 * and moves one packet each way: a UDP datagram the kernel routes into the
 * device is read from `readable`, and a reply written to `writable` reaches
 * the sending socket. It prints what it saw as JSON, with the native binary
 * the process mapped (from /proc/self/maps, which qemu-user also shows as the
 * guest's). argv: device name, /24 prefix ('10.123.4').
 */
export function packetMoverScript(specifier: string, kind: 'cjs' | 'esm'): string {
  const imports =
    kind === 'esm'
      ? `import { TunDevice, ipv4UdpPacket } from ${JSON.stringify(specifier)};\nimport dgram from 'node:dgram';\nimport { once } from 'node:events';\nimport { readFileSync } from 'node:fs';`
      : `const { TunDevice, ipv4UdpPacket } = require(${JSON.stringify(specifier)});\nconst dgram = require('node:dgram');\nconst { once } = require('node:events');\nconst { readFileSync } = require('node:fs');`;
  return `${imports}
const [name, prefix] = process.argv.slice(2);
setTimeout(() => { console.error('no packet within 60 s'); process.exit(3); }, 60000).unref();
async function main() {
  const dev = await TunDevice.open({ name });
  await dev.addAddress(prefix + '.1/24');
  await dev.up();
  const socket = dgram.createSocket('udp4');
  socket.bind(0, prefix + '.1');
  await once(socket, 'listening');
  const port = socket.address().port;
  const read = new Promise((resolve) => {
    dev.readable.on('data', (p) => {
      if (p[0] >> 4 === 4 && p[9] === 17 && p.subarray(16, 20).join('.') === prefix + '.2') resolve(p);
    });
  });
  socket.send(Buffer.from('ping'), 9, prefix + '.2');
  const packet = await read;
  const payload = packet.subarray(28).toString();
  dev.writable.write(ipv4UdpPacket({ source: prefix + '.2', destination: prefix + '.1', sourcePort: 9, destinationPort: port, payload: Buffer.from('pong') }));
  const [reply] = await once(socket, 'message');
  const binary = readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/)[5]).find((f) => f && f.endsWith('.node'));
  socket.close();
  await dev.close();
  console.log(JSON.stringify({ read: payload, reply: reply.toString(), binary }));
}
main().catch((error) => { console.error(error); process.exit(1); });
`;
}

/**
 * A folder with only `node` and `npm` on it, for a PATH with no compiler: a
 * user's machine without a toolchain (no cc, g++, make or python3).
 */
export function pathWithoutCompiler(): string {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'tuntap-nocc-'));
  symlinkSync(process.execPath, path.join(bin, 'node'));
  // npm installed beside node (/usr/bin/node -> /usr/lib/node_modules/npm).
  const npmCli = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  writeFileSync(path.join(bin, 'npm'), `#!${process.execPath}\nrequire(${JSON.stringify(npmCli)});\n`, { mode: 0o755 });
  return bin;
}

/** Packs the repository (prepack builds the library) into a fresh folder; returns the tarball's path. */
export function packTarball(): string {
  const out = mkdtempSync(path.join(os.tmpdir(), 'tuntap-pack-'));
  execFileSync('npm', ['pack', '--pack-destination', out], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  const [file] = readdirSync(out).filter((f) => f.endsWith('.tgz'));
  if (file === undefined) throw new Error(`npm pack left no tarball in ${out}`);
  return path.join(out, file);
}

/**
 * An empty project with the tarball installed as a user would, but with
 * --ignore-scripts (as pnpm does for dependencies) and `PATH` set to `bin`:
 * whatever works then needs neither an install script nor a compiler. The
 * tests run in a namespace with no way out, so the package's dependencies
 * come packed from this repository's node_modules (same versions as the
 * lockfile), and npm is told not to reach for the network (--offline).
 */
export function installTarball(tarball: string, bin: string): string {
  const project = mkdtempSync(path.join(os.tmpdir(), 'tuntap-consumer-'));
  mkdirSync(project, { recursive: true });
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  const deps = Object.keys(
    JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).dependencies as Record<string, string>,
  );
  const depTarballs = deps.map((dep) => {
    const name = execFileSync(
      'npm',
      ['pack', '--ignore-scripts', '--pack-destination', project, path.join(repoRoot, 'node_modules', dep)],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return path.join(project, name.trim().split('\n').pop() as string);
  });
  execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--offline', tarball, ...depTarballs], {
    cwd: project,
    env: { ...process.env, PATH: bin },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return project;
}

/** The packed package installed into an empty project (see installTarball), and where each part is. */
export interface InstalledPackage {
  /** The packed .tgz. */
  tarball: string;
  /** The folder with only node and npm: the PATH the install and the programs run with. */
  bin: string;
  /** The consumer project. */
  project: string;
  /** node_modules/tuntap-ts in it. */
  installed: string;
}

/**
 * Registers node:test before/after hooks that pack and install the package
 * once for a test file and remove it all afterwards; the returned object is
 * filled in by the time the tests run.
 */
export function useInstalledPackage(hooks: { before(fn: () => void): void; after(fn: () => void): void }): InstalledPackage {
  const state: InstalledPackage = { tarball: '', bin: '', project: '', installed: '' };
  hooks.before(() => {
    state.tarball = packTarball();
    state.bin = pathWithoutCompiler();
    state.project = installTarball(state.tarball, state.bin);
    state.installed = path.join(state.project, 'node_modules', 'tuntap-ts');
  });
  hooks.after(() => {
    for (const dir of [state.tarball && path.dirname(state.tarball), state.bin, state.project])
      if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return state;
}
