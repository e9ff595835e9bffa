#!/usr/bin/env bash
# Runs examples/udp-vpn.ts end to end on one machine: two network namespaces
# (vpnA, vpnB) joined by a veth pair stand for two hosts; each runs one side of
# the VPN; a ping each way between A's and B's private addresses and an iperf3
# TCP transfer (32 MB) go through the tunnel; each side prints its counters.
#
#   npm run demo:vpn      (builds, then runs this inside a fresh namespace)
#   npm run demo:vpn -- --key    (the same, every packet sealed with ChaCha20-Poly1305)
#
# The namespaces and the veth pair are the scaffolding (made with ip); the VPN
# configures its TUN device only through the library. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
A=vpnA-$$ B=vpnB-$$
# In clear by default (the native path, no JavaScript per packet); --key seals every packet.
key=()
[ "${1:-}" = --key ] && key=(--key "$(node -e "console.log(require('crypto').randomBytes(32).toString('hex'))")")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$B"
ip link add vethA netns "$A" type veth peer name vethB netns "$B"
for side in "$A:vethA:192.0.2.1:10.1.0.1" "$B:vethB:192.0.2.2:10.2.0.1"; do
  IFS=: read -r ns veth underlay private <<<"$side"
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$private/32" dev lo
  ip -n "$ns" addr add "$underlay/24" dev "$veth"
  ip -n "$ns" link set "$veth" up
done

ip netns exec "$A" node dist/examples/udp-vpn.js --address 10.8.0.1/24 --listen 192.0.2.1:5555 \
  --peer 192.0.2.2:5555 --route 10.2.0.0/24 "${key[@]}" &
pids+=($!)
ip netns exec "$B" node dist/examples/udp-vpn.js --address 10.8.0.2/24 --listen 192.0.2.2:5555 \
  --peer 192.0.2.1:5555 --route 10.1.0.0/24 "${key[@]}" &
pids+=($!)
# ($! is node's pid: ip netns exec execs it, so Ctrl-C in cleanup reaches the VPN.)
# Wait until both TUN devices are up (the VPN prints "Listening on" then).
for _ in $(seq 50); do
  [ "$(ip netns exec "$A" ip -brief link show type tun | wc -l)" = 1 ] &&
    [ "$(ip netns exec "$B" ip -brief link show type tun | wc -l)" = 1 ] && break
  sleep 0.1
done
sleep 0.2
echo "--- ping from A's private 10.1.0.1 to B's private 10.2.0.1, through the tunnel"
ip netns exec "$A" ping -n -c 4 -i 0.3 -I 10.1.0.1 10.2.0.1
echo "--- and back, from B to A"
ip netns exec "$B" ping -n -c 4 -i 0.3 -I 10.2.0.1 10.1.0.1
echo "--- iperf3: 32 MB over TCP from A to B"
ip netns exec "$B" iperf3 -s -1 -B 10.2.0.1 >/dev/null &
pids+=($!)
for _ in $(seq 50); do ip netns exec "$B" ss -Htln 'sport = :5201' | grep -q . && break; sleep 0.1; done
ip netns exec "$A" iperf3 -c 10.2.0.1 -B 10.1.0.1 -n 32M --connect-timeout 5000
echo "--- the tunnels' counters (Ctrl-C makes each VPN print them)"
for pid in "${pids[@]:0:2}"; do kill -INT "$pid" && wait "$pid" || true; done
