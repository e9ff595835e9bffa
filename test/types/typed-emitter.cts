// Compiled with consumer.mts by test/package-types.test.ts (CommonJS only:
// typed-emitter's types are a CommonJS default export). The package declares
// its own TypedEmitter so users need not install typed-emitter (and rxjs);
// a user who has it can still treat a device as one.
import { TunDevice, type NetlinkWatcherEvents, type TunDeviceEvents } from 'tuntap-ts';
import type TypedEmitter from 'typed-emitter';

export async function typedEmitterUser(): Promise<void> {
  const dev = await TunDevice.open();
  const emitter: TypedEmitter<TunDeviceEvents> = dev;
  emitter.on('up', (link) => void link.name);
  const watcher: TypedEmitter<NetlinkWatcherEvents> = await import('tuntap-ts').then((m) => m.Netlink.watch());
  void watcher;
}
