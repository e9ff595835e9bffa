// The C reference for the TUN side of every benchmark case: the plainest loop
// that does the same work as the Node workers (bench/worker.ts), same CLI.
//   tunref rx   DEV SECONDS MAXPACKETS [poll|poll-mt|poll-uv|blocking]
//   tunref drain DEV [poll|poll-mt|blocking|uring]   then "go N" lines on stdin: read N packets, one JSON line each
//   tunref mq   DEV QUEUES               one thread per queue; stdin: go N | run | mark (bench/queues-worker.ts)
//   tunref tx   DEV SRC DST PORT PAYLOAD SECONDS MAXPACKETS [poll-mt|uring]
//   tunref echo DEV SECONDS MAXPACKETS [poll-mt]
//   tunref fwd  DEVA DEVB SECONDS MAXPACKETS [plain|offload]
// fwd offload: both devices with IFF_VNET_HDR and TSO, as the Node worker's
// (TunDevice.open({ offload: { tso: true } })): packets, super-packets of up
// to 64 KB among them, go through with their virtio_net_hdr untouched.
// Prints "ready", waits for "go" on stdin, runs until SIGTERM or a bound,
// then prints one JSON line.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <linux/io_uring.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "common.h"

// The header in front of every packet with IFF_VNET_HDR (struct virtio_net_hdr).
#define VNET_HDR_SIZE 10
// The largest IP packet (IPv6: 40-byte header + 65535 payload) plus that header.
#define MAX_PACKET (VNET_HDR_SIZE + 65575)

static int open_tun_flags(const char *name, int offload, int extra_flags) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0) | extra_flags;
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

static int open_tun(const char *name, int offload) { return open_tun_flags(name, offload, 0); }

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

// The library's read path without JS (src/tun_handle.cc), so that a Node/C
// ratio compares the same system calls: raw read(2) system calls (not glibc's
// wrapper, a cancellation point with two atomics per call), packets at
// 16-byte-aligned offsets of one slab of the library's size, reused every
// batch (readBatches with reuseSlab), a new batch when the slab has less than
// a largest packet's room left.
//   poll:     a non-blocking fd; up to MAX_BATCH reads per wake-up, then
//             epoll_wait, as libuv's level-triggered poll (maxBatch 256).
//   blocking: read(2) sleeps in the kernel until a packet comes; no epoll.
#define MAX_BATCH 256
#define READ_SIZE (65575 + 64)
#define SLAB_SIZE (4 * READ_SIZE)

// uring: io_uring multishot read (IORING_OP_READ_MULTISHOT, Linux 6.7)
// from a provided-buffer ring of MAX_BATCH buffers: one io_uring_enter per
// wake-up for many packets, no read(2) per packet. A buffer goes back to the
// ring when the next packet is asked for (the caller is done with it).
#ifndef IORING_OP_READ_MULTISHOT
#define IORING_OP_READ_MULTISHOT 49
#endif
#define URING_BUFS 512  // power of two
#define URING_CQ 4096

// An io_uring's two rings, as mapped into this process.
struct ring {
  int fd;
  unsigned *cq_head, *cq_tail, cq_mask;
  struct io_uring_cqe *cqes;
  unsigned *sq_tail, sq_mask, *sq_array;
  struct io_uring_sqe *sqes;
};

