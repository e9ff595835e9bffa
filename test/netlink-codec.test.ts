// The netlink codec and reply matching on hand-made messages: no kernel,
// no privilege. Whatever the bytes, the result is defined and nothing throws.
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { formatIp, parseCidr, parseMac } from '../lib/packet/address';
import { NetlinkClient, type NetlinkTransport } from '../lib/netlink/client';
import {
  IFA,
  IFLA,
  MalformedMessage,
  NLMSG,
  NLM_F,
  RTM,
  attr,
  decodeError,
  encodeMessage,
  ifaddrmsg,
  ifinfomsg,
  parseAttributes,
  parseDatagram,
} from '../lib/netlink/codec';
import { decodeAddress, decodeLink } from '../lib/netlink/decode';

const LE = os.endianness() === 'LE';
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}

function linkMessage(index: number, name: string, mtu: number, seq = 0, flags = 0): Buffer {
  return encodeMessage(RTM.NEWLINK, flags, seq, ifinfomsg(0, index, 0x1 | 0x10000), [
    attr.string(IFLA.IFNAME, name),
    attr.u32(IFLA.MTU, mtu),
  ]);
}

function withPid(message: Buffer, pid: number): Buffer {
  const b = Buffer.from(message);
  b.set(u32(pid), 12);
  return b;
}

/** An NLMSG_ERROR whose body is 2 bytes: too short for the error code. */
function truncatedError(seq: number): Buffer {
  const b = Buffer.concat([encodeMessage(NLMSG.ERROR, 0, seq, Buffer.alloc(0)), Buffer.from([0xff, 0xff])]);
  b.set(u32(18), 0);
  return b;
}

test('a link message survives a round trip through encode and decode', () => {
  const [m] = parseDatagram(linkMessage(7, 'tun7', 1400, 42)).messages;
  assert.equal(m.type, RTM.NEWLINK);
  assert.equal(m.seq, 42);
  const link = decodeLink(m);
  assert.ok(!(link instanceof MalformedMessage));
  assert.equal(link.index, 7);
  assert.equal(link.name, 'tun7');
  assert.equal(link.mtu, 1400);
  assert.equal(link.up, true);
  assert.equal(link.carrier, true);
  assert.deepEqual(link.flags, ['UP', 'LOWER_UP']);
});

test('an IPv6 address message survives a round trip', () => {
  const cidr = parseCidr('fd00:0:0:1::5/64', 'cidr');
  const msg = encodeMessage(RTM.NEWADDR, 0, 1, ifaddrmsg(10, 64, 0x80, 0, 3), [attr.bytes(IFA.ADDRESS, cidr.bytes)]);
  const address = decodeAddress(parseDatagram(msg).messages[0]);
  assert.ok(!(address instanceof MalformedMessage));
  assert.deepEqual(
    {
      address: address.address,
      prefixLength: address.prefixLength,
      family: address.family,
      index: address.index,
      flags: address.flags,
    },
    { address: 'fd00:0:0:1::5', prefixLength: 64, family: 6, index: 3, flags: ['permanent'] },
  );
});

test('a datagram shorter than a header yields a malformed result and no messages', () => {
  const parsed = parseDatagram(linkMessage(1, 'a', 1500).subarray(0, 10));
  assert.equal(parsed.messages.length, 0);
  assert.ok(parsed.malformed instanceof MalformedMessage);
});

test('a header whose length runs past the datagram stops the parse after the good messages', () => {
  const good = linkMessage(1, 'a', 1500);
  const bad = Buffer.from(linkMessage(2, 'b', 1500));
  bad.set(u32(4000), 0);
  const parsed = parseDatagram(Buffer.concat([good, bad]));
  assert.equal(parsed.messages.length, 1);
  assert.ok(parsed.malformed instanceof MalformedMessage);
});

test('a header length below the header size is malformed, not an endless loop', () => {
  const bad = Buffer.from(linkMessage(2, 'b', 1500));
  bad.set(u32(0), 0);
  const parsed = parseDatagram(bad);
  assert.equal(parsed.messages.length, 0);
  assert.ok(parsed.malformed instanceof MalformedMessage);
});

test('an attribute whose length runs past the message makes the message malformed', () => {
  const msg = Buffer.from(linkMessage(3, 'tun3', 1500));
  // The first attribute starts after the 16-byte header and the 16-byte ifinfomsg.
  msg.writeUInt16LE(200, 32);
  const m = parseDatagram(msg).messages[0];
  assert.ok(decodeLink(m) instanceof MalformedMessage);
  assert.ok(parseAttributes(m.payload, 16) instanceof MalformedMessage);
});

