// The C reference for bench/udp-forward.ts: packets read from a TUN device
// and sent over UDP to one peer, the plainest way each syscall allows.
//   udppump DEV PEER PORT MAXPACKETS [mmsg|gso|recv]
// mmsg: read(2) until EAGAIN (64 at most), then one sendmmsg for them all;
// gso: the same reads laid back to back, sent with one sendmsg per run of
// equal sizes with UDP_SEGMENT (the kernel cuts them). Prints "ready", waits
// for "go", runs to MAXPACKETS or SIGTERM, prints one JSON line with its own CPU.
// recv: the other way: PEER:PORT is the address to bind; recvmmsg, then a
// write(2) into the device per datagram.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "common.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define BATCH 64
#define SLOT 2048

static double cpu_s(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The other direction: datagrams bound for ADDR:PORT, a recvmmsg of up to
// 64 at a time, each written into the device.
static int receive(int tun, int udp, const struct sockaddr_in *at, long max) {
  if (bind(udp, (const struct sockaddr *)at, sizeof *at) < 0) die("bind");
  static uint8_t slab[BATCH * SLOT];
  static struct mmsghdr msgs[BATCH];
  static struct iovec iov[BATCH];
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = slab + (size_t)i * SLOT;
    iov[i].iov_len = SLOT;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  ready_then_wait_for_go();
  double t0 = now_s(), c0 = cpu_s();
  long packets = 0, writeErrors = 0;
  double bytes = 0;
  struct pollfd p = {.fd = udp, .events = POLLIN};
  while (!stop_requested && packets < max) {
    int n = recvmmsg(udp, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) {
      if (poll(&p, 1, 200) < 0 && errno != EINTR) die("poll");
      continue;
    }
    for (int i = 0; i < n; i++) {
      if (write(tun, iov[i].iov_base, msgs[i].msg_len) < 0) {
        writeErrors++;
        continue;
      }
      packets++;
      bytes += msgs[i].msg_len;
    }
  }
  double seconds = now_s() - t0, cpu = cpu_s() - c0;
  printf("{\"packets\":%ld,\"bytes\":%.0f,\"seconds\":%.6f,\"cpuSeconds\":%.6f,\"writeErrors\":%ld}\n", packets, bytes,
         seconds, cpu, writeErrors);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: udppump DEV PEER PORT MAXPACKETS [mmsg|gso|recv]\n");
    return 2;
  }
  int gso = argc > 5 && strcmp(argv[5], "gso") == 0;
  int recv = argc > 5 && strcmp(argv[5], "recv") == 0;
  long max = atol(argv[4]);
  install_stop_handler();
  int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (tun < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(tun, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (udp < 0) die("socket");
  struct sockaddr_in peer;
  memset(&peer, 0, sizeof peer);
  peer.sin_family = AF_INET;
  peer.sin_port = htons((uint16_t)atoi(argv[3]));
  if (inet_pton(AF_INET, argv[2], &peer.sin_addr) != 1) die("inet_pton");
  if (recv) return receive(tun, udp, &peer, max);
  if (connect(udp, (struct sockaddr *)&peer, sizeof peer) < 0) die("connect");
  static uint8_t slab[BATCH * SLOT];
  static struct mmsghdr msgs[BATCH];
  static struct iovec iov[BATCH];
  size_t lengths[BATCH];
  ready_then_wait_for_go();
  double t0 = now_s(), c0 = cpu_s();
  long packets = 0, sendErrors = 0;
  double bytes = 0;
  struct pollfd p = {.fd = tun, .events = POLLIN};
  while (!stop_requested && packets < max) {
    int n = 0;
    size_t used = 0;
    while (n < BATCH) {
      ssize_t r = read(tun, slab + (gso ? used : (size_t)n * SLOT), SLOT);
      if (r <= 0) break;
      lengths[n++] = (size_t)r;
      used += (size_t)r;
    }
    if (n == 0) {
      if (poll(&p, 1, 200) < 0 && errno != EINTR) die("poll");
      continue;
    }
    if (!gso) {
      for (int i = 0; i < n; i++) {
        iov[i].iov_base = slab + (size_t)i * SLOT;
        iov[i].iov_len = lengths[i];
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      int sent = sendmmsg(udp, msgs, (unsigned)n, 0);
      if (sent < n) sendErrors += n - (sent < 0 ? 0 : sent);
    } else {
      // Runs of equal sizes (the last of a run may be shorter) in one UDP_SEGMENT send each.
      size_t at = 0;
      for (int i = 0; i < n;) {
        int j = i + 1;
        size_t run = lengths[i];
        while (j < n && lengths[j - 1] == lengths[i] && lengths[j] <= lengths[i] && j - i < 64) run += lengths[j++];
        char control[CMSG_SPACE(sizeof(uint16_t))];
        struct iovec v = {.iov_base = slab + at, .iov_len = run};
        struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
        if (j - i > 1) {
          m.msg_control = control;
          m.msg_controllen = sizeof control;
          struct cmsghdr *c = CMSG_FIRSTHDR(&m);
          c->cmsg_level = SOL_UDP;
          c->cmsg_type = UDP_SEGMENT;
          c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
          uint16_t size = (uint16_t)lengths[i];
          memcpy(CMSG_DATA(c), &size, sizeof size);
        }
        if (sendmsg(udp, &m, 0) < 0) sendErrors += j - i;
        at += run;
        i = j;
      }
    }
    packets += n;
    bytes += (double)used;
  }
  double seconds = now_s() - t0, cpu = cpu_s() - c0;
  printf("{\"packets\":%ld,\"bytes\":%.0f,\"seconds\":%.6f,\"cpuSeconds\":%.6f,\"sendErrors\":%ld}\n", packets, bytes,
         seconds, cpu, sendErrors);
  return 0;
}
