// The load side of the benchmark: sends and receives through ordinary
// sockets, only to addresses the harness routed into a TUN device inside its
// own network namespace.
//   load flood   DST PORT PAYLOAD SECONDS MAXPACKETS [FLOWS]  UDP with sendmmsg, as fast as it goes
//   load ipflood DST PORT FROMPORT INNER INNERPORT PAYLOAD SECONDS MAXPACKETS
//                                                        flood from FROMPORT, each datagram an IPv4/UDP packet
//   load paced   DST PORT PAYLOAD RATE SECONDS MAXPACKETS UDP at RATE packets/s
//   load sink    BIND PORT SECONDS [busy]                 counts UDP datagrams; busy: never sleeps
//                (polls with MSG_DONTWAIT), so no packet's delivery wakes it
//   load ping    BIND DST PORT INFLIGHT SECONDS MAXCOUNT  UDP echo round trips
//   load tcprecv BIND PORT SECONDS                        one TCP connection, counts bytes
//   load tcpsend DST PORT SECONDS                         bulk TCP
// Every loop stops at its count or its deadline; each prints one JSON line.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "common.h"

static struct sockaddr_in addr_of(const char *ip, int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    fprintf(stderr, "bad address %s\n", ip);
    exit(2);
  }
  return a;
}

static void set_timeout(int fd, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

// A connected UDP socket to DST:PORT and BATCH messages of PAYLOAD bytes each,
// all views of one buffer: what flood and paced send with sendmmsg.
enum { BATCH = 64 };
static struct mmsghdr msgs[BATCH];

// from_port: the source port, or 0 for one the kernel picks.
static int udp_sender(const char *ip, int port, size_t payload, int from_port) {
  struct sockaddr_in dst = addr_of(ip, port);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("udp socket");
  if (from_port != 0) {
    int one = 1;
    struct sockaddr_in me = addr_of("0.0.0.0", from_port);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) die("udp bind");
  }
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) die("udp connect");
  static uint8_t data[65536];
  static struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = data;
    iov[i].iov_len = payload;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  return fd;
}

static void sent_line(uint64_t sent, uint64_t errors, double seconds) {
  printf("{\"sent\":%llu,\"errors\":%llu,\"seconds\":%.6f}\n", (unsigned long long)sent, (unsigned long long)errors, seconds);
}

// FLOWS (default 1) sockets, each its own source port, take turns: a
// multi-queue device spreads flows over its queues by hash.
static int send_all(const int *fds, int flows, uint64_t max, double deadline);

static int flood(char **a, int argc) {
  size_t payload = (size_t)atoi(a[2]);
  double deadline = now_s() + atof(a[3]);
  uint64_t max = strtoull(a[4], NULL, 10);
  enum { MAX_FLOWS = 64 };
  int flows = argc > 5 ? atoi(a[5]) : 1;
  if (flows < 1 || flows > MAX_FLOWS) return 2;
  int fds[MAX_FLOWS];
  // Flows from fixed source ports: a multi-queue device spreads them over its
  // queues by a hash of their addresses and ports, so every run (and every
  // reader it compares) gets the same split. With ports the kernel picked, the
  // split of 64 flows over 2 queues came out anywhere from 62:100 to 99:100
  // between runs, and a drain's rate (the slower queue's) with it.
  for (int i = 0; i < flows; i++) fds[i] = udp_sender(a[0], atoi(a[1]), payload, flows > 1 ? 40000 + i : 0);
  return send_all(fds, flows, max, deadline);
}

// Sends `max` datagrams (or until the deadline) in batches, the sockets taking turns; prints one line.
static int send_all(const int *fds, int flows, uint64_t max, double deadline) {
  uint64_t sent = 0, errors = 0;
  double start = now_s();
  for (int turn = 0; sent < max && !stop_requested; turn = (turn + 1) % flows) {
    unsigned n = (unsigned)(max - sent < BATCH ? max - sent : BATCH);
    int r = sendmmsg(fds[turn], msgs, n, 0);
    if (r < 0) {
      errors++;
      if (errors > 1000000) break;
    } else {
      sent += (uint64_t)r;
    }
    if (now_s() > deadline) break;
  }
  sent_line(sent, errors, now_s() - start);
  return 0;
}

