#!/usr/bin/env node
// The package's install script. On Linux: node-gyp-build, which keeps a
// prebuilt binary that loads here and compiles from src/ otherwise. Elsewhere
// it does nothing: TUN/TAP is Linux's, there is nothing to build, and the
// package still installs and imports there (TunDevice.open rejects with
// ENOTSUP), so a cross-platform program may depend on it.
'use strict';
if (process.platform === 'linux') require('node-gyp-build/bin.js');
