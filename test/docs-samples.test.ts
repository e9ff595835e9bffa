// The samples a newcomer copies first (README's quick start, the guide's first
// program) run as written: type-stripped, imported from the built package,
// answering ping until Ctrl-C, then closing the device; and they survive the
// device being deleted under them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { linkExists, privilegedTest, rejectAfter, run, uniqueName, uniqueSubnet } from './helpers';
import { LIB } from './kernel-helpers';

const ROOT = path.join(__dirname, '..', '..');

/** The first ```ts or ```js block after `heading` in a Markdown file. */
function firstSample(file: string, heading: string): string {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const at = text.indexOf(heading);
  assert.ok(at >= 0, `${file} has no '${heading}'`);
  const match = /```(?:ts|js)\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(match, `${file}: no ts sample after '${heading}'`);
  return match[1];
}

/**
 * Runs a sample as an ES module against the built library, with its device
 * name and subnet made unique, until ping gets replies; then stops it with
 * Ctrl-C, or deletes its device (`ip link del`) and waits for it to exit.
 */
async function runSample(source: string, stop: 'SIGINT' | 'ip link del' = 'SIGINT'): Promise<void> {
  const name = uniqueName('doc');
  const net = uniqueSubnet();
  assert.match(source, /'tun0'/);
  assert.match(source, /10\.0\.0\.1\/24/);
  const js = ts.transpileModule(
    source
      .replace("from 'tuntap-ts'", `from ${JSON.stringify(path.join(LIB, 'index.js'))}`)
      .replace("'tun0'", `'${name}'`)
      .replace('10.0.0.1/24', `${net.host(1)}/24`),
    { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } },
  ).outputText;
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-sample-'));
  try {
    const file = path.join(dir, 'sample.mjs');
    writeFileSync(file, js);
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
    try {
      // Up and answering: ping until it gets replies.
      let replies = 0;
      // Until the sample has the device up, ping fails at once (no route): try for up to 10 s.
      const deadline = Date.now() + 30_000;
      while (replies === 0 && Date.now() < deadline) {
        const r = await run('ping', ['-n', '-c', '2', '-i', '0.2', '-W', '1', net.host(2)]);
        if (r.code !== 0) await new Promise((resolve) => setTimeout(resolve, 100));
        replies = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
        assert.equal(child.exitCode, null, `the sample exited early: ${stderr}`);
      }
      assert.ok(replies > 0, `ping got no reply from the sample: ${stderr}`);
      assert.equal(linkExists(name), true);
    } catch (error) {
      child.kill('SIGINT');
      throw error;
    }
    if (stop === 'SIGINT') child.kill('SIGINT');
    else await run('ip', ['link', 'del', name]);
    const [code, signal] = await Promise.race([
      exited,
      rejectAfter(20_000, () => `the sample did not exit after ${stop}: ${stderr}`).catch((error: unknown) => {
        child.kill('SIGKILL');
        throw error;
      }),
    ]);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, stderr);
    assert.equal(linkExists(name), false, stop === 'SIGINT' ? 'Ctrl-C closed the device' : 'the device is gone');
    // The 'error' listener printed the device's end instead of the process dying of it.
    if (stop === 'ip link del') assert.match(stderr, /E(BADFD|NODEV)|File descriptor in bad state|No such device/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

privilegedTest("the README's quick start answers ping until Ctrl-C, then closes the device", async () => {
  await runSample(firstSample('README.md', '## Quick start'));
});

privilegedTest("the guide's first program answers ping until Ctrl-C, then closes the device", async () => {
  await runSample(firstSample('docs/guide/getting-started.md', '## Your first program'));
});

privilegedTest(
  "the README's quick start survives its device being deleted (ip link del): it reports the error and exits 0",
  async () => {
    await runSample(firstSample('README.md', '## Quick start'), 'ip link del');
  },
);
