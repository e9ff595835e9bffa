export { Tunnel, TunnelFramingError, tunnel } from './stream';
export type { TunnelBatchHook, TunnelDirection, TunnelEvents, TunnelFlow, TunnelOptions, TunnelStats } from './stream';
export { ipPacketLength, packPackets, splitPackets } from './framing';
export type { Framing, SplitResult } from './framing';
