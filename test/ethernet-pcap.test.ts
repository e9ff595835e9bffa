// lib/packet/ethernet.ts and lib/packet/pcap.ts without the kernel: byte layouts checked
// against hand-written bytes and against tcpdump as a reader.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  LINKTYPE_RAW,
  arpReply,
  ethernetFrame,
  ipv4UdpPacket,
  parseArp,
  parseEthernet,
  pcapFileHeader,
  pcapLinkType,
  pcapRecord,
} from '../lib';

const REQUESTER = '96:2b:9d:1e:01:f0';
const OURS = '02:00:5e:10:00:02';

/** "who has 10.0.0.2? tell 10.0.0.1", as the kernel sends it from a TAP device. */
function arpRequest(targetIp = '10.0.0.2'): Buffer {
  const body = Buffer.from([
    0,
    1,
    8,
    0,
    6,
    4,
    0,
    1,
    0x96,
    0x2b,
    0x9d,
    0x1e,
    0x01,
    0xf0,
    10,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...targetIp.split('.').map(Number),
  ]);
  return ethernetFrame({ destination: 'ff:ff:ff:ff:ff:ff', source: REQUESTER, etherType: ETHERTYPE_ARP, payload: body });
}

test('ethernetFrame lays out destination, source and EtherType before the payload', () => {
  const frame = ethernetFrame({
    destination: 'ff:ff:ff:ff:ff:ff',
    source: OURS,
    etherType: ETHERTYPE_IPV4,
    payload: Buffer.from([1, 2, 3]),
  });
  assert.deepEqual([...frame], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0x5e, 0x10, 0, 2, 8, 0, 1, 2, 3]);
  const parsed = parseEthernet(frame);
  assert.equal(parsed?.destination, 'ff:ff:ff:ff:ff:ff');
  assert.equal(parsed?.source, OURS);
  assert.equal(parsed?.etherType, ETHERTYPE_IPV4);
  assert.deepEqual([...(parsed?.payload ?? [])], [1, 2, 3]);
});

test('ethernetFrame refuses a multicast source address', () => {
  assert.throws(
    () => ethernetFrame({ destination: OURS, source: '01:00:5e:00:00:01', etherType: 0x800, payload: Buffer.alloc(0) }),
    { code: 'ERR_INVALID_ARG_VALUE' },
  );
});

test('parseEthernet returns null for a runt frame', () => {
  assert.equal(parseEthernet(Buffer.alloc(13)), null);
});

test('arpReply answers a request for its address: "10.0.0.2 is at" our MAC, sent to the requester', () => {
  const reply = arpReply(arpRequest(), '10.0.0.2', OURS);
  assert.ok(reply !== null);
  const ethernet = parseEthernet(reply);
  assert.equal(ethernet?.destination, REQUESTER);
  assert.equal(ethernet?.source, OURS);
  assert.deepEqual(parseArp(ethernet!.payload), {
    operation: 2,
    senderMac: OURS,
    senderIp: '10.0.0.2',
    targetMac: REQUESTER,
    targetIp: '10.0.0.1',
  });
});

test('arpReply ignores a request for another address, a reply, and frames that are not ARP', () => {
  assert.equal(arpReply(arpRequest('10.0.0.3'), '10.0.0.2', OURS), null);
  const answer = arpReply(arpRequest(), '10.0.0.2', OURS)!;
  assert.equal(arpReply(answer, '10.0.0.1', OURS), null, 'a reply is not a request');
  const ip = ethernetFrame({ destination: OURS, source: REQUESTER, etherType: ETHERTYPE_IPV4, payload: Buffer.alloc(28) });
  assert.equal(arpReply(ip, '10.0.0.2', OURS), null);
});

test('pcapFileHeader and pcapRecord write the classic little-endian layout', () => {
  const header = pcapFileHeader(LINKTYPE_RAW, 65535);
  assert.equal(header.toString('hex'), 'd4c3b2a1020004000000000000000000ffff000065000000');
  const record = pcapRecord(Buffer.from([0x45, 0, 0, 20]), 1_700_000_000_123.456);
  assert.equal(record.readUInt32LE(0), 1_700_000_000);
  assert.equal(record.readUInt32LE(4), 123_456);
  assert.equal(record.readUInt32LE(8), 4);
  assert.equal(record.readUInt32LE(12), 4);
  assert.equal(pcapRecord(Buffer.alloc(100), 0, 60).readUInt32LE(8), 60, 'cut to the snap length');
  assert.equal(pcapLinkType('tun'), 101);
  assert.equal(pcapLinkType('tap'), 1);
});

test(
  'tcpdump reads a synthetic capture of a UDP packet back',
  { skip: spawnSync('tcpdump', ['--version']).error ? 'tcpdump not installed' : false },
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tuntap-pcap-'));
    try {
      const file = path.join(dir, 'udp.pcap');
      const packet = ipv4UdpPacket({
        source: '10.0.0.1',
        destination: '10.0.0.2',
        sourcePort: 1234,
        destinationPort: 5678,
        payload: Buffer.from('hello'),
      });
      writeFileSync(file, Buffer.concat([pcapFileHeader(LINKTYPE_RAW), pcapRecord(packet, 1_700_000_000_000)]));
      const r = spawnSync('tcpdump', ['-r', file, '-n', '-tt'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), '1700000000.000000 IP 10.0.0.1.1234 > 10.0.0.2.5678: UDP, length 5');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
