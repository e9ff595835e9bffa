// examples/pcap.ts: captures that the real tcpdump reads back.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ExampleProcess, linesMatching } from './example-helpers';
import { privilegedTest, run, uniqueName, uniqueSubnet } from './helpers';

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-pcap-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A dotted address as a regular expression that matches it literally. */
function literal(address: string): string {
  return address.replace(/\./g, '\\.');
}

async function tcpdumpRead(file: string): Promise<string> {
  const r = await run('tcpdump', ['-r', file, '-n']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

privilegedTest('a TUN capture (LINKTYPE_RAW) of three pings reads back in tcpdump, after Ctrl-C', () =>
  withTempDir(async (dir) => {
    const net = uniqueSubnet();
    const name = uniqueName('pcap');
    const file = path.join(dir, 'tun.pcap');
    const capture = new ExampleProcess('pcap', ['--name', name, '--address', `${net.host(1)}/24`, '--output', file]);
    try {
      await capture.waitFor(/^Listening on /m);
      await run('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '1', net.host(2)]);
      await capture.assertStopsCleanlyOnSigint(name);
      const r = await run('tcpdump', ['-r', file, '-n']);
      assert.match(r.stderr, /link-type RAW/);
      const echoes = linesMatching(
        r.stdout,
        new RegExp(`IP ${literal(net.host(1))} > ${literal(net.host(2))}: ICMP echo request`),
      );
      assert.equal(echoes.length, 3, r.stdout);
      assert.match(capture.stdout, /^Wrote \d+ packets to /m);
    } finally {
      await capture.kill();
    }
  }),
);

privilegedTest('a capture with --count 1 ends by itself with one frame tcpdump decodes', () =>
  withTempDir(async (dir) => {
    const net = uniqueSubnet();
    const file = path.join(dir, 'tap.pcap');
    const capture = new ExampleProcess('pcap', [
      '--name',
      uniqueName('pcap'),
      '--tap',
      '--address',
      `${net.host(1)}/24`,
      '--output',
      file,
      '--count',
      '1',
    ]);
    try {
      await capture.waitFor(/^Listening on /m);
      // The kernel may send IPv6 router solicitations first: keep asking until one frame is an ARP request.
      for (let i = 0; i < 5 && capture.child.exitCode === null; i++) await run('ping', ['-n', '-c', '1', '-W', '1', net.host(2)]);
      assert.deepEqual(await capture.exited, { code: 0, signal: null }, capture.transcript());
      assert.match(capture.stdout, /^Wrote 1 packets to /m);
      const out = await tcpdumpRead(file);
      assert.equal(out.trim().split('\n').length, 1, out);
      assert.match(out, /IP6 |ARP, Request who-has/, 'an Ethernet frame tcpdump decodes');
    } finally {
      await capture.kill();
    }
  }),
);

privilegedTest('a TAP capture holds Ethernet frames tcpdump decodes as ARP', () =>
  withTempDir(async (dir) => {
    const net = uniqueSubnet();
    const name = uniqueName('pcap');
    const file = path.join(dir, 'tap.pcap');
    const capture = new ExampleProcess('pcap', ['--name', name, '--tap', '--address', `${net.host(1)}/24`, '--output', file]);
    try {
      await capture.waitFor(/^Listening on /m);
      await run('ping', ['-n', '-c', '1', '-W', '1', net.host(2)]);
      await capture.assertStopsCleanlyOnSigint(name);
      const r = await run('tcpdump', ['-r', file, '-n', '-e']);
      assert.match(r.stderr, /link-type EN10MB/);
      assert.match(
        r.stdout,
        new RegExp(
          `> ff:ff:ff:ff:ff:ff, ethertype ARP \\(0x0806\\), length 42: Request who-has ${literal(net.host(2))} tell ${literal(net.host(1))}`,
        ),
      );
    } finally {
      await capture.kill();
    }
  }),
);
