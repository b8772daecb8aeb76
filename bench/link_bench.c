/* link-bench: the reliable link layer between two processes over loopback, next to a
 * plain UDP ping-pong measured by the same program in the same run.
 *
 * The program forks: the child is an echo peer, the parent drives four phases, each on
 * the libuv loop with the server's UDP glue (src/io/net_udp.c), so both sides pay the
 * same event-loop costs as chorus-server does:
 *   1. udp:   a 64-byte datagram bounced by the child, one at a time (no link): RTT;
 *   2. ping:  a 64-byte link message echoed by the child, one at a time: RTT, msgs/s;
 *   3. flood: 64-byte link messages sent as fast as the link's windows allow, each
 *             carrying its number; the child checks every one arrives exactly once and
 *             in order, and reports how many it got: msgs/s;
 *   4. bulk:  1 MiB link messages the same way: MiB/s.
 * With --loss P both sides drop each outgoing link datagram with probability P (the
 * driver injects the loss; the link must recover); --sealed turns on AEAD sealing; --mtu
 * sets the largest datagram (default 1400, the server's; loopback allows up to 65507);
 * --coalesce N sets the link's datagram_fragments_max (default 64; 1: one fragment per
 * datagram, as before coalescing), to compare both in one session.
 * Exits 1 if any flood or bulk message was lost, duplicated or reordered.
 * Usage: link-bench [--seconds S] [--loss P] [--sealed] [--mtu BYTES] [--coalesce N] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "base/buf.h"
#include "base/errors.h"
#include "base/prng.h"
#include "io/net_udp.h"
#include "link/link.h"

#define SMALL_BYTES 64
#define BULK_BYTES (1024u * 1024u)
#define RTT_SAMPLES_MAX (1u << 20)
#define FLOOD_QUEUE_TARGET 512 /* unsent messages kept queued during a flood */

enum tag { TAG_PING = 'P', TAG_DATA = 'D', TAG_END = 'E', TAG_REPORT = 'R', TAG_QUIT = 'Q' };
enum phase { PHASE_UDP, PHASE_PING, PHASE_FLOOD, PHASE_BULK, PHASE_DONE };

struct endpoint {
    uv_loop_t *loop;
    struct net_udp link_udp, raw_udp;
    struct sockaddr_in peer_link_addr, peer_raw_addr;
    struct link *link;
    uv_timer_t link_timer, phase_timer;
    struct buf datagram;
    struct prng prng;
    uint32_t loss_per_million;
    bool is_child;
    /* child: the flood/bulk check */
    uint64_t expected_seq, received, out_of_order;
    /* parent: the phase being measured */
    enum phase phase;
    uint64_t phase_start_ns, sent_at_ns, deadline_ns, next_seq, msg_bytes;
    uint64_t *rtt_ns;
    size_t rtt_count;
    bool sending_done;
    uint8_t *payload;
};

static uint64_t now_ns(void) { return uv_hrtime(); }

