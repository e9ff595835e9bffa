#!/usr/bin/env node
// node scripts/in-netns.js <command> [args...]: runs it in fresh network and mount namespaces,
// so no device, route or packet it makes reaches the host. Stops if a route out exists, and fails
// the run if it leaves a named namespace, a device or a mount behind. Needs root.
'use strict';
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');

const INSIDE = '--inside-fresh-netns';
/** Where `ip netns` keeps its names; /var/run is a link to /run on most systems. */
const NETNS_DIRS = ['/run/netns', '/var/run/netns'];
/** Made in every namespace by the kernel once their tunnel module is loaded. */
const FALLBACK_LINKS = new Set(['tunl0', 'sit0', 'ip6tnl0', 'gre0', 'gretap0', 'erspan0', 'ip6gre0', 'ip_vti0', 'ip6_vti0']);

function netnsId() {
  return fs.readlinkSync('/proc/self/ns/net');
}

/** Mount points by mount id, from /proc/self/mountinfo. */
function mounts() {
  const byId = new Map();
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields.length > 4) byId.set(fields[0], fields[4].replace(/\\040/g, ' '));
  }
  return byId;
}

function linkNames() {
  return JSON.parse(execFileSync('ip', ['-j', 'link', 'show']).toString() || '[]').map((l) => l.ifname);
}

/** Gives the run its own /run/netns (and /var/run/netns, if that is another directory). */
function privateNetnsDirs() {
  const done = new Set();
  for (const dir of NETNS_DIRS) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const real = fs.realpathSync(dir);
    if (done.has(real)) continue;
    done.add(real);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=755,size=1m', 'tuntap-netns', real]);
  }
  return [...done];
}

/** What the command left behind, one line each; empty when it cleaned up. */
function leftovers(netnsDirs, mountsBefore, linksBefore) {
  const found = [];
  for (const dir of netnsDirs) {
    for (const name of fs.readdirSync(dir)) found.push(`named network namespace ${name} (${dir}/${name}; ip netns del ${name})`);
  }
  const before = new Set(linksBefore);
  for (const name of linkNames()) {
    if (!before.has(name) && !FALLBACK_LINKS.has(name)) found.push(`device ${name} (ip link del ${name})`);
  }
  for (const [id, point] of mounts()) {
    if (!mountsBefore.has(id) && !netnsDirs.some((d) => point.startsWith(`${d}/`)))
      found.push(`mount on ${point} (umount ${point})`);
  }
  return found;
}

function main(argv) {
  if (argv[0] !== INSIDE) {
    if (argv.length === 0) {
      console.error('usage: in-netns.js <command> [args...]');
      return 2;
    }
    if (process.getuid() !== 0) {
      console.error('in-netns.js: needs root to make a network namespace (run with sudo)');
      return 77;
    }
    // The namespace we start in, to prove below that unshare really left it.
    const env = { ...process.env, TUNTAP_OUTER_NETNS: netnsId() };
    const r = spawnSync(
      'unshare',
      ['--net', '--mount', '--propagation', 'private', '--', process.execPath, __filename, INSIDE, ...argv],
      { stdio: 'inherit', env },
    );
    if (r.error) throw r.error;
    return r.status ?? 1;
  }
  const command = argv.slice(1);
  if (!process.env.TUNTAP_OUTER_NETNS || netnsId() === process.env.TUNTAP_OUTER_NETNS) {
    console.error('in-netns.js: still in the host network namespace; refusing to run');
    return 1;
  }
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  const routes = JSON.parse(execFileSync('ip', ['-j', 'route', 'show', 'default']).toString() || '[]');
  const routes6 = JSON.parse(execFileSync('ip', ['-j', '-6', 'route', 'show', 'default']).toString() || '[]');
  if (routes.length > 0 || routes6.length > 0) {
    console.error('in-netns.js: the fresh namespace has a default route; refusing to run');
    return 1;
  }
  const netnsDirs = privateNetnsDirs();
  const mountsBefore = mounts();
  const linksBefore = linkNames();
  const r = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env: { ...process.env, TUNTAP_NETNS: netnsId() } });
  if (r.error) throw r.error;
  const left = leftovers(netnsDirs, mountsBefore, linksBefore);
  if (left.length > 0) {
    console.error(`in-netns.js: the run left behind (it must clean up after itself):\n  ${left.join('\n  ')}`);
  }
  if (r.signal) process.kill(process.pid, r.signal);
  return left.length > 0 && r.status === 0 ? 1 : (r.status ?? 1);
}

process.exitCode = main(process.argv.slice(2));
