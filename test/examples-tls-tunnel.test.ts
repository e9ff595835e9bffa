// examples/tls-tunnel.ts: raw IPv6 packets over TLS 1.2 between two network
// namespaces joined by a veth pair (test scaffolding, made with ip); each
// side's tunnel and TUN device are the example's.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ExampleProcess } from './example-helpers';
import { ip, privilegedTest, run, throwawayCertificate, uniqueName, uniqueSubnet } from './helpers';

privilegedTest(
  'two tls-tunnel examples carry IPv6 ping both ways over TLS 1.2, and the client ends with the server',
  async () => {
    const tag = uniqueName('');
    const underlay = uniqueSubnet();
    const inner = `fd00:${underlay.prefix.split('.').slice(1).join(':')}::`;
    const ns = [`tt-tls1-${tag}`, `tt-tls2-${tag}`];
    const veth = [`ta${tag}`.slice(0, 15), `tb${tag}`.slice(0, 15)];
    const dir = mkdtempSync(path.join(tmpdir(), 'tls-tunnel-'));
    const procs: ExampleProcess[] = [];
    try {
      const { cert, key } = throwawayCertificate(dir);
      ip('link', 'add', veth[0], 'type', 'veth', 'peer', 'name', veth[1]);
      ns.forEach((n, i) => {
        ip('netns', 'add', n);
        ip('link', 'set', veth[i], 'netns', n);
        ip('-n', n, 'link', 'set', 'lo', 'up');
        ip('-n', n, 'addr', 'add', `${underlay.host(i + 1)}/24`, 'dev', veth[i]);
        ip('-n', n, 'link', 'set', veth[i], 'up');
      });
      const listen = `${underlay.host(1)}:5443`;
      const server = new ExampleProcess(
        'tls-tunnel',
        ['--listen', listen, '--cert', cert, '--key', key, '--address', `${inner}1/64`],
        {
          netns: ns[0],
        },
      );
      procs.push(server);
      await server.waitFor(/^Listening on /m);
      const client = new ExampleProcess('tls-tunnel', ['--connect', listen, '--ca', cert, '--address', `${inner}2/64`], {
        netns: ns[1],
      });
      procs.push(client);
      await client.waitFor(/^Tunnel up: .* \(TLSv1\.2\)$/m);
      await server.waitFor(/^Tunnel up: .* \(TLSv1\.2\)$/m);
      for (const [from, to] of [
        [ns[1], `${inner}1`],
        [ns[0], `${inner}2`],
      ]) {
        const ping = await run('ip', ['netns', 'exec', from, 'ping', '-6', '-n', '-c', '3', '-i', '0.2', '-W', '5', to]);
        assert.equal(ping.code, 0, ping.stdout + ping.stderr);
        assert.match(ping.stdout, /3 received/);
      }
      // The server's Ctrl-C ends the TLS stream: the client's tunnel closes and it exits.
      assert.equal((await server.stop('SIGINT')).code, 0, server.transcript());
      assert.equal((await client.exited).code, 0, client.transcript());
      const [, stats] = client.stdout.match(/^Tunnel closed: (.*)$/m) ?? [];
      const counts = JSON.parse(stats) as { toDevice: { packets: number }; toTransport: { packets: number } };
      assert.ok(counts.toDevice.packets >= 6 && counts.toTransport.packets >= 6, stats);
    } finally {
      await Promise.all(procs.map((p) => p.kill()));
      for (const n of ns) {
        try {
          ip('netns', 'del', n);
        } catch {
          // not made
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
