// npm run bench:wireguard [-- --quick] [-- --rounds N] [-- --seconds S] [-- --out FILE] [-- --profile DIR] [-- --ours MAIN_JS] [-- --baseline MAIN_JS]
//                         [-- --ours-arg ARG ...]
//
// TCP through WireGuard, two cases in the same run, alternating rounds (a, b, a, b ...):
//   a: wireguard-go ↔ wireguard-go       b: our peer (examples/wireguard) ↔ wireguard-go
//   c (with --baseline): another build of our peer ↔ wireguard-go, to compare two versions in one run
// The side under test sits in namespace "left"; wireguard-go in "right" is the fixed far end. Each
// round runs iperf3 both ways (left sending, left receiving) and reads the CPU time (utime + stime in
// /proc/PID/stat) of the WireGuard process on each end before and after. Reported per case and
// direction: medians of throughput, CPU seconds of both ends, CPU per GB of the left end; and b/a.
//
// Safety: run inside scripts/in-netns.js (npm run bench:wireguard does); the two namespaces are joined
// by a veth and nothing else, with no default route (checked before any traffic); every process is
// stopped and both namespaces deleted in `finally`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { loadavg } from 'node:os';
import path from 'node:path';
import { ExampleProcess } from '../test/example-helpers';
import { ip, ipJson, run, uniqueName } from '../test/helpers';

const root = path.join(__dirname, '..', '..');
const LEFT_PORT = 51820;
const RIGHT_PORT = 51821;
const UNDER = { left: '192.0.2.1', right: '192.0.2.2' };
const INNER = { left: '10.77.0.1', right: '10.77.0.2' };
const TICKS = 100; // USER_HZ: /proc/PID/stat counts CPU time in these.

type Case = 'a' | 'b' | 'c';
type Direction = 'leftSends' | 'leftReceives';
const CASES: Record<Case, string> = {
  a: 'wireguard-go <-> wireguard-go',
  b: 'our peer <-> wireguard-go',
  c: 'a baseline build of our peer <-> wireguard-go',
};

interface Options {
  rounds: number;
  seconds: number;
  out: string;
  profile: string | undefined;
  /** Our peer's main.js: another build of it (an older commit's) can be measured the same way. */
  ours: string;
  /** A case c: another build of our peer (--baseline MAIN_JS), in the same rounds. */
  baseline: string | undefined;
  /** Extra arguments for our peer in case b (--ours-arg, repeatable), such as --offload. */
  oursArgs: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    rounds: 3,
    seconds: 5,
    out: path.join(root, 'bench', 'results.json'),
    profile: undefined,
    ours: path.join(root, 'dist', 'examples', 'wireguard', 'main.js'),
    baseline: undefined,
    oursArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') [o.rounds, o.seconds] = [1, 3];
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--out') o.out = path.resolve(argv[++i]);
    else if (a === '--profile') o.profile = path.resolve(argv[++i]);
    else if (a === '--ours') o.ours = path.resolve(argv[++i]);
    else if (a === '--baseline') o.baseline = path.resolve(argv[++i]);
    else if (a === '--ours-arg') o.oursArgs.push(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 20) throw new Error('--rounds: 1..20');
  if (!Number.isInteger(o.seconds) || o.seconds < 1 || o.seconds > 60) throw new Error('--seconds: 1..60');
  return o;
}

