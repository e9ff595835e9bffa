// How long Netlink.open({ netns }) and Netlink.watch({ netns }) block the
// event loop: a 1 ms ticker runs while 20 open/close cycles (after a warm-up)
// go on, and every tick later than 1 ms counts as blocked time. Also the time
// each call takes before it returns its promise (its synchronous part).
// Run inside a scratch namespace: `node scripts/in-netns.js node dist/bench/netlink-open.js`.
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Netlink } from '../lib';

const CYCLES = 20;
const WARM_UP = 5;

interface Figures {
  syncMeanMs: number;
  syncMaxMs: number;
  maxTickGapMs: number;
  blockedMs: number;
}

async function measure(cycle: () => Promise<void>, call: () => Promise<{ close(): void }>): Promise<Figures> {
  for (let i = 0; i < WARM_UP; i++) await cycle();
  const sync: number[] = [];
  let last = performance.now();
  let maxGap = 0;
  let blocked = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    const gap = now - last;
    last = now;
    maxGap = Math.max(maxGap, gap);
    // A tick due after 1 ms that came later was held up by something on the loop.
    if (gap > 2) blocked += gap - 1;
  }, 1);
  // Let the ticker settle before the first cycle.
  await new Promise((resolve) => setTimeout(resolve, 20));
  last = performance.now();
  maxGap = 0;
  blocked = 0;
  for (let i = 0; i < CYCLES; i++) {
    const t0 = performance.now();
    const pending = call();
    sync.push(performance.now() - t0);
    (await pending).close();
    // One tick between cycles so that each cycle's block shows as its own gap.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  clearInterval(ticker);
  return {
    syncMeanMs: sync.reduce((a, b) => a + b, 0) / sync.length,
    syncMaxMs: Math.max(...sync),
    maxTickGapMs: maxGap,
    blockedMs: blocked,
  };
}

async function main(): Promise<void> {
  const name = `nlbench${process.pid}`;
  execFileSync('ip', ['netns', 'add', name]);
  const netns = `/var/run/netns/${name}`;
  try {
    const open = (): Promise<Netlink> => Netlink.open({ netns });
    const watch = (): ReturnType<typeof Netlink.watch> => Netlink.watch({ netns });
    const round = (f: number): string => f.toFixed(2);
    for (const [label, call] of [
      ['Netlink.open({ netns })', open],
      ['Netlink.watch({ netns })', watch],
    ] as const) {
      const f = await measure(async () => (await call()).close(), call);
      console.log(
        `${label}: ${CYCLES} cycles: sync part mean ${round(f.syncMeanMs)} ms, max ${round(f.syncMaxMs)} ms; ` +
          `1 ms ticker: longest gap ${round(f.maxTickGapMs)} ms, blocked ${round(f.blockedMs)} ms in all`,
      );
    }
  } finally {
    execFileSync('ip', ['netns', 'del', name]);
  }
}

void main();