// What a tunnel's peer sends: every datagram carries an IPv4/UDP packet of
// PAYLOAD bytes from INNER's .2 to INNER:INNERPORT (the receiver writes it
// into its device), from the fixed source port FROMPORT (the peer it expects).
static int ipflood(char **a) {
  size_t payload = (size_t)atoi(a[5]);
  int port = atoi(a[4]);
  if (payload < 28 || payload > 65535) return 2;
  int fd = udp_sender(a[0], atoi(a[1]), payload, atoi(a[2]));
  struct sockaddr_in inner = addr_of(a[3], port);
  uint8_t *p = msgs[0].msg_hdr.msg_iov->iov_base;
  uint32_t dst = ntohl(inner.sin_addr.s_addr), src = (dst & ~0xffu) | 2;
  uint8_t ip[20] = {0x45, 0, (uint8_t)(payload >> 8), (uint8_t)payload, 0, 0, 0x40, 0, 64, 17, 0, 0};
  for (int k = 0; k < 4; k++) {
    ip[12 + k] = (uint8_t)(src >> (24 - 8 * k));
    ip[16 + k] = (uint8_t)(dst >> (24 - 8 * k));
  }
  uint32_t sum = 0;
  for (int k = 0; k < 20; k += 2) sum += (uint32_t)(ip[k] << 8 | ip[k + 1]);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = (uint8_t)(~sum >> 8);
  ip[11] = (uint8_t)~sum;
  memcpy(p, ip, sizeof ip);
  size_t udp = payload - 20;  // the UDP header (checksum 0: none, allowed over IPv4), then zeros
  uint8_t h[8] = {0x27, 0x0f, (uint8_t)(port >> 8), (uint8_t)port, (uint8_t)(udp >> 8), (uint8_t)udp, 0, 0};
  memcpy(p + 20, h, sizeof h);
  return send_all(&fd, 1, strtoull(a[7], NULL, 10), now_s() + atof(a[6]));
}

// A fixed offered load: RATE packets/s, whatever the reader does. Every TICK
// it sends what the clock says is due (a late wake-up is made up in the next
// burst, at most BATCH at once), so the average rate is exact and the bursts
// are small (RATE 200k/s: about 10 packets per tick), and the core it runs on
// mostly sleeps.
static int paced(char **a) {
  size_t payload = (size_t)atoi(a[2]);
  double rate = atof(a[3]);
  uint64_t max = strtoull(a[5], NULL, 10), sent = 0, errors = 0;
  int fd = udp_sender(a[0], atoi(a[1]), payload, 0);
  // The default timer slack (50 us) would stretch every tick.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  enum { TICK_NS = 50000 };
  uint64_t start = now_ns(), end = start + (uint64_t)(atof(a[4]) * 1e9), next = start;
  while (sent < max && !stop_requested) {
    uint64_t t = now_ns();
    if (t >= end) break;
    uint64_t due = (uint64_t)((double)(t - start) * rate / 1e9);
    if (due > max) due = max;
    if (due > sent) {
      unsigned n = (unsigned)(due - sent < BATCH ? due - sent : BATCH);
      int r = sendmmsg(fd, msgs, n, 0);
      if (r < 0) {
        if (++errors > 1000000) break;
      } else {
        sent += (uint64_t)r;
      }
    }
    next += TICK_NS;
    if (next > t) {
      struct timespec ts = {(time_t)(next / 1000000000ull), (long)(next % 1000000000ull)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    } else {
      next = t;
    }
  }
  sent_line(sent, errors, (double)(now_ns() - start) / 1e9);
  return 0;
}

static int sink(char **a) {
  struct sockaddr_in me = addr_of(a[0], atoi(a[1]));
  double deadline = now_s() + atof(a[2]);
  int flags = a[3] != NULL && !strcmp(a[3], "busy") ? MSG_DONTWAIT : 0;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) < 0) die("sink bind");
  set_timeout(fd, 100);
  printf("ready\n");
  fflush(stdout);
  static uint8_t data[64][2048];
  struct iovec iov[64];
  struct mmsghdr msgs[64];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < 64; i++) {
    iov[i].iov_base = data[i];
    iov[i].iov_len = sizeof data[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t got = 0;
  while (!stop_requested && now_s() < deadline) {
    int r = recvmmsg(fd, msgs, 64, flags, NULL);
    if (r > 0) got += (uint64_t)r;
  }
  printf("{\"received\":%llu}\n", (unsigned long long)got);
  return 0;
}

static int ping(char **a) {
  struct sockaddr_in me = addr_of(a[0], 0), dst = addr_of(a[1], atoi(a[2]));
  int inflight = atoi(a[3]);
  double seconds = atof(a[4]);
  uint64_t max = strtoull(a[5], NULL, 10);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) < 0) die("ping bind");
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) die("ping connect");
  set_timeout(fd, 100);
  uint64_t *rtts = calloc(max, sizeof *rtts);
  uint64_t done = 0, sent = 0, timeouts = 0, msg[8] = {0};
  double start = now_s(), deadline = start + seconds;
  // Keep `inflight` requests outstanding; each carries its send time.
  for (int i = 0; i < inflight; i++, sent++) {
    msg[0] = now_ns();
    send(fd, msg, sizeof msg, 0);
  }
  double warm = start + warmup_s();
  while (done < max && now_s() < deadline && !stop_requested) {
    if (warm > 0 && now_s() >= warm) {  // warm-up over: count from here
      warm = 0;
      done = sent = timeouts = 0;
      start = now_s();
    }
    uint64_t reply[8];
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 0) {
      // A lost request (ring full): refill the window and go on.
      timeouts++;
      for (int i = 0; i < inflight; i++, sent++) {
        msg[0] = now_ns();
        send(fd, msg, sizeof msg, 0);
      }
      continue;
    }
    if (n != sizeof reply) continue;
    rtts[done++] = now_ns() - reply[0];
    msg[0] = now_ns();
    send(fd, msg, sizeof msg, 0);
    sent++;
  }
  double elapsed = now_s() - start;
  qsort(rtts, done, sizeof *rtts, cmp_u64);
  double med = done ? rtts[done / 2] / 1e3 : 0, p99 = done ? rtts[(done * 99) / 100] / 1e3 : 0;
  printf("{\"roundTrips\":%llu,\"sent\":%llu,\"timeouts\":%llu,\"seconds\":%.6f,\"rttMedianUs\":%.2f,\"rttP99Us\":%.2f}\n",
         (unsigned long long)done, (unsigned long long)sent, (unsigned long long)timeouts, elapsed, med, p99);
  return 0;
}

