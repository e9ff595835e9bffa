// The Node side of every benchmark case, with the same command line and the
// same stdout protocol as the C reference (bench/c/tunref.c):
//   node worker.js API rx   DEV SECONDS MAXPACKETS [slow]
//   node worker.js API drain DEV        then "go N" lines: read N packets, one JSON line each
//   node worker.js API tx   DEV SRC DST PORT PAYLOAD SECONDS MAXPACKETS
//   node worker.js API echo DEV SECONDS MAXPACKETS
//   node worker.js API fwd  DEVA DEVB SECONDS MAXPACKETS [FORWARDING]
// API is 'stream' (readable / writable, as a user would write it) or 'batch'
// (readBatches() and writePackets(): one crossing per batch, no object per packet),
// or either with '-thread:CPU' ('stream-thread:0'): the device opened with readerThread: { cpu: CPU }.
// 'batch+views' (drain only): readBatches, each packet's 5-tuple and TCP flags read through PacketViews.
// rx ... slow (stream only, for bench/run.ts --soak): a consumer that reads with
// `for await` and waits a millisecond after every 64 packets, far slower than
// a flood, so `readable` stays full and backpressure holds the rest in the kernel.
// FORWARDING (fwd only, default plain) is one of
//   plain           no vnet header, MTU-sized packets
//   offload         TSO on both devices, super-packets passed as read (tunref fwd ... offload does the same)
//   split           TSO on A only: A's super-packets cut into segments by splitGso() for plain B (stream API)
//   split+coalesce  TSO on both: cut, then merged again by coalesceTcp() (stream API)
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { TunDevice, coalesceTcp, splitGso, withVirtioNetHeader, type TunDeviceOptions } from '../lib';
import { PacketViews } from '../lib/packet';
import { internetChecksum } from '../lib/packet/ip';
import { sumFiveTuple } from './parse';
import { forward } from '../test/netns-pair';

type Api = 'stream' | 'batch';

interface Stats {
  packets: number;
  /** Packets counted in the warm-up, before the counters started again. */
  warmPackets: number;
  bytes: number;
  errors: number;
  first: number;
  last: number;
  /** Bytes of the largest packet read (fwd): above the MTU only with offloads. */
  largest: number;
}

function udpPacket(src: string, dst: string, port: number, payload: number): Buffer {
  const len = 28 + payload;
  const p = Buffer.alloc(len);
  p[0] = 0x45;
  p.writeUInt16BE(len, 2);
  p[8] = 64;
  p[9] = 17;
  Buffer.from(src.split('.').map(Number)).copy(p, 12);
  Buffer.from(dst.split('.').map(Number)).copy(p, 16);
  p.writeUInt16BE(internetChecksum(p.subarray(0, 20)), 10);
  p.writeUInt16BE(port, 20);
  p.writeUInt16BE(port, 22);
  p.writeUInt16BE(len - 20, 24); // UDP checksum 0: none (IPv4)
  return p;
}

/** Echo in place: swapping addresses and ports keeps both checksums valid. */
function swapUdp(p: Buffer): boolean {
  if (p.length < 28 || p[0] >> 4 !== 4 || p[9] !== 17) return false;
  const ihl = (p[0] & 15) * 4;
  for (let i = 0; i < 4; i++) {
    const t = p[12 + i];
    p[12 + i] = p[16 + i];
    p[16 + i] = t;
  }
  for (let i = 0; i < 2; i++) {
    const t = p[ihl + i];
    p[ihl + i] = p[ihl + 2 + i];
    p[ihl + 2 + i] = t;
  }
  return true;
}

// Warm-up before counting (TUNTAP_BENCH_WARMUP seconds, as in bench/c/common.h):
// the hot loop gets compiled then, and the counters start again after it.
const WARMUP_MS = Number(process.env.TUNTAP_BENCH_WARMUP ?? '0.3') * 1000;

