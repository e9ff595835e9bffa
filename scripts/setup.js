#!/usr/bin/env node
// Makes a fresh machine ready for `npm run demo` and `npm test`: installs the
// Debian packages the build, the demo and the tests use (when run as root
// and one is missing) and the npm dependencies (when node_modules is missing
// or older than package-lock.json). Quiet and quick when everything is there.
//
// Each tool is looked for by name: g++ and make and python3 for node-gyp, and
// the C library's headers by a file, since `cc` alone says nothing about a
// C++ compiler (Debian's gcc brings neither g++ nor libc6-dev).
//
// In CI (CI=true), or with --cross, it also installs what the prebuild tests
// run the arm64 and musl binaries with (scripts/cross-tools.js): qemu-user,
// Debian's arm64 glibc and libstdc++, musl-tools, and an arm64 Node from npm.
//
//   node scripts/setup.js [--cross] [--check]
//
// clang-format (for `npm run lint`) is installed with the rest when run as
// root; --check reports it missing only in CI, where lint runs.
//
// --check only reports what is missing (one "missing: <package>" line each)
// and exits 1 if anything is; it installs nothing.
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
