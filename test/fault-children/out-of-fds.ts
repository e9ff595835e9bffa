// Runs out of file descriptors (the parent lowers RLIMIT_NOFILE with prlimit)
// and prints, as one JSON line, how each step failed: open() with one fd
// free (enough for /dev/net/tun, not for the index lookup), dev.on('up') and
// dev.up() with none.
//
//   prlimit --nofile=64 node out-of-fds.js
import { closeSync, openSync } from 'node:fs';
import { TunDevice } from '../../lib';
import { uniqueName } from '../helpers';

function fields(error: unknown): Record<string, unknown> {
  const e = error as { code?: unknown; errno?: unknown; syscall?: unknown; hint?: unknown; name?: unknown };
  return { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, hint: e.hint };
}

async function outcome(step: () => unknown): Promise<Record<string, unknown>> {
  try {
    await step();
    return { ok: true };
  } catch (error) {
    return fields(error);
  }
}

async function main(): Promise<void> {
  const dev = await TunDevice.open({ name: uniqueName('fd') });
  const held: number[] = [];
  const fill = (): void => {
    for (;;) {
      try {
        held.push(openSync('/dev/null', 'r'));
      } catch {
        return;
      }
    }
  };
  fill();
  closeSync(held.pop()!);
  const open = await outcome(async () => (await TunDevice.open({ name: uniqueName('fd') })).close());
  fill();
  const on = await outcome(() => dev.on('up', () => {}));
  const up = await outcome(() => dev.up());
  for (const fd of held) closeSync(fd);
  await dev.close();
  console.log(JSON.stringify({ open, on, up }));
}

void main();
