// The benchmark's smallest mode runs end to end, so the suite cannot rot.
// (Timings are the benchmark's business, not a test's: nothing here checks speed.)
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { privilegedTest, run } from './helpers';

interface ResultRow {
  case: string;
  variant: string;
  median: number;
  ratioToC: number | null;
  speedupOverPlain: number | null;
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
      for (const name of ['rx 64B', 'rx 1400B', 'tx 64B', 'echo 1 in flight', 'echo 32 in flight', 'forward TCP']) {
        assert.ok(cases.has(name), `${name} is missing`);
        const rows = results.rows.filter((row) => row.case === name);
        assert.deepEqual(
          rows.map((row) => row.variant),
          ['C', 'node-stream', 'node-batch'],
        );
        // Every variant moved packets: a broken worker reports 0.
        for (const row of rows) assert.ok(row.median > 0, `${name} ${row.variant}: ${row.median}`);
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
  { timeout: 60_000 },
);
