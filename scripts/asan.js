#!/usr/bin/env node
// npm run test:asan [-- test files...]: the tests (all but the package ones, or those given) on an
// addon built with ASan and UBSan into build-asan/, with libasan preloaded into Node (which has
// none) and leak detection off; fails on a failing test or any report in build-asan/reports.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { root, run, nodeGypPath } = require('./lib');

const out = path.join(root, 'build-asan');
const pkg = path.join(out, 'pkg');
const reports = path.join(out, 'reports');

function step(what, command, args, options = {}) {
  console.log(`asan: ${what}`);
  return run(command, args, options);
}

// A copy of the addon's sources, built where node-gyp puts its output: pkg/build.
fs.rmSync(pkg, { recursive: true, force: true });
fs.mkdirSync(pkg, { recursive: true });
fs.cpSync(path.join(root, 'src'), path.join(pkg, 'src'), { recursive: true });
fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(pkg, 'binding.gyp'));
const flags = '-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g -O1';
if (
  step('building the addon with -fsanitize=address,undefined', process.execPath, [nodeGypPath(), 'rebuild'], {
    cwd: pkg,
    env: { ...process.env, CFLAGS: flags, CXXFLAGS: flags, LDFLAGS: '-fsanitize=address,undefined' },
  }) !== 0
)
  process.exit(1);
const addon = path.join(pkg, 'build', 'Release', 'tuntap.node');

if (
  step('compiling the TypeScript', process.execPath, [
    path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    'tsconfig.json',
  ]) !== 0
)
  process.exit(1);

const libasan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
if (!path.isAbsolute(libasan) || !fs.existsSync(libasan)) {
  console.error('asan: libasan.so not found (Debian: apt-get install libasan8)');
  process.exit(1);
}
fs.rmSync(reports, { recursive: true, force: true });
fs.mkdirSync(reports, { recursive: true });
// log_exe_name: report files are named report.<program>.<pid>, so a report
// from a tool the tests run (ip, ping, tcpdump: not ours, and uninstrumented,
// but they inherit the preload) can be told from one in Node and our addon.
const sanitizerOptions = `log_path=${path.join(reports, 'report')}:log_exe_name=1`;
const env = {
  ...process.env,
  TUNTAP_NATIVE_PATH: addon,
  LD_PRELOAD: [libasan, process.env.LD_PRELOAD].filter(Boolean).join(' '),
  // detect_leaks=0: Node's own allocations live until exit. verify_asan_link_order=0:
  // the preload, not node's link line, puts libasan first. replace_str=0:
  // iproute2's own strncpy overlaps (harmless there) would abort `ip`; our
  // code's string reads and writes are still checked where it is compiled
  // (and the intercept_* flags say so, or every process warns about it).
  // quarantine_size_mb: freed memory is held back to catch a use after free;
  // the default 256 MiB reads as a leak to the tests that watch RSS.
  ASAN_OPTIONS: `detect_leaks=0:verify_asan_link_order=0:abort_on_error=1:replace_str=0:intercept_strlen=0:intercept_strchr=0:intercept_strndup=0:quarantine_size_mb=16:${sanitizerOptions}`,
  UBSAN_OPTIONS: `print_stacktrace=1:halt_on_error=1:${sanitizerOptions}`,
};
// By default every test file but the package ones: those check the shipped
// prebuilds (not this build) and run foreign binaries (qemu, musl's loader,
// an arm64 Node) that cannot carry a preloaded glibc libasan.
const testDir = path.join(root, 'dist', 'test');
const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : fs
        .readdirSync(testDir)
        .filter((f) => f.endsWith('.test.js') && !f.startsWith('package'))
        .sort()
        .map((f) => path.join(testDir, f));
const started = Date.now();
const status = step(
  'running the tests under the sanitizers',
  process.execPath,
  [path.join(__dirname, 'run-tests.js'), ...files],
  { env },
);
const minutes = ((Date.now() - started) / 60000).toFixed(1);

// Reports from Node (and so from the addon) count; a tool's are shown and left to its authors.
const all = fs.readdirSync(reports);
const found = all.filter((file) => /^report\.node\./u.test(file));
for (const file of all) {
  console.log(`\n==== sanitizer report ${file}${found.includes(file) ? '' : ' (not Node: not counted)'} ====`);
  console.log(fs.readFileSync(path.join(reports, file), 'utf8'));
}
console.log(
  `asan: tests ${status === 0 ? 'passed' : 'FAILED'} in ${minutes} min; ${found.length} sanitizer report(s) from Node, ${all.length - found.length} from other programs`,
);
process.exitCode = status !== 0 || found.length > 0 ? 1 : 0;