async function main(argv: string[]): Promise<void> {
  // API-thread:CPU: the same with TunDeviceOptions.readerThread pinned to CPU.
  const [apiArg, mode, ...rest] = argv as [string, string, ...string[]];
  const api: Api = apiArg.startsWith('batch') ? 'batch' : 'stream';
  const threadCpu = /-thread:(\d+)$/u.exec(apiArg)?.[1];
  const readerThread = threadCpu === undefined ? false : { cpu: Number(threadCpu) };
  const s: Stats = { packets: 0, warmPackets: 0, bytes: 0, errors: 0, first: 0, last: 0, largest: 0 };
  const devices: TunDevice[] = [];
  let done = false;
  let cpuAtGo = process.cpuUsage();
  let faultsAtGo = 0;
  let delayAtGo = 0;
  let warmAt = 0; // 0: no packet yet; Infinity: warm
  /** At the end of the warm-up (from the first packet on), the counters start again. */
  const warmCheck = (t: number): void => {
    if (warmAt === 0) warmAt = t + WARMUP_MS;
    if (t >= warmAt) {
      warmAt = Infinity;
      s.warmPackets = s.packets;
      s.packets = 0;
      s.bytes = 0;
      s.first = t;
      cpuAtGo = process.cpuUsage();
      faultsAtGo = process.resourceUsage().minorPageFault;
      delayAtGo = runDelayNs();
    }
  };
  const finish = (): void => {
    if (done) return;
    done = true;
    const seconds = s.packets > 1 ? (s.last - s.first) / 1000 : 0;
    // All threads' user + system time since "go", as getrusage(RUSAGE_SELF) in the C reference.
    const used = process.cpuUsage(cpuAtGo);
    const cpu = (used.user + used.system) / 1e6;
    const faults = process.resourceUsage().minorPageFault - faultsAtGo;
    const runDelay = (runDelayNs() - delayAtGo) / 1e9;
    process.stdout.write(
      `${JSON.stringify({ mode, api, packets: s.packets, warmPackets: s.warmPackets, bytes: s.bytes, errors: s.errors, seconds, cpu, faults, largest: s.largest, runDelay })}\n`,
    );
    for (const d of devices) d.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);
  const open = async (name: string, options: TunDeviceOptions = {}): Promise<TunDevice> => {
    const d = await TunDevice.open({ name, readerThread, ...options });
    d.on('error', () => s.errors++);
    devices.push(d);
    return d;
  };
  if (mode === 'drain') {
    await drain(api, await open(rest[0]), apiArg === 'batch+views');
    return;
  }
  let go: () => void;
  if (mode === 'rx' || mode === 'echo') {
    const [name, seconds, max] = [rest[0], Number(rest[1]), Number(rest[2])];
    const dev = await open(name);
    const echo = mode === 'echo';
    const w = dev.writable;
    // The clock is read once per batch the device hands over (every packet
    // of it was read before JS ran), at the end of its processing: a
    // performance.now() per packet costs about a third of the JS per packet
    // here, and that is the harness's cost, not the library's. The C loop
    // reads its clock per read, the granularity it has.
    let stampDue = false;
    const stamp = (): void => {
      stampDue = false;
      s.last = performance.now();
      if (s.first === 0) s.first = s.last;
      if (warmAt !== Infinity) warmCheck(s.last);
    };
    const countLength = (length: number): void => {
      s.packets++;
      s.bytes += length;
      if (s.packets >= max) finish();
    };
    const count = (p: Buffer): void => countLength(p.length);
    const slow = rest[3] === 'slow';
    go = () => {
      setTimeout(finish, seconds * 1000);
      if (slow) {
        void (async () => {
          for await (const p of dev.readable as AsyncIterable<Buffer>) {
            stamp();
            count(p);
            if (s.packets % 64 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
          }
        })();
      } else if (api === 'stream') {
        dev.readable.on('data', (p: Buffer) => {
          if (echo) {
            if (!swapUdp(p)) return;
            w.write(p);
          }
          // The 'data' events of one batch run in one native callback; the
          // microtask runs when it returns.
          if (!stampDue) {
            stampDue = true;
            queueMicrotask(stamp);
          }
          count(p);
        });
      } else {
        // Nothing keeps a view past the handler (writePackets writes at once),
        // so every batch can reuse the same slab.
        let out: Uint32Array | undefined;
        dev.readBatches(
          (slab, d, n) => {
            out ??= new Uint32Array(d.length); // as many as a batch can hold
            let k = 0;
            for (let i = 0; i < n; i++) {
              const off = d[2 * i];
              const length = d[2 * i + 1];
              // A view only where the packet is looked at (echo): rx counts
              // from the descriptors, as the C reader does, with no object
              // per packet (the batch API's point).
              if (echo) {
                if (!swapUdp(slab.subarray(off, off + length))) continue;
                out[2 * k] = off;
                out[2 * k + 1] = length;
                k++;
              }
              countLength(length);
            }
            if (k > 0 && dev.writePackets(slab, out, k) < k) s.errors++;
            stamp();
          },
          { reuseSlab: true },
        );
      }
    };
  } else if (mode === 'tx') {
    const [name, src, dst, port, payload, seconds, max] = rest;
    const dev = await open(name);
    const packet = udpPacket(src, dst, Number(port), Number(payload));
    go = () => {
      const w = dev.writable;
      const deadline = performance.now() + Number(seconds) * 1000;
      const limit = Number(max);
      s.first = performance.now();
      // batch: bursts of 64 through writePackets(), all views of one packet.
      const burst = new Uint32Array(2 * 64);
      for (let i = 0; i < 64; i++) burst[2 * i + 1] = packet.length;
      const pump = (): void => {
        while (s.packets < limit && performance.now() < deadline) {
          if (warmAt !== Infinity) warmCheck(performance.now());
          if (api === 'batch') {
            for (let k = 0; k < 16 && s.packets < limit; k++) {
              const n = Math.min(64, limit - s.packets);
              const written = dev.writePackets(packet, burst, n);
              s.packets += written;
              s.bytes += written * packet.length;
              if (written < n) {
                setImmediate(pump); // the device's queue is full: come back later
                return;
              }
            }
            continue;
          }
          let ok = true;
          for (let k = 0; k < 256 && ok && s.packets < limit; k++) {
            s.packets++;
            s.bytes += packet.length;
            ok = w.write(packet);
          }
          if (!ok) {
            w.once('drain', pump);
            return;
          }
        }
        // Done when the last queued packet is in the kernel.
        w.write(packet, () => {
          s.packets++;
          s.last = performance.now();
          finish();
        });
      };
      pump();
    };
  } else if (mode === 'fwd') {
    const forwarding = rest[4] ?? 'plain';
    // The C reference asks for TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6: `tso` is the same set.
    const tso: TunDeviceOptions = { offload: { tso: true } };
    const options: Record<string, [TunDeviceOptions, TunDeviceOptions]> = {
      plain: [{}, {}],
      offload: [tso, tso],
      split: [tso, {}],
      'split+coalesce': [tso, tso],
    };
    if (!(forwarding in options)) throw new Error(`unknown forwarding ${forwarding}`);
    const [a, b] = [await open(rest[0], options[forwarding][0]), await open(rest[1], options[forwarding][1])];
    const [seconds, max] = [Number(rest[2]), Number(rest[3])];
    const count = (bytes: number, n: number, largest: number): void => {
      if (largest > s.largest) s.largest = largest;
      s.last = performance.now();
      if (s.packets === 0) s.first = s.last;
      if (warmAt !== Infinity) warmCheck(s.last);
      s.packets += n;
      s.bytes += bytes;
      if (s.packets >= max) finish();
    };
    const splitOrDrop = (p: Buffer): Buffer[] => {
      const r = splitGso(p);
      if (!r.ok) s.errors++;
      return r.ok ? r.packets : [];
    };
    /** What goes from A to B and from B to A, packet by packet, in the split modes. */
    const maps: Record<string, [(p: Buffer) => Iterable<Buffer>, (p: Buffer) => Iterable<Buffer>]> = {
      split: [splitOrDrop, (p) => [withVirtioNetHeader(p)]],
      'split+coalesce': [(p) => coalesceTcp(splitOrDrop(p)), (p) => [p]],
    };
    go = () => {
      setTimeout(finish, seconds * 1000);
      if (forwarding in maps) {
        // Counted as read, before the split: the packets the kernel handed over.
        for (const [from, to, map] of [
          [a, b, maps[forwarding][0]],
          [b, a, maps[forwarding][1]],
        ] as const) {
          forward(from, to, (p) => {
            count(p.length, 1, p.length);
            return map(p);
          });
        }
        return;
      }
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        const w = to.writable;
        if (api === 'stream') {
          from.readable.on('data', (p: Buffer) => count(p.length, 1, p.length));
          from.readable.pipe(w);
        } else {
          // A router's way: what the other side cannot take now is dropped.
          from.readBatches(
            (slab, d, n) => {
              if (to.writePackets(slab, d, n) < n) s.errors++;
              let bytes = 0;
              let largest = 0;
              for (let i = 0; i < n; i++) {
                bytes += d[2 * i + 1];
                if (d[2 * i + 1] > largest) largest = d[2 * i + 1];
              }
              count(bytes, n, largest);
            },
            { reuseSlab: true },
          );
        }
      }
    };
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.stdout.write('ready\n');
  // "go" on stdin starts the run; stdin closed before that means the harness gave up.
  let started = false;
  const lines = createInterface({ input: process.stdin });
  lines.once('line', () => {
    started = true;
    cpuAtGo = process.cpuUsage();
    faultsAtGo = process.resourceUsage().minorPageFault;
    delayAtGo = runDelayNs();
    lines.close();
    go();
  });
  lines.once('close', () => {
    if (!started) finish();
  });
}

/** A task's schedstat: [nanoseconds run, nanoseconds waited runnable for a CPU, ...]. */
function schedstat(task = 'thread-self'): number[] {
  return readFileSync(`/proc/${task}/schedstat`, 'utf8').split(' ').map(Number);
}

/** Nanoseconds the JS thread has waited, runnable, for a CPU. */
function runDelayNs(): number {
  return schedstat()[1];
}

/** Nanoseconds the JS thread has run: not its reader thread's. */
function loopCpuNs(): number {
  return schedstat()[0];
}

/** Nanoseconds the device's reader threads (readerThread) have run. */
function readerCpuNs(): number {
  let ns = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'tuntap-reader') ns += schedstat(`self/task/${tid}`)[0];
  }
  return ns;
}

