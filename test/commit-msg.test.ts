// scripts/check-commit-msg.js and the hook `npm run hooks` installs: what it refuses, and that a
// real `git commit` runs it.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { run } from './helpers';
import { repoRoot } from './package-helpers';

const checker = path.join(repoRoot, 'scripts', 'check-commit-msg.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { commitMessageProblems } = require(checker) as { commitMessageProblems(text: string): string[] };

test('a subject alone, or a subject, a blank line and a body, passes', () => {
  assert.deepEqual(commitMessageProblems('Clear the offload mask on re-open\n'), []);
  assert.deepEqual(commitMessageProblems('Clear the offload mask on re-open\n\nWhy, and what was measured.\n'), []);
});

test('a subject of 72 characters passes and one of 73 does not, counted in characters', () => {
  assert.deepEqual(commitMessageProblems('a'.repeat(72)), []);
  assert.deepEqual(commitMessageProblems('µ'.repeat(72)), []);
  assert.deepEqual(commitMessageProblems('a'.repeat(73)), ['the subject has 73 characters; at most 72']);
});

test('a subject ending in a period, or a body right below it, is refused', () => {
  assert.deepEqual(commitMessageProblems('Fix the reader.\n'), ['the subject ends with a period']);
  assert.deepEqual(commitMessageProblems('Fix the reader\nbecause it broke\n'), [
    'the second line must be blank, between subject and body',
  ]);
});

test('comment lines and what follows the scissors line are not the message', () => {
  const verbose =
    '\n# Please enter the commit message\nFix the reader\n\n# ------------------------ >8 ------------------------\ndiff\n';
  assert.deepEqual(commitMessageProblems(verbose), []);
  assert.deepEqual(commitMessageProblems('# only a comment\n\n'), ['the message is empty']);
});

test("a merge subject git wrote passes whatever the branches' names", () => {
  assert.deepEqual(commitMessageProblems(`Merge branch '${'x'.repeat(80)}' into main\n`), []);
});

test('with the hook npm run hooks installs, git commit refuses a bad message and takes a good one', async (t) => {
  const repo = mkdtempSync(path.join(os.tmpdir(), 'tuntap-hooks-'));
  t.after(() => rmSync(repo, { recursive: true, force: true }));
  cpSync(path.join(repoRoot, '.githooks'), path.join(repo, '.githooks'), { recursive: true });
  cpSync(checker, path.join(repo, 'scripts', 'check-commit-msg.js'));
  const git = (...args: string[]) =>
    run('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args], { cwd: repo });
  assert.equal((await git('init', '-q')).code, 0);
  const hooks = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts.hooks;
  assert.equal((await run('/bin/sh', ['-c', hooks], { cwd: repo })).code, 0);

  const bad = await git('commit', '-q', '--allow-empty', '-m', 'Added things.');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /the subject ends with a period/);
  assert.notEqual((await git('rev-parse', '-q', '--verify', 'HEAD')).code, 0, 'nothing was committed');

  const good = await git('commit', '-q', '--allow-empty', '-m', 'Add things\n\nWhy they are needed.');
  assert.equal(good.code, 0, good.stderr);
  assert.equal((await git('log', '--format=%s')).stdout.trim(), 'Add things');
});
