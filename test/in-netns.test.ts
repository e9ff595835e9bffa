// scripts/in-netns.js, which every privileged run goes through: what a run
// does to namespaces and mounts stays inside it, and what it forgets to
// clean up fails it by name.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ip, linkExists, privilegedTest, run, uniqueName } from './helpers';
import { repoRoot } from './package-helpers';

const IN_NETNS = path.join(repoRoot, 'scripts', 'in-netns.js');

function inNetns(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(process.execPath, [IN_NETNS, 'sh', '-c', script]);
}

/** Whether this process's mount namespace has anything mounted at or under `where`. */
function mountedHere(where: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => {
      const point = line.split(' ')[4];
      return point === where || point?.startsWith(`${where}/`) === true;
    });
}

privilegedTest("a namespace named inside the run is mounted in its own /run/netns, never the caller's", async () => {
  const name = uniqueName('inns');
  try {
    // Left behind on purpose: the run must fail, name it, and leave nothing here.
    const r = await inNetns(`ip netns add ${name} && ls /run/netns`);
    assert.match(r.stdout, new RegExp(`^${name}$`, 'm'), 'the command saw its namespace');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`left behind[^]*named network namespace ${name}`));
    assert.equal(existsSync(`/run/netns/${name}`), false, `the caller's /run/netns has no ${name}`);
    assert.equal(mountedHere(`/run/netns/${name}`), false, `nothing is mounted at /run/netns/${name} here`);
  } finally {
    if (existsSync(`/run/netns/${name}`)) ip('netns', 'del', name);
  }
});

privilegedTest("ip netns exec works inside the run, with the namespace's own /sys, and a run that cleans up passes", async () => {
  const name = uniqueName('inex');
  const r = await inNetns(
    `ip netns add ${name} && ip link add ${name}a type veth peer name ${name}b netns ${name} &&
     ip netns exec ${name} ls /sys/class/net; ip link del ${name}a; ip netns del ${name}`,
  );
  assert.equal(r.code, 0, r.stderr);
  // ip netns exec remounts /sys for the namespace: its peer is there, ours is not.
  assert.deepEqual(r.stdout.trim().split(/\s+/).sort(), [`${name}b`, 'lo'].sort());
  assert.equal(r.stderr, '');
});

privilegedTest('a TUN, TAP or veth device left behind fails the run, each named', async () => {
  const [tun, tap, veth] = [uniqueName('intun'), uniqueName('intap'), uniqueName('inveth')];
  const r = await inNetns(
    `ip tuntap add mode tun ${tun} && ip tuntap add mode tap ${tap} && ip link add ${veth} type veth peer name ${veth}p`,
  );
  assert.equal(r.code, 1, r.stderr);
  for (const device of [tun, tap, veth, `${veth}p`]) {
    assert.match(r.stderr, new RegExp(`device ${device} `), r.stderr);
    assert.equal(linkExists(device), false, `${device} is not in the caller's namespace`);
  }
});

privilegedTest('a mount left behind fails the run, and the caller never sees it', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tuntap-mnt-'));
  try {
    const r = await inNetns(`mount -t tmpfs tuntap-left ${dir} && mountpoint -q ${dir}`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`mount on ${dir} `));
    assert.equal(mountedHere(dir), false);
  } finally {
    if (mountedHere(dir)) execFileSync('umount', [dir]);
    rmdirSync(dir);
  }
});

privilegedTest("the command's own failure is the run's exit code", async () => {
  assert.equal((await inNetns('exit 3')).code, 3);
  assert.equal((await inNetns(`ip tuntap add mode tun ${uniqueName('inbad')}; exit 4`)).code, 4);
});