/**
 * The reader's capacity (bench/run.ts, drainRun): the harness fills the
 * device's ring while nothing reads, then sends "go N"; the N packets are read
 * with no sender running, and one JSON line reports the time from "go" to the
 * N-th packet and the process's CPU time in between. Then the reader pauses
 * until the next "go" (the first fill is a warm-up). A paused `readable` may
 * take up to a batch more from the kernel during the next fill: they are
 * counted in the next drain, whose total is still N.
 */
async function drain(api: Api, dev: TunDevice, parse = false): Promise<void> {
  let want = 0;
  let n = 0;
  let bytes = 0;
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  let faults0 = 0;
  let delay0 = 0;
  let loop0 = 0;
  let reader0 = 0;
  let sum = 0;
  const done = (): void => {
    const seconds = (performance.now() - t0) / 1000;
    const used = process.cpuUsage(cpu0);
    const loopCpu = (loopCpuNs() - loop0) / 1e9;
    const readerCpu = (readerCpuNs() - reader0) / 1e9;
    const faults = process.resourceUsage().minorPageFault - faults0;
    const runDelay = (runDelayNs() - delay0) / 1e9;
    if (api === 'stream') dev.readable.pause();
    else dev.pauseBatches();
    process.stdout.write(
      `${JSON.stringify({ mode: 'drain', api, packets: n, bytes, seconds, cpu: (used.user + used.system) / 1e6, loopCpu, readerCpu, faults, runDelay, ...(parse ? { sum } : {}) })}\n`,
    );
  };
  const onPacket = (p: Buffer): void => {
    bytes += p.length;
    if (++n === want) done();
  };
  const onBatch = (slab: Buffer, d: Uint32Array, count: number): void => {
    for (let i = 0; i < count; i++) bytes += d[2 * i + 1];
    n += count;
    if (n >= want) done();
  };
  // What a flow table reads of each packet (as bench/parse.ts does): the views' cost in a read loop.
  const views = new PacketViews(dev);
  const onBatchViews = (slab: Buffer, d: Uint32Array, count: number): void => {
    // A local small integer: a double kept in the closure would be a heap number allocated per packet.
    let s = 0;
    for (let i = 0; i < count; i++) {
      bytes += d[2 * i + 1];
      if (views.reset(slab, d[2 * i], d[2 * i + 1])) s = (s + sumFiveTuple(views)) | 0;
    }
    sum = (sum + s) | 0;
    n += count;
    if (n >= want) done();
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const m = /^go (\d+)$/u.exec(line);
    if (m === null) return;
    want = Number(m[1]);
    n = 0;
    bytes = 0;
    faults0 = process.resourceUsage().minorPageFault;
    delay0 = runDelayNs();
    loop0 = loopCpuNs();
    reader0 = readerCpuNs();
    cpu0 = process.cpuUsage();
    t0 = performance.now();
    if (api === 'batch') dev.readBatches(parse ? onBatchViews : onBatch, { reuseSlab: true });
    else if (dev.readable.listenerCount('data') === 0) dev.readable.on('data', onPacket);
    else dev.readable.resume();
  });
  lines.once('close', () => {
    dev.destroy();
    process.exit(0);
  });
  process.stdout.write('ready\n');
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
