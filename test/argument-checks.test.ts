// Arguments that used to slip through (or fail with a bare TypeError) are
// refused with Node's codes before anything is done with them.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import {
  Netlink,
  PcapWriter,
  TunDevice,
  arpReply,
  bpfJump,
  bpfStatement,
  buildVirtioNetHeader,
  coalesce,
  coalesceTcp,
  echoReply,
  encodeFilter,
  errnoName,
  ethernetFrame,
  formatIp,
  formatMac,
  internetChecksum,
  ipVersion,
  ipv4UdpPacket,
  ipv6PseudoHeaderSum,
  onesComplementSum,
  parseArp,
  parseCidr,
  parseEthernet,
  parseIp,
  parseMac,
  parseVirtioNetHeader,
  pcapFileHeader,
  pcapHeaderLength,
  pcapLinkType,
  pcapRecord,
  splitGso,
  withVirtioNetHeader,
} from '../lib';
import { privilegedTest, uniqueName } from './helpers';

const typeError = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };
const rangeError = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' };

test('echoReply refuses what is not bytes with ERR_INVALID_ARG_TYPE', () => {
  for (const bad of [null, undefined, 'ping', 42, {}]) {
    assert.throws(() => echoReply(bad as unknown as Uint8Array), typeError);
  }
});

const udp = { source: '10.0.0.2', destination: '10.0.0.1', sourcePort: 5000, destinationPort: 6000, payload: Buffer.from('hi') };

test('ipv4UdpPacket refuses ports that are not integers instead of writing 0 or a truncated one', () => {
  for (const port of [Number.NaN, 1.7, '53', undefined]) {
    assert.throws(() => ipv4UdpPacket({ ...udp, sourcePort: port as number }), typeError);
    assert.throws(() => ipv4UdpPacket({ ...udp, destinationPort: port as number }), typeError);
  }
  for (const port of [-1, 65536]) assert.throws(() => ipv4UdpPacket({ ...udp, sourcePort: port }), rangeError);
});

test('ipv4UdpPacket refuses a ttl outside 0..255 or an id outside 16 bits instead of wrapping them', () => {
  assert.throws(() => ipv4UdpPacket({ ...udp, ttl: 300 }), rangeError);
  assert.throws(() => ipv4UdpPacket({ ...udp, ttl: -1 }), rangeError);
  assert.throws(() => ipv4UdpPacket({ ...udp, ttl: 6.5 }), typeError);
  assert.throws(() => ipv4UdpPacket({ ...udp, id: 0x10000 }), rangeError);
  assert.equal(ipv4UdpPacket({ ...udp, ttl: 255 })[8], 255);
});

test('ipv4UdpPacket refuses a string payload and one too large for IPv4', () => {
  assert.throws(() => ipv4UdpPacket({ ...udp, payload: 'hello' as unknown as Uint8Array }), typeError);
  assert.throws(() => ipv4UdpPacket({ ...udp, payload: Buffer.alloc(65508) }), rangeError);
  assert.equal(ipv4UdpPacket({ ...udp, payload: Buffer.alloc(65507) }).length, 65535);
});

/** Asserts that `opening` rejects like `expected`; what it opened by mistake is closed so the process can exit. */
async function refuses(opening: Promise<{ close(): unknown }>, expected: object): Promise<void> {
  await assert.rejects(
    opening.then(async (opened) => {
      await opened.close();
      return opened;
    }),
    expected,
  );
}

test('Netlink.watch refuses non-boolean subscriptions', async () => {
  await refuses(Netlink.watch({ links: 'no' as unknown as boolean }), typeError);
  await refuses(Netlink.watch({ addresses: 0 as unknown as boolean }), typeError);
  await refuses(Netlink.watch({ routes: 'yes' as unknown as boolean }), typeError);
});

test('an array is not an offload object', async () => {
  await refuses(TunDevice.open({ offload: [] as unknown as boolean }), typeError);
});

privilegedTest("a device's addRoute and removeRoute refuse options that are not an object", async () => {
  await using dev = await TunDevice.open({ name: uniqueName('arg') });
  await assert.rejects(dev.addRoute('10.79.0.0/16', 'str' as unknown as object), typeError);
  await assert.rejects(dev.removeRoute('10.79.0.0/16', 'str' as unknown as object), typeError);
});

