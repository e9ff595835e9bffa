#!/usr/bin/env node
// npm run fuzz [-- COUNT [SEED]]: fuzzes the netlink decoder and the packet
// parsers (test/fuzz-targets.ts says what is checked). COUNT defaults to
// 1,000,000 iterations, SEED to one drawn now and printed, so that any
// failure is reproduced by `npm run fuzz -- COUNT SEED`. Exits 1 on a failure
// or a stuck input. Needs no privilege and opens no device.
'use strict';
const path = require('node:path');

const count = Number(process.argv[2] ?? 1e6);
const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 0x7fffffff));
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed) || seed < 0) {
  console.error('usage: npm run fuzz -- [COUNT] [SEED]   (non-negative integers)');
  process.exit(2);
}

const { fuzz } = require(path.join(__dirname, '..', 'dist', 'test', 'fuzz-runner.js'));

console.log(`fuzz: ${count} iterations, seed ${seed}`);
fuzz(seed, count).then(
  (report) => {
    const seconds = report.elapsedMs / 1000;
    console.log(
      `fuzz: ${report.iterations} iterations in ${seconds.toFixed(1)} s (${Math.round(report.iterations / seconds)}/s), ${report.failures.length} failures`,
    );
    for (const f of report.failures) {
      console.log(
        `- ${f.target}, iteration ${f.iteration}: ${f.problem}\n  input ${f.input.length > 400 ? `${f.input.slice(0, 400)}...` : f.input}`,
      );
    }
    if (report.stuck !== undefined)
      console.log(`- stuck: iteration ${report.stuck.iteration} ran ${Math.round(report.stuck.ms)} ms without finishing`);
    if (report.failures.length > 0 || report.stuck !== undefined) {
      console.log(`reproduce: npm run fuzz -- ${count} ${seed}`);
      process.exitCode = 1;
    }
  },
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
