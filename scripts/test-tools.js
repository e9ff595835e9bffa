// The commands the build, the demo and the tests run, each with the Debian
// package that provides it: setup.js installs the missing ones, and the setup
// test reads the same table, so a tool added here is checked there too.
'use strict';

/** command (or absolute file) -> Debian package */
const TOOLS = {
  ip: 'iproute2',
  ping: 'iputils-ping',
  unshare: 'util-linux',
  setpriv: 'util-linux',
  nsenter: 'util-linux',
  mount: 'mount',
  sysctl: 'procps',
  tcpdump: 'tcpdump',
  git: 'git',
  tshark: 'tshark',
  ethtool: 'ethtool',
  'wireguard-go': 'wireguard-go',
  wg: 'wireguard-tools',
  iperf3: 'iperf3',
  'g++': 'g++',
  make: 'make',
  python3: 'python3',
  '/usr/include/stdio.h': 'libc6-dev',
};

module.exports = { TOOLS };
