#!/usr/bin/env node
// npm test: runs every test file under node:test, inside one fresh network
// namespace made for this run (scripts/in-netns.js). Files run one at a time:
// they share the namespace, and the machine has two cores.
//
// Without root there is no namespace: the privileged tests skip with a reason,
// except in CI (CI=true), where a skipped privileged test fails the run.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const testDir = path.join(root, 'dist', 'test');
const only = process.argv.slice(2);
const files =
  only.length > 0
    ? only.map((f) => path.resolve(f))
    : fs
        .readdirSync(testDir)
        .filter((f) => f.endsWith('.test.js'))
        .sort()
        .map((f) => path.join(testDir, f));

const nodeTest = [process.execPath, '--test', '--test-concurrency=1', '--test-reporter=spec', ...files];
let r;
if (process.getuid() === 0) {
  r = spawnSync(process.execPath, [path.join(__dirname, 'in-netns.js'), ...nodeTest], { stdio: 'inherit' });
} else {
  console.log('# not root: privileged tests will skip (in CI they fail)');
  r = spawnSync(nodeTest[0], nodeTest.slice(1), { stdio: 'inherit' });
}
if (r.error) throw r.error;
process.exitCode = r.status ?? 1;
