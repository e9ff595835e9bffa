// The virtio_net_hdr helpers against hand-written bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GsoType, VirtioNetFlags, buildVirtioNetHeader, parseVirtioNetHeader, withVirtioNetHeader } from '../lib';

test('parseVirtioNetHeader reads every field of a little-endian 10-byte header', () => {
  const bytes = Buffer.from([0x01, 0x81, 0x42, 0x00, 0xa8, 0x05, 0x14, 0x00, 0x10, 0x00, 0x45]);
  assert.deepEqual(parseVirtioNetHeader(bytes), {
    flags: VirtioNetFlags.NEEDS_CSUM,
    gsoType: GsoType.TCPV4,
    ecn: true,
    hdrLen: 0x42,
    gsoSize: 1448,
    csumStart: 20,
    csumOffset: 16,
    numBuffers: 0,
  });
});

test('a 12-byte header also carries num_buffers', () => {
  const bytes = Buffer.from([0x02, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0x01]);
  const h = parseVirtioNetHeader(bytes, 12);
  assert.equal(h?.numBuffers, 0x103);
  assert.equal(h?.gsoType, GsoType.UDP_L4);
  assert.equal(h?.flags, VirtioNetFlags.DATA_VALID);
});

test('a short buffer or an unknown gso_type parses to null', () => {
  assert.equal(parseVirtioNetHeader(Buffer.alloc(9)), null);
  assert.equal(parseVirtioNetHeader(Buffer.alloc(11), 12), null);
  assert.equal(parseVirtioNetHeader(Buffer.from([0, 2, 0, 0, 0, 0, 0, 0, 0, 0])), null);
});

test('buildVirtioNetHeader writes what parseVirtioNetHeader reads back', () => {
  const header = {
    flags: VirtioNetFlags.NEEDS_CSUM,
    gsoType: GsoType.TCPV6,
    ecn: false,
    hdrLen: 72,
    gsoSize: 1428,
    csumStart: 40,
    csumOffset: 16,
    numBuffers: 1,
  };
  const bytes = buildVirtioNetHeader(header, 12);
  assert.deepEqual([...bytes], [1, 4, 72, 0, 0x94, 0x05, 40, 0, 16, 0, 1, 0]);
  assert.deepEqual(parseVirtioNetHeader(bytes, 12), header);
});

test('buildVirtioNetHeader refuses a target too small for the header', () => {
  assert.throws(() => buildVirtioNetHeader({}, 10, Buffer.alloc(12), 4), RangeError);
});

test('withVirtioNetHeader puts an all-zero header (plain packet, checksum done) in front', () => {
  const p = withVirtioNetHeader(Buffer.from([0x45, 1, 2]));
  assert.deepEqual([...p], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x45, 1, 2]);
});