test('a zero-length attribute payload is read as empty, and a length below 4 is malformed', () => {
  const empty = parseAttributes(Buffer.from([4, 0, 9, 0, 8, 0, 4, 0, 1, 2, 3, 4]), 0);
  assert.ok(!(empty instanceof MalformedMessage));
  assert.equal(empty.get(9)?.length, 0);
  assert.deepEqual([...(empty.get(4) ?? [])], [1, 2, 3, 4]);
  assert.ok(parseAttributes(Buffer.from([0, 0, 9, 0]), 0) instanceof MalformedMessage);
});

test('a link message without a name or with a short body is malformed', () => {
  const noName = encodeMessage(RTM.NEWLINK, 0, 0, ifinfomsg(0, 1), [attr.u32(IFLA.MTU, 1500)]);
  assert.ok(decodeLink(parseDatagram(noName).messages[0]) instanceof MalformedMessage);
  const short = encodeMessage(RTM.NEWLINK, 0, 0, Buffer.alloc(8));
  assert.ok(decodeLink(parseDatagram(short).messages[0]) instanceof MalformedMessage);
  const shortAddress = encodeMessage(RTM.NEWADDR, 0, 0, Buffer.alloc(4));
  assert.ok(decodeAddress(parseDatagram(shortAddress).messages[0]) instanceof MalformedMessage);
});

test('an NLMSG_ERROR with a truncated body is malformed; with a full one it gives errno and the kernel text', () => {
  assert.ok(decodeError(parseDatagram(truncatedError(5)).messages[0]) instanceof MalformedMessage);
  const echoed = encodeMessage(RTM.NEWADDR, NLM_F.REQUEST, 5, Buffer.alloc(0));
  const text = attr.string(1, 'ipv4: Address already assigned');
  const body = Buffer.concat([u32(-17), echoed]);
  const full = encodeMessage(NLMSG.ERROR, NLM_F.CAPPED | NLM_F.ACK_TLVS, 5, body, [text]);
  assert.deepEqual(decodeError(parseDatagram(full).messages[0]), { errno: 17, kernelMessage: 'ipv4: Address already assigned' });
});

/** A transport that records requests; replies are fed by the test. */
class FakeTransport implements NetlinkTransport {
  readonly portId = 4242;
  readonly sent: Buffer[] = [];
  send(request: Uint8Array): number {
    this.sent.push(Buffer.from(request));
    return request.length;
  }
  ref(): void {}
  unref(): void {}
  close(): void {}
}

function seqOf(request: Buffer): number {
  return parseDatagram(request).messages[0].seq;
}

test('a dump split over three datagrams resolves with every part, in order, at NLMSG_DONE', async () => {
  const transport = new FakeTransport();
  const client = new NetlinkClient(transport);
  const reply = client.request(
    { type: RTM.GETLINK, flags: NLM_F.DUMP, fixed: ifinfomsg(0, 0) },
    (errno) => new Error(`errno ${errno}`),
  );
  const seq = seqOf(transport.sent[0]);
  const part = (i: number): Buffer => withPid(linkMessage(i, `l${i}`, 1500, seq, NLM_F.MULTI), 4242);
  const done = withPid(encodeMessage(NLMSG.DONE, NLM_F.MULTI, seq, u32(0)), 4242);
  const datagrams = [Buffer.concat([part(1), part(2)]), part(3), Buffer.concat([part(4), done])];
  let settled = false;
  void reply.then(() => (settled = true));
  client.receive(
    Buffer.concat(datagrams.slice(0, 2)),
    datagrams.slice(0, 2).map((d) => d.length),
  );
  await Promise.resolve();
  assert.equal(settled, false, 'not done before NLMSG_DONE');
  client.receive(datagrams[2], [datagrams[2].length]);
  const { messages } = await reply;
  assert.deepEqual(
    messages.map((m) => (decodeLink(m) as { name: string }).name),
    ['l1', 'l2', 'l3', 'l4'],
  );
  assert.equal(client.pending, 0);
});

