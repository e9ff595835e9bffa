// The hash of what the native binaries are built from: binding.gyp and every
// file under src/, by name and content. prebuild-all.js stores it beside the
// prebuilds; a test compares, so a changed src/ cannot ship an old binary.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const HASH_FILE = path.join('prebuilds', 'SOURCES.sha256');

function sourceHash(root) {
  const files = [
    'binding.gyp',
    ...fs
      .readdirSync(path.join(root, 'src'))
      .sort()
      .map((f) => `src/${f}`),
  ];
  const hash = crypto.createHash('sha256');
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(fs.readFileSync(path.join(root, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

module.exports = { sourceHash, HASH_FILE };
