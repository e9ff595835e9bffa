export { Tunnel, TunnelFramingError, tunnel } from './stream';
export type { TunnelBatchHook, TunnelDirection, TunnelEvents, TunnelFlow, TunnelOptions, TunnelStats } from './stream';
export type { Framing } from './framing';