static void ring_setup(struct ring *r, unsigned entries, struct io_uring_params *p) {
  r->fd = (int)syscall(__NR_io_uring_setup, entries, p);
  if (r->fd < 0) die("io_uring_setup");
  size_t sq_size = p->sq_off.array + p->sq_entries * sizeof(unsigned);
  size_t cq_size = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
  if (cq_size > sq_size) sq_size = cq_size;
  uint8_t *rings = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  if (rings == MAP_FAILED) die("mmap ring");
  r->sq_tail = (unsigned *)(rings + p->sq_off.tail);
  r->sq_mask = *(unsigned *)(rings + p->sq_off.ring_mask);
  r->sq_array = (unsigned *)(rings + p->sq_off.array);
  r->cq_head = (unsigned *)(rings + p->cq_off.head);
  r->cq_tail = (unsigned *)(rings + p->cq_off.tail);
  r->cq_mask = *(unsigned *)(rings + p->cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(rings + p->cq_off.cqes);
  r->sqes = mmap(NULL, p->sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                 r->fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) die("mmap sqes");
}

struct uring {
  struct ring r;
  struct io_uring_buf_ring *buffers;
  uint16_t buffers_tail;
  uint8_t *memory;  // URING_BUFS of READ_SIZE bytes
  int held;         // buffer id the caller has, or -1
  int armed;
};

static void uring_arm(struct uring *u, int fd) {
  unsigned tail = *u->r.sq_tail;
  struct io_uring_sqe *sqe = &u->r.sqes[tail & u->r.sq_mask];
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = IORING_OP_READ_MULTISHOT;
  sqe->fd = fd;
  sqe->flags = IOSQE_BUFFER_SELECT;
  sqe->buf_group = 0;
  u->r.sq_array[tail & u->r.sq_mask] = tail & u->r.sq_mask;
  __atomic_store_n(u->r.sq_tail, tail + 1, __ATOMIC_RELEASE);
  if (syscall(__NR_io_uring_enter, u->r.fd, 1, 0, 0, NULL, 0) < 0) die("io_uring_enter (submit)");
  u->armed = 1;
}

static void uring_give(struct uring *u, int bid) {
  struct io_uring_buf *b = &u->buffers->bufs[u->buffers_tail & (URING_BUFS - 1)];
  b->addr = (uint64_t)(uintptr_t)(u->memory + (size_t)bid * READ_SIZE);
  b->len = READ_SIZE;
  b->bid = (uint16_t)bid;
  u->buffers_tail++;
  __atomic_store_n(&u->buffers->tail, u->buffers_tail, __ATOMIC_RELEASE);
}

static void uring_init(struct uring *u, int fd) {
  memset(u, 0, sizeof *u);
  u->held = -1;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  p.cq_entries = URING_CQ;
  ring_setup(&u->r, 4, &p);
  u->buffers = aligned_alloc(4096, URING_BUFS * sizeof(struct io_uring_buf));
  // C11's aligned_alloc wants the size a multiple of the alignment (ASan enforces it).
  u->memory = aligned_alloc(4096, ((size_t)URING_BUFS * READ_SIZE + 4095) & ~(size_t)4095);
  if (u->buffers == NULL || u->memory == NULL) die("aligned_alloc");
  memset(u->buffers, 0, URING_BUFS * sizeof(struct io_uring_buf));
  memset(u->memory, 0, (size_t)URING_BUFS * READ_SIZE);
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)u->buffers;
  reg.ring_entries = URING_BUFS;
  reg.bgid = 0;
  if (syscall(__NR_io_uring_register, u->r.fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) die("IORING_REGISTER_PBUF_RING");
  for (int i = 0; i < URING_BUFS; i++) uring_give(u, i);
  uring_arm(u, fd);
}

// The next packet's length (*data: its bytes), or -1 once a stop is asked for.
static ssize_t uring_next(struct uring *u, int fd, uint8_t **data) {
  if (u->held >= 0) {
    uring_give(u, u->held);
    u->held = -1;
  }
  for (;;) {
    if (stop_requested) return -1;
    unsigned head = *u->r.cq_head;
    if (head == __atomic_load_n(u->r.cq_tail, __ATOMIC_ACQUIRE)) {
      if (!u->armed) uring_arm(u, fd);
      if (syscall(__NR_io_uring_enter, u->r.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
        die("io_uring_enter");
      continue;
    }
    struct io_uring_cqe *cqe = &u->r.cqes[head & u->r.cq_mask];
    int res = cqe->res;
    unsigned flags = cqe->flags;
    __atomic_store_n(u->r.cq_head, head + 1, __ATOMIC_RELEASE);
    if (!(flags & IORING_CQE_F_MORE)) u->armed = 0;
    if (res < 0) {
      if (res == -ENOBUFS || res == -EAGAIN) continue;
      errno = -res;
      die("multishot read");
    }
    if (!(flags & IORING_CQE_F_BUFFER)) continue;
    int bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
    *data = u->memory + (size_t)bid * READ_SIZE;
    u->held = bid;
    return res;
  }
}

// tx uring: writes submitted URING_TX at a time with one io_uring_enter,
// the TUN fd registered (a fixed file: no fd lookup per write), against
// write(2) per packet.
#define URING_TX 64

static void uring_tx_init(struct ring *u, int fd) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  ring_setup(u, URING_TX, &p);
  if (syscall(__NR_io_uring_register, u->fd, IORING_REGISTER_FILES, &fd, 1) < 0) die("IORING_REGISTER_FILES");
}

// Writes the packet URING_TX times in one submission; returns how many completed, counting failures in *errors.
static unsigned uring_tx_batch(struct ring *u, const uint8_t *buf, size_t len, uint64_t *errors) {
  unsigned tail = *u->sq_tail;
  for (unsigned i = 0; i < URING_TX; i++) {
    struct io_uring_sqe *sqe = &u->sqes[(tail + i) & u->sq_mask];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_WRITE;
    sqe->fd = 0;  // the registered TUN fd
    sqe->flags = IOSQE_FIXED_FILE;
    sqe->addr = (uint64_t)(uintptr_t)buf;
    sqe->len = (unsigned)len;
    sqe->off = (uint64_t)-1;
    u->sq_array[(tail + i) & u->sq_mask] = (tail + i) & u->sq_mask;
  }
  __atomic_store_n(u->sq_tail, tail + URING_TX, __ATOMIC_RELEASE);
  if (syscall(__NR_io_uring_enter, u->fd, URING_TX, URING_TX, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
    die("io_uring_enter");
  unsigned head = *u->cq_head, end = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE), done = 0;
  for (; head != end; head++, done++)
    if (u->cqes[head & u->cq_mask].res < 0) (*errors)++;
  __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
  return done;
}

static uint64_t empty_looks;  // poll-uv: zero-timeout epoll_waits that found nothing, since "go"

struct reader {
  _Atomic int *hold;  // while set, no read starts (mq: the threads pause between drains)
  void (*before_wait)(struct reader *r);  // called before epoll_wait (mq: publish the batch's count)
  int fd, epoll_fd, blocking, use_uring, uv_idle;
  struct uring uring;
  unsigned in_batch;
  size_t used;
  uint8_t *slab;
};

static void *idle_thread(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

// poll-mt: the same work in a process with a second (idle) thread, as every
// Node process is: the kernel then takes a reference on the file in each
// read's or write's fd lookup, which a single-threaded process skips
// (fdget()). True when `how` asked for it (and the thread now runs).
static int start_idle_thread(const char *how) {
  if (how == NULL || (strcmp(how, "poll-mt") && strcmp(how, "poll-uv"))) return 0;
  pthread_t t;
  if (pthread_create(&t, NULL, idle_thread, NULL) != 0) die("pthread_create");
  return 1;
}

// poll-uv: poll-mt, waiting as a Node process's event loop does. Node turns
// on libuv's idle-time metric (UV_METRICS_IDLE_TIME) for every loop, and
// libuv then looks with a zero timeout before each wait, so that time asleep
// is measured apart from time spent on events: every wake-up of a Node
// process costs an epoll_wait that finds nothing, besides the one that
// sleeps (libuv 1.46, src/unix/linux.c, uv__io_poll).
static void reader_init(struct reader *r, int fd, const char *how) {
  memset(r, 0, sizeof *r);
  r->uv_idle = how != NULL && !strcmp(how, "poll-uv");
  if (start_idle_thread(how)) how = "poll";
  r->fd = fd;
  r->blocking = how != NULL && !strcmp(how, "blocking");
  r->use_uring = how != NULL && !strcmp(how, "uring");
  if (how != NULL && !r->blocking && !r->use_uring && strcmp(how, "poll")) exit(2);
  if (r->use_uring) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    uring_init(&r->uring, fd);
    return;
  }
  // C11's aligned_alloc wants the size a multiple of the alignment (ASan enforces it).
  r->slab = aligned_alloc(4096, (SLAB_SIZE + 4095) & ~(size_t)4095);
  if (r->slab == NULL) die("aligned_alloc");
  memset(r->slab, 0, SLAB_SIZE);  // no page faults later
  if (r->blocking) return;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data = {.fd = fd}};
  if (r->epoll_fd < 0 || epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll");
}

// The next packet's length (its bytes at *data), or -1 once a stop is asked for.
static ssize_t next_packet(struct reader *r, uint8_t **data) {
  if (r->use_uring) return uring_next(&r->uring, r->fd, data);
  for (;;) {
    while (r->hold != NULL && atomic_load(r->hold) && !stop_requested) usleep(200);
    if (stop_requested) return -1;
    if (r->in_batch == MAX_BATCH || SLAB_SIZE - r->used < READ_SIZE) {
      r->in_batch = 0;
      r->used = 0;
      if (!r->blocking) {
        struct epoll_event ev;
        if (r->before_wait != NULL) r->before_wait(r);
        // Level-triggered: returns at once while packets are left.
        int ready = r->uv_idle ? epoll_wait(r->epoll_fd, &ev, 1, 0) : 0;
        if (r->uv_idle && ready == 0) empty_looks++;
        if (ready == 0 && epoll_wait(r->epoll_fd, &ev, 1, 200) < 0 && errno != EINTR) die("epoll_wait");
        continue;  // the hold may have been set meanwhile
      }
    }
    ssize_t n = syscall(SYS_read, r->fd, r->slab + r->used, READ_SIZE);
    if (n >= 0) {
      *data = r->slab + r->used;
      r->used += ((size_t)n + 15) & ~(size_t)15;
      r->in_batch++;
      return n;
    }
    if (errno == EAGAIN) r->in_batch = MAX_BATCH;  // ends the batch: wait in epoll_wait
    else if (errno != EINTR) die("read");
  }
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

// Nanoseconds this thread has waited, runnable, for a CPU (the second field
// of schedstat): what the machine's other load took from the run.
static uint64_t run_delay_ns(void) {
  unsigned long long on_cpu = 0, waited = 0;
  FILE *f = fopen("/proc/thread-self/schedstat", "r");
  if (f == NULL) return 0;
  if (fscanf(f, "%llu %llu", &on_cpu, &waited) != 2) waited = 0;
  fclose(f);
  return waited;
}

// The same, summed over all of this process's threads (mq).
static uint64_t process_run_delay_ns(void) {
  uint64_t sum = 0;
  DIR *d = opendir("/proc/self/task");
  if (d == NULL) return 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    char path[300];
    unsigned long long on_cpu = 0, waited = 0;
    snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
    FILE *f = fopen(path, "r");
    if (f == NULL) continue;
    if (fscanf(f, "%llu %llu", &on_cpu, &waited) == 2) sum += waited;
    fclose(f);
  }
  closedir(d);
  return sum;
}

static uint64_t warm_at;  // 0: not warm yet
static uint64_t warm_packets;  // packets counted in the warm-up, before the counters started again
static uint64_t largest;  // bytes of the largest packet read (fwd): above the MTU only with offloads

static uint64_t delay_at_go;

static void start_counting(void) {
  empty_looks = 0;
  delay_at_go = run_delay_ns();
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
    warm_packets = *packets;
    *packets = 0;
    *bytes = 0;
    *first = t;
    start_counting();
  }
}

// cpu: user + system seconds since "go", a figure the neighbours' load barely moves.
// cpu: user + system seconds since "go", a figure the neighbours' load barely
// moves; runDelay: seconds this thread waited for a CPU meanwhile.
static void report(const char *mode, uint64_t packets, uint64_t bytes, uint64_t errors, uint64_t first, uint64_t last) {
  printf("{\"mode\":\"%s\",\"packets\":%llu,\"bytes\":%llu,\"errors\":%llu,\"seconds\":%.6f,\"cpu\":%.6f,\"faults\":%ld,\"largest\":%llu,\"runDelay\":%.6f,\"emptyLooks\":%llu,\"warmPackets\":%llu}\n",
         mode, (unsigned long long)packets, (unsigned long long)bytes, (unsigned long long)errors,
         packets > 1 ? (double)(last - first) / 1e9 : 0.0, cpu_s() - cpu_at_go, minor_faults() - faults_at_go,
         (unsigned long long)largest, (double)(run_delay_ns() - delay_at_go) / 1e9, (unsigned long long)empty_looks,
         (unsigned long long)warm_packets);
}

// ---- mq: one reader thread per queue of a multi-queue device ----------------
// The threads count into shared totals; "go N" resumes them until the total
// has grown by N (the thread that gets there tells the main thread through
// a pipe), then pauses them; a paused thread waits before its next read.
#define MAX_QUEUES 16
static _Atomic uint64_t mq_total, mq_target, mq_per_queue[MAX_QUEUES];
// Read before every read(2): on a line of its own, not on the counters' that every batch writes.
static struct {
  _Alignas(64) _Atomic int on;
  char rest_of_line[60];
} mq_paused = {1, {0}};
static int mq_done_pipe[2];

// One cache line (or more) each: a thread's reader state and count change on
// every packet, and must not share a line with the other thread's.
struct mq_thread {
  _Alignas(64) struct reader r;  // first: before_wait gets its address
  int queue;
  uint64_t pending;  // read, not yet added to the shared totals
};

// Once per batch, as the Node threads do, not per packet: the shared
// counters' cache line would otherwise move between the cores on every read.
static void mq_publish(struct reader *r) {
  struct mq_thread *t = (struct mq_thread *)r;
  uint64_t n = t->pending;
  if (n == 0) return;
  t->pending = 0;
  atomic_fetch_add(&mq_per_queue[t->queue], n);
  uint64_t total = atomic_fetch_add(&mq_total, n) + n;
  uint64_t target = atomic_load(&mq_target);
  if (target != 0 && total >= target && total - n < target) {
    // Paused here, by the thread that read the last packet: no other read starts after it.
    atomic_store(&mq_paused.on, 1);
    uint64_t at = now_ns();
    if (write(mq_done_pipe[1], &at, sizeof at) != sizeof at) die("write");
  }
}

static void *mq_reader(void *arg) {
  struct mq_thread *t = arg;
  uint8_t *p;
  // Every wake-up ends in epoll_wait (a full batch too), which publishes the count.
  while (next_packet(&t->r, &p) >= 0) t->pending++;
  return NULL;
}

// runDelay: seconds the threads together waited for a CPU that other load held.
static void mq_report(uint64_t packets, double seconds, double cpu, double run_delay, int queues) {
  printf("{\"mode\":\"mq\",\"queues\":%d,\"packets\":%llu,\"seconds\":%.6f,\"cpu\":%.6f,\"runDelay\":%.6f,\"perQueue\":[", queues,
         (unsigned long long)packets, seconds, cpu, run_delay);
  for (int q = 0; q < queues; q++) printf("%s%llu", q ? "," : "", (unsigned long long)atomic_load(&mq_per_queue[q]));
  printf("]}\n");
  fflush(stdout);
}

static int mq_main(const char *name, int queues) {
  if (queues < 1 || queues > MAX_QUEUES) return 2;
  static struct mq_thread threads[MAX_QUEUES];
  pthread_t ids[MAX_QUEUES];
  if (pipe(mq_done_pipe) < 0) die("pipe");
  for (int q = 0; q < queues; q++) {
    threads[q].queue = q;
    reader_init(&threads[q].r, open_tun_flags(name, 0, IFF_MULTI_QUEUE), "poll");
    threads[q].r.hold = &mq_paused.on;
    threads[q].r.before_wait = mq_publish;
  }
  // Each thread on a CPU of its own (of those the harness gave the process,
  // in turn): left to the scheduler, two threads started together sometimes
  // shared one core for a whole drain (their run delay half the run, the
  // 2-queue rate down to 0.6 of the next round's). The Node side cannot pin
  // its worker threads; this is the better C, and the comparison says so.
  cpu_set_t allowed;
  int cpus[CPU_SETSIZE], ncpus = 0;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE; c++)
      if (CPU_ISSET(c, &allowed)) cpus[ncpus++] = c;
  for (int q = 0; q < queues; q++) {
    pthread_create(&ids[q], NULL, mq_reader, &threads[q]);
    if (ncpus > 1) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpus[q % ncpus], &one);
      pthread_setaffinity_np(ids[q], sizeof one, &one);
    }
  }
  printf("ready\n");
  fflush(stdout);
  char line[64];
  uint64_t run_at = now_ns(), run_total = 0, run_delay = 0;
  double run_cpu = cpu_s();
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (!strncmp(line, "go ", 3)) {
      uint64_t base = atomic_load(&mq_total), want = strtoull(line + 3, NULL, 10), at;
      atomic_store(&mq_target, base + want);
      double c0 = cpu_s();
      uint64_t d0 = process_run_delay_ns(), t0 = now_ns();
      atomic_store(&mq_paused.on, 0);
      if (read(mq_done_pipe[0], &at, sizeof at) != sizeof at) die("read");
      double c1 = cpu_s();
      uint64_t d1 = process_run_delay_ns();
      atomic_store(&mq_target, 0);
      mq_report(atomic_load(&mq_total) - base, (double)(at - t0) / 1e9, c1 - c0, (double)(d1 - d0) / 1e9, queues);
    } else if (!strncmp(line, "run", 3)) {
      run_at = now_ns();
      run_cpu = cpu_s();
      run_delay = process_run_delay_ns();
      run_total = atomic_load(&mq_total);
      atomic_store(&mq_paused.on, 0);
    } else if (!strncmp(line, "mark", 4)) {
      mq_report(atomic_load(&mq_total) - run_total, (double)(now_ns() - run_at) / 1e9, cpu_s() - run_cpu,
                (double)(process_run_delay_ns() - run_delay) / 1e9, queues);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  static uint8_t buf[MAX_PACKET];
  if (argc < 3) return 2;
  const char *mode = argv[1];
  install_stop_handler();
  if (!strcmp(mode, "mq")) return argc == 4 ? mq_main(argv[2], atoi(argv[3])) : 2;
  uint64_t packets = 0, bytes = 0, errors = 0, first = 0, last = 0;
  if (!strcmp(mode, "rx")) {
    if (argc != 5 && argc != 6) return 2;
    struct reader r;
    reader_init(&r, open_tun(argv[2], 0), argc == 6 ? argv[5] : NULL);
    double deadline = atof(argv[3]);
    uint64_t max = strtoull(argv[4], NULL, 10);
    go();
    deadline += now_s();
    uint8_t *p;
    ssize_t n;
    while (packets < max && (n = next_packet(&r, &p)) >= 0) {
      last = now_ns();
      if (packets == 0) first = last;
      warm_check(last, &packets, &bytes, &first);
      packets++;
      bytes += (uint64_t)n;
      if ((packets & 1023) == 0 && now_s() > deadline) break;
    }
  } else if (!strcmp(mode, "drain")) {
    // The reader's capacity: the harness fills the ring while this waits,
    // then says "go N"; the N packets are read with nothing else running.
    if (argc != 3 && argc != 4) return 2;
    struct reader r;
    reader_init(&r, open_tun(argv[2], 0), argc == 4 ? argv[3] : NULL);
    printf("ready\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin) != NULL && !strncmp(line, "go ", 3)) {
      uint64_t want = strtoull(line + 3, NULL, 10);
      packets = bytes = 0;
      start_counting();
      first = now_ns();
      uint8_t *p;
      ssize_t n;
      while (packets < want && (n = next_packet(&r, &p)) >= 0) {
        packets++;
        bytes += (uint64_t)n;
      }
      last = now_ns();
      report(mode, packets, bytes, errors, first, last);
      fflush(stdout);
      if (stop_requested) break;
    }
    return 0;
  } else if (!strcmp(mode, "echo")) {
    if (argc != 5 && !(argc == 6 && start_idle_thread(argv[5]))) return 2;
    int fd = open_tun(argv[2], 0);
    double deadline = atof(argv[3]);
    uint64_t max = strtoull(argv[4], NULL, 10);
    go();
    deadline += now_s();
    while (!stop_requested && packets < max) {
      ssize_t n = syscall(SYS_read, fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("read");
      }
      last = now_ns();
      if (packets == 0) first = last;
      warm_check(last, &packets, &bytes, &first);
      if (!swap_udp(buf, n)) continue;
      if (syscall(SYS_write, fd, buf, (size_t)n) < 0) errors++;
      packets++;
      bytes += (uint64_t)n;
      if ((packets & 1023) == 0 && now_s() > deadline) break;
    }
  } else if (!strcmp(mode, "tx")) {
    int use_uring = argc == 10 && !strcmp(argv[9], "uring");
    if (argc != 9 && !use_uring && !(argc == 10 && start_idle_thread(argv[9]))) return 2;
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
    struct ring tx;
    if (use_uring) uring_tx_init(&tx, fd);
    go();
    deadline += now_s();
    first = now_ns();
    while (!stop_requested && packets < max) {
      unsigned n = 1;
      if (use_uring) n = uring_tx_batch(&tx, buf, len, &errors);
      // The system call itself, as the library and the other modes here make
      // it: glibc's write() in a multi-threaded process (C-mt) adds two
      // atomics for pthread cancellation that the library does not pay.
      else if (syscall(SYS_write, fd, buf, len) < 0) errors++;
      packets += n;
      bytes += n * len;
      if ((packets & 1023) < n) {
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
