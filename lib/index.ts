export { TunDevice, validateName } from './tun-device';
export type { PacketBatchHandler, ReadBatchesOptions, TunDeviceEvents, TunDeviceOptions, TunMode } from './tun-device';
export { TunError, InvalidArgumentError, OutOfRangeError, StateError, errnoName } from './errors';
export type { ErrorContext } from './errors';
export { echoReply, internetChecksum, ipVersion, ipv6PseudoHeaderSum, onesComplementSum } from './packet';
