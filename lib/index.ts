export { TunDevice, validateName } from './tun-device';
export type { TunCreateOptions, TunDeleteOptions, TunDeviceEvents, TunDeviceOptions, TunFromFdOptions, TunMode } from './tun-device';
export type { TunFlags } from './tun-kernel';
export { BPF, BPF_MAX_INSTRUCTIONS, bpfJump, bpfStatement, encodeFilter } from './filter';
export type { BpfInstruction } from './filter';
export { TunError, InvalidArgumentError, OutOfRangeError, StateError, errnoName } from './errors';
export type { ErrorContext } from './errors';
export { echoReply, internetChecksum, ipVersion, ipv6PseudoHeaderSum, onesComplementSum } from './packet';