test('concurrent requests are matched by sequence number whatever order the answers come in', async () => {
  const transport = new FakeTransport();
  const client = new NetlinkClient(transport);
  const results = [0, 1, 2].map((i) =>
    client.request({ type: RTM.SETLINK, flags: 0, fixed: ifinfomsg(0, i + 1) }, (errno) =>
      Object.assign(new Error('failed'), { errno, i }),
    ),
  );
  const seqs = transport.sent.map(seqOf);
  assert.equal(new Set(seqs).size, 3);
  const ack = (seq: number, errno: number): Buffer =>
    withPid(encodeMessage(NLMSG.ERROR, NLM_F.CAPPED, seq, Buffer.concat([u32(-errno), Buffer.alloc(16)])), 4242);
  const batch = [ack(seqs[2], 0), ack(seqs[0], 19), ack(seqs[1], 0)];
  client.receive(
    Buffer.concat(batch),
    batch.map((b) => b.length),
  );
  const settled = await Promise.allSettled(results);
  assert.deepEqual(
    settled.map((s) => s.status),
    ['rejected', 'fulfilled', 'fulfilled'],
  );
  assert.equal(((settled[0] as PromiseRejectedResult).reason as { errno: number }).errno, 19);
});

test('a truncated NLMSG_ERROR fails its request with EBADMSG instead of leaving it waiting', async () => {
  const transport = new FakeTransport();
  const client = new NetlinkClient(transport);
  const reply = client.request({ type: RTM.SETLINK, flags: 0, fixed: ifinfomsg(0, 1) }, (errno) =>
    Object.assign(new Error('failed'), { errno }),
  );
  const broken = withPid(truncatedError(seqOf(transport.sent[0])), 4242);
  client.receive(broken, [broken.length]);
  await assert.rejects(reply, { errno: 74 });
});

test('a reply whose header is corrupt fails the request it names', async () => {
  const transport = new FakeTransport();
  const troubles: string[] = [];
  const client = new NetlinkClient(transport, { onTrouble: (_e, _s, detail) => troubles.push(detail ?? '') });
  const reply = client.request({ type: RTM.GETLINK, flags: NLM_F.DUMP, fixed: ifinfomsg(0, 0) }, (errno) =>
    Object.assign(new Error('failed'), { errno }),
  );
  const bad = withPid(linkMessage(1, 'x', 1500, seqOf(transport.sent[0]), NLM_F.MULTI), 4242);
  bad.set(u32(9999), 0);
  client.receive(bad, [bad.length]);
  await assert.rejects(reply, { errno: 74 });
  assert.equal(troubles.length, 1);
});

test('messages for other ports or unknown sequence numbers are notifications, not replies', () => {
  const transport = new FakeTransport();
  const seen: Array<[number, boolean]> = [];
  const client = new NetlinkClient(transport, { onMessage: (m, reply) => seen.push([m.seq, reply]) });
  const note = linkMessage(1, 'x', 1500, 77);
  client.receive(note, [note.length]);
  assert.deepEqual(seen, [[77, false]]);
});

test('closing the client rejects requests in flight with ERR_NETLINK_CLOSED', async () => {
  const client = new NetlinkClient(new FakeTransport());
  const reply = client.request({ type: RTM.GETLINK, flags: 0, fixed: ifinfomsg(0, 1) }, () => new Error('x'));
  client.close();
  client.close();
  await assert.rejects(reply, { code: 'ERR_NETLINK_CLOSED' });
});

test('IPv6 addresses are printed as RFC 5952 text, like ip', () => {
  const cases: Array<[string, string]> = [
    ['fd00:0000:0000:0000:0000:0000:0000:0001', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
  ];
  for (const [input, expected] of cases) assert.equal(formatIp(parseCidr(input, 'x', true).bytes), expected);
});

test('malformed addresses, prefixes and MACs are rejected with Node-style codes', () => {
  assert.throws(() => parseCidr('10.0.0.256/24', 'cidr'), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => parseCidr('10.0.0.1/33', 'cidr'), { code: 'ERR_INVALID_ARG_VALUE', message: /\/33/ });
  assert.throws(() => parseCidr('fd00::1/129', 'cidr'), { code: 'ERR_INVALID_ARG_VALUE', message: /\/129/ });
  assert.throws(() => parseCidr('fd00:::1/64', 'cidr'), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => parseCidr('10.0.0.1', 'cidr'), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => parseCidr(42, 'cidr'), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => parseMac('02:00:00:00:00'), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => parseMac('01:00:5e:00:00:01'), { code: 'ERR_INVALID_ARG_VALUE', message: /multicast/ });
  assert.deepEqual([...parseMac('02:AB:cd:00:00:01')], [2, 0xab, 0xcd, 0, 0, 1]);
});
