/* rpc-bench: calls per second and call latency of the RPC runtime over loopback UDP.
 *
 * One process, one libuv loop, two sockets through the server's UDP driver
 * (src/io/net_udp.c): a client (src/rpc/client.c) calls Admin.Status on a server
 * (src/rpc/server.c) whose handler answers at once. Envelopes travel as raw datagrams,
 * one each. Two phases: CALLS_SEQUENTIAL calls one after another (latency p50/p99/max),
 * then CALLS_PIPELINED calls with IN_FLIGHT outstanding (throughput). Client and server
 * share one thread, so the figures are for both sides together. A program that
 * measures, not a test. Usage: rpc-bench [sequential_calls] [pipelined_calls] [in_flight] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "io/net_udp.h"
#include "rpc/client.h"
#include "rpc/server.h"

#define SERVER_PEER 1
#define CLIENT_PEER 2

struct bench {
    uv_loop_t loop;
    struct net_udp server_udp, client_udp;
    struct sockaddr_in server_addr, client_addr;
    struct rpc_server *server;
    struct rpc_client *client;
    Chorus__Admin_Service admin;
    uv_timer_t timer;
    struct buf b;
    uint64_t calls_target, calls_started, calls_done, calls_failed;
    uint32_t in_flight_max;
    uint64_t *latency_ns; /* per call, sequential phase */
    uint64_t *started_ns;
};

static void status_handler(Chorus__Admin_Service *svc, const Chorus__StatusRequest *in,
                           Chorus__StatusReply_Closure done, void *call)
{
    (void)svc;
    (void)in;
    Chorus__StatusReply r = CHORUS__STATUS_REPLY__INIT;
    r.node_id = 1;
    r.term = 7;
    r.commit_index = 12345;
    done(&r, call);
}

static void on_timer(uv_timer_t *t);
static void start_calls(struct bench *b);

static void flush(struct bench *b)
{
    uint32_t peer = 0;
    for (buf_reset(&b->b); rpc_client_next_message(b->client, &peer, &b->b); buf_reset(&b->b)) {
        net_udp_send(&b->client_udp, &b->server_addr, b->b.data, b->b.len);
    }
    for (buf_reset(&b->b); rpc_server_next_message(b->server, &peer, &b->b); buf_reset(&b->b)) {
        net_udp_send(&b->server_udp, &b->client_addr, b->b.data, b->b.len);
    }
    if (b->calls_done == b->calls_target) {
        uv_stop(&b->loop);
        return;
    }
    uint64_t next = rpc_client_next_timeout_ns(b->client), now = uv_hrtime();
    if (next != UINT64_MAX) {
        uv_timer_start(&b->timer, on_timer, next > now ? (next - now) / 1000000 + 1 : 0, 0);
    }
}

static void on_timer(uv_timer_t *t)
{
    struct bench *b = t->data;
    rpc_client_tick(b->client, uv_hrtime());
    flush(b);
}

static void on_done(void *ctx, const struct rpc_result *r)
{
    struct bench *b = ctx;
    uint64_t i = r->call_id - 1;
    if (r->status != CHORUS__RPC_STATUS__RPC_OK) {
        b->calls_failed++;
    }
    if (b->latency_ns != NULL) {
        b->latency_ns[b->calls_done] = uv_hrtime() - b->started_ns[i % b->in_flight_max];
    }
    b->calls_done++;
}

static void start_calls(struct bench *b)
{
    while (b->calls_started < b->calls_target &&
           b->calls_started - b->calls_done < b->in_flight_max) {
        Chorus__StatusRequest req = CHORUS__STATUS_REQUEST__INIT;
        uint64_t now = uv_hrtime();
        int64_t id = rpc_client_call(b->client, now, SERVER_PEER, &chorus__admin__descriptor, 0,
                                     &req.base, 5000ull * 1000000, NULL, on_done, b);
        if (id < 0) {
            fprintf(stderr, "rpc-bench: call failed to start: %lld\n", (long long)id);
            exit(1);
        }
        b->started_ns[(uint64_t)(id - 1) % b->in_flight_max] = now;
        b->calls_started++;
    }
}

static void on_server_datagram(void *ctx, const struct sockaddr_in *from, const uint8_t *data,
                               size_t len)
{
    (void)from;
    struct bench *b = ctx;
    rpc_server_on_message(b->server, CLIENT_PEER, data, len);
    flush(b);
}

