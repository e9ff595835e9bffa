// Shared bits of the benchmark's C programs: time, stop-on-signal, JSON out.
#pragma once

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_stop(int sig) {
  (void)sig;
  stop_requested = 1;
}

// SIGTERM interrupts a blocking read/poll (no SA_RESTART), so loops see the flag.
static void install_stop_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(1);
}

// The harness configures the device after "ready" and answers "go".
static inline void ready_then_wait_for_go(void) {
  char line[16];
  printf("ready\n");
  fflush(stdout);
  if (fgets(line, sizeof line, stdin) == NULL) exit(0);
}

// Seconds of warm-up before counting starts (TUNTAP_BENCH_WARMUP, default
// 0.3): the Node side compiles its hot loop then, and both sides fill their
// caches. The harness sets it for C and Node alike.
static inline double warmup_s(void) {
  const char *w = getenv("TUNTAP_BENCH_WARMUP");
  return w != NULL ? atof(w) : 0.3;
}