// Every exported function, called wrongly: each row is a call and the code
// Node would give (ERR_INVALID_ARG_TYPE for the wrong kind of value,
// ERR_INVALID_ARG_VALUE for a wrong value of the right kind, ERR_OUT_OF_RANGE
// for a number or length outside its field).
const TYPE = 'ERR_INVALID_ARG_TYPE';
const VALUE = 'ERR_INVALID_ARG_VALUE';
const RANGE = 'ERR_OUT_OF_RANGE';
const bytes = Buffer.alloc(64);
const sink = (): PassThrough => new PassThrough().resume();
const misuse = (f: (...args: never[]) => unknown): ((...args: unknown[]) => unknown) => f as (...args: unknown[]) => unknown;

const syncCalls: Array<[string, () => unknown, string]> = [
  ['errnoName(1.5)', () => misuse(errnoName)(1.5), TYPE],
  ['errnoName(-1)', () => misuse(errnoName)(-1), RANGE],
  ['ipVersion(null)', () => misuse(ipVersion)(null), TYPE],
  ['ipVersion([4])', () => misuse(ipVersion)([0x45]), TYPE],
  ["onesComplementSum('ab')", () => misuse(onesComplementSum)('ab'), TYPE],
  ['onesComplementSum(bytes, -1)', () => onesComplementSum(bytes, -1), RANGE],
  ['onesComplementSum(bytes, 2 ** 32)', () => onesComplementSum(bytes, 2 ** 32), RANGE],
  ["internetChecksum(bytes, '1')", () => misuse(internetChecksum)(bytes, '1'), TYPE],
  ['ipv6PseudoHeaderSum(20 bytes)', () => ipv6PseudoHeaderSum(Buffer.alloc(20), 8, 17), RANGE],
  ['ipv6PseudoHeaderSum(p, NaN)', () => ipv6PseudoHeaderSum(bytes, Number.NaN, 17), TYPE],
  ['ipv6PseudoHeaderSum(p, 8, 256)', () => ipv6PseudoHeaderSum(bytes, 8, 256), RANGE],
  ['ipv4UdpPacket([])', () => misuse(ipv4UdpPacket)([]), TYPE],
  ['formatIp(3 bytes)', () => formatIp(Buffer.alloc(3)), VALUE],
  ["formatIp('1.2.3.4')", () => misuse(formatIp)('1.2.3.4'), TYPE],
  ['formatMac(null)', () => misuse(formatMac)(null), TYPE],
  ['parseIp(4)', () => parseIp(4), TYPE],
  ["parseCidr('10.0.0.1/33')", () => parseCidr('10.0.0.1/33'), VALUE],
  ['parseMac(null)', () => parseMac(null), TYPE],
  ["bpfStatement('6', 0)", () => misuse(bpfStatement)('6', 0), TYPE],
  ['bpfStatement(6, -1)', () => bpfStatement(6, -1), RANGE],
  ['bpfJump(0x15, 0, 256, 0)', () => bpfJump(0x15, 0, 256, 0), RANGE],
  ['encodeFilter({})', () => misuse(encodeFilter)({}), TYPE],
  ['encodeFilter([[]])', () => misuse(encodeFilter)([[]]), TYPE],
  ['parseVirtioNetHeader(p, 11)', () => misuse(parseVirtioNetHeader)(bytes, 11), VALUE],
  ["parseVirtioNetHeader('x')", () => misuse(parseVirtioNetHeader)('x'), TYPE],
  ['buildVirtioNetHeader([])', () => misuse(buildVirtioNetHeader)([]), TYPE],
  ['buildVirtioNetHeader({ gsoSize: 65536 })', () => buildVirtioNetHeader({ gsoSize: 65536 }), RANGE],
  ["buildVirtioNetHeader({ ecn: 'yes' })", () => misuse(buildVirtioNetHeader)({ ecn: 'yes' }), TYPE],
  ['buildVirtioNetHeader({}, 10, target, 7)', () => buildVirtioNetHeader({}, 10, Buffer.alloc(16), 7), RANGE],
  ['buildVirtioNetHeader({}, 10, [])', () => misuse(buildVirtioNetHeader)({}, 10, []), TYPE],
  ['withVirtioNetHeader(null)', () => misuse(withVirtioNetHeader)(null), TYPE],
  ['withVirtioNetHeader(p, 8)', () => misuse(withVirtioNetHeader)(bytes, 8), VALUE],
  ['splitGso(undefined)', () => misuse(splitGso)(undefined), TYPE],
  ['splitGso(p, 11)', () => misuse(splitGso)(bytes, 11), VALUE],
  ['coalesceTcp(bytes)', () => misuse(coalesceTcp)(bytes), TYPE],
  ['coalesceTcp([null])', () => misuse(coalesceTcp)([null]), TYPE],
  ['coalesceTcp([], [])', () => misuse(coalesceTcp)([], []), TYPE],
  ['coalesceTcp([], { maxSize: 0 })', () => coalesceTcp([], { maxSize: 0 }), RANGE],
  ["coalesceTcp([], { verifyChecksums: 'no' })", () => misuse(coalesceTcp)([], { verifyChecksums: 'no' }), TYPE],
  ['coalesce([null])', () => misuse(coalesce)([null]), TYPE],
  ["coalesce([], { udp: 'yes' })", () => misuse(coalesce)([], { udp: 'yes' }), TYPE],
  ['coalesce([], { maxSize: 65536 })', () => coalesce([], { maxSize: 65536 }), RANGE],
  ['ethernetFrame(null)', () => misuse(ethernetFrame)(null), TYPE],
  [
    'ethernetFrame({ etherType: 65536 })',
    () => ethernetFrame({ destination: 'ff:ff:ff:ff:ff:ff', source: '02:00:00:00:00:01', etherType: 65536, payload: bytes }),
    RANGE,
  ],
  ['parseEthernet(null)', () => misuse(parseEthernet)(null), TYPE],
  ["parseArp('x')", () => misuse(parseArp)('x'), TYPE],
  ['arpReply(null, ip, mac)', () => misuse(arpReply)(null, '10.0.0.1', '02:00:00:00:00:01'), TYPE],
  ["pcapLinkType('tunnel')", () => misuse(pcapLinkType)('tunnel'), VALUE],
  ['pcapLinkType(null)', () => misuse(pcapLinkType)(null), TYPE],
  ["pcapHeaderLength({ mode: 'tun', packetInfo: 1 })", () => misuse(pcapHeaderLength)({ mode: 'tun', packetInfo: 1 }), TYPE],
  ['pcapFileHeader(-1)', () => pcapFileHeader(-1), RANGE],
  ['pcapFileHeader(1, 0)', () => pcapFileHeader(1, 0), RANGE],
  ["pcapRecord('x', 0)", () => misuse(pcapRecord)('x', 0), TYPE],
  ['pcapRecord(p, NaN)', () => pcapRecord(bytes, Number.NaN), RANGE],
  ["pcapRecord(p, '0')", () => misuse(pcapRecord)(bytes, '0'), TYPE],
  ['new PcapWriter({}, 1)', () => new PcapWriter({} as never, 1), TYPE],
  ["new PcapWriter(stream, '1')", () => new PcapWriter(sink(), '1' as never), TYPE],
  ['PcapWriter.forDevice(stream, null)', () => PcapWriter.forDevice(sink(), null as never), TYPE],
  ["pcap.write('x')", () => new PcapWriter(sink(), 1).write('x' as never), TYPE],
  ['pcap.write(p, -1)', () => new PcapWriter(sink(), 1).write(bytes, -1), RANGE],
];

