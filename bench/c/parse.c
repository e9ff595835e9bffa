// The C reference of the packet-parse bench: reads the same 5-tuple and TCP
// flags of a batch of IPv4 and IPv6 packets straight from the bytes, as the
// views do (IPv6 extension headers walked), and prints ns per packet as JSON,
// or (dump) the fields of each packet, one line each.
//
//   parse <slab file> <descriptor file> <rounds | dump>
#include "common.h"

static uint8_t slab[1 << 20];
static uint32_t desc[2 * 4096];

static size_t load(const char* path, void* into, size_t max) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    exit(1);
  }
  size_t n = fread(into, 1, max, f);
  fclose(f);
  return n;
}

// CPU time, as the JS side measures: on a loaded machine, wall time counts the neighbours' turns too.
static uint64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline unsigned u16(const uint8_t* b) { return ((unsigned)b[0] << 8) | b[1]; }
static inline uint32_t u32(const uint8_t* b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

// The fields read: version 0 when the packet is not a well-formed IP
// packet; ports and flags 0 when absent; an IPv4 address in word 0 only.
struct tuple {
  unsigned version, protocol, source_port, destination_port, flags;
  uint32_t source[4], destination[4];
};

static inline int parse(const uint8_t* p, uint32_t len, struct tuple* t) {
  memset(t, 0, sizeof *t);
  if (len < 1) return 0;
  unsigned proto, l4;
  if (p[0] >> 4 == 4) {
    if (len < 20) return 0;
    unsigned ihl = (p[0] & 15) * 4, total = u16(p + 2);
    if (ihl < 20 || total < ihl || total > len) return 0;
    t->source[0] = u32(p + 12);
    t->destination[0] = u32(p + 16);
    t->version = 4;
    proto = p[9];
    l4 = ihl;
    len = total;
  } else if (p[0] >> 4 == 6) {
    if (len < 40 || 40 + u16(p + 4) > len) return 0;
    len = 40 + u16(p + 4);
    for (int i = 0; i < 4; i++) {
      t->source[i] = u32(p + 8 + 4 * i);
      t->destination[i] = u32(p + 24 + 4 * i);
    }
    t->version = 6;
    proto = p[6];
    l4 = 40;
    while (proto == 0 || proto == 43 || proto == 60 || proto == 44) {
      if (l4 + 8 > len) return 0;
      unsigned size = proto == 44 ? 8 : (p[l4 + 1] + 1) * 8;
      proto = p[l4];
      l4 += size;
    }
  } else {
    return 0;
  }
  t->protocol = proto;
  if ((proto == 6 && l4 + 20 <= len) || (proto == 17 && l4 + 8 <= len)) {
    t->source_port = u16(p + l4);
    t->destination_port = u16(p + l4 + 2);
  }
  if (proto == 6 && l4 + 20 <= len) t->flags = p[l4 + 13];
  return 1;
}

// Sums what it reads so the compiler keeps every read.
static inline uint32_t sum_of(const struct tuple* t) {
  uint32_t sum = t->protocol + t->source_port + t->destination_port + t->flags;
  for (int i = 0; i < 4; i++) sum += t->source[i] + t->destination[i];
  return sum;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  load(argv[1], slab, sizeof slab);
  size_t count = load(argv[2], desc, sizeof desc) / 8;
  struct tuple t;
  // "dump": one line of fields per packet, for the bench's check that the views read the same.
  if (strcmp(argv[3], "dump") == 0) {
    for (size_t i = 0; i < count; i++) {
      parse(slab + desc[2 * i], desc[2 * i + 1], &t);
      printf("%u %u %u %u %u %u %u %u %u %u %u %u %u\n",
             t.version,
             t.protocol,
             t.source[0],
             t.source[1],
             t.source[2],
             t.source[3],
             t.destination[0],
             t.destination[1],
             t.destination[2],
             t.destination[3],
             t.source_port,
             t.destination_port,
             t.flags);
    }
    return 0;
  }
  long rounds = atol(argv[3]);
  uint32_t sum = 0;
  uint64_t start = cpu_ns();
  for (long r = 0; r < rounds; r++)
    for (size_t i = 0; i < count; i++) {
      parse(slab + desc[2 * i], desc[2 * i + 1], &t);
      sum += sum_of(&t);
    }
  uint64_t ns = cpu_ns() - start;
  printf("{\"nsPerPacket\": %.3f, \"sum\": %u}\n", (double)ns / (double)(rounds * count), sum);
  return 0;
}
