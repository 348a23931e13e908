/*
 * A latency prober for the broker benchmarks, outside Node: the Node generator's own tails (its
 * timer, its garbage collector, a heap full of earlier scenarios' garbage) were the floor under
 * every broker's p99 (3.9 ms through a peer that only reflects bytes). One thread, blocking
 * sockets polled with epoll, a timerfd every 1/rate s: one MQTT 3.1.1 PUBLISH per tick (no
 * bursts), each carrying its send time (CLOCK_MONOTONIC ns) in its first 8 payload bytes; the
 * subscriber's arrival time minus that is the sample.
 *
 *   prober <port> <qos 0|1> <rate> <warmup_ms> <measure_ms> <topic> <reflect 0|1> <max_in_flight>
 *
 * reflect 1: one connection publishes and reads its own PUBLISHes back (a peer that echoes bytes
 * after its CONNACK; no SUBSCRIBE). Prints "measuring" when the measured window opens and
 * "measured" when it closes (the caller reads the broker's CPU between them), then one JSON line:
 * {"p50Us","p99Us","p999Us","samples","lost","windowFullTicks"}.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD 64

typedef struct {
  int fd;
  unsigned char buf[1 << 16];
  int have;
} conn_t;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "prober: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void write_all(int fd, const unsigned char *p, int n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += w;
    n -= (int)w;
  }
}

static int open_conn(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
  return fd;
}

/* Reads until one whole packet of `type` arrived (handshakes only: nothing else is expected yet). */
static void await_packet(conn_t *c, int type) {
  for (;;) {
    if (c->have >= 2) {
      int rem = c->buf[1]; /* handshake replies are short */
      if (c->have >= 2 + rem) {
        int got = c->buf[0] >> 4;
        memmove(c->buf, c->buf + 2 + rem, c->have - 2 - rem);
        c->have -= 2 + rem;
        if (got == type) return;
        continue;
      }
    }
    ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
    if (r <= 0) die("handshake read");
    c->have += (int)r;
  }
}

static void mqtt_connect(conn_t *c, const char *id) {
  unsigned char out[64];
  int idlen = (int)strlen(id), n = 0;
  out[n++] = 0x10;
  out[n++] = (unsigned char)(12 + idlen);
  const unsigned char vh[] = {0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60};
  memcpy(out + n, vh, sizeof vh);
  n += sizeof vh;
  out[n++] = 0;
  out[n++] = (unsigned char)idlen;
  memcpy(out + n, id, idlen);
  write_all(c->fd, out, n + idlen);
  await_packet(c, 2);
}

