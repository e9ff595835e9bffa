// Random sequences of open / write / read / pause / resume / close / destroy /
// detachQueue / attachQueue / readBatches / link up and down / addAddress
// over single- and multi-queue devices (test/fault-children/sequence.ts, in
// a child process so a crash is a signal there). No crash, no hang, only
// documented errors, every write called back once, fds and RSS back at the
// baseline. TUNTAP_SEQUENCES=10000 for the long run; TUNTAP_SEED=<seed>
// TUNTAP_SEQUENCES=1 replays one sequence.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { assertCleanExit, childReport, faultTest, runChild, transcript } from './fault-helpers';

interface SequenceReport {
  failures: Array<{ seed: number; step: number; op: string; what: string }>;
  read: number;
  written: number;
  errors: Record<string, number>;
  fdsBefore: number;
  fdsAfter: number;
  rssBefore: number;
  rssAfter: number;
}

const COUNT = Number(process.env.TUNTAP_SEQUENCES ?? 250);
const SEED = Number(process.env.TUNTAP_SEED ?? randomInt(2 ** 31));

const MODES = {
  listeners: { words: "with 'error' listeners on the device and both streams", todo: undefined },
  bare: {
    words: "with an 'error' listener on the device only",
    todo: undefined,
  },
} as const;

for (const [mode, { words, todo }] of Object.entries(MODES)) {
  faultTest(
    `${COUNT} random operation sequences ${words} crash nothing, hang nothing, throw only documented errors and leave fds and RSS at the baseline`,
    async (t) => {
      const seeds = `seeds ${SEED} to ${SEED + COUNT - 1} (replay one with TUNTAP_SEED=<seed> TUNTAP_SEQUENCES=1)`;
      t.diagnostic(seeds);
      const run = await runChild('sequence', [String(SEED), String(COUNT), mode], { timeoutMs: 240_000 + COUNT * 400 });
      assert.ok(!run.timedOut && run.signal === null, `${seeds}: the last seed printed crashed or hung\n${transcript(run)}`);
      assertCleanExit(run);
      const r = childReport<SequenceReport>(run);
      const failures = r.failures.map((f) => `seed ${f.seed}, step ${f.step} (${f.op}): ${f.what}`);
      assert.deepEqual(failures, [], seeds);
      t.diagnostic(`${r.read} packets read, ${r.written} written; documented errors: ${JSON.stringify(r.errors)}`);
      assert.ok(r.read > 0 && r.written > 0, 'the sequences moved packets both ways');
      assert.equal(r.fdsAfter, r.fdsBefore, 'no fd left open');
      // Each sequence allocates read slabs (1 MiB each) and netlink sockets; a
      // leak of one slab per sequence would grow RSS by about 240 MiB here.
      const grown = r.rssAfter - r.rssBefore;
      assert.ok(grown < 48 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
    },
    { timeout: 270_000 + COUNT * 400, todo },
  );
}
