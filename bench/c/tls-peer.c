// The far end of bench/tls-tunnel.ts: one TLS 1.2 server that answers a
// CDTunnel handshake (the "CDTunnel" magic, a big-endian 16-bit length, JSON)
// and then carries raw IP packets back to back between TLS and its own TUN
// device, the same way for every client under test.
//   tls-peer LISTEN_IPV4 PORT CERT KEY DEV CLIENT_ADDR SERVER_ADDR MTU
// Opens DEV and listens, prints "ready PID" (the harness configures DEV), serves
// one connection until it closes or SIGTERM. Reads from DEV until EAGAIN (64
// packets or 64 KiB at most) and sends them with one SSL_write.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "common.h"

#define OUT_MAX (64 * 1024)
#define OUT_PACKETS 64
#define IN_SIZE (256 * 1024)

static void ssl_die(const char *what) {
  fprintf(stderr, "%s: ", what);
  ERR_print_errors_fp(stderr);
  fprintf(stderr, "\n");
  exit(1);
}

static int open_tun(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  return fd;
}

// Blocks until `len` bytes are read (the handshake only).
static void ssl_read_exact(SSL *ssl, unsigned char *buf, int len) {
  int got = 0;
  while (got < len) {
    int n = SSL_read(ssl, buf + got, len - got);
    if (n <= 0) ssl_die("handshake read");
    got += n;
  }
}

static void cdtunnel_handshake(SSL *ssl, const char *client, const char *server, unsigned mtu) {
  unsigned char header[10];
  char body[1024];
  ssl_read_exact(ssl, header, sizeof header);
  if (memcmp(header, "CDTunnel", 8) != 0) {
    fprintf(stderr, "handshake: no CDTunnel magic\n");
    exit(1);
  }
  int len = (header[8] << 8) | header[9];
  if (len <= 0 || len >= (int)sizeof body) {
    fprintf(stderr, "handshake: request length %d\n", len);
    exit(1);
  }
  ssl_read_exact(ssl, (unsigned char *)body, len);
  body[len] = 0;
  const char *m = strstr(body, "\"mtu\":");
  unsigned asked = m != NULL ? (unsigned)strtoul(m + 6, NULL, 10) : mtu;
  unsigned granted = asked < mtu ? asked : mtu;
  char reply[1024];
  int n = snprintf(reply + 10, sizeof reply - 10,
                   "{\"type\":\"serverHandshakeResponse\",\"serverAddress\":\"%s\",\"serverRSDPort\":58783,"
                   "\"clientParameters\":{\"address\":\"%s\",\"netmask\":\"ffff:ffff:ffff:ffff::\",\"mtu\":%u}}",
                   server, client, granted);
  memcpy(reply, "CDTunnel", 8);
  reply[8] = (char)(n >> 8);
  reply[9] = (char)(n & 0xff);
  if (SSL_write(ssl, reply, n + 10) != n + 10) ssl_die("handshake write");
  printf("handshake mtu %u cipher %s\n", granted, SSL_get_cipher_name(ssl));
  fflush(stdout);
}

// The length of the IP packet at `p` from its header; 0 when it is no IPv4 or IPv6 header.
static size_t ip_length(const unsigned char *p) {
  if ((p[0] >> 4) == 6) return 40 + (((size_t)p[4] << 8) | p[5]);
  if ((p[0] >> 4) == 4) return ((size_t)p[2] << 8) | p[3];
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: tls-peer LISTEN_IPV4 PORT CERT KEY DEV CLIENT_ADDR SERVER_ADDR MTU\n");
    return 2;
  }
  install_stop_handler();
  signal(SIGPIPE, SIG_IGN);
  unsigned mtu = (unsigned)atoi(argv[8]);
  int tun = open_tun(argv[5]);

  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) ssl_die("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, argv[3]) != 1) ssl_die("certificate");
  if (SSL_CTX_use_PrivateKey_file(ctx, argv[4], SSL_FILETYPE_PEM) != 1) ssl_die("key");

  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) die("LISTEN_IPV4");
  if (bind(ls, (struct sockaddr *)&sin, sizeof sin) < 0) die("bind");
  if (listen(ls, 1) < 0) die("listen");
  printf("ready %d\n", (int)getpid());
  fflush(stdout);

  int s = accept(ls, NULL, NULL);
  if (s < 0) {
    if (stop_requested) return 0;
    die("accept");
  }
  close(ls);
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, s);
  if (SSL_accept(ssl) != 1) ssl_die("SSL_accept");
  cdtunnel_handshake(ssl, argv[6], argv[7], mtu);

  static unsigned char out[OUT_MAX + 65536];
  static unsigned char in[IN_SIZE];
  size_t have = 0;
  struct pollfd fds[2] = {{.fd = tun, .events = POLLIN}, {.fd = s, .events = POLLIN}};
  while (!stop_requested) {
    if (SSL_pending(ssl) == 0 && poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[0].revents & POLLIN) {
      size_t used = 0;
      for (int i = 0; i < OUT_PACKETS && used < OUT_MAX; i++) {
        ssize_t n = read(tun, out + used, sizeof out - used);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) break;
          die("read tun");
        }
        used += (size_t)n;
      }
      if (used > 0 && SSL_write(ssl, out, (int)used) != (int)used) break;
    }
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) || SSL_pending(ssl) > 0) {
      int n = SSL_read(ssl, in + have, (int)(sizeof in - have));
      if (n <= 0) break;
      have += (size_t)n;
      size_t at = 0;
      while (have - at >= 20) {
        size_t len = ip_length(in + at);
        if (len < 20 || len > sizeof in / 2) {
          fprintf(stderr, "stream lost its framing at a packet of %zu bytes\n", len);
          return 1;
        }
        if (have - at < len) break;
        if (write(tun, in + at, len) < 0 && errno != EAGAIN) die("write tun");
        at += len;
      }
      memmove(in, in + at, have - at);
      have -= at;
    }
    fds[0].revents = fds[1].revents = 0;
  }
  SSL_shutdown(ssl);
  SSL_free(ssl);
  close(s);
  close(tun);
  SSL_CTX_free(ctx);
  return 0;
}
