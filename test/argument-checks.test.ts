// Arguments that used to slip through (or fail with a bare TypeError) are
// refused with Node's codes before anything is done with them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Netlink, TunDevice, echoReply, ipv4UdpPacket } from '../lib';
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
