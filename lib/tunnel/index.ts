// Carrying a device's packets over a transport: a stream (tunnel()) or UDP (udpTunnel()).
export { Tunnel, TunnelFramingError, tunnel } from './stream';
export type { TunnelBatchHook, TunnelDirection, TunnelEvents, TunnelFlow, TunnelOptions, TunnelStats } from './stream';
export type { Framing } from '../packet/stream';
export { UdpTunnel, udpTunnel } from './udp';
export type { UdpBatch, UdpBatchHook, UdpPeer, UdpTunnelCounters, UdpTunnelOptions } from './udp';