static void mqtt_subscribe(conn_t *c, const char *topic, int qos) {
  unsigned char out[300];
  int tlen = (int)strlen(topic), n = 0;
  out[n++] = 0x82;
  out[n++] = (unsigned char)(2 + 2 + tlen + 1);
  out[n++] = 0;
  out[n++] = 1;
  out[n++] = 0;
  out[n++] = (unsigned char)tlen;
  memcpy(out + n, topic, tlen);
  n += tlen;
  out[n++] = (unsigned char)qos;
  write_all(c->fd, out, n);
  await_packet(c, 9);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static long rank(double p, long count) {
  long r = (long)(p / 100.0 * count);
  if ((double)r < p / 100.0 * count) r++;
  return r < 1 ? 1 : r > count ? count : r;
}

int main(int argc, char **argv) {
  if (argc < 9) {
    fprintf(stderr, "usage: prober <port> <qos> <rate> <warmup_ms> <measure_ms> <topic> <reflect> <max_in_flight>\n");
    return 2;
  }
  int port = atoi(argv[1]), qos = atoi(argv[2]), rate = atoi(argv[3]);
  int64_t warmup = atoll(argv[4]) * 1000000, measure = atoll(argv[5]) * 1000000;
  const char *topic = argv[6];
  int reflect = atoi(argv[7]), max_in_flight = atoi(argv[8]);
  int tlen = (int)strlen(topic);
  if (tlen > 200) return 2;

  static conn_t pub_conn, sub_conn;
  conn_t *pub = &pub_conn, *sub = reflect ? &pub_conn : &sub_conn;
  pub->fd = open_conn(port);
  char id[64];
  if (!reflect) {
    sub->fd = open_conn(port);
    snprintf(id, sizeof id, "latency-sub-%d", qos);
    mqtt_connect(sub, id);
    mqtt_subscribe(sub, topic, qos);
  }
  snprintf(id, sizeof id, reflect ? "latency" : "latency-pub-%d", qos);
  mqtt_connect(pub, id);

  /* One PUBLISH, rebuilt per send: fixed header, topic, [packet id], payload. */
  unsigned char frame[512];
  int rem = 2 + tlen + (qos ? 2 : 0) + PAYLOAD, fl = 0;
  frame[fl++] = (unsigned char)(0x30 | (qos << 1));
  frame[fl++] = (unsigned char)rem; /* rem < 128 with topics under 60 bytes */
  if (rem >= 128) return 2;
  frame[fl++] = 0;
  frame[fl++] = (unsigned char)tlen;
  memcpy(frame + fl, topic, tlen);
  fl += tlen;
  int id_at = fl;
  if (qos) fl += 2;
  int payload_at = fl;
  memset(frame + fl, 'a', PAYLOAD);
  fl += PAYLOAD;

  long capacity = (long)((double)rate * (measure / 1e9) * 2) + 1000;
  int64_t *samples = malloc(capacity * sizeof *samples);
  long count = 0, sent_in_window = 0, window_full = 0;
  int in_flight = 0, next_id = 1;

  int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
  long period = 1000000000L / rate;
  struct itimerspec spec = {.it_interval = {0, period}, .it_value = {0, period}};
  timerfd_settime(tfd, 0, &spec, NULL);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
  ev.data.u32 = 1;
  epoll_ctl(ep, EPOLL_CTL_ADD, sub->fd, &ev);
  if (!reflect) {
    ev.data.u32 = 2;
    epoll_ctl(ep, EPOLL_CTL_ADD, pub->fd, &ev);
  }

  int64_t start = now_ns(), from = start + warmup, to = from + measure;
  int64_t last_arrival = 0;
  int said_measuring = 0, said_measured = 0;
  long owed = 0; /* ticks the in-flight window held back */
  for (;;) {
    int64_t now = now_ns();
    if (!said_measuring && now >= from) {
      printf("measuring\n");
      fflush(stdout);
      said_measuring = 1;
    }
    if (!said_measured && now >= to) {
      printf("measured\n");
      fflush(stdout);
      said_measured = 1;
      close(tfd);
    }
    /* After the window: the last messages are on their way (2 s at most, or 200 ms of quiet). */
    if (said_measured && (count >= sent_in_window || now - to > 2000000000LL || (last_arrival && now - last_arrival > 200000000LL))) break;
    struct epoll_event events[8];
    int n = epoll_wait(ep, events, 8, 50);
    for (int i = 0; i < n; i++) {
      unsigned which = events[i].data.u32;
      if (which == 0) {
        uint64_t ticks;
        if (read(tfd, &ticks, sizeof ticks) != sizeof ticks) continue;
        long due = (long)ticks + owed;
        long allowed = due;
        if (qos && max_in_flight - in_flight < allowed) allowed = max_in_flight - in_flight;
        if (allowed < due) window_full++;
        owed = due - allowed;
        for (long k = 0; k < allowed; k++) {
          int64_t t = now_ns();
          if (qos) {
            frame[id_at] = (unsigned char)(next_id >> 8);
            frame[id_at + 1] = (unsigned char)(next_id & 0xff);
            next_id = next_id % 65535 + 1;
            in_flight++;
          }
          memcpy(frame + payload_at, &t, sizeof t);
          write_all(pub->fd, frame, fl);
          if (t >= from && t < to) sent_in_window++;
        }
        continue;
      }
      conn_t *c = which == 1 ? sub : pub;
      ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
      if (r <= 0) {
        fprintf(stderr, "prober: connection closed\n");
        return 1;
      }
      int64_t arrived = now_ns();
      c->have += (int)r;
      unsigned char acks[4096];
      int nacks = 0, off = 0;
      while (off + 2 <= c->have) {
        int mult = 1, len = 0, pos = off + 1, done = 0;
        while (pos < c->have && pos - off <= 4) {
          unsigned char b = c->buf[pos++];
          len += (b & 0x7f) * mult;
          mult *= 128;
          if (!(b & 0x80)) { done = 1; break; }
        }
        if (!done || pos + len > c->have) break;
        int type = c->buf[off] >> 4;
        if (type == 3 && c == sub) {
          int q = (c->buf[off] >> 1) & 3;
          int tl = (c->buf[pos] << 8) | c->buf[pos + 1];
          int at = pos + 2 + tl + (q ? 2 : 0);
          int64_t t;
          memcpy(&t, c->buf + at, sizeof t);
          if (t >= from && t < to && count < capacity) samples[count++] = arrived - t;
          last_arrival = arrived;
          if (q && !reflect && nacks + 4 <= (int)sizeof acks) {
            acks[nacks++] = 0x40;
            acks[nacks++] = 2;
            acks[nacks++] = c->buf[pos + 2 + tl];
            acks[nacks++] = c->buf[pos + 3 + tl];
          }
        } else if (type == 4 && c == pub) {
          in_flight--;
        }
        off = pos + len;
      }
      if (off > 0) {
        memmove(c->buf, c->buf + off, c->have - off);
        c->have -= off;
      }
      if (nacks > 0) write_all(c->fd, acks, nacks);
    }
  }
  qsort(samples, count, sizeof *samples, cmp_i64);
/* Nearest rank, as test/bench/lib/stats.ts's percentile(). */
#define PCT(p) (count ? samples[rank(p, count) - 1] / 1000.0 : 0)
  printf("{\"p50Us\":%.1f,\"p99Us\":%.1f,\"p999Us\":%.1f,\"samples\":%ld,\"lost\":%ld,\"windowFullTicks\":%ld}\n", PCT(50), PCT(99), PCT(99.9), count,
         sent_in_window - count, window_full);
  return 0;
}
