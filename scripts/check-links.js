#!/usr/bin/env node
// node scripts/check-links.js [--root folder] [site-folder]: fails on a broken relative link in
// the Markdown (--root, the repository by default) or, given a folder, in its built HTML site.
// Nothing is fetched, so links to other sites are not checked.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const EXTERNAL = /^([a-z][a-z0-9+.-]*:|\/\/)/i;

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading) {
  return heading
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Markdown with fenced code blocks and inline code blanked out (links there are not links). */
function proseOf(text) {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

function markdownAnchors(file) {
  const anchors = new Set();
  const seen = new Map();
  const text = fs.readFileSync(file, 'utf8').replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const [, heading] of text.matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = slug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

function checkMarkdown(files, root) {
  const broken = [];
  for (const file of files) {
    const prose = proseOf(fs.readFileSync(file, 'utf8'));
    for (const [, target] of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      if (EXTERNAL.test(target)) continue;
      const [linkPath, anchor] = target.split('#', 2);
      const resolved = linkPath === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(linkPath));
      const where = `${path.relative(root, file)}: ${target}`;
      if (!fs.existsSync(resolved)) broken.push(`${where} (no such file)`);
      else if (anchor !== undefined && resolved.endsWith('.md') && !markdownAnchors(resolved).has(anchor))
        broken.push(`${where} (no heading with that anchor)`);
    }
  }
  return broken;
}

function htmlFiles(dir) {
  return fs
    .readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith('.html'))
    .map((f) => path.join(dir, f));
}

function checkSite(site) {
  const broken = [];
  const ids = new Map();
  const idsOf = (file) => {
    if (!ids.has(file)) {
      const html = fs.readFileSync(file, 'utf8');
      ids.set(file, new Set([...html.matchAll(/\s(?:id|name)="([^"]+)"/g)].map((m) => m[1])));
    }
    return ids.get(file);
  };
  for (const file of htmlFiles(site)) {
    const html = fs.readFileSync(file, 'utf8');
    for (const [, target] of html.matchAll(/\s(?:href|src)="([^"]*)"/g)) {
      if (EXTERNAL.test(target)) continue;
      const [linkPath, anchor] = target.replace(/&amp;/g, '&').split('#', 2);
      const resolved = linkPath === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(linkPath.split('?')[0]));
      const where = `${path.relative(site, file)}: ${target}`;
      if (!fs.existsSync(resolved)) broken.push(`${where} (no such file)`);
      else if (anchor && resolved.endsWith('.html') && !idsOf(resolved).has(decodeURIComponent(anchor)))
        broken.push(`${where} (no element with that id)`);
    }
  }
  return broken;
}

/** Folders that hold no documentation of ours (dependencies, build output). */
const SKIP = new Set(['node_modules', 'dist', 'build', 'build-asan', 'docs-site', 'prebuilds']);

function markdownFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.') || SKIP.has(entry.name)) return [];
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(file);
    return entry.name.endsWith('.md') ? [file] : [];
  });
}

function main(argv) {
  let root = ROOT;
  if (argv[0] === '--root') [, root, ...argv] = argv;
  const markdown = markdownFiles(path.resolve(root));
  const broken = checkMarkdown(markdown, root);
  if (argv[0] !== undefined) broken.push(...checkSite(path.resolve(argv[0])));
  for (const line of broken) console.error(`broken link: ${line}`);
  if (broken.length > 0) return 1;
  console.log(`check-links: ${markdown.length} Markdown files${argv[0] ? ` and ${argv[0]}` : ''}, no broken link`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
