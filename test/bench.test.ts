// The benchmark's smallest mode runs end to end, so the suite cannot rot.
// (Timings are the benchmark's business, not a test's: nothing here checks speed.)
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { batch, buildParseC, runC, viewsFields } from '../bench/parse';
import { privilegedTest, run } from './helpers';

interface ResultRow {
  case: string;
  variant: string;
  median: number;
  ratioToC: number | null;
  speedupOverPlain: number | null;
  note?: string;
  samples: Array<Record<string, number>>;
}

privilegedTest(
  'npm run bench -- --quick runs every case against C and writes its JSON',
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-bench-'));
    try {
      const out = path.join(dir, 'results.json');
      const r = await run(process.execPath, [path.join(__dirname, '..', 'bench', 'run.js'), '--quick', '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      const results = JSON.parse(readFileSync(out, 'utf8')) as { rows: ResultRow[] };
      const cases = new Set(results.rows.map((row) => row.case));
      const rxCases = ['drain 64B', 'drain 1400B', 'paced 64B 50k/s', 'paced 1400B 50k/s', 'flood 64B', 'flood 1400B'].map(
        (c) => `rx ${c}`,
      );
      for (const name of [...rxCases, 'tx 64B', 'echo 1 in flight', 'echo 32 in flight', 'forward TCP']) {
        assert.ok(cases.has(name), `${name} is missing`);
        const rows = results.rows.filter((row) => row.case === name);
        // The drain and paced cases also measure the reader thread and C with
        // io_uring; those and the tx and echo cases C in a multi-threaded
        // process too, and tx C's writes through io_uring.
        const withThreads = name.startsWith('rx drain') || name.startsWith('rx paced');
        const more = [
          ...(withThreads ? ['C-uring', 'thread-stream', 'thread-batch'] : []),
          ...(withThreads || name === 'tx 64B' || name.startsWith('echo') ? ['C-mt'] : []),
          ...(name === 'tx 64B' ? ['C-uring'] : []),
          // The paced cases: C-mt waiting as libuv does in Node, a zero-timeout look before each sleep.
          ...(name.startsWith('rx paced') ? ['C-uv'] : []),
        ];
        assert.deepEqual(
          rows.map((row) => row.variant),
          ['C', 'node-stream', 'node-batch', ...more],
        );
        // Every variant moved packets: a broken worker reports 0.
        for (const row of rows) assert.ok(row.median > 0, `${name} ${row.variant}: ${row.median}`);
      }
      // The views' cost in a read loop: the same drain with and without the parse, the CPU ratio on the views' row.
      assert.deepEqual(
        results.rows
          .filter((row) => row.case === 'rx drain 64B parse CPU')
          .map((row) => [row.variant, row.speedupOverPlain !== null]),
        [
          ['node-batch', false],
          ['views-batch', true],
        ],
      );
      // The multi-queue cases: 1 and 2 queues, each reader thread on its own queue.
      for (const kind of ['drain', 'flood']) {
        for (const q of [1, 2]) {
          const rows = results.rows.filter((row) => row.case === `rx mq ${kind} 64B ${q}q`);
          assert.deepEqual(
            rows.map((row) => row.variant),
            ['C', 'node-stream', 'node-batch'],
            `rx mq ${kind} ${q}q`,
          );
          for (const row of rows) assert.ok(row.median > 0, `rx mq ${kind} ${q}q ${row.variant}: ${row.median}`);
        }
      }
      // C-uv looked before it slept: at 50k packets a second the ring is empty at
      // most wake-ups (a C loop that never looked would report none).
      for (const row of results.rows.filter((row) => row.variant === 'C-uv')) {
        assert.ok(row.samples[0].emptyLooksPerKPkt > 0, `${row.case}: no empty look before a sleep`);
      }
      // A drain reads exactly what the harness put in the ring, and reports its CPU per packet,
      // and the event loop's thread's part of it: all of it without a reader thread, less with one
      // (that thread made the reads).
      for (const row of results.rows.filter((row) => row.case.startsWith('rx drain'))) {
        const [sample] = row.samples;
        assert.equal(sample.read, 20_000, `${row.case} ${row.variant}`);
        assert.ok(sample.cpuUsPerPkt > 0, `${row.case} ${row.variant}: no CPU figure`);
        // (Loosely: over a quick drain's few milliseconds, getrusage's adjusted
        // user and system times can lag the scheduler's own count.)
        assert.ok(
          sample.loopUsPerPkt > 0 && sample.loopUsPerPkt <= sample.cpuUsPerPkt * 1.25,
          `${row.case} ${row.variant}: loop ${sample.loopUsPerPkt} of ${sample.cpuUsPerPkt}`,
        );
        if (row.variant.startsWith('thread-')) {
          assert.ok(sample.loopUsPerPkt < sample.cpuUsPerPkt * 0.8, `${row.case} ${row.variant}: the loop made the reads`);
          // The reader thread's own time: some, no more than the drain lasted, and with batches (where the
          // loop only hands slabs on) more than the loop's; a stream's per-chunk JS can outweigh it under load.
          assert.ok(sample.threadUsPerPkt > 0, `${row.case} ${row.variant}: no time on the reader thread`);
          if (row.variant === 'thread-batch') {
            assert.ok(sample.threadUsPerPkt > sample.loopUsPerPkt, `${row.case} ${row.variant}: the thread read little`);
          }
          assert.ok(
            sample.threadBusy > 0 && sample.threadBusy <= 1.05,
            `${row.case} ${row.variant}: threadBusy ${sample.threadBusy}`,
          );
        }
      }
      // A flood says what bounded it; a row flagged as not the reader's has no Node/C ratio.
      for (const row of results.rows.filter((row) => row.case.startsWith('rx flood'))) {
        const [sample] = row.samples;
        assert.ok(sample.sentRate > 0 && sample.cpuShare > 0, `${row.case} ${row.variant}: no sent rate or CPU share`);
        assert.ok(sample.readerBound === 0 || sample.readerBound === 1);
        if (row.note !== undefined) assert.equal(row.ratioToC, null);
      }
      // The forward case's offload variants, alternated with the plain ones.
      const forward = (name: string): ResultRow[] => results.rows.filter((row) => row.case === name);
      // Without offloads nothing larger than the 1500-byte MTU reaches the forwarder.
      for (const row of forward('forward TCP'))
        assert.ok(row.samples[0].largest <= 1500, `plain ${row.variant}: ${row.samples[0].largest}`);
      assert.deepEqual(
        forward('forward TCP offload').map((row) => row.variant),
        ['C', 'node-stream', 'node-batch'],
      );
      for (const name of ['forward TCP split', 'forward TCP split+coalesce'])
        assert.deepEqual(
          forward(name).map((row) => row.variant),
          ['node-stream'],
        );
      for (const row of results.rows.filter((row) => row.case.startsWith('forward TCP '))) {
        const [sample] = row.samples;
        assert.ok(sample.bytes > 0, `${row.case} ${row.variant} moved no bytes`);
        // Super-packets reached the forwarder: offloads were on.
        assert.ok(sample.largest > 1500, `${row.case} ${row.variant}: largest packet ${sample.largest}`);
        assert.ok(
          row.speedupOverPlain !== null && row.speedupOverPlain > 0,
          `${row.case} ${row.variant}: no offload/plain speed-up`,
        );
      }
      assert.match(r.stdout, /Node\/C/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  { timeout: 600_000 },
);

test('the parse bench: the views read the same 5-tuple and TCP flags as C, packet by packet', () => {
  const exe = buildParseC();
  for (const version of [4, 6] as const) {
    const { slab, d } = batch(version, 256);
    const c = runC(exe, slab, d, 'dump').trimEnd().split('\n');
    assert.equal(c.length, 256);
    // Not all zero: C found IP packets with ports.
    assert.ok(
      c.every((line) => line.startsWith(`${version} `) && !line.endsWith(' 0 0 0')),
      c[0],
    );
    assert.deepEqual(viewsFields(slab, d, 256), c);
  }
});

test('node bench/parse.js --quick times every parser and writes its rows', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-parse-bench-'));
  try {
    const out = path.join(dir, 'results.json');
    const r = await run(process.execPath, [path.join(__dirname, '..', 'bench', 'parse.js'), '--quick', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const { parse } = JSON.parse(readFileSync(out, 'utf8')) as {
      parse: { rows: Array<{ case: string; variant: string; median: number }>; skipped: Record<string, Record<string, string>> };
    };
    for (const version of [4, 6]) {
      const rows = parse.rows.filter((row) => row.case === `parse IPv${version} 5-tuple+flags`);
      assert.deepEqual(
        rows.slice(0, 3).map((row) => row.variant),
        ['C', 'PacketViews', 'by hand'],
      );
      for (const row of rows) assert.ok(row.median > 0, `IPv${version} ${row.variant}`);
      // A decoder that did not load says why (here or not, it is the bench's dev dependency, not the project's).
      for (const why of Object.values(parse.skipped[`IPv${version}`])) assert.ok(why.length > 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

privilegedTest('node bench/udp-forward.js --quick runs every UDP pump both ways and writes its rows', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-udp-bench-'));
  try {
    const out = path.join(dir, 'results.json');
    const r = await run(process.execPath, [path.join(__dirname, '..', 'bench', 'udp-forward.js'), '--quick', '--out', out]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const { udp } = JSON.parse(readFileSync(out, 'utf8')) as {
      udp: { rows: Array<{ direction: string; variant: string; kpps: number; cpuMicrosPerPacket: number; ratioToC: number }> };
    };
    assert.deepEqual(
      udp.rows.map((row) => `${row.direction} ${row.variant}`),
      ['out C mmsg', 'out C gso', 'out Node tunnel', 'out Node dgram', 'in C recvmmsg', 'in Node tunnel', 'in Node dgram'],
    );
    for (const row of udp.rows) assert.ok(row.kpps > 0 && row.cpuMicrosPerPacket > 0 && row.ratioToC > 0, JSON.stringify(row));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
