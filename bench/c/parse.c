// The C reference of the packet-parse bench: reads the same 5-tuple and TCP
// flags of a batch of IPv4 and IPv6 packets straight from the bytes, as the
// views do (IPv6 extension headers walked), and prints ns per packet as JSON.
//
//   parse <slab file> <descriptor file> <rounds>
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

static inline unsigned u16(const uint8_t* b) { return ((unsigned)b[0] << 8) | b[1]; }
static inline uint32_t u32(const uint8_t* b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

// Sums what it reads so the compiler keeps every read.
static uint32_t parse(const uint8_t* p, uint32_t len) {
  if (len < 1) return 0;
  uint32_t sum = 0;
  unsigned proto, l4;
  if (p[0] >> 4 == 4) {
    if (len < 20) return 0;
    unsigned ihl = (p[0] & 15) * 4, total = u16(p + 2);
    if (ihl < 20 || total < ihl || total > len) return 0;
    sum += u32(p + 12) + u32(p + 16);
    proto = p[9];
    l4 = ihl;
    len = total;
  } else if (p[0] >> 4 == 6) {
    if (len < 40 || 40 + u16(p + 4) > len) return 0;
    len = 40 + u16(p + 4);
    for (int i = 8; i < 40; i += 4) sum += u32(p + i);
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
  sum += proto;
  if ((proto == 6 && l4 + 20 <= len) || (proto == 17 && l4 + 8 <= len)) sum += u16(p + l4) + u16(p + l4 + 2);
  if (proto == 6 && l4 + 20 <= len) sum += p[l4 + 13];
  return sum;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  load(argv[1], slab, sizeof slab);
  size_t count = load(argv[2], desc, sizeof desc) / 8;
  long rounds = atol(argv[3]);
  uint32_t sum = 0;
  uint64_t start = now_ns();
  for (long r = 0; r < rounds; r++)
    for (size_t i = 0; i < count; i++) sum += parse(slab + desc[2 * i], desc[2 * i + 1]);
  uint64_t ns = now_ns() - start;
  printf("{\"nsPerPacket\": %.3f, \"sum\": %u}\n", (double)ns / (double)(rounds * count), sum);
  return 0;
}
