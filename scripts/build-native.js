#!/usr/bin/env node
// npm run build:native: compiles the addon into build/Release unless the one
// there was built from the same src/, binding.gyp and node-addon-api (a stamp
// beside it holds their hash), so `npm test` and `npm run demo` do not spend
// 15 s recompiling on every run. node-gyp's log is kept and shown only when
// the build fails. `--force` rebuilds anyway.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { sourceHash } = require('./source-hash');
const { root, nodeGypPath } = require('./lib');

const addon = path.join(root, 'build', 'Release', 'tuntap.node');
const stampFile = path.join(root, 'build', 'sources.sha256');

const stamp = `${sourceHash(root)} node-addon-api@${require('node-addon-api/package.json').version}`;
const current = fs.existsSync(addon) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp;
if (current && !process.argv.includes('--force')) process.exit(0);

const started = Date.now();
const r = spawnSync(process.execPath, [nodeGypPath(), 'rebuild'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
if (r.error) throw r.error;
if (r.status !== 0) {
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  console.error('build-native: node-gyp rebuild failed (log above); `node scripts/setup.js` installs the compiler it needs');
  process.exit(r.status ?? 1);
}
fs.writeFileSync(stampFile, stamp);
console.log(`build-native: compiled build/Release/tuntap.node in ${((Date.now() - started) / 1000).toFixed(1)} s`);
