// Shared test helpers. Every privileged test runs inside the network
// namespace that scripts/run-tests.js made for this run; `netnsReady()` says
// whether we are there, and `privileged()` turns its answer into node:test's
// skip option (outside CI) or a failure (in CI).
import { execFileSync, spawn, type SpawnOptions } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { existsSync, readFileSync, readlinkSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';

export const inCI = process.env.CI === 'true';

function netnsProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (run npm test as root)';
  // scripts/in-netns.js made a namespace, checked it differs from the one it
  // started in, and named it in TUNTAP_NETNS: we must still be in that one.
  const made = process.env.TUNTAP_NETNS;
  if (made === undefined || made === '') return "not inside the test run's network namespace (use npm test)";
  if (readlinkSync('/proc/self/ns/net') !== made || made === process.env.TUNTAP_OUTER_NETNS) {
    return 'not in the network namespace made for this run';
  }
  const routes = [...ipJson('route', 'show', 'default'), ...ipJson('-6', 'route', 'show', 'default')];
  if (routes.length > 0) return 'the namespace has a default route: packets could leave the machine';
  return undefined;
}

let problem: string | undefined | null = null;
/** Why privileged tests cannot run here, or undefined when they can. */
export function netnsReady(): string | undefined {
  if (problem === null) problem = netnsProblem();
  return problem;
}

type TestFn = (t: TestContext) => void | Promise<void>;

/**
 * A test that opens devices or sends packets. Outside CI it skips with the
 * reason when the namespace is not there; in CI that is a failure.
 */
export function privilegedTest(name: string, fn: TestFn, options: { timeout?: number } = {}): void {
  const reason = netnsReady();
  const timeout = options.timeout ?? 120_000;
  if (reason === undefined) {
    test(name, { timeout }, fn);
  } else if (inCI) {
    test(name, () => {
      throw new Error(`privileged test could not run in CI: ${reason}`);
    });
  } else {
    test(name, { skip: reason }, fn);
  }
}

let counter = 0;
/** A device name unique in this run: prefix + pid-derived tag + counter (<= 15 bytes). */
export function uniqueName(prefix = 'tt'): string {
  counter += 1;
  return `${prefix.slice(0, 5)}${(process.pid % 10000).toString(36)}x${counter}`.slice(0, 15);
}

let subnetCounter = 0;
/**
 * A fresh IPv4 /24 for one test: 10.<pid-derived>.<n>.0. Only ever used inside
 * the test namespace, where no route leads out.
 */
export function uniqueSubnet(): { prefix: string; host: (n: number) => string } {
  subnetCounter += 1;
  const a = 100 + (process.pid % 100);
  const prefix = `10.${a}.${subnetCounter % 250}`;
  return { prefix, host: (n: number) => `${prefix}.${n}` };
}

/** Runs `ip` and returns stdout (tests use ip as the oracle, never the library). */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

/** Runs `ip -j ...` and parses the JSON. */
export function ipJson<T = Record<string, unknown>>(...args: string[]): T[] {
  const out = execFileSync('ip', ['-j', ...args], { encoding: 'utf8' }).trim();
  return out === '' ? [] : (JSON.parse(out) as T[]);
}

/** Whether an interface exists, asked of the kernel through ip. */
export function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The link's statistics as ip -s reports them. */
export function linkStats(name: string): { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } } {
  const [link] = ipJson<{ stats64: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } } }>(
    '-s',
    'link',
    'show',
    'dev',
    name,
  );
  return link.stats64;
}

/** Collects the first n chunks from a readable that pass `filter`, or fails after timeoutMs. */
export async function collect(
  readable: Readable,
  n: number,
  filter: (p: Buffer) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      readable.off('data', onData);
      reject(new Error(`timed out with ${got.length} of ${n} packets`));
    }, timeoutMs);
    const onData = (p: Buffer): void => {
      if (!filter(p)) return;
      got.push(p);
      if (got.length === n) {
        clearTimeout(timer);
        readable.off('data', onData);
        resolve(got);
      }
    };
    readable.on('data', onData);
  });
}

/** Runs a command to completion; resolves with its exit code and output. */
export async function run(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** How many fds this process has open. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Resident set size in bytes, from /proc (no GC noise from process.memoryUsage()). */
export function rssBytes(): number {
  const statm = readFileSync('/proc/self/statm', 'utf8').split(' ');
  return Number(statm[1]) * 4096;
}

/** True for an IPv4 ICMP echo request (type 8) from src to dst. */
export function isIcmpEchoRequest(p: Buffer, dst?: string): boolean {
  if (p.length < 28 || p[0] >> 4 !== 4 || p[9] !== 1) return false;
  const ihl = (p[0] & 0x0f) * 4;
  if (p[ihl] !== 8) return false;
  return dst === undefined || p.subarray(16, 20).join('.') === dst;
}

/** A promise that rejects after ms (unref'd timer) with the message `why()` gives then. */
export function rejectAfter(ms: number, why: () => string): Promise<never> {
  return new Promise((_, reject) => {
    setTimeout(() => reject(new Error(why())), ms).unref();
  });
}

/**
 * For a privileged test that finds, once running, that it cannot do its job
 * here: skips with the reason outside CI, fails in CI (where nothing may skip).
 */
export function skipOrFail(t: TestContext, reason: string): void {
  if (inCI) throw new Error(`privileged test could not run in CI: ${reason}`);
  t.skip(reason);
}

function have(command: string): boolean {
  return execFileSync('/bin/sh', ['-c', `command -v '${command}' || true`], { encoding: 'utf8' }).trim() !== '';
}

/** Skips (outside CI) or fails (in CI, where scripts/setup.js installed them) when a tool is absent. */
export function needTools(t: TestContext, tools: string[]): boolean {
  const absent = tools.filter((tool) => (tool.startsWith('/') ? !existsSync(tool) : !have(tool)));
  if (absent.length === 0) return true;
  const reason = `needs ${absent.join(', ')} (node scripts/setup.js --cross installs them)`;
  if (inCI) throw new Error(`could not run in CI: ${reason}`);
  t.skip(reason);
  return false;
}

/** Gives a device host 1 of `net` (/24) and brings it up, with ip (the oracle's tool, not the library's). */
export function bringUp(name: string, net: { host: (n: number) => string }): void {
  ip('addr', 'add', `${net.host(1)}/24`, 'dev', name);
  ip('link', 'set', name, 'up');
}

/**
 * A UDP socket bound to `address` (an ephemeral port), with a receive buffer
 * large enough for a burst: the kernel delivers each packet written to a TUN
 * device at once, before this process gets to read, and a default-sized
 * buffer would drop part of it.
 */
export async function boundUdpSocket(address: string): Promise<{ socket: dgram.Socket; port: number }> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  socket.bind(0, address);
  await once(socket, 'listening');
  return { socket, port: socket.address().port };
}

/** A self-signed P-256 certificate for the name 'tunnel', made by openssl. */
export function throwawayCertificate(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=tunnel',
      '-addext',
      'subjectAltName=DNS:tunnel',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
