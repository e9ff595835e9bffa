#!/usr/bin/env node
// prepack: refuses to pack without every prebuilt binary, or with binaries
// built from other sources than src/ and binding.gyp as they are now.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { sourceHash, HASH_FILE } = require('./source-hash');

const root = path.join(__dirname, '..');
const expected = [
  'linux-x64/tuntap-ts.glibc.node',
  'linux-x64/tuntap-ts.musl.node',
  'linux-arm64/tuntap-ts.glibc.node',
  'linux-arm64/tuntap-ts.musl.node',
];
const missing = expected.filter((f) => !fs.existsSync(path.join(root, 'prebuilds', f)));
const problems = missing.map((f) => `prebuilds/${f} is missing`);
const hashFile = path.join(root, HASH_FILE);
const stored = fs.existsSync(hashFile) ? fs.readFileSync(hashFile, 'utf8').trim() : '';
if (stored !== sourceHash(root)) problems.push(`${HASH_FILE} does not match src/ and binding.gyp: the prebuilds are stale`);
if (problems.length > 0) {
  console.error(`check-prebuilds: ${problems.join('; ')}. Run \`npm run prebuild:all\` and commit prebuilds/.`);
  process.exit(1);
}