static uint16_t free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("link-bench: cannot find a free port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- driver glue: the same shape as the server's (src/server/node.c) ---- */

static void on_link_timer(uv_timer_t *t);

static void flush(struct endpoint *e)
{
    uint64_t now = now_ns();
    for (;;) {
        buf_reset(&e->datagram);
        if (link_next_datagram(e->link, now, &e->datagram) != 1) {
            break;
        }
        if (prng_chance(&e->prng, e->loss_per_million)) {
            continue; /* injected loss */
        }
        net_udp_send(&e->link_udp, &e->peer_link_addr, e->datagram.data, e->datagram.len);
    }
    uint64_t at = link_next_timeout_ns(e->link);
    if (at != UINT64_MAX) {
        uint64_t wait_ms = at > now ? (at - now + 999999) / 1000000 : 0;
        uv_timer_start(&e->link_timer, on_link_timer, wait_ms, 0);
    }
}

static void send_msg(struct endpoint *e, uint8_t tag, uint64_t seq, size_t len)
{
    e->payload[0] = tag;
    memcpy(e->payload + 1, &seq, sizeof seq);
    if (link_send(e->link, now_ns(), e->payload, len) != 0) {
        fprintf(stderr, "link-bench: link_send failed\n");
        exit(1);
    }
}

static void on_message(struct endpoint *e, const uint8_t *data, size_t len);
static void pump(struct endpoint *e);

static void deliver(struct endpoint *e)
{
    struct link_delivery d;
    while (link_next_delivery(e->link, &d)) {
        if (d.len >= 1 + sizeof(uint64_t)) {
            on_message(e, d.data, d.len);
        }
        link_delivery_free(&d);
    }
    if (!e->is_child && (e->phase == PHASE_FLOOD || e->phase == PHASE_BULK)) {
        pump(e); /* acks free room: top the queue up now, not at the next 10 ms tick */
    }
    flush(e);
}

static void on_link_timer(uv_timer_t *t)
{
    struct endpoint *e = t->data;
    link_tick(e->link, now_ns());
    deliver(e);
}

static void on_link_datagram(void *ctx, const struct sockaddr_in *from, const uint8_t *data,
                             size_t len)
{
    (void)from;
    struct endpoint *e = ctx;
    link_on_datagram(e->link, now_ns(), data, len);
    deliver(e);
}

/* ---- the child: an echo peer that checks the flood's order ---- */

static void child_on_message(struct endpoint *e, uint8_t tag, uint64_t seq, size_t len)
{
    switch (tag) {
    case TAG_PING:
        send_msg(e, TAG_PING, seq, len);
        break;
    case TAG_DATA:
        e->out_of_order += seq != e->expected_seq;
        e->expected_seq = seq + 1;
        e->received++;
        break;
    case TAG_END:
        /* seq: how many were sent. Report (received, out of order) and reset. */
        memcpy(e->payload + 1 + 8, &e->out_of_order, 8);
        send_msg(e, TAG_REPORT, e->received, 1 + 16);
        e->received = e->out_of_order = 0;
        e->expected_seq = 0;
        break;
    case TAG_QUIT:
        uv_stop(e->loop);
        break;
    default:
        break;
    }
}

static void on_raw_datagram(void *ctx, const struct sockaddr_in *from, const uint8_t *data,
                            size_t len);

/* ---- the parent: the phases ---- */

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report_rtt(struct endpoint *e, const char *name)
{
    double seconds = (double)(now_ns() - e->phase_start_ns) / 1e9;
    qsort(e->rtt_ns, e->rtt_count, sizeof *e->rtt_ns, compare_u64);
    uint64_t p50 = e->rtt_count ? e->rtt_ns[e->rtt_count / 2] : 0;
    uint64_t p99 = e->rtt_count ? e->rtt_ns[e->rtt_count * 99 / 100] : 0;
    printf("%-6s %9.0f round trips/s   rtt p50 %6.1f us   p99 %7.1f us   (%zu samples)\n", name,
           (double)e->rtt_count / seconds, (double)p50 / 1e3, (double)p99 / 1e3, e->rtt_count);
}

static void next_phase(struct endpoint *e, uint64_t seconds);

static void ping_once(struct endpoint *e)
{
    e->sent_at_ns = now_ns();
    if (e->phase == PHASE_UDP) {
        memset(e->payload, 'U', SMALL_BYTES);
        net_udp_send(&e->raw_udp, &e->peer_raw_addr, e->payload, SMALL_BYTES);
    } else {
        send_msg(e, TAG_PING, e->rtt_count, SMALL_BYTES);
        flush(e);
    }
}

static void pong(struct endpoint *e, uint64_t seconds)
{
    uint64_t now = now_ns();
    if (e->rtt_count < RTT_SAMPLES_MAX) {
        e->rtt_ns[e->rtt_count++] = now - e->sent_at_ns;
    }
    if (now >= e->deadline_ns || e->rtt_count == RTT_SAMPLES_MAX) {
        report_rtt(e, e->phase == PHASE_UDP ? "udp" : "ping");
        next_phase(e, seconds);
    } else {
        ping_once(e);
    }
}

/* Keeps the link's send queue topped up until the phase's deadline, then sends END. */
static void pump(struct endpoint *e)
{
    if (e->sending_done) {
        return;
    }
    struct link_gauges g;
    link_gauges(e->link, &g);
    uint32_t target = e->msg_bytes == SMALL_BYTES ? FLOOD_QUEUE_TARGET : 4;
    uint64_t now = now_ns();
    while (g.queue_messages < target && now < e->deadline_ns) {
        send_msg(e, TAG_DATA, e->next_seq++, e->msg_bytes);
        g.queue_messages++;
    }
    if (now >= e->deadline_ns) {
        e->sending_done = true;
        send_msg(e, TAG_END, e->next_seq, 1 + 8);
    }
}

static uint64_t g_seconds;

static void on_phase_timer(uv_timer_t *t)
{
    struct endpoint *e = t->data;
    uint64_t now = now_ns();
    if (e->phase == PHASE_UDP && now - e->sent_at_ns > 100000000ull) {
        ping_once(e); /* a lost plain datagram: nobody else retransmits it */
    } else if (e->phase == PHASE_FLOOD || e->phase == PHASE_BULK) {
        pump(e); /* the flood's deadline passes even when no ack arrives */
        flush(e);
    } else if (e->phase == PHASE_DONE) {
        struct link_gauges g;
        link_gauges(e->link, &g);
        if ((g.queue_messages == 0 && g.in_flight_fragments == 0) || now > e->deadline_ns) {
            uv_stop(e->loop); /* QUIT acknowledged, or given up on */
        }
    }
}

static void parent_on_message(struct endpoint *e, uint8_t tag, uint64_t seq, const uint8_t *data)
{
    if (tag == TAG_PING && e->phase == PHASE_PING) {
        pong(e, g_seconds);
    } else if (tag == TAG_REPORT && (e->phase == PHASE_FLOOD || e->phase == PHASE_BULK)) {
        uint64_t out_of_order;
        memcpy(&out_of_order, data + 9, 8);
        double seconds = (double)(now_ns() - e->phase_start_ns) / 1e9;
        const struct link_counters *c = link_counters(e->link);
        if (e->phase == PHASE_FLOOD) {
            printf("flood  %9.0f msgs/s of %d B", (double)seq / seconds, SMALL_BYTES);
        } else {
            printf("bulk   %9.1f MiB/s in 1 MiB messages", (double)seq * BULK_BYTES / seconds / 1048576.0);
        }
        printf("   sent %llu, received %llu, out of order or duplicated %llu, retransmitted "
               "fragments %llu (%llu fast, %llu timeouts), datagrams %llu\n",
               (unsigned long long)e->next_seq, (unsigned long long)seq,
               (unsigned long long)out_of_order, (unsigned long long)c->fragments_retransmitted,
               (unsigned long long)c->fast_retransmits, (unsigned long long)c->timeouts,
               (unsigned long long)c->datagrams_sent);
        if (seq != e->next_seq || out_of_order != 0) {
            fprintf(stderr, "link-bench: delivery was not exactly once and in order\n");
            exit(1);
        }
        next_phase(e, g_seconds);
    } else {
        pump(e);
    }
}

static void on_message(struct endpoint *e, const uint8_t *data, size_t len)
{
    uint64_t seq;
    memcpy(&seq, data + 1, sizeof seq);
    if (e->is_child) {
        child_on_message(e, data[0], seq, len);
    } else {
        parent_on_message(e, data[0], seq, data);
    }
}

static void on_raw_datagram(void *ctx, const struct sockaddr_in *from, const uint8_t *data,
                            size_t len)
{
    struct endpoint *e = ctx;
    if (e->is_child) {
        net_udp_send(&e->raw_udp, from, data, len);
    } else if (e->phase == PHASE_UDP) {
        pong(e, g_seconds);
    }
}

static void next_phase(struct endpoint *e, uint64_t seconds)
{
    e->phase++;
    e->phase_start_ns = now_ns();
    e->deadline_ns = e->phase_start_ns + seconds * 1000000000ull;
    e->rtt_count = 0;
    e->next_seq = 0;
    e->sending_done = false;
    switch (e->phase) {
    case PHASE_PING:
        ping_once(e);
        break;
    case PHASE_FLOOD:
    case PHASE_BULK:
        e->msg_bytes = e->phase == PHASE_FLOOD ? SMALL_BYTES : BULK_BYTES;
        uv_timer_start(&e->phase_timer, on_phase_timer, 10, 10);
        pump(e);
        flush(e);
        break;
    case PHASE_DONE:
        e->deadline_ns = e->phase_start_ns + 2000000000ull;
        send_msg(e, TAG_QUIT, 0, 1 + 8);
        flush(e);
        break;
    default:
        break;
    }
}

/* ---- setup ---- */

struct ports {
    uint16_t parent_link, parent_raw, child_link, child_raw;
};

struct options {
    double loss;
    bool sealed;
    uint32_t mtu_bytes;
    uint32_t coalesce;
};

static void endpoint_open(struct endpoint *e, bool is_child, const struct ports *p,
                          const struct options *o)
{
    memset(e, 0, sizeof *e);
    e->is_child = is_child;
    e->loss_per_million = (uint32_t)(o->loss * 1e6);
    e->loop = uv_default_loop();
    prng_seed(&e->prng, now_ns() ^ (uint64_t)getpid());
    buf_init(&e->datagram, 0);
    e->payload = calloc(1, BULK_BYTES);
    e->rtt_ns = calloc(RTT_SAMPLES_MAX, sizeof *e->rtt_ns);
    uint16_t my_link = is_child ? p->child_link : p->parent_link;
    uint16_t my_raw = is_child ? p->child_raw : p->parent_raw;
    uv_ip4_addr("127.0.0.1", is_child ? p->parent_link : p->child_link, &e->peer_link_addr);
    uv_ip4_addr("127.0.0.1", is_child ? p->parent_raw : p->child_raw, &e->peer_raw_addr);
    struct link_config cfg;
    link_config_defaults(&cfg);
    cfg.cluster_id = 0xbe7c4;
    cfg.local_id = is_child ? 2 : 1;
    cfg.peer_id = is_child ? 1 : 2;
    cfg.local_incarnation = now_ns() | 1;
    cfg.sealed = o->sealed;
    cfg.mtu_bytes = o->mtu_bytes;
    cfg.datagram_fragments_max = o->coalesce;
    memset(cfg.key, 0x5a, sizeof cfg.key);
    if (e->payload == NULL || e->rtt_ns == NULL || link_create(&cfg, &e->link) != 0 ||
        net_udp_open(&e->link_udp, e->loop, "127.0.0.1", my_link, on_link_datagram, e) != 0 ||
        net_udp_open(&e->raw_udp, e->loop, "127.0.0.1", my_raw, on_raw_datagram, e) != 0) {
        fprintf(stderr, "link-bench: setup failed\n");
        exit(1);
    }
    uv_timer_init(e->loop, &e->link_timer);
    e->link_timer.data = e;
    uv_timer_init(e->loop, &e->phase_timer);
    e->phase_timer.data = e;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct options o = {.loss = 0, .sealed = false, .mtu_bytes = LINK_DEFAULT_MTU_BYTES,
                        .coalesce = LINK_DATAGRAM_FRAGMENTS_MAX};
    g_seconds = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            g_seconds = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--loss") == 0 && i + 1 < argc) {
            o.loss = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--sealed") == 0) {
            o.sealed = true;
        } else if (strcmp(argv[i], "--mtu") == 0 && i + 1 < argc) {
            o.mtu_bytes = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--coalesce") == 0 && i + 1 < argc) {
            o.coalesce = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: link-bench [--seconds S] [--loss P] [--sealed] [--mtu BYTES] "
                            "[--coalesce N]\n");
            return 2;
        }
    }
    if (g_seconds == 0 || o.loss < 0 || o.loss >= 0.9 || o.mtu_bytes < LINK_MTU_MIN ||
        o.mtu_bytes > LINK_MTU_MAX || o.coalesce < 1 || o.coalesce > LINK_DATAGRAM_FRAGMENTS_MAX) {
        fprintf(stderr, "link-bench: --seconds must be positive, --loss in [0, 0.9), --mtu in "
                        "[%d, %d], --coalesce in [1, %d]\n", LINK_MTU_MIN, LINK_MTU_MAX,
                LINK_DATAGRAM_FRAGMENTS_MAX);
        return 2;
    }
    struct ports p = {free_udp_port(), free_udp_port(), free_udp_port(), free_udp_port()};
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    struct endpoint e;
    endpoint_open(&e, child == 0, &p, &o);
    if (child == 0) {
        uv_run(e.loop, UV_RUN_DEFAULT);
        /* Let the parent's last acks go out before leaving. */
        flush(&e);
        _exit(0);
    }
    printf("link-bench: two processes over 127.0.0.1, %llu s per phase, loss %.0f%%, mtu %u, "
           "up to %u fragments per datagram, %s\n",
           (unsigned long long)g_seconds, o.loss * 100, o.mtu_bytes, o.coalesce,
           o.sealed ? "sealed (XChaCha20-Poly1305)" : "CRC32C");
    usleep(100 * 1000); /* the child binds its sockets */
    e.phase = PHASE_UDP;
    e.phase_start_ns = now_ns();
    e.deadline_ns = e.phase_start_ns + g_seconds * 1000000000ull;
    uv_timer_start(&e.phase_timer, on_phase_timer, 10, 10);
    ping_once(&e);
    uv_run(e.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 100 && waitpid(child, NULL, WNOHANG) == 0; i++) {
        usleep(10 * 1000);
    }
    kill(child, SIGKILL); /* harmless when it has exited; bounded when QUIT was lost */
    waitpid(child, NULL, 0);
    return 0;
}
