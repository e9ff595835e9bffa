// The benchmark's smallest mode runs end to end, so the suite cannot rot.
// (Timings are the benchmark's business, not a test's: nothing here checks speed.)
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { privilegedTest, run } from './helpers';

privilegedTest('npm run bench -- --quick runs every case against C and writes its JSON', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-bench-'));
  try {
    const out = path.join(dir, 'results.json');
    const r = await run(process.execPath, [path.join(__dirname, '..', 'bench', 'run.js'), '--quick', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(readFileSync(out, 'utf8')) as { rows: Array<{ case: string; variant: string; median: number; ratioToC: number | null }> };
    const cases = new Set(results.rows.map((row) => row.case));
    for (const name of ['rx 64B', 'rx 1400B', 'tx 64B', 'echo 1 in flight', 'echo 32 in flight', 'forward TCP']) {
      assert.ok(cases.has(name), `${name} is missing`);
      const rows = results.rows.filter((row) => row.case === name);
      assert.deepEqual(rows.map((row) => row.variant), ['C', 'node-stream', 'node-batch']);
      // Every variant moved packets: a broken worker reports 0.
      for (const row of rows) assert.ok(row.median > 0, `${name} ${row.variant}: ${row.median}`);
    }
    assert.match(r.stdout, /Node\/C/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { timeout: 60_000 });
