// docs/packets.md's samples compile as written against the library (strict
// TypeScript, both entries): a renamed getter or builder field fails here.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const ROOT = path.join(__dirname, '..', '..');

test('every TypeScript sample in docs/packets.md type-checks against tuntap-ts and tuntap-ts/packet', () => {
  const text = readFileSync(path.join(ROOT, 'docs', 'packets.md'), 'utf8');
  const samples = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(samples.length >= 6, `${samples.length} samples`);
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-docs-'));
  try {
    // Each sample is a module of its own (top-level await, its own imports).
    const files = samples.map((source, i) => {
      const file = path.join(dir, `sample${i}.ts`);
      writeFileSync(file, `${source}\nexport {};\n`);
      return file;
    });
    const program = ts.createProgram(files, {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ES2022,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      skipLibCheck: true,
      baseUrl: ROOT,
      paths: { 'tuntap-ts': ['lib/index.ts'], 'tuntap-ts/packet': ['lib/packet/index.ts'] },
    });
    const errors = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || d.file.fileName.startsWith(dir))
      .map((d) => `${path.basename(d.file?.fileName ?? '')}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    assert.deepEqual(errors, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
