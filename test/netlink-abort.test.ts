// AbortSignal on Netlink.watch() and on Netlink's requests, against the
// kernel: what an abort rejects with, what it leaves open, and that the same
// socket goes on answering afterwards.
import assert from 'node:assert/strict';
import test from 'node:test';
import { Netlink, TunDevice } from '../lib';
import { openFdCount, privilegedTest, uniqueName } from './helpers';
import { until } from './kernel-helpers';
import { ipLink } from './netlink-helpers';

/** Node's AbortError, with the signal's reason as its cause. */
function assertAbortError(error: unknown, reason: unknown): true {
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'AbortError');
  assert.equal((error as { code?: unknown }).code, 'ABORT_ERR');
  assert.equal(error.cause, reason);
  return true;
}

function abortedSignal(reason: unknown): AbortSignal {
  const controller = new AbortController();
  controller.abort(reason);
  return controller.signal;
}

test('watch() with an aborted signal rejects with an AbortError and opens no socket', async () => {
  const reason = new Error('stop');
  const before = openFdCount();
  await assert.rejects(Netlink.watch({ signal: abortedSignal(reason) }), (e) => assertAbortError(e, reason));
  assert.equal(openFdCount(), before);
});

test('watch() aborted before its socket is ready rejects with an AbortError and closes the socket when it comes', async () => {
  const before = openFdCount();
  const controller = new AbortController();
  const watching = Netlink.watch({ signal: controller.signal });
  controller.abort('changed my mind');
  await assert.rejects(watching, (e) => assertAbortError(e, 'changed my mind'));
  // The socket was being made on the thread pool: it is closed once it arrives.
  await until(() => openFdCount() === before, 'the late socket to be closed');
});

test("aborting a ready watcher's signal closes the watcher", async () => {
  const controller = new AbortController();
  const watcher = await Netlink.watch({ signal: controller.signal });
  assert.equal(watcher.closed, false);
  controller.abort();
  assert.equal(watcher.closed, true);
});

test('watch() and a request refuse a signal that is not an AbortSignal with ERR_INVALID_ARG_TYPE', async () => {
  const notASignal = { aborted: true } as unknown as AbortSignal;
  await assert.rejects(Netlink.watch({ signal: notASignal }), { code: 'ERR_INVALID_ARG_TYPE' });
  using nl = await Netlink.open();
  await assert.rejects(nl.links({ signal: notASignal }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(nl.setUp('lo', { signal: notASignal }), { code: 'ERR_INVALID_ARG_TYPE' });
});

privilegedTest('a change with an aborted signal rejects with an AbortError and is never sent', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nlab') });
  using nl = await Netlink.open();
  const mtu = ipLink(dev.name).mtu;
  const reason = new Error('no');
  await assert.rejects(nl.setMtu(dev.index, mtu - 100, { signal: abortedSignal(reason) }), (e) => assertAbortError(e, reason));
  assert.equal(ipLink(dev.name).mtu, mtu);
});

privilegedTest('a request aborted in flight rejects with an AbortError, and the same Netlink goes on answering', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nlaf') });
  using nl = await Netlink.open();
  const controller = new AbortController();
  // Sent before the abort: the kernel acts on it inside the send.
  const setting = nl.setMtu(dev.index, 1280, { signal: controller.signal });
  controller.abort();
  await assert.rejects(setting, (e) => assertAbortError(e, controller.signal.reason));
  assert.equal(ipLink(dev.name).mtu, 1280, 'a change sent before the abort is made all the same');
  // The dropped answer is not taken for the next request's.
  await nl.setMtu(dev.index, 1300);
  assert.equal((await nl.link(dev.name)).mtu, 1300);
  assert.equal(nl.closed, false);
});

privilegedTest('a dump aborted in flight leaves the socket reading the next dump whole', async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nlad') });
  using nl = await Netlink.open();
  const controller = new AbortController();
  const listing = nl.links({ signal: controller.signal });
  controller.abort();
  await assert.rejects(listing, { name: 'AbortError' });
  const links = await nl.links();
  assert.ok(
    links.some((l) => l.index === dev.index),
    'the next dump has the device',
  );
  assert.equal(links.filter((l) => l.name === 'lo').length, 1, 'and no link twice');
});

privilegedTest("a TunDevice helper passes the signal on: an aborted setMtu leaves the device's MTU alone", async () => {
  await using dev = await TunDevice.open({ name: uniqueName('nlat') });
  const mtu = ipLink(dev.name).mtu;
  await assert.rejects(dev.setMtu(mtu - 100, { signal: abortedSignal('x') }), { name: 'AbortError', code: 'ABORT_ERR' });
  assert.equal(ipLink(dev.name).mtu, mtu);
  await assert.rejects(dev.addAddress('10.99.0.1/24', { signal: abortedSignal('x') }), { name: 'AbortError' });
  assert.deepEqual(await dev.addresses(), []);
});
