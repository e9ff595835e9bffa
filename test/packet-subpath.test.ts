// `tuntap-ts/packet`: the packet helpers and views for programs that never
// open a device, reachable through the package's exports without the addon.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { run } from './helpers';

const ROOT = path.join(__dirname, '..', '..');

test('tuntap-ts/packet loads the views and builders without loading the native addon', async () => {
  // The package's own name resolves through its "exports" (self-reference), as a user's import does.
  const probe = `
    const packet = require('tuntap-ts/packet');
    const loaded = Object.keys(require.cache);
    console.log(JSON.stringify({
      views: [typeof packet.IpView, typeof packet.PacketViews, typeof packet.tcpPacket],
      device: 'TunDevice' in packet,
      native: loaded.filter((f) => f.endsWith('.node') || f.includes('node-gyp-build') || f.endsWith(path.join('internal', 'native.js'))),
      files: loaded.length,
    }));`;
  const r = await run(process.execPath, ['-e', `const path = require('node:path');${probe}`], { cwd: ROOT });
  assert.equal(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as { views: string[]; device: boolean; native: string[]; files: number };
  assert.deepEqual(seen.views, ['function', 'function', 'function']);
  assert.equal(seen.device, false, 'no TunDevice on the packet entry');
  assert.deepEqual(seen.native, [], 'no addon, loader or binding module loaded');
});

test('the main entry exports the same views as tuntap-ts/packet (one class, not a copy)', async () => {
  const r = await run(
    process.execPath,
    [
      '-e',
      "const a = require('tuntap-ts'); const b = require('tuntap-ts/packet'); console.log(a.IpView === b.IpView && a.PacketViews === b.PacketViews);",
    ],
    { cwd: ROOT },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'true');
});
