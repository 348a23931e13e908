/*
 * A connection opener for the broker benchmarks, outside Node so the accept rate it measures is
 * the broker's and not the generator's (Node opened ~8.5k connections/s here). One thread, epoll,
 * non-blocking sockets: opens `count` MQTT 3.1.1 or 5.0 connections to 127.0.0.1:port with at
 * most `outstanding` awaiting CONNACK, optionally answers QoS 1 PUBLISHes with PUBACK and counts
 * them per connection, holds the connections `hold_ms`, then prints one JSON line and closes
 * everything.
 *
 *   opener <port> <count> <outstanding> <hold_ms> <clean 0|1> <id_prefix> <expect_messages> <idle_ms>
 *          [<version 4|5> [<session_expiry_s>]]
 *
 * expect_messages: total PUBLISHes to wait for across all connections, expect_messages / count on
 * each (0 = none); the wait ends when every connection has its share or nothing arrived for
 * idle_ms. A total alone would let one session's redeliveries hide another's loss, so "missing"
 * is counted per connection: what each got short of its share in first deliveries (DUP clear; in
 * the reconnect storm nothing was sent before, so a DUP is a second copy).
 * version 5: the CONNECT carries a Session Expiry Interval property (session_expiry_s, default 0)
 * and PUBLISH/PUBACK use the 5.0 framing (a property length after the packet id; the PUBACK with
 * reason code 0 and an empty property list).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  int state; /* 0 connecting, 1 awaiting CONNACK, 2 connected, 3 failed */
  unsigned char buf[4096];
  int have;
  int received; /* first deliveries (DUP clear) on this connection */
  int dups;     /* redeliveries (DUP set) on it */
} conn_t;

/* Why connections failed, for the report: a storm's failures mean different things. */
enum { F_SOCKET, F_RESET_CONNECTING, F_RESET_AWAITING, F_WRITE, F_CLOSED_AWAITING, F_REFUSED, F_KINDS };
static const char *failure_names[F_KINDS] = {"socket", "reset before connected", "reset awaiting CONNACK", "CONNECT not written", "closed awaiting CONNACK", "refused or unparsable"};
static long failures[F_KINDS];

static int version = 4;
static unsigned long session_expiry = 0;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int encode_connect(unsigned char *out, const char *id, int clean) {
  int idlen = (int)strlen(id);
  /* 5.0: a property length, then Session Expiry Interval (0x11, four bytes) when there is one. */
  int props = version == 5 ? (session_expiry > 0 ? 5 : 0) : -1;
  int rem = 10 + (props >= 0 ? 1 + props : 0) + 2 + idlen;
  int n = 0;
  out[n++] = 0x10;
  out[n++] = (unsigned char)rem; /* ids are short: rem < 128 */
  const unsigned char vh[] = {0, 4, 'M', 'Q', 'T', 'T', (unsigned char)version, (unsigned char)(clean ? 0x02 : 0x00), 0, 60};
  memcpy(out + n, vh, sizeof vh);
  n += sizeof vh;
  if (props >= 0) {
    out[n++] = (unsigned char)props;
    if (props > 0) {
      out[n++] = 0x11;
      out[n++] = (unsigned char)(session_expiry >> 24);
      out[n++] = (unsigned char)(session_expiry >> 16);
      out[n++] = (unsigned char)(session_expiry >> 8);
      out[n++] = (unsigned char)session_expiry;
    }
  }
  out[n++] = (unsigned char)(idlen >> 8);
  out[n++] = (unsigned char)(idlen & 0xff);
  memcpy(out + n, id, idlen);
  return n + idlen;
}

/* Reads a variable byte integer at p (at most 4 bytes before end); -1 when malformed. */
static int varint(const unsigned char *p, const unsigned char *end, int *used) {
  int value = 0, mult = 1;
  for (int i = 0; i < 4 && p + i < end; i++) {
    value += (p[i] & 0x7f) * mult;
    mult *= 128;
    if (!(p[i] & 0x80)) { *used = i + 1; return value; }
  }
  return -1;
}

/*
 * Handles whole frames in c->buf; returns PUBLISHes seen, -1 on a refused CONNACK or a frame that
 * does not parse. *connacked is 1 for a CONNACK, 2 when it also said Session Present; *firsts
 * counts the PUBLISHes without DUP.
 */
static int consume(conn_t *c, int *connacked, int *firsts) {
  int seen = 0, off = 0;
  unsigned char acks[4096];
  int nacks = 0;
  while (off + 2 <= c->have) {
    int mult = 1, rem = 0, pos = off + 1, done = 0;
    while (pos < c->have && pos - off <= 4) {
      unsigned char b = c->buf[pos++];
      rem += (b & 0x7f) * mult;
      mult *= 128;
      if (!(b & 0x80)) { done = 1; break; }
    }
    if (!done || pos + rem > c->have) break;
    unsigned char type = c->buf[off] >> 4;
    if (type == 2) {
      /* 3.1.1: flags, return code; 5.0: flags, reason code, properties. */
      if (rem < 2 || c->buf[pos + 1] != 0) return -1;
      *connacked = (c->buf[pos] & 1) ? 2 : 1;
    } else if (type == 3) {
      int qos = (c->buf[off] >> 1) & 3;
      int tlen = (c->buf[pos] << 8) | c->buf[pos + 1];
      int after = 2 + tlen + (qos > 0 ? 2 : 0);
      if (version == 5) {
        int used = 0;
        int plen = varint(c->buf + pos + after, c->buf + pos + rem, &used);
        if (plen < 0 || after + used + plen > rem) return -1;
      } else if (after > rem) {
        return -1;
      }
      if (qos > 0 && nacks + 6 <= (int)sizeof acks) {
        acks[nacks++] = 0x40;
        acks[nacks++] = version == 5 ? 4 : 2;
        acks[nacks++] = c->buf[pos + 2 + tlen];
        acks[nacks++] = c->buf[pos + 3 + tlen];
        if (version == 5) {
          acks[nacks++] = 0; /* Success */
          acks[nacks++] = 0; /* no properties */
        }
      }
      if (c->buf[off] & 0x08) c->dups++;
      else (*firsts)++;
      seen++;
    }
    off = pos + rem;
  }
  if (off > 0) {
    memmove(c->buf, c->buf + off, c->have - off);
    c->have -= off;
  }
  if (nacks > 0 && write(c->fd, acks, nacks) < 0) { /* the broker closed: counted by the caller */ }
  return seen;
}

