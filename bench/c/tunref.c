// The C reference for the TUN side of every benchmark case: the plainest loop
// that does the same work as the Node workers (bench/worker.ts), same CLI.
//   tunref rx   DEV SECONDS MAXPACKETS
//   tunref tx   DEV SRC DST PORT PAYLOAD SECONDS MAXPACKETS
//   tunref echo DEV SECONDS MAXPACKETS
//   tunref fwd  DEVA DEVB SECONDS MAXPACKETS [plain|offload]
// fwd offload: both devices with IFF_VNET_HDR and TSO, as the Node worker's
// (TunDevice.open({ offload: { tso: true } })): packets, super-packets of up
// to 64 KB among them, go through with their virtio_net_hdr untouched.
// Prints "ready", waits for "go" on stdin, runs until SIGTERM or a bound,
// then prints one JSON line.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

#include "common.h"

// The header in front of every packet with IFF_VNET_HDR (struct virtio_net_hdr).
#define VNET_HDR_SIZE 10
// The largest IP packet (IPv6: 40-byte header + 65535 payload) plus that header.
#define MAX_PACKET (VNET_HDR_SIZE + 65575)

static int open_tun(const char *name, int offload) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  if (offload) {
    int size = VNET_HDR_SIZE, le = 1;
    if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) die("TUNSETVNETHDRSZ");
    // Little-endian header fields whatever the host, as lib/packet/virtio-net.ts reads them.
    if (ioctl(fd, TUNSETVNETLE, &le) < 0) die("TUNSETVNETLE");
    // Segmentation offload needs checksum offload: the kernel refuses TSO without CSUM.
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) < 0) die("TUNSETOFFLOAD");
  }
  return fd;
}

