// Helpers for the kernel-interface tests: UDP flows into a device, child
// processes with fewer privileges, a private clone device node.
import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
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

/** Waits until cond() holds, checking every `everyMs` (10 ms), or fails after timeoutMs. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000, everyMs = 10): Promise<void> {
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

/** Whether uid can read the compiled library and run node (else the test cannot be made). */
export function uidCanRun(uid: number): boolean {
  try {
    execFileSync(
      'setpriv',
      [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', `require(${JSON.stringify(LIB)})`],
      {
        stdio: 'ignore',
      },
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
 */
export async function runNodeAs(
  setprivArgs: string[],
  script: string,
  onLine: (line: string) => void = () => {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('setpriv', [...setprivArgs, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
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