for (const [call, run, code] of syncCalls) {
  test(`${call} throws ${code}`, () => {
    assert.throws(run, (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, code, `${call}: ${error.message}`);
      assert.ok(error instanceof (code === RANGE ? RangeError : TypeError), call);
      return true;
    });
  });
}

test('a refused buildVirtioNetHeader leaves its target as it was', () => {
  const target = Buffer.alloc(10, 0xee);
  assert.throws(() => buildVirtioNetHeader({ flags: 1, csumOffset: -1 }, 10, target), { code: RANGE });
  assert.deepEqual(target, Buffer.alloc(10, 0xee));
});

test('a refused pcap write counts no packet and writes nothing', () => {
  const out = sink();
  const pcap = new PcapWriter(out, 1);
  assert.throws(() => pcap.write(bytes, Number.NaN), { code: RANGE });
  assert.equal(pcap.packets, 0);
});

// Options bags follow one rule, Node's validateObject: an array or null is
// refused wherever an options object is taken (before, open([]) opened tun0).
const badBags: Array<[string, unknown]> = [
  ['an array', []],
  ['null', null],
  ['a string', 'tun0'],
  ['a function', () => {}],
];

for (const [what, bag] of badBags) {
  test(`static methods refuse ${what} as options with ERR_INVALID_ARG_TYPE, before any syscall`, async () => {
    const opts = bag as never;
    await refuses(TunDevice.open(opts), typeError);
    await assert.rejects(TunDevice.create(opts), typeError);
    await assert.rejects(TunDevice.delete('nosuchdev0', opts), typeError);
    await refuses(TunDevice.fromFd(2 ** 20, opts), typeError);
    await refuses(Netlink.open(opts), typeError);
    await refuses(Netlink.watch(opts), typeError);
  });
}

