#!/usr/bin/env node
// Makes a fresh machine ready for `npm run demo` and `npm test`: installs the
// Debian packages the demo and tests use (when run as root and one is
// missing) and the npm dependencies (when node_modules is missing or older
// than package-lock.json). Quiet and quick when everything is there.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

// command -> Debian package that provides it
const TOOLS = {
  ip: 'iproute2',
  ping: 'iputils-ping',
  unshare: 'util-linux',
  setpriv: 'util-linux',
  tcpdump: 'tcpdump',
  cc: 'gcc',
  make: 'make',
  python3: 'python3',
};

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function run(command, args) {
  const r = spawnSync(command, args, { stdio: 'inherit', cwd: root, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) {
    console.error(`setup: ${command} ${args.join(' ')} failed`);
    process.exit(r.status ?? 1);
  }
}

const missing = [...new Set(Object.entries(TOOLS).filter(([cmd]) => !have(cmd)).map(([, pkg]) => pkg))];
if (missing.length > 0) {
  if (process.getuid() === 0 && have('apt-get')) {
    console.log(`setup: installing ${missing.join(' ')}`);
    run('apt-get', ['update', '-q']);
    run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing]);
  } else {
    console.warn(`setup: missing ${missing.join(' ')}; install them (as root: apt-get install ${missing.join(' ')})`);
  }
}

const stamp = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');
if (!fs.existsSync(stamp) || fs.statSync(stamp).mtimeMs < fs.statSync(lock).mtimeMs) {
  console.log('setup: installing npm dependencies (npm ci)');
  run('npm', ['ci']);
}
