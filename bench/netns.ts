// Namespace guards the benches share: every bench that sends runs in fresh
// namespaces of its own (scripts/in-netns.js) and refuses to send where a
// default route leads out.
import { execFileSync, spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');

/** Default routes (IPv4 and IPv6) in `netns`, or in this process's namespace. */
export function defaultRoutes(netns?: string): number {
  const pre = netns === undefined ? [] : ['-n', netns];
  const show = (...args: string[]): unknown[] =>
    JSON.parse(
      execFileSync('ip', [...pre, '-j', ...args, 'route', 'show', 'default'], { encoding: 'utf8' }) || '[]',
    ) as unknown[];
  return show().length + show('-6').length;
}

/**
 * Re-runs `script` in a namespace of its own (even when started inside npm
 * test's: the sysctls a bench sets must not leak into other tests). Returns
 * true when already there; otherwise the exit code of the run is this process's.
 */
export function enterNamespace(script: string): boolean {
  const here = readlinkSync('/proc/self/ns/net');
  if (process.env.TUNTAP_BENCH_NETNS === '1' && process.env.TUNTAP_NETNS === here && process.env.TUNTAP_OUTER_NETNS !== here) {
    return true;
  }
  const r = spawnSync(
    process.execPath,
    [path.join(root, 'scripts', 'in-netns.js'), process.execPath, script, ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      env: { ...process.env, TUNTAP_BENCH_NETNS: '1' },
    },
  );
  process.exitCode = r.status ?? 1;
  return false;
}
