// Helpers for the kernel-interface tests: UDP flows into a device, child
// processes with fewer privileges, a private clone device node.
import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

/** The compiled library, for code that runs in a child process or a worker. */
export const LIB = path.join(__dirname, '..', 'lib');

/** The destination port of an IPv4 UDP packet, or -1 for anything else. */
export function udpPort(p: Buffer): number {
  if (p.length < 28 || p[0] >> 4 !== 4 || p[9] !== 17) return -1;
  const ihl = (p[0] & 0x0f) * 4;
  return p.readUInt16BE(ihl + 2);
}

/** Sends one datagram to each port in [first, first + count) of dst, then closes. */
export async function sendUdpFlows(dst: string, first: number, count: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  try {
    for (let port = first; port < first + count; port++) {
      await new Promise<void>((resolve, reject) =>
        socket.send(Buffer.from('flow'), port, dst, (e) => (e ? reject(e) : resolve())),
      );
    }
  } finally {
    socket.close();
  }
}

/** Counts UDP packets by destination port in [first, first + count) as they arrive. */
export function countPorts(readable: Readable, first: number, count: number): { ports: Set<number>; stop: () => void } {
  const ports = new Set<number>();
  const onData = (p: Buffer): void => {
    const port = udpPort(p);
    if (port >= first && port < first + count) ports.add(port);
  };
  readable.on('data', onData);
  return { ports, stop: () => readable.off('data', onData) };
}

/** Waits until cond() holds, checking every `everyMs` (10 ms), or fails after timeoutMs (a hang). */
export async function until(cond: () => boolean, what: string, timeoutMs = 30_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A clone device (/dev/net/tun, char 10:200) that any user may open. The
 * system's node may be root-only (crw-------): then a private node in a
 * fresh directory stands in, so the host's /dev is left alone.
 */
export function openableCloneDevice(): { path: string; dispose: () => void } {
  const mode = statSync('/dev/net/tun').mode & 0o777;
  if ((mode & 0o006) === 0o006) return { path: '/dev/net/tun', dispose: () => {} };
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-'));
  chmodSync(dir, 0o755);
  const node = path.join(dir, 'tun');
  execFileSync('mknod', ['-m', '666', node, 'c', '10', '200']);
  return { path: node, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The compiled library and the addon as a child running as another uid finds them. */
export interface LibraryCopy {
  /** Its dist/lib, for `require` in the child. */
  lib: string;
  /** The child's environment. */
  env: NodeJS.ProcessEnv;
  [Symbol.dispose](): void;
}

/** Makes what is under `dir` readable (and its folders and programs usable) by every uid. */
function openToAll(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) openToAll(file);
    else chmodSync(file, statSync(file).mode & 0o111 ? 0o755 : 0o644);
  }
}

/**
 * dist/lib, node-gyp-build and the addon this process loads, copied into a
 * fresh folder under /tmp that every uid can read: the clone may be where
 * only its owner can enter (a home of mode 0700, as /root is).
 */
export function libraryForAnyUid(): LibraryCopy {
  const root = path.join(__dirname, '..', '..');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  const addon = process.env.TUNTAP_NATIVE_PATH ?? gypBuild.resolve(root);
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-lib-'));
  cpSync(path.join(root, 'dist', 'lib'), path.join(dir, 'dist', 'lib'), { recursive: true });
  cpSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(dir, 'node_modules', 'node-gyp-build'), {
    recursive: true,
  });
  mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  copyFileSync(addon, path.join(dir, 'build', 'Release', 'tuntap.node'));
  openToAll(dir);
  // The copy's build/Release holds whichever addon this process was told to load.
  const { TUNTAP_NATIVE_PATH: _, ...env } = process.env;
  return { lib: path.join(dir, 'dist', 'lib'), env, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Whether uid can run node and load `lib` (else the test cannot be made). */
export function uidCanRun(uid: number, copy: LibraryCopy): boolean {
  try {
    execFileSync(
      'setpriv',
      [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', `require(${JSON.stringify(copy.lib)})`],
      { stdio: 'ignore', cwd: '/', env: copy.env },
    );
    return true;
  } catch {
    return false;
  }
}

/** setpriv arguments for a process as uid/gid with no capabilities at all. */
export function unprivileged(uid: number, gid = uid): string[] {
  return [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];
}

/**
 * Runs `node -e script` under setpriv with the given arguments. The script's
 * stdout lines are handed to onLine as they come (for "ready" handshakes).
 * A child of another uid is given a LibraryCopy's environment, and / as its
 * folder (it may not be able to enter ours).
 */
export async function runNodeAs(
  setprivArgs: string[],
  script: string,
  onLine: (line: string) => void = () => {},
  copy?: LibraryCopy,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('setpriv', [...setprivArgs, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(copy === undefined ? {} : { cwd: '/', env: copy.env }),
  });
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    partial += d.toString();
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      onLine(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}