static int tcprecv(char **a) {
  struct sockaddr_in me = addr_of(a[0], atoi(a[1]));
  double deadline = now_s() + atof(a[2]);
  int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ls < 0 || bind(ls, (struct sockaddr *)&me, sizeof me) < 0 || listen(ls, 1) < 0) die("tcprecv listen");
  set_timeout(ls, 200);
  printf("ready\n");
  fflush(stdout);
  int fd = -1;
  while (fd < 0 && !stop_requested && now_s() < deadline) fd = accept(ls, NULL, NULL);
  uint64_t bytes = 0;
  double first = 0, last = 0;
  int warm = 0;
  static uint8_t data[1 << 17];
  if (fd >= 0) {
    set_timeout(fd, 200);
    while (!stop_requested && now_s() < deadline) {
      ssize_t n = recv(fd, data, sizeof data, 0);
      if (n == 0) break;
      if (n < 0) continue;
      last = now_s();
      if (first == 0) first = last;
      if (!warm && last - first >= warmup_s()) {  // warm-up over: count from here
        warm = 1;
        first = last;
        bytes = 0;
      }
      bytes += (uint64_t)n;
    }
  }
  printf("{\"bytes\":%llu,\"seconds\":%.6f}\n", (unsigned long long)bytes, last - first);
  return 0;
}

static int tcpsend(char **a) {
  struct sockaddr_in dst = addr_of(a[0], atoi(a[1]));
  double deadline = now_s() + atof(a[2]);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) die("tcpsend connect");
  struct timeval tv = {0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  static uint8_t data[1 << 16];
  uint64_t bytes = 0;
  while (!stop_requested && now_s() < deadline) {
    ssize_t n = send(fd, data, sizeof data, MSG_NOSIGNAL);
    if (n > 0) bytes += (uint64_t)n;
    else if (n < 0 && errno != EAGAIN && errno != EINTR) break;
  }
  close(fd);
  printf("{\"bytes\":%llu}\n", (unsigned long long)bytes);
  return 0;
}

int main(int argc, char **argv) {
  install_stop_handler();
  if (argc < 2) return 2;
  const char *m = argv[1];
  if (!strcmp(m, "flood") && (argc == 7 || argc == 8)) return flood(argv + 2, argc - 2);
  if (!strcmp(m, "ipflood") && argc == 10) return ipflood(argv + 2);
  if (!strcmp(m, "paced") && argc == 8) return paced(argv + 2);
  if (!strcmp(m, "sink") && (argc == 5 || argc == 6)) return sink(argv + 2);
  if (!strcmp(m, "ping") && argc == 8) return ping(argv + 2);
  if (!strcmp(m, "tcprecv") && argc == 5) return tcprecv(argv + 2);
  if (!strcmp(m, "tcpsend") && argc == 5) return tcpsend(argv + 2);
  fprintf(stderr, "usage: see the comment at the top of load.c\n");
  return 2;
}
