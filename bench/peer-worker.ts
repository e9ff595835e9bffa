// A peer package on the rx and echo cases, same protocol as worker.ts:
//   node peer-worker.js PKGDIR rx|echo DEV SECONDS MAXPACKETS
// appium-ios-tuntap (installed by hand in PKGDIR, never a dependency of this
// project) reads without blocking and has no readiness event, so the only
// way to use it is to poll: drain read() until it returns nothing, then yield
// to the event loop with setImmediate.
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import path from 'node:path';

interface PeerTunTap {
  open(): boolean;
  close(): boolean;
  read(maxSize?: number): Buffer;
  write(data: Buffer): number;
}

const WARMUP_MS = Number(process.env.TUNTAP_BENCH_WARMUP ?? '0.3') * 1000;
// TypeScript would turn import() into require(), which cannot load an ES module.
const importEsm = new Function('p', 'return import(p)') as (p: string) => Promise<{ TunTap: new (name: string) => PeerTunTap }>;

function swapUdp(p: Buffer): boolean {
  if (p.length < 28 || p[0] >> 4 !== 4 || p[9] !== 17) return false;
  const ihl = (p[0] & 15) * 4;
  const src = p.readUInt32BE(12);
  p.writeUInt32BE(p.readUInt32BE(16), 12);
  p.writeUInt32BE(src, 16);
  const port = p.readUInt16BE(ihl);
  p.writeUInt16BE(p.readUInt16BE(ihl + 2), ihl);
  p.writeUInt16BE(port, ihl + 2);
  return true;
}

async function main([dir, mode, name, seconds, max]: string[]): Promise<void> {
  const { TunTap } = await importEsm(path.join(dir, 'node_modules', 'appium-ios-tuntap', 'lib', 'src', 'index.js'));
  const dev = new TunTap(name);
  dev.open();
  const s = { packets: 0, bytes: 0, first: 0, last: 0, warmAt: 0 };
  let cpuAtGo = process.cpuUsage();
  let stopped = false;
  const finish = (): void => {
    if (stopped) return;
    stopped = true;
    const used = process.cpuUsage(cpuAtGo);
    const out = {
      mode,
      api: 'peer',
      packets: s.packets,
      bytes: s.bytes,
      errors: 0,
      seconds: s.packets > 1 ? (s.last - s.first) / 1000 : 0,
      cpu: (used.user + used.system) / 1e6,
      faults: 0,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    dev.close();
    process.exit(0);
  };
  process.on('SIGTERM', finish);
  const poll = (): void => {
    for (let k = 0; k < 64 && !stopped; k++) {
      const p = dev.read(65_535);
      if (p.length === 0) break;
      const t = performance.now();
      if (s.warmAt === 0) s.warmAt = t + WARMUP_MS;
      if (t >= s.warmAt && s.warmAt !== Infinity) {
        s.warmAt = Infinity;
        s.packets = 0;
        s.bytes = 0;
        s.first = t;
        cpuAtGo = process.cpuUsage();
      }
      if (mode === 'echo') {
        if (!swapUdp(p)) continue;
        dev.write(p);
      }
      s.last = t;
      if (s.packets++ === 0 && s.first === 0) s.first = t;
      s.bytes += p.length;
      if (s.packets >= Number(max)) finish();
    }
    if (!stopped) setImmediate(poll);
  };
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  lines.once('line', () => {
    lines.close();
    cpuAtGo = process.cpuUsage();
    setTimeout(finish, Number(seconds) * 1000);
    poll();
  });
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
