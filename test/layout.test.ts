// The house rules of lib/ (docs/layout.md), read from the sources:
// no import circles, and the packet helpers stand alone (no addon, no device,
// no netlink), so parseCidr or splitGso work where the native part cannot load.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './package-helpers';

const libDir = path.join(repoRoot, 'lib');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(file);
    return entry.name.endsWith('.ts') ? [file] : [];
  });
}

/** lib/-relative module names ('device/open') -> the modules they import, type-only imports included. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const name = (file: string): string =>
    path
      .relative(libDir, file)
      .replace(/\.ts$/, '')
      .replace(/\/index$/, '');
  for (const file of sources(libDir)) {
    const text = readFileSync(file, 'utf8');
    const targets: string[] = [];
    // `import ... from './x'`, `export ... from './x'` (over several lines), `import './x'`, `import('./x')`.
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*'(\.[^']*)'|\bimport\s*\(?\s*'(\.[^']*)'/g)) {
      const spec = m[1] ?? m[2];
      targets.push(name(path.resolve(path.dirname(file), spec) + '.ts'));
    }
    graph.set(name(file), targets);
  }
  return graph;
}

/** Every import circle, each as the path that closes it ('a -> b -> a'). */
function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
      else if (state.get(next) === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (state.get(node) === undefined) visit(node);
  return found;
}

test('the import graph of lib/ is read from every source file', () => {
  const graph = importGraph();
  assert.ok(graph.size >= 30, `${graph.size} modules`);
  // A known edge in each direction the rules care about, so a parser that sees nothing fails here.
  assert.ok(graph.get('tun-device')?.includes('device/open'), 'tun-device imports device/open');
  assert.ok(graph.get('netlink/api')?.includes('netlink/watcher'), 'netlink/api imports netlink/watcher');
  for (const [module, targets] of graph) {
    for (const target of targets) assert.ok(graph.has(target), `${module} imports ${target}, which is not a module of lib/`);
  }
});

test('no module of lib/ imports itself through others (no import circles)', () => {
  assert.deepEqual(cycles(importGraph()), []);
});

test('the circle check finds a circle when there is one', () => {
  const graph = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
    ['d', ['a']],
  ]);
  assert.deepEqual(cycles(graph), ['a -> b -> c -> a']);
});

test('lib/packet/ imports nothing from device/, netlink/, the binding or the device class', () => {
  const forbidden = /^(device\/|netlink\/|internal\/native$|tun-device$)/;
  for (const [module, targets] of importGraph()) {
    if (!module.startsWith('packet/')) continue;
    // pcap.ts names the TunMode type in its signature; a type import is erased from the JavaScript.
    const text = readFileSync(path.join(libDir, `${module}.ts`), 'utf8');
    for (const target of targets) {
      if (!forbidden.test(target)) continue;
      const typeOnly = new RegExp(`import type [^;]*from '[./]*${target.replace('/', '\\/')}'`).test(text);
      assert.ok(typeOnly, `${module} imports ${target}`);
    }
  }
});

test('loading every lib/packet/ module loads no device, netlink or binding code', () => {
  const packetDir = path.join(repoRoot, 'dist', 'lib', 'packet');
  const files = readdirSync(packetDir).filter((f) => f.endsWith('.js'));
  assert.ok(files.length >= 8, `${files.length} packet modules`);
  const script = `
    for (const f of ${JSON.stringify(files)}) require(${JSON.stringify(packetDir)} + '/' + f);
    console.log(JSON.stringify(Object.keys(require.cache)));`;
  const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as string[];
  const lib = path.join(repoRoot, 'dist', 'lib') + path.sep;
  const fromLib = loaded.filter((f) => f.startsWith(lib)).map((f) => f.slice(lib.length));
  assert.ok(fromLib.includes('packet/ip.js'), 'the packet modules themselves are in the cache');
  assert.deepEqual(
    fromLib.filter((f) => !f.startsWith('packet/') && !/^internal\/(errors|errno|validators|bytes)\.js$/.test(f)),
    [],
  );
  assert.ok(!loaded.some((f) => f.endsWith('.node') || f.includes('node-gyp-build')), 'no addon and no addon loader');
});
