/* The server's UDP driver (src/io/net_udp.c) on real loopback sockets.
 *
 * The link layer between two processes: the parent (node 1) sends MESSAGES messages of
 * 1..3000 bytes (so many are fragmented) to a child process (node 2). Both drivers drop
 * 10% of what they receive and treat 10% of sends as blocked, so those (and every send
 * behind them) go through the uv_udp_send queue. The child checks that every message
 * arrives exactly once, in order and intact, and that its socket read them with recvmmsg
 * in batches of more than one; the parent waits until the link has every message
 * acknowledged. Either side gives up after TEST_SECONDS_MAX.
 *
 * The send queue alone: a burst of datagrams all treated as blocked arrives in order. */
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/assertions.h"
#include "harness.h"
#include "io/net_udp.h"
#include "base/buf.h"
#include "link/link.h"

#define MESSAGES 3000
#define MESSAGE_BYTES_MAX 3000
#define LOSS_PPM 100000
#define WOULD_BLOCK_PPM 100000 /* sends pushed onto the uv_udp_send queue */
#define TEST_SECONDS_MAX 60
#define LINGER_MS 1000 /* the receiver keeps acknowledging after it has everything */

struct endpoint {
    uv_loop_t loop;
    struct net_udp udp;
    struct link *link;
    uv_timer_t link_timer;
    uv_timer_t give_up_timer;
    uv_timer_t linger_timer;
    struct sockaddr_in peer;
    struct buf datagram;
    bool receiver;
    uint32_t delivered;
    const char *error;
};

static uint32_t message_len(uint32_t i) { return 1 + (i * 7919u) % MESSAGE_BYTES_MAX; }

static void message_fill(uint8_t *m, uint32_t i)
{
    uint32_t len = message_len(i);
    for (uint32_t j = 0; j < len; j++) {
        m[j] = (uint8_t)(i * 31 + j);
    }
}

static void on_link_timer(uv_timer_t *t);

static void stop(struct endpoint *e, const char *error)
{
    if (e->error == NULL) {
        e->error = error;
    }
    uv_stop(&e->loop);
}

static void check_delivery(struct endpoint *e, const struct link_delivery *d)
{
    static uint8_t expect[MESSAGE_BYTES_MAX];
    uint32_t i = e->delivered;
    message_fill(expect, i);
    if (i >= MESSAGES || d->len != message_len(i) || memcmp(d->data, expect, d->len) != 0) {
        stop(e, "a message arrived out of order, twice, or damaged");
        return;
    }
    e->delivered++;
}

static void on_linger_done(uv_timer_t *t) { uv_stop(t->loop); }

/* After any input: transmit what the link wants, take deliveries, re-arm the timer. */
static void pump(struct endpoint *e)
{
    uint64_t now = uv_hrtime();
    for (buf_reset(&e->datagram); link_next_datagram(e->link, now, &e->datagram) == 1;
         buf_reset(&e->datagram)) {
        net_udp_send(&e->udp, &e->peer, e->datagram.data, e->datagram.len);
    }
    struct link_delivery d;
    while (link_next_delivery(e->link, &d)) {
        check_delivery(e, &d);
        link_delivery_free(&d);
        if (e->delivered == MESSAGES && !uv_is_active((uv_handle_t *)&e->linger_timer)) {
            uv_timer_start(&e->linger_timer, on_linger_done, LINGER_MS, 0);
        }
    }
    if (!e->receiver && link_counters(e->link)->messages_acked == MESSAGES) {
        uv_stop(&e->loop);
        return;
    }
    uint64_t next = link_next_timeout_ns(e->link);
    if (next != UINT64_MAX) {
        uint64_t now2 = uv_hrtime();
        uv_timer_start(&e->link_timer, on_link_timer, next > now2 ? (next - now2) / 1000000 + 1 : 0, 0);
    }
}

static void on_link_timer(uv_timer_t *t)
{
    struct endpoint *e = t->data;
    link_tick(e->link, uv_hrtime());
    pump(e);
}

static void on_datagram(void *ctx, const struct sockaddr_in *from, const uint8_t *data, size_t len)
{
    (void)from;
    struct endpoint *e = ctx;
    link_on_datagram(e->link, uv_hrtime(), data, len);
    pump(e);
}

static void on_give_up(uv_timer_t *t)
{
    stop(t->data, "gave up: not everything arrived in time");
}

static void endpoint_open(struct endpoint *e, uint32_t self, uint16_t port, uint16_t peer_port)
{
    memset(e, 0, sizeof *e);
    e->receiver = self == 2;
    ASSERT(uv_loop_init(&e->loop) == 0);
    struct link_config c;
    link_config_defaults(&c);
    c.cluster_id = 9;
    c.local_id = self;
    c.peer_id = 3 - self;
    c.local_incarnation = uv_hrtime();
    ASSERT(link_create(&c, &e->link) == 0);
    ASSERT(net_udp_open(&e->udp, &e->loop, "127.0.0.1", port, on_datagram, e) == 0);
    net_udp_inject_faults(&e->udp, LOSS_PPM, WOULD_BLOCK_PPM, self);
    ASSERT(uv_ip4_addr("127.0.0.1", peer_port, &e->peer) == 0);
    buf_init(&e->datagram, 0);
    uv_timer_init(&e->loop, &e->link_timer);
    uv_timer_init(&e->loop, &e->give_up_timer);
    uv_timer_init(&e->loop, &e->linger_timer);
    e->link_timer.data = e->give_up_timer.data = e->linger_timer.data = e;
    uv_timer_start(&e->give_up_timer, on_give_up, TEST_SECONDS_MAX * 1000, 0);
}

