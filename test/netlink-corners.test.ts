// Netlink answers the kernel sends rarely and a test cannot provoke at will
// (a dump inconsistent three times running, a datagram cut by the receive
// buffer, a corrupt extended ACK), fed to the client as bytes: no privilege.
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { NetlinkClient, type NetlinkTransport } from '../lib/netlink/client';
import { NLMSG, NLM_F, RTM, attr, decodeError, encodeMessage, ifinfomsg, parseDatagram, IFLA } from '../lib/netlink/codec';
import { Netlink } from '../lib/netlink/api';

const LE = os.endianness() === 'LE';
const PORT = 4243;

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}

/** A message as the kernel sends it to our port. */
function toUs(type: number, flags: number, seq: number, fixed: Buffer, attributes: ReturnType<typeof attr.u32>[] = []): Buffer {
  const b = encodeMessage(type, flags, seq, fixed, attributes);
  b.set(u32(PORT), 12);
  return b;
}

function linkPart(seq: number, index: number, flags: number = NLM_F.MULTI): Buffer {
  return toUs(RTM.NEWLINK, flags, seq, ifinfomsg(0, index, 0x1), [
    attr.string(IFLA.IFNAME, `l${index}`),
    attr.u32(IFLA.MTU, 1500),
  ]);
}

const done = (seq: number): Buffer => toUs(NLMSG.DONE, NLM_F.MULTI, seq, u32(0));

/** Answers every request it is sent with `answer(seq)`, on the next turn, as the kernel's socket would. */
class ScriptedTransport implements NetlinkTransport {
  readonly portId = PORT;
  client: NetlinkClient | undefined;
  readonly seqs: number[] = [];
  get requests(): number {
    return this.seqs.length;
  }
  constructor(private readonly answer: (seq: number) => Buffer[]) {}
  send(request: Uint8Array): number {
    const seq = parseDatagram(Buffer.from(request)).messages[0].seq;
    this.seqs.push(seq);
    const datagrams = this.answer(seq);
    if (datagrams.length > 0)
      setImmediate(() =>
        this.client?.receive(
          Buffer.concat(datagrams),
          datagrams.map((d) => d.length),
        ),
      );
    return request.length;
  }
  ref(): void {}
  unref(): void {}
  close(): void {}
}

test('a dump the kernel flags as inconsistent three times running rejects with EINTR instead of returning it', async () => {
  const transport = new ScriptedTransport((seq) => [Buffer.concat([linkPart(seq, 1, NLM_F.MULTI | NLM_F.DUMP_INTR), done(seq)])]);
  const client = new NetlinkClient(transport);
  transport.client = client;
  const nl = new Netlink(client);
  await assert.rejects(nl.links(), {
    name: 'TunError',
    code: 'EINTR',
    errno: -4,
    syscall: 'netlink RTM_GETLINK',
    message: /NLM_F_DUMP_INTR/,
  });
  assert.equal(transport.requests, 3, 'the dump was tried three times');
});

test('a dump that is consistent on its second try resolves with that try', async () => {
  let tries = 0;
  const transport = new ScriptedTransport((seq) => {
    tries += 1;
    const flags = tries === 1 ? NLM_F.MULTI | NLM_F.DUMP_INTR : NLM_F.MULTI;
    return [Buffer.concat([linkPart(seq, tries, flags), done(seq)])];
  });
  const client = new NetlinkClient(transport);
  transport.client = client;
  const links = await new Netlink(client).links();
  assert.deepEqual(
    links.map((l) => l.name),
    ['l2'],
  );
});

test('after a cut datagram fails a dump, the rest of that dump is not taken for notifications', async () => {
  const seen: number[] = [];
  const transport = new ScriptedTransport(() => []);
  const client = new NetlinkClient(transport, { onMessage: (m, reply) => (reply ? undefined : seen.push(m.seq)) });
  const reply = client.request({ type: RTM.GETLINK, flags: NLM_F.DUMP, fixed: ifinfomsg(0, 0) }, (errno) =>
    Object.assign(new Error('failed'), { errno }),
  );
  const seq = transport.seqs[0];
  // What the native side hands over for a datagram larger than its buffer:
  // the first bytes only, the last message cut short.
  const whole = Buffer.concat([linkPart(seq, 1), linkPart(seq, 2)]);
  const cut = whole.subarray(0, whole.length - 8);
  const rest = [Buffer.concat([linkPart(seq, 3), linkPart(seq, 4)]), Buffer.concat([linkPart(seq, 5), done(seq)])];
  const batch = [cut, ...rest];
  client.receive(
    Buffer.concat(batch),
    batch.map((b) => b.length),
  );
  await assert.rejects(reply, { errno: 74 });
  // A real notification afterwards is still delivered.
  const note = encodeMessage(RTM.NEWLINK, 0, 9, ifinfomsg(0, 9, 0x1), [attr.string(IFLA.IFNAME, 'n9')]);
  client.receive(note, [note.length]);
  assert.deepEqual(seen, [9]);
});

test('an extended ACK whose echoed length is 2^31 or more decodes without throwing', () => {
  for (const echoedLength of [0x7fffffff, 0x80000000, 0xfffffffd, 0xffffffff]) {
    // Not capped: the TLVs would follow an echoed request of that length.
    const body = Buffer.concat([u32(-22), u32(echoedLength), Buffer.alloc(12)]);
    const message = encodeMessage(NLMSG.ERROR, NLM_F.ACK_TLVS, 1, body, [attr.string(1, 'text')]);
    const [m] = parseDatagram(message).messages;
    assert.deepEqual(decodeError(m), { errno: 22 });
  }
});