test('null is not "use the default" for an option (as in Node)', async () => {
  for (const key of ['name', 'mode', 'path', 'netns', 'packetInfo', 'readerThread', 'offload']) {
    await refuses(TunDevice.open({ [key]: null } as never), { name: 'TypeError' });
  }
  await refuses(TunDevice.open({ offload: { tso: null } } as never), typeError);
});

test('fromFd refuses an fd that is not a 31-bit integer instead of truncating it', async () => {
  // 2 ** 32 + 3 reached the kernel as fd 3, and 2 ** 53 as fd 0.
  for (const fd of [2 ** 32 + 3, 2 ** 53, 2 ** 31, -1]) await refuses(TunDevice.fromFd(fd), rangeError);
  for (const fd of [1.5, Number.NaN, '3', null]) await refuses(TunDevice.fromFd(fd as number), typeError);
});

privilegedTest('device methods refuse wrong arguments with Node codes, before any syscall', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('arg'), mode: 'tap' });
  const calls: Array<[string, () => unknown, string]> = [
    ['setPersist(1)', () => dev.setPersist(1 as never), TYPE],
    ['setPersist()', () => misuse(dev.setPersist.bind(dev))(), TYPE],
    ['setOwner(-1)', () => dev.setOwner(-1), RANGE],
    ['setGroup(1.5)', () => dev.setGroup(1.5), TYPE],
    ['setSendBufferSize(0)', () => dev.setSendBufferSize(0), RANGE],
    ['attachFilter({})', () => dev.attachFilter({} as never), TYPE],
    ['readBatches(f, [])', () => dev.readBatches(() => {}, [] as never), TYPE],
    ["readBatches(f, { reuseSlab: 'yes' })", () => dev.readBatches(() => {}, { reuseSlab: 'yes' as never }), TYPE],
    ['writePackets([], d, 1)', () => dev.writePackets([] as never, new Uint32Array(2), 1), TYPE],
    ['addAddress(cidr, [])', () => dev.addAddress('10.9.9.1/24', [] as never), TYPE],
    ['addRoute(cidr, [])', () => dev.addRoute('10.79.0.0/16', [] as never), TYPE],
    ['setMtu(1.5)', () => dev.setMtu(1.5), TYPE],
    ['setTxQueueLength(-1)', () => dev.setTxQueueLength(-1), RANGE],
    ["setMacAddress('x')", () => dev.setMacAddress('x'), VALUE],
    ['up([])', () => dev.up([] as never), TYPE],
    ['link(null)', () => dev.link(null as never), TYPE],
  ];
  for (const [call, run, code] of calls) {
    await assert.rejects((async () => run())(), (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, code, `${call}: ${error.message}`);
      return true;
    });
  }
  const nl = await Netlink.open();
  try {
    await assert.rejects(nl.routes([] as never), typeError);
    await assert.rejects(nl.routes({ table: null } as never), typeError);
    await assert.rejects(nl.addRoute('10.79.0.0/16', { device: dev.name, table: null } as never), typeError);
  } finally {
    nl.close();
  }
});