static uint16_t checksum(const uint8_t *p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

// Echo: swapping addresses and ports leaves both checksums valid (the sums commute).
static int swap_udp(uint8_t *p, ssize_t n) {
  if (n < 28 || (p[0] >> 4) != 4 || p[9] != 17) return 0;
  int ihl = (p[0] & 15) * 4;
  uint8_t t[4];
  memcpy(t, p + 12, 4); memcpy(p + 12, p + 16, 4); memcpy(p + 16, t, 4);
  memcpy(t, p + ihl, 2); memcpy(p + ihl, p + ihl + 2, 2); memcpy(p + ihl + 2, t, 2);
  return 1;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double cpu_at_go;
static long faults_at_go;

static long minor_faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

static uint64_t warm_at;  // 0: not warm yet
static uint64_t largest;  // bytes of the largest packet read (fwd): above the MTU only with offloads

static void start_counting(void) {
  cpu_at_go = cpu_s();
  faults_at_go = minor_faults();
}

static void go(void) {
  ready_then_wait_for_go();
  start_counting();
}

// Called per packet with its time: at the end of the warm-up (counted from
// the first packet), the counters start again.
static void warm_check(uint64_t t, uint64_t *packets, uint64_t *bytes, uint64_t *first) {
  if (warm_at == 0) warm_at = t + (uint64_t)(warmup_s() * 1e9);
  if (warm_at != UINT64_MAX && t >= warm_at) {
    warm_at = UINT64_MAX;
    *packets = 0;
    *bytes = 0;
    *first = t;
    start_counting();
  }
}

// cpu: user + system seconds since "go", a figure the neighbours' load barely moves.
static void report(const char *mode, uint64_t packets, uint64_t bytes, uint64_t errors, uint64_t first, uint64_t last) {
  printf("{\"mode\":\"%s\",\"packets\":%llu,\"bytes\":%llu,\"errors\":%llu,\"seconds\":%.6f,\"cpu\":%.6f,\"faults\":%ld,\"largest\":%llu}\n", mode,
         (unsigned long long)packets, (unsigned long long)bytes, (unsigned long long)errors,
         packets > 1 ? (double)(last - first) / 1e9 : 0.0, cpu_s() - cpu_at_go, minor_faults() - faults_at_go,
         (unsigned long long)largest);
}

int main(int argc, char **argv) {
  static uint8_t buf[MAX_PACKET];
  if (argc < 3) return 2;
  const char *mode = argv[1];
  install_stop_handler();
  uint64_t packets = 0, bytes = 0, errors = 0, first = 0, last = 0;
  if (!strcmp(mode, "rx") || !strcmp(mode, "echo")) {
    if (argc != 5) return 2;
    int fd = open_tun(argv[2], 0);
    double deadline = atof(argv[3]);
    uint64_t max = strtoull(argv[4], NULL, 10);
    int echo = !strcmp(mode, "echo");
    go();
    deadline += now_s();
    while (!stop_requested && packets < max) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("read");
      }
      last = now_ns();
      if (packets == 0) first = last;
      warm_check(last, &packets, &bytes, &first);
      if (echo) {
        if (!swap_udp(buf, n)) continue;
        if (write(fd, buf, (size_t)n) < 0) errors++;
      }
      packets++;
      bytes += (uint64_t)n;
      if ((packets & 1023) == 0 && now_s() > deadline) break;
    }
  } else if (!strcmp(mode, "tx")) {
    if (argc != 9) return 2;
    int fd = open_tun(argv[2], 0);
    size_t payload = (size_t)atoi(argv[6]);
    size_t len = 28 + payload;
    memset(buf, 0, len);
    buf[0] = 0x45;
    buf[2] = (uint8_t)(len >> 8); buf[3] = (uint8_t)len;
    buf[8] = 64; buf[9] = 17;
    inet_pton(AF_INET, argv[3], buf + 12);
    inet_pton(AF_INET, argv[4], buf + 16);
    uint16_t c = checksum(buf, 20);
    buf[10] = (uint8_t)(c >> 8); buf[11] = (uint8_t)c;
    uint16_t port = (uint16_t)atoi(argv[5]);
    buf[20] = (uint8_t)(port >> 8); buf[21] = (uint8_t)port;  // source port = dest port
    buf[22] = (uint8_t)(port >> 8); buf[23] = (uint8_t)port;
    buf[24] = (uint8_t)((len - 20) >> 8); buf[25] = (uint8_t)(len - 20);  // checksum 0: none (IPv4)
    double deadline = atof(argv[7]);
    uint64_t max = strtoull(argv[8], NULL, 10);
    go();
    deadline += now_s();
    first = now_ns();
    while (!stop_requested && packets < max) {
      if (write(fd, buf, len) < 0) errors++;
      packets++;
      bytes += len;
      if ((packets & 1023) == 0) {
        warm_check(now_ns(), &packets, &bytes, &first);
        if (now_s() > deadline) break;
      }
    }
    last = now_ns();
  } else if (!strcmp(mode, "fwd")) {
    if (argc != 6 && argc != 7) return 2;
    int offload = argc == 7 && !strcmp(argv[6], "offload");
    if (argc == 7 && !offload && strcmp(argv[6], "plain")) return 2;
    int fds[2] = {open_tun(argv[2], offload), open_tun(argv[3], offload)};
    for (int i = 0; i < 2; i++) fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    double deadline = atof(argv[4]);
    uint64_t max = strtoull(argv[5], NULL, 10);
    go();
    deadline += now_s();
    struct pollfd pfd[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    while (!stop_requested && packets < max && now_s() < deadline) {
      if (poll(pfd, 2, 200) < 0) {
        if (errno == EINTR) continue;
        die("poll");
      }
      for (int i = 0; i < 2; i++) {
        if (!(pfd[i].revents & POLLIN)) continue;
        // Up to 256 per wake-up, as the Node side's default maxBatch.
        for (int k = 0; k < 256; k++) {
          ssize_t n = read(fds[i], buf, sizeof buf);
          if (n < 0) break;
          if (write(fds[1 - i], buf, (size_t)n) < 0) errors++;
          last = now_ns();
          if (packets == 0) first = last;
          warm_check(last, &packets, &bytes, &first);
          packets++;
          bytes += (uint64_t)n;
          if ((uint64_t)n > largest) largest = (uint64_t)n;
        }
      }
    }
  } else {
    return 2;
  }
  report(mode, packets, bytes, errors, first, last);
  return 0;
}
