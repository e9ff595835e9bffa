#!/usr/bin/env node
// node scripts/check-commit-msg.js <message file>: the commit-msg hook (`npm run hooks` installs
// it). A subject git log --oneline can show whole, and a body kept apart from it for the why.
'use strict';
const fs = require('node:fs');

const MAX_SUBJECT = 72;

/** The lines git keeps: comments and everything below `git commit -v`'s scissors line dropped. */
function keptLines(text) {
  const lines = [];
  for (const line of text.split('\n')) {
    if (/^# -+ >8 -+$/.test(line)) break;
    if (!line.startsWith('#')) lines.push(line.trimEnd());
  }
  while (lines.length > 0 && lines[0] === '') lines.shift();
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** What is wrong with a commit message, one sentence each; none for a good one. */
function commitMessageProblems(text) {
  const lines = keptLines(text);
  if (lines.length === 0) return ['the message is empty'];
  const subject = lines[0];
  // git writes merge subjects itself, naming branches of any length.
  if (subject.startsWith('Merge ')) return [];
  const problems = [];
  const length = [...subject].length;
  if (length > MAX_SUBJECT) problems.push(`the subject has ${length} characters; at most ${MAX_SUBJECT}`);
  if (subject.endsWith('.')) problems.push('the subject ends with a period');
  if (lines.length > 1 && lines[1] !== '') problems.push('the second line must be blank, between subject and body');
  return problems;
}

if (require.main === module) {
  const file = process.argv[2];
  if (file === undefined) {
    console.error('usage: node scripts/check-commit-msg.js <message file>');
    process.exit(2);
  }
  const problems = commitMessageProblems(fs.readFileSync(file, 'utf8'));
  for (const problem of problems) console.error(`commit-msg: ${problem}`);
  if (problems.length > 0) {
    console.error('commit-msg: an imperative subject, a blank line, then why and what was measured');
    process.exit(1);
  }
}

module.exports = { commitMessageProblems };