/** CPU seconds (user + system) process `pid` has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces: the fields counted from after its ')'; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

function wg(ns: string, args: string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'wg', ...args], { encoding: 'utf8', input }).trim();
}

function keyPair(): { privateKey: string; publicKey: string } {
  const privateKey = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
  return { privateKey, publicKey: execFileSync('wg', ['pubkey'], { encoding: 'utf8', input: privateKey }).trim() };
}

interface Lab {
  dir: string;
  left: string;
  right: string;
  keys: { left: ReturnType<typeof keyPair>; right: ReturnType<typeof keyPair> };
  processes: ExampleProcess[];
}

/** Starts wireguard-go as `name` in `ns`, configured with wg set, its interface up at `inner`. */
async function startWireguardGo(
  lab: Lab,
  ns: string,
  name: string,
  key: string,
  port: number,
  peer: { publicKey: string; endpoint: string; inner: string },
  inner: string,
): Promise<ExampleProcess> {
  const go = ExampleProcess.program('env', ['WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1', 'wireguard-go', '-f', name], {
    netns: ns,
  });
  lab.processes.push(go);
  // Quiet (no LOG_LEVEL): ready once its UAPI socket exists.
  const socket = `/var/run/wireguard/${name}.sock`;
  for (let i = 0; !existsSync(socket); i++) {
    if (i === 100 || go.child.exitCode !== null) throw new Error(`wireguard-go ${name} did not start\n${go.transcript()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const keyFile = path.join(lab.dir, `${name}.key`);
  writeFileSync(keyFile, key, { mode: 0o600 });
  wg(ns, ['set', name, 'private-key', keyFile, 'listen-port', String(port)]);
  wg(ns, ['set', name, 'peer', peer.publicKey, 'endpoint', peer.endpoint, 'allowed-ips', `${peer.inner}/32`]);
  ip('-n', ns, 'addr', 'add', `${inner}/24`, 'dev', name);
  ip('-n', ns, 'link', 'set', name, 'up');
  return go;
}

/** Starts the left end: wireguard-go (case a) or our peer (case b). */
async function startLeft(lab: Lab, which: Case, tag: string, o: Options): Promise<ExampleProcess> {
  const peer = { publicKey: lab.keys.right.publicKey, endpoint: `${UNDER.right}:${RIGHT_PORT}`, inner: INNER.right };
  if (which === 'a') return startWireguardGo(lab, lab.left, `wbl${tag}`, lab.keys.left.privateKey, LEFT_PORT, peer, INNER.left);
  const config = path.join(lab.dir, 'left.conf');
  writeFileSync(
    config,
    `[Interface]\nPrivateKey = ${lab.keys.left.privateKey}\nListenPort = ${LEFT_PORT}\n\n` +
      `[Peer]\nPublicKey = ${peer.publicKey}\nEndpoint = ${peer.endpoint}\nAllowedIPs = ${peer.inner}/32\n`,
  );
  const nodeFlags = o.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.profile}`];
  const args = ['--config', config, '--name', `wbo${tag}`, '--address', `${INNER.left}/24`, ...(which === 'b' ? o.oursArgs : [])];
  const ours = ExampleProcess.program(process.execPath, [...nodeFlags, which === 'c' ? o.baseline! : o.ours, ...args], {
    netns: lab.left,
  });
  lab.processes.push(ours);
  await ours.waitFor(/^Listening on /m);
  return ours;
}

interface Measure {
  mbps: number;
  bytes: number;
  cpuLeft: number;
  cpuRight: number;
  /** CPU seconds of the left end per GB (1e9 bytes) carried. */
  cpuPerGbLeft: number;
}

/** One iperf3 TCP run from the left namespace (-R: the right end sends), with both ends' CPU time around it. */
async function measure(lab: Lab, direction: Direction, seconds: number, left: number, right: number): Promise<Measure> {
  const [l0, r0] = [cpuSeconds(left), cpuSeconds(right)];
  const reverse = direction === 'leftReceives' ? ['-R'] : [];
  const argv = ['netns', 'exec', lab.left, 'iperf3', '-c', INNER.right, '-t', String(seconds), '-J'];
  const r = await run('ip', [...argv, '--connect-timeout', '5000', ...reverse]);
  const [l1, r1] = [cpuSeconds(left), cpuSeconds(right)];
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const end = (JSON.parse(r.stdout) as { end: { sum_received: { bytes: number; seconds: number } } }).end.sum_received;
  const cpuLeft = l1 - l0;
  return {
    mbps: (end.bytes * 8) / end.seconds / 1e6,
    bytes: end.bytes,
    cpuLeft,
    cpuRight: r1 - r0,
    cpuPerGbLeft: cpuLeft / (end.bytes / 1e9),
  };
}

/** Two namespaces joined by a veth, no route out of either (checked). */
function makeNamespaces(lab: Lab, tag: string): void {
  ip('netns', 'add', lab.left);
  ip('netns', 'add', lab.right);
  const [vl, vr] = [`vbl${tag}`, `vbr${tag}`];
  ip('link', 'add', vl, 'type', 'veth', 'peer', 'name', vr);
  for (const [ns, veth, address] of [
    [lab.left, vl, UNDER.left],
    [lab.right, vr, UNDER.right],
  ]) {
    ip('link', 'set', veth, 'netns', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', veth);
    ip('-n', ns, 'link', 'set', veth, 'up');
    assert.deepEqual(ipJson('-n', ns, 'route', 'show', 'default'), [], `no IPv4 route out of ${ns}`);
    assert.deepEqual(ipJson('-n', ns, '-6', 'route', 'show', 'default'), [], `no IPv6 route out of ${ns}`);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function round(lab: Lab, which: Case, n: number, o: Options): Promise<Record<Direction, Measure>> {
  const tag = `${n}${which}`;
  const started = lab.processes.length;
  try {
    const leftEnd = await startLeft(lab, which, tag, o);
    const rightPeer = { publicKey: lab.keys.left.publicKey, endpoint: `${UNDER.left}:${LEFT_PORT}`, inner: INNER.left };
    const rightEnd = await startWireguardGo(
      lab,
      lab.right,
      `wbr${tag}`,
      lab.keys.right.privateKey,
      RIGHT_PORT,
      rightPeer,
      INNER.right,
    );
    const ping = await run('ip', ['netns', 'exec', lab.left, 'ping', '-n', '-c', '2', '-i', '0.3', '-W', '5', INNER.right]);
    assert.match(ping.stdout, / 0% packet loss/, `the tunnel works before the run\n${ping.stdout}${leftEnd.transcript()}`);
    const [left, right] = [leftEnd.child.pid!, rightEnd.child.pid!];
    const out = {} as Record<Direction, Measure>;
    for (const d of ['leftSends', 'leftReceives'] as const) {
      // A server per run (-1): a long-lived one can still be busy with the last test when the next connects.
      const server = ExampleProcess.program('iperf3', ['-s', '-1', '-B', INNER.right, '--forceflush'], { netns: lab.right });
      lab.processes.push(server);
      await server.waitFor(/Server listening/);
      out[d] = await measure(lab, d, o.seconds, left, right);
    }
    return out;
  } finally {
    await Promise.all(lab.processes.splice(started).map((p) => p.stop('SIGINT', 5000)));
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const tag = uniqueName('').slice(-6);
  const lab: Lab = {
    dir: mkdtempSync(path.join(os.tmpdir(), 'tuntap-wg-bench-')),
    left: `tt-wbl-${tag}`,
    right: `tt-wbr-${tag}`,
    keys: { left: keyPair(), right: keyPair() },
    processes: [],
  };
  const loadAvgAtStart = loadavg();
  const started = Date.now();
  const cases: Case[] = o.baseline === undefined ? ['a', 'b'] : ['a', 'b', 'c'];
  const samples = {} as Record<Case, Record<Direction, Measure[]>>;
  for (const c of cases) samples[c] = { leftSends: [], leftReceives: [] };
  try {
    makeNamespaces(lab, tag);
    for (let n = 0; n < o.rounds; n++) {
      for (const which of cases) {
        const r = await round(lab, which, n, o);
        for (const d of ['leftSends', 'leftReceives'] as const) {
          samples[which][d].push(r[d]);
          const m = r[d];
          console.log(
            `round ${n + 1} ${which} ${d}: ${m.mbps.toFixed(0)} Mbit/s, CPU left ${m.cpuLeft.toFixed(2)} s, ` +
              `right ${m.cpuRight.toFixed(2)} s, left ${m.cpuPerGbLeft.toFixed(2)} CPU s/GB`,
          );
        }
      }
    }
  } finally {
    await Promise.all(lab.processes.splice(0).map((p) => p.stop('SIGINT', 5000)));
    for (const ns of [lab.left, lab.right]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not made
      }
    }
    rmSync(lab.dir, { recursive: true, force: true });
  }

  const rows = [];
  for (const d of ['leftSends', 'leftReceives'] as const) {
    const med = (c: Case, k: keyof Measure): number => median(samples[c][d].map((m) => m[k]));
    const row: Record<string, unknown> = { direction: d };
    for (const c of cases) {
      row[c] = {
        case: CASES[c],
        mbps: med(c, 'mbps'),
        cpuLeft: med(c, 'cpuLeft'),
        cpuRight: med(c, 'cpuRight'),
        cpuPerGbLeft: med(c, 'cpuPerGbLeft'),
        mbpsPerRound: samples[c][d].map((m) => Math.round(m.mbps)),
        cpuPerGbLeftPerRound: samples[c][d].map((m) => Number(m.cpuPerGbLeft.toFixed(2))),
      };
    }
    const ratio = (c: Case): { throughput: number; cpuPerGb: number } => ({
      throughput: med(c, 'mbps') / med('a', 'mbps'),
      cpuPerGb: med(c, 'cpuPerGbLeft') / med('a', 'cpuPerGbLeft'),
    });
    row.ratio = Object.fromEntries(cases.slice(1).map((c) => [`${c}/a`, ratio(c)]));
    rows.push(row);
    for (const c of cases) {
      const r = ratio(c);
      console.log(
        `${d} ${c}: ${med(c, 'mbps').toFixed(0)} Mbit/s, ${med(c, 'cpuPerGbLeft').toFixed(2)} CPU s/GB` +
          (c === 'a'
            ? ''
            : `; ${c}/a throughput ${r.throughput.toFixed(2)} (target >= 0.8), CPU/GB ${r.cpuPerGb.toFixed(2)} (target <= 1.25)`),
      );
    }
  }
  const results = existsSync(o.out) ? (JSON.parse(readFileSync(o.out, 'utf8')) as Record<string, unknown>) : {};
  results.wireguard = {
    node: process.version,
    wireguardGo: execFileSync('wireguard-go', ['--version'], { encoding: 'utf8' }).split('\n')[0],
    date: new Date().toISOString(),
    command: 'npm run bench:wireguard',
    ours: path.relative(root, o.ours),
    oursArgs: o.oursArgs,
    baseline: o.baseline === undefined ? undefined : path.relative(root, o.baseline),
    cases: Object.fromEntries(cases.map((c) => [c, CASES[c]])),
    rounds: o.rounds,
    secondsPerRun: o.seconds,
    cpus: os.cpus().length,
    loadAvgAtStart,
    loadAvgAtEnd: loadavg(),
    seconds: Math.round((Date.now() - started) / 1000),
    rows,
  };
  writeFileSync(o.out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results: ${o.out} (wireguard)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
