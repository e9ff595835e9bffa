{
  "variables": {
    "tuntap_prebuild%": "<!(node -p \"process.env.TUNTAP_PREBUILD || 0\")"
  },
  "targets": [
    {
      "target_name": "tuntap",
      "sources": [
        "src/addon.cc",
        "src/errno_error.cc",
        "src/tun_open.cc",
        "src/tun_handle.cc",
        "src/tun_offload.cc",
        "src/netlink_socket.cc",
        "src/tun_ioctl.cc",
        "src/netns.cc",
        "src/polled_fd.cc",
        "src/owned_fd.cc",
        "src/slab_pool.cc",
        "src/reader_thread.cc",
        "src/udp_socket.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["tuntap_prebuild==1", {
          "ldflags": ["-Wl,--version-script=<(module_root_dir)/src/exports.map"]
        }]
      ]
    }
  ]
}
