// A user's module against the installed package's .d.ts: test/package-types.test.ts
// compiles it with tsc --strict and skipLibCheck false as an ES module
// (nodenext), and copied to a .cts as CommonJS (nodenext, and commonjs/node10).
// Each @ts-expect-error line must fail to compile, or tsc reports it unused.
import { TunDevice, TunError, parseCidr, type LinkInfo } from 'tuntap-ts';

export async function consumer(): Promise<void> {
  const dev = await TunDevice.open({ name: 'tun0', mode: 'tap', multiQueue: false });
  dev.readable.on('data', (packet) => {
    const copy: Buffer = packet;
    void copy;
  });
  const next: Buffer | null = dev.readable.read();
  void next;
  for await (const packet of dev.readable) {
    const length: number = packet.length;
    void length;
  }
  dev.on('linkChange', (link: LinkInfo) => void link.mtu);
  dev.on('drop', (packet, error) => {
    const code: string = error.code;
    (void packet.length, code);
  });
  void (parseCidr('10.0.0.1/24').prefixLength satisfies number);
  void (new TunError(-1, 'open') satisfies Error);

  // @ts-expect-error a wrong event name
  dev.on('linkChanged', () => {});
  // @ts-expect-error a wrong listener signature: 'linkChange' passes a LinkInfo
  dev.on('linkChange', (link: string) => void link);
  // @ts-expect-error a readable chunk is a Buffer, not a string
  dev.readable.on('data', (packet: string) => void packet);
  // @ts-expect-error a wrong option
  await TunDevice.open({ nmae: 'tun0' });
  // @ts-expect-error a wrong option value
  await TunDevice.open({ mode: 'tunnel' });
  // @ts-expect-error the constructor is not public
  new TunDevice();
}
