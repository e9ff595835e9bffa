// No silent loss on the write side: every packet handed to `writable` is
// either written (the kernel's RX counter of the device goes up by one) or
// dropped with a reason (a 'drop' event, and the kernel's RX drop counter),
// and its callback fires exactly once. 1e6 packets per case (about 2 s here;
// TUNTAP_ACCOUNTING_PACKETS sets another count); a run stops writing after
// 60 s and accounts for what it wrote by then.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { TunDevice, ipv4UdpPacket } from '../lib';
import { bringUp, privilegedTest, uniqueName, uniqueSubnet } from './helpers';
import { until } from './kernel-helpers';
import { ipLink } from './netlink-helpers';

const PACKETS = Number(process.env.TUNTAP_ACCOUNTING_PACKETS ?? 1_000_000);
/** One packet in this many is one the kernel refuses (IP version 0: EINVAL). */
const BAD_EVERY = 997;
const WRITE_DEADLINE_MS = 60_000;

for (const [label, sendBufferSize] of [
  ['the default send buffer', undefined],
  // On this kernel the stack frees (or orphans) each packet before write()
  // returns, so even 4 KiB never fills and no write sees EAGAIN; the case
  // holds the accounting to the same standard should a kernel queue them.
  ['a 4 KiB send buffer', 4096],
] as const) {
  privilegedTest(
    `${PACKETS} packets written with ${label} are each written or dropped with a reason, as the kernel counts them, and called back once`,
    async (t) => {
      const net = uniqueSubnet();
      const dev = await TunDevice.open({ name: uniqueName('acc'), sendBufferSize });
      try {
        bringUp(dev.name, net);
        if (sendBufferSize !== undefined) assert.equal(await dev.getSendBufferSize(), sendBufferSize);
        // Addressed to a host on the device's subnet that is not this one: with forwarding
        // off the stack discards it after the device counted it as received.
        const good = ipv4UdpPacket({
          source: net.host(2),
          destination: net.host(3),
          sourcePort: 9,
          destinationPort: 9,
          payload: Buffer.alloc(64),
        });
        const bad = Buffer.alloc(good.length);
        const drops = new Map<string, number>();
        dev.on('drop', (_packet, error) => drops.set(error.code, (drops.get(error.code) ?? 0) + 1));
        const calls = new Uint8Array(PACKETS);
        const failed = new Map<string, number>();
        let fired = 0;
        const before = ipLink(dev.name).stats64!.rx;
        const deadline = Date.now() + WRITE_DEADLINE_MS;
        let issued = 0;
        let badIssued = 0;
        while (issued < PACKETS && Date.now() < deadline) {
          const i = issued++;
          const isBad = i % BAD_EVERY === BAD_EVERY - 1;
          if (isBad) badIssued++;
          const more = dev.writable.write(isBad ? bad : good, (error) => {
            calls[i]++;
            fired++;
            const code = (error as NodeJS.ErrnoException | null | undefined)?.code;
            if (error != null) failed.set(String(code), (failed.get(String(code)) ?? 0) + 1);
          });
          if (!more) await once(dev.writable, 'drain');
        }
        await until(() => fired === issued, 'every write callback', 30_000);
        const after = ipLink(dev.name).stats64!.rx;
        t.diagnostic(
          `${issued} issued in ${(WRITE_DEADLINE_MS - (deadline - Date.now())) / 1000} s; drops ${JSON.stringify([...drops])}`,
        );
        assert.ok(
          calls.subarray(0, issued).every((c) => c === 1),
          'every callback fired exactly once',
        );
        assert.deepEqual([...failed], [], 'a refused packet is a drop, not a write error');
        const dropped = [...drops.values()].reduce((a, b) => a + b, 0);
        assert.deepEqual(
          [...drops],
          badIssued === 0 ? [] : [['EINVAL', badIssued]],
          'each refused packet dropped once, with its reason',
        );
        const written = issued - dropped;
        assert.equal(after.packets - before.packets, written, 'the kernel received every packet not dropped');
        assert.equal(after.dropped - before.dropped, dropped, "the kernel's drop counter agrees with the 'drop' events");
      } finally {
        await dev.close();
      }
    },
    { timeout: WRITE_DEADLINE_MS + 60_000 },
  );
}
