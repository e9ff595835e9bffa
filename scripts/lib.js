// What the scripts share: the repository's root, running a command, and finding node-gyp.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');

/** Runs `command` with the output shown, from the root unless options say otherwise; its status. */
function run(command, args, options = {}) {
  const r = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

/** run(), but a failure ends the process with a line naming the command, prefixed by `tag`. */
function runOrExit(tag, command, args, options = {}) {
  const status = run(command, args, options);
  if (status !== 0) {
    console.error(`${tag}: ${command} ${args.join(' ')} exited with ${status}`);
    process.exit(status);
  }
}

/** node-gyp's script: npm names its own copy for every script it runs; run directly, npm's global one. */
function nodeGypPath() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout.trim();
  return path.join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
}

module.exports = { root, run, runOrExit, nodeGypPath };
