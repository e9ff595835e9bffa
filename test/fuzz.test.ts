// A short run of the fuzzer (npm run fuzz runs a million iterations): the
// netlink decoder and client and the packet parsers, fed mutated inputs,
// throw nothing, read nothing beyond their input and never hang.
// TUNTAP_FUZZ_COUNT and TUNTAP_FUZZ_SEED change the run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzz } from './fuzz-runner';
import { fuzzOne, TARGETS } from './fuzz-targets';

const count = Number(process.env.TUNTAP_FUZZ_COUNT ?? 5000);
const seed = Number(process.env.TUNTAP_FUZZ_SEED ?? 20240601);

test(`${count} fuzzed inputs to the decoders and parsers (seed ${seed}) break no contract`, { timeout: 600_000 }, async () => {
  const report = await fuzz(seed, count);
  const described = report.failures.map((f) => `${f.target} #${f.iteration}: ${f.problem} (input ${f.input.slice(0, 200)})`);
  assert.equal(report.stuck, undefined, `an input ran without end; reproduce with npm run fuzz -- ${count} ${seed}`);
  assert.deepEqual(described, [], `reproduce with npm run fuzz -- ${count} ${seed}`);
  assert.equal(report.iterations, count);
});

test('the fuzzer reproduces an iteration from its seed alone', () => {
  // The same (seed, iteration) makes the same input on every run and machine.
  for (let i = 0; i < TARGETS.length * 3; i++) assert.deepEqual(fuzzOne(99, i), fuzzOne(99, i));
});
