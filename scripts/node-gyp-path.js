// Where node-gyp is: npm names its own copy in npm_config_node_gyp for every
// script it runs; run directly, we ask npm where its global root is.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

function nodeGypPath() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout.trim();
  return path.join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
}

module.exports = { nodeGypPath };
