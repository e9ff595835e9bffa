// Types as a user sees them: the packed package's .d.ts, installed into an
// empty project, compiled against test/types/consumer.mts by tsc --strict with
// skipLibCheck false, as an ES module and as CommonJS.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { run } from './helpers';
import { repoRoot, useInstalledPackage } from './package-helpers';

const pkg = useInstalledPackage({ before, after });

before(() => {
  const { project } = pkg;
  // The consumer's own dev dependencies: Node's types, and typed-emitter to check compatibility with it.
  for (const dep of ['@types', 'typed-emitter'])
    symlinkSync(path.join(repoRoot, 'node_modules', dep), path.join(project, 'node_modules', dep));
  const source = path.join(repoRoot, 'test', 'types', 'consumer.mts');
  copyFileSync(source, path.join(project, 'consumer.mts'));
  copyFileSync(source, path.join(project, 'consumer.cts'));
  copyFileSync(path.join(repoRoot, 'test', 'types', 'typed-emitter.cts'), path.join(project, 'typed-emitter.cts'));
});

async function tsc(compilerOptions: Record<string, unknown>, files: string[]): Promise<{ code: number | null; output: string }> {
  const config = path.join(pkg.project, `tsconfig.${String(compilerOptions.module)}.json`);
  const base = {
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    target: 'ES2022',
    lib: ['ES2022', 'ESNext.Disposable'],
    types: ['node'],
  };
  writeFileSync(config, JSON.stringify({ compilerOptions: { ...base, ...compilerOptions }, files }));
  const r = await run(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', config], {
    cwd: pkg.project,
  });
  return { code: r.code, output: r.stdout + r.stderr };
}

test('a strict ES module and CommonJS modules (nodenext) compile against the package, each @ts-expect-error line is an error, and a device is a typed-emitter TypedEmitter', async () => {
  const r = await tsc({ module: 'nodenext', moduleResolution: 'nodenext' }, [
    'consumer.mts',
    'consumer.cts',
    'typed-emitter.cts',
  ]);
  assert.equal(r.output, '');
  assert.equal(r.code, 0);
});

test('a strict CommonJS module (module commonjs, moduleResolution node10) compiles against the package', async () => {
  const r = await tsc({ module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }, [
    'consumer.cts',
    'typed-emitter.cts',
  ]);
  assert.equal(r.output, '');
  assert.equal(r.code, 0);
});

test('the consumer check fails when an expected error is not one (it checks something)', async () => {
  const broken = path.join(pkg.project, 'broken.mts');
  writeFileSync(
    broken,
    readFileSync(path.join(pkg.project, 'consumer.mts'), 'utf8').replace("dev.on('linkChanged'", "dev.on('linkChange'"),
  );
  const r = await tsc({ module: 'nodenext', moduleResolution: 'nodenext' }, ['broken.mts']);
  assert.notEqual(r.code, 0);
  assert.match(r.output, /TS2578: Unused '@ts-expect-error' directive/);
});

test('the shipped .d.ts leave out the internals (kWrite, kLinkNames, the stream hooks)', () => {
  const dir = path.join(pkg.installed, 'dist', 'lib');
  const all = [
    ...readdirSync(dir).map((f) => path.join(dir, f)),
    ...readdirSync(path.join(dir, 'netlink')).map((f) => path.join(dir, 'netlink', f)),
  ]
    .filter((f) => f.endsWith('.d.ts'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  for (const internal of ['kWrite', 'kWritev', 'kLinkNames', 'kStartReading', 'kStopReading', "from 'typed-emitter'"]) {
    assert.ok(!all.includes(internal), `${internal} is not in the .d.ts`);
  }
});