static void on_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static void endpoint_close(struct endpoint *e)
{
    net_udp_close(&e->udp);
    uv_walk(&e->loop, on_close_walk, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT(uv_loop_close(&e->loop) == 0);
    link_destroy(e->link);
    buf_free(&e->datagram);
}

/* A free loopback port: bind port 0, read it back, release it. */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
           getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* The child: receives, checks, reports through its exit status. */
static int run_receiver(uint16_t port, uint16_t peer_port)
{
    struct endpoint e;
    endpoint_open(&e, 2, port, peer_port);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    int status = 0;
    if (e.error != NULL || e.delivered != MESSAGES) {
        fprintf(stderr, "    receiver: %s (%u of %u delivered)\n",
                e.error != NULL ? e.error : "stopped early", e.delivered, MESSAGES);
        status = 1;
    } else if (!net_udp_batched_receive(&e.udp) || e.udp.recv_batch_datagrams_max < 2) {
        fprintf(stderr, "    receiver: recvmmsg not used in batches (largest %llu)\n",
                (unsigned long long)e.udp.recv_batch_datagrams_max);
        status = 2;
    }
    printf("    receiver: %u messages in order; %llu datagrams in %llu recvmmsg batches "
           "(largest %llu), %llu dropped by injection\n",
           e.delivered, (unsigned long long)e.udp.datagrams_received,
           (unsigned long long)e.udp.recv_batches,
           (unsigned long long)e.udp.recv_batch_datagrams_max,
           (unsigned long long)e.udp.injected_drops);
    fflush(stdout);
    endpoint_close(&e);
    return status;
}

TEST(link_over_loopback_between_two_processes_delivers_every_message_once_in_order)
{
    uint16_t sender_port = free_port(), receiver_port = free_port();
    fflush(stdout);
    pid_t child = fork();
    ASSERT(child >= 0);
    if (child == 0) {
        _exit(run_receiver(receiver_port, sender_port));
    }
    struct endpoint e;
    endpoint_open(&e, 1, sender_port, receiver_port);
    static uint8_t m[MESSAGE_BYTES_MAX];
    uint64_t start = uv_hrtime();
    for (uint32_t i = 0; i < MESSAGES; i++) {
        message_fill(m, i);
        CHECK_EQ(link_send(e.link, start, m, message_len(i)), 0);
    }
    pump(&e);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    double seconds = (double)(uv_hrtime() - start) / 1e9;
    int status = 0;
    CHECK_EQ(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    CHECK(e.error == NULL);
    CHECK_EQ(link_counters(e.link)->messages_acked, MESSAGES);
    CHECK(net_udp_batched_receive(&e.udp));
    CHECK(e.udp.sends_queued > 0);
    CHECK_EQ(e.udp.send_drops, 0);
    printf("    sender: %u messages acknowledged in %.2f s; %llu datagrams sent, %llu through "
           "the send queue, %llu send drops, %llu retransmissions\n",
           MESSAGES, seconds, (unsigned long long)e.udp.datagrams_sent,
           (unsigned long long)e.udp.sends_queued, (unsigned long long)e.udp.send_drops,
           (unsigned long long)link_counters(e.link)->fragments_retransmitted);
    endpoint_close(&e);
}

/* ---- the send queue ---- */

#define BURST_DATAGRAMS 100
#define BURST_BYTES 100

struct burst {
    uint32_t received;
    bool out_of_order;
};

static void on_burst_datagram(void *ctx, const struct sockaddr_in *from, const uint8_t *data,
                              size_t len)
{
    (void)from;
    struct burst *b = ctx;
    if (len != BURST_BYTES || le_load_u32(data) != b->received) {
        b->out_of_order = true;
    }
    b->received++;
    if (b->received == BURST_DATAGRAMS) {
        uv_stop(uv_default_loop());
    }
}

TEST(sends_that_would_block_wait_in_order_in_the_queue)
{
    /* Every send is treated as blocked: the burst queues, and must arrive in order. */
    uv_loop_t *loop = uv_default_loop();
    struct net_udp tx, rx;
    struct burst got = {0};
    CHECK_EQ(net_udp_open(&rx, loop, "127.0.0.1", 0, on_burst_datagram, &got), 0);
    CHECK_EQ(net_udp_open(&tx, loop, "127.0.0.1", 0, on_burst_datagram, &got), 0);
    net_udp_inject_faults(&tx, 0, 1000000, 1);
    struct sockaddr_in to;
    uv_ip4_addr("127.0.0.1", net_udp_port(&rx), &to);
    uint8_t d[BURST_BYTES] = {0};
    for (uint32_t i = 0; i < BURST_DATAGRAMS; i++) {
        le_store_u32(d, i);
        net_udp_send(&tx, &to, d, sizeof d);
    }
    CHECK_EQ(tx.sends_queued, BURST_DATAGRAMS);
    CHECK_EQ(tx.send_queued, BURST_DATAGRAMS);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK_EQ(got.received, BURST_DATAGRAMS);
    CHECK(!got.out_of_order);
    CHECK_EQ(tx.send_drops, 0);
    CHECK_EQ(tx.send_queued, 0);
    CHECK_EQ(tx.datagrams_sent, BURST_DATAGRAMS);
    printf("    %llu of %u datagrams waited in the send queue\n",
           (unsigned long long)tx.sends_queued, BURST_DATAGRAMS);
    net_udp_close(&tx);
    net_udp_close(&rx);
    uv_run(loop, UV_RUN_DEFAULT);
}