int main(int argc, char **argv) {
  if (argc < 9) {
    fprintf(stderr, "usage: opener <port> <count> <outstanding> <hold_ms> <clean> <id_prefix> <expect_messages> <idle_ms> [<version 4|5> [<session_expiry_s>]]\n");
    return 2;
  }
  if (argc > 9) version = atoi(argv[9]);
  if (argc > 10) session_expiry = strtoul(argv[10], NULL, 10);
  if (version != 4 && version != 5) {
    fprintf(stderr, "opener: version must be 4 (3.1.1) or 5\n");
    return 2;
  }
  int port = atoi(argv[1]), count = atoi(argv[2]), outstanding = atoi(argv[3]), hold = atoi(argv[4]);
  int clean = atoi(argv[5]);
  const char *prefix = argv[6];
  long expect = atol(argv[7]);
  int idle = atoi(argv[8]);
  /* Each connection is a descriptor: lift the soft limit to the hard one. */
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  conn_t *conns = calloc(count, sizeof *conns);
  int ep = epoll_create1(0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  int next = 0, pending = 0, connected = 0, failed = 0, present = 0, complete = 0;
  long received = 0;
  /* Each connection's share of expect_messages: the wait is over when every one has it. */
  int share = expect > 0 && count > 0 ? (int)(expect / count) : 0;
  double start = now_ms(), last_connack = start, last_message = start;
  struct epoll_event events[512];
  while (connected + failed < count || (expect > 0 && complete < connected && now_ms() - last_message < idle)) {
    while (next < count && pending < outstanding) {
      conn_t *c = &conns[next];
      c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      int one = 1;
      setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (c->fd < 0 || (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)) {
        c->state = 3;
        failed++;
        failures[F_SOCKET]++;
        if (c->fd >= 0) close(c->fd);
        next++;
        continue;
      }
      struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (unsigned)next};
      epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
      pending++;
      next++;
    }
    int n = epoll_wait(ep, events, 512, 100);
    for (int i = 0; i < n; i++) {
      conn_t *c = &conns[events[i].data.u32];
      if (c->state == 3) continue;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) {
        if (c->state < 2) { pending--; failed++; failures[c->state == 0 ? F_RESET_CONNECTING : F_RESET_AWAITING]++; }
        c->state = 3;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        continue;
      }
      if (c->state == 0 && (events[i].events & EPOLLOUT)) {
        char id[64];
        snprintf(id, sizeof id, "%s%u", prefix, events[i].data.u32);
        unsigned char pkt[128];
        int len = encode_connect(pkt, id, clean);
        if (write(c->fd, pkt, len) != len) {
          c->state = 3; pending--; failed++; failures[F_WRITE]++;
          continue;
        }
        c->state = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = events[i].data.u32};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
      }
      if (events[i].events & EPOLLIN) {
        for (;;) {
          ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
          if (r <= 0) {
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
              if (c->state < 2) { pending--; failed++; failures[F_CLOSED_AWAITING]++; }
              c->state = 3;
              epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            }
            break;
          }
          c->have += (int)r;
          int connacked = 0, firsts = 0;
          int seen = consume(c, &connacked, &firsts);
          if (seen < 0) {
            if (c->state < 2) { pending--; failed++; failures[F_REFUSED]++; }
            c->state = 3;
            break;
          }
          if (connacked && c->state == 1) {
            c->state = 2;
            pending--;
            connected++;
            if (connacked == 2) present++;
            if (share == 0) complete++;
            last_connack = now_ms();
          }
          if (seen > 0) {
            if (c->received < share && c->received + firsts >= share) complete++;
            c->received += firsts;
            received += seen;
            last_message = now_ms();
          }
        }
      }
    }
    if (connected + failed >= count && expect == 0) break;
  }
  double connected_at = last_connack - start;
  double delivered_at = last_message - start;
  double hold_until = now_ms() + hold;
  while (now_ms() < hold_until) {
    struct epoll_event evs[64];
    epoll_wait(ep, evs, 64, 50);
  }
  long missing = 0, dups = 0;
  for (int i = 0; i < count; i++) {
    if (conns[i].received < share) missing += share - conns[i].received;
    dups += conns[i].dups;
  }
  char how[512] = "";
  for (int k = 0; k < F_KINDS; k++) {
    if (failures[k] == 0) continue;
    size_t used = strlen(how);
    snprintf(how + used, sizeof how - used, "%s%ld %s", used ? ", " : "", failures[k], failure_names[k]);
  }
  printf("{\"failedHow\":\"%s\",\"connected\":%d,\"failed\":%d,\"connectedMs\":%.1f,\"received\":%ld,\"deliveredMs\":%.1f,\"sessionsPresent\":%d,\"missing\":%ld,\"duplicates\":%ld}\n",
         how, connected, failed, connected_at, received, delivered_at, present, missing, dups);
  fflush(stdout);
  for (int i = 0; i < count; i++) if (conns[i].state != 3 && conns[i].fd > 0) close(conns[i].fd);
  return 0;
}