static void on_client_datagram(void *ctx, const struct sockaddr_in *from, const uint8_t *data,
                               size_t len)
{
    (void)from;
    struct bench *b = ctx;
    rpc_client_on_message(b->client, uv_hrtime(), SERVER_PEER, data, len);
    start_calls(b);
    flush(b);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;
    return a < c ? -1 : a > c;
}

/* Runs one phase of calls calls with in_flight outstanding; returns elapsed seconds. */
static double run_phase(struct bench *b, uint64_t calls, uint32_t in_flight, bool record)
{
    b->calls_target = b->calls_done + calls;
    b->in_flight_max = in_flight;
    b->started_ns = calloc(in_flight, sizeof *b->started_ns);
    b->latency_ns = record ? calloc(b->calls_target, sizeof *b->latency_ns) : NULL;
    uint64_t start = uv_hrtime();
    start_calls(b);
    flush(b);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    double seconds = (double)(uv_hrtime() - start) / 1e9;
    free(b->started_ns);
    return seconds;
}

int main(int argc, char **argv)
{
    uint64_t sequential = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    uint64_t pipelined = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
    uint32_t in_flight = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 64;
    static struct bench b;
    uv_loop_init(&b.loop);
    buf_init(&b.b, 0);
    chorus__admin__init(&b.admin, NULL);
    b.admin.status = status_handler;
    struct rpc_server_config sc;
    rpc_server_config_defaults(&sc);
    struct rpc_client_config cc;
    rpc_client_config_defaults(&cc);
    cc.client_id = 1;
    cc.retry.attempt_timeout_ns = 50ull * 1000000; /* no retry on a healthy loopback */
    if (rpc_server_create(&sc, &b.server) != 0 || rpc_client_create(&cc, &b.client) != 0 ||
        rpc_server_add_service(b.server, &b.admin.base) != 0 ||
        net_udp_open(&b.server_udp, &b.loop, "127.0.0.1", 0, on_server_datagram, &b) != 0 ||
        net_udp_open(&b.client_udp, &b.loop, "127.0.0.1", 0, on_client_datagram, &b) != 0) {
        fprintf(stderr, "rpc-bench: set-up failed\n");
        return 1;
    }
    uv_ip4_addr("127.0.0.1", net_udp_port(&b.server_udp), &b.server_addr);
    uv_ip4_addr("127.0.0.1", net_udp_port(&b.client_udp), &b.client_addr);
    uv_timer_init(&b.loop, &b.timer);
    b.timer.data = &b;

    double s1 = run_phase(&b, sequential, 1, true);
    qsort(b.latency_ns, sequential, sizeof *b.latency_ns, cmp_u64);
    printf("sequential: %llu calls in %.2f s = %.0f calls/s; latency p50 %.1f us, p99 %.1f us, "
           "max %.1f us\n",
           (unsigned long long)sequential, s1, (double)sequential / s1,
           (double)b.latency_ns[sequential / 2] / 1e3, (double)b.latency_ns[sequential * 99 / 100] / 1e3,
           (double)b.latency_ns[sequential - 1] / 1e3);
    free(b.latency_ns);
    double s2 = run_phase(&b, pipelined, in_flight, false);
    printf("pipelined:  %llu calls, %u in flight, in %.2f s = %.0f calls/s\n",
           (unsigned long long)pipelined, in_flight, s2, (double)pipelined / s2);
    const struct rpc_client_counters *cn = rpc_client_counters(b.client);
    const struct rpc_server_counters *sn = rpc_server_counters(b.server);
    printf("failed %llu, retries %llu, executed %llu, replayed from cache %llu, udp send drops %llu, "
           "server recvmmsg batches %llu (largest %llu)\n",
           (unsigned long long)b.calls_failed, (unsigned long long)cn->retries_sent,
           (unsigned long long)sn->calls_executed, (unsigned long long)sn->duplicates_replayed,
           (unsigned long long)(b.server_udp.send_drops + b.client_udp.send_drops),
           (unsigned long long)b.server_udp.recv_batches,
           (unsigned long long)b.server_udp.recv_batch_datagrams_max);
    net_udp_close(&b.server_udp);
    net_udp_close(&b.client_udp);
    uv_close((uv_handle_t *)&b.timer, NULL);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    rpc_client_destroy(b.client);
    rpc_server_destroy(b.server);
    buf_free(&b.b);
    return b.calls_failed == 0 ? 0 : 1;
}
