// close() and destroy() called by user code from inside each of the device's
// handlers, in the middle of the library's own loops: no crash, no uncaught
// error, close settles, the fd is released and the device is gone. Each case
// runs in a child process (test/fault-children/handler-close.ts).
import assert from 'node:assert/strict';
import { assertCleanExit, childReport, faultTest, runChild, transcript } from './fault-helpers';

interface HandlerReport {
  calls: number;
  settled: boolean;
  uncaught: string[];
  fdsBefore: number;
  fdsAfter: number;
  linkGone: boolean;
  fd: number;
}

const HANDLERS: Array<[handler: string, what: string]> = [
  ['data', "a 'data' handler in the middle of a batch"],
  ['readBatches', 'a readBatches handler'],
  ['drop', "a 'drop' handler in the middle of a burst of writes"],
  ['dropWritePackets', "a 'drop' handler in the middle of writePackets"],
  ['linkChange', "a 'linkChange' handler"],
  ['up', "an 'up' handler"],
  ['addressAdded', "an 'addressAdded' handler"],
];

// The read handlers once more with the reader on its own thread (readerThread):
// the thread must be stopped and joined before the fd closes, from inside them.
const RUNS: Array<[handler: string, what: string, how: string[]]> = [
  ...HANDLERS.map(([handler, what]): [string, string, string[]] => [handler, what, []]),
  ['data', "a 'data' handler of a device with a reader thread", ['thread']],
  ['readBatches', 'a readBatches handler of a device with a reader thread', ['thread']],
];

for (const [handler, what, how] of RUNS) {
  for (const action of ['close', 'destroy'] as const) {
    faultTest(`${action}() from inside ${what} crashes nothing, settles, and releases the fd`, async () => {
      const run = await runChild('handler-close', [handler, action, ...how], { timeoutMs: 110_000 });
      assertCleanExit(run);
      const r = childReport<HandlerReport>(run);
      assert.deepEqual(r.uncaught, [], 'no uncaught error');
      assert.equal(r.settled, true, 'close settles');
      assert.ok(r.calls >= 1, `the handler never ran\n${transcript(run)}`);
      assert.equal(r.fd, -1);
      assert.equal(r.fdsAfter, r.fdsBefore, 'the fd is released');
      assert.equal(r.linkGone, true, 'the device is gone');
    });
  }
}
