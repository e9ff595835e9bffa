#!/usr/bin/env node
// Runs a command inside a fresh network namespace made for it alone, so that
// no device, address, route or packet it makes can reach the host's network.
//
//   node scripts/in-netns.js <command> [args...]
//
// Inside, loopback is up and there is no other interface and no route out;
// that is checked before the command starts (a default route would mean we
// are not where we think, and the run stops). Needs root (CAP_SYS_ADMIN for
// unshare, CAP_NET_ADMIN for devices).
'use strict';
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');

const INSIDE = '--inside-fresh-netns';

function netnsId() {
  return fs.readlinkSync('/proc/self/ns/net');
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
    const r = spawnSync('unshare', ['--net', '--', process.execPath, __filename, INSIDE, ...argv], { stdio: 'inherit', env });
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
  const r = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env: { ...process.env, TUNTAP_NETNS: netnsId() } });
  if (r.error) throw r.error;
  if (r.signal) process.kill(process.pid, r.signal);
  return r.status ?? 1;
}

process.exitCode = main(process.argv.slice(2));
