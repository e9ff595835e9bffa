#!/usr/bin/env node
// node scripts/setup.js [--cross] [--check]: installs (as root) the Debian packages the build, demo,
// lint and tests need, and runs npm ci when node_modules is stale; --cross (or CI=true) adds the
// arm64/musl test tools. --check only prints "missing: <package>" lines and exits 1 if any.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ARM64_NODE, CROSS_PACKAGES, arm64NodePath, arm64NodePrefix } = require('./cross-tools');
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
const needArm64Node = cross && !fs.existsSync(arm64NodePath());
if (checkOnly) {
  for (const pkg of missing) console.log(`missing: ${pkg}`);
  if (needArm64Node) console.log(`missing: npm ${ARM64_NODE.name}@${ARM64_NODE.version}`);
  process.exit(missing.length > 0 || needArm64Node ? 1 : 0);
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

if (needArm64Node) {
  // The package declares cpu arm64, which `npm install` refuses on x64; it is
  // only a Node binary in a tarball, so it is fetched and unpacked instead.
  console.log(
    `setup: fetching ${ARM64_NODE.name}@${ARM64_NODE.version} (an arm64 Node for the prebuild tests) into ${arm64NodePrefix()}`,
  );
  fs.rmSync(arm64NodePrefix(), { recursive: true, force: true });
  fs.mkdirSync(arm64NodePrefix(), { recursive: true });
  run('npm', ['pack', '--silent', '--pack-destination', arm64NodePrefix(), `${ARM64_NODE.name}@${ARM64_NODE.version}`]);
  const tarball = fs.readdirSync(arm64NodePrefix()).find((f) => f.endsWith('.tgz'));
  run('tar', ['xzf', path.join(arm64NodePrefix(), tarball), '-C', arm64NodePrefix()]);
  fs.rmSync(path.join(arm64NodePrefix(), tarball));
}

const stamp = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');
if (!fs.existsSync(stamp) || fs.statSync(stamp).mtimeMs < fs.statSync(lock).mtimeMs) {
  console.log('setup: installing npm dependencies (npm ci)');
  run('npm', ['ci']);
}
