/* chorus-bench: a RESP load generator for Chorus and Redis (issue 8).
 *
 * redis-benchmark drives one command at a time over uniform random keys; this tool
 * drives a mix. It opens --clients connections to 127.0.0.1:--port (loopback only, by
 * design), and each connection sends batches of --pipeline requests and waits for all
 * their replies before the next batch, as redis-benchmark -P does. Each request is a
 * GET with probability --read-ratio, else a SET of a --value-size value; keys are
 * "key:<n>" with n drawn from --keys keys, uniformly or by a zipfian law (--zipf THETA,
 * YCSB's generator, ranks scrambled over the keyspace so hot keys are not adjacent). The
 * run ends after --requests requests or --duration seconds. Latency is taken from a
 * batch's write to the read that completes each reply, in a log-linear histogram
 * (64 sub-buckets per power of two: under 1.6% error); the output is a JSON object with
 * throughput and p50/p90/p99/p999/max for all requests, reads and writes.
 *
 * It is an I/O tool, not a protocol module: libuv for the sockets and the clock,
 * chorus_resp for the requests (resp_write_request) and the replies (the incremental
 * reply parser; --resp3 sends HELLO 3 first so replies come in RESP3). */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
/* uv.h brings sys/param.h's MIN and MAX; base/assertions.h defines its own. */
#undef MIN
#undef MAX

#include "base/assertions.h"
#include "base/buf.h"
#include "base/prng.h"
#include "resp/reply.h"
#include "resp/request.h"
#include "resp/writer.h"

#define BENCH_CLIENTS_MAX 10000
#define BENCH_PIPELINE_MAX 4096
#define BENCH_VALUE_BYTES_MAX (16 * 1024 * 1024)
#define BENCH_KEY_BYTES_MAX 32
#define BENCH_READ_CHUNK_BYTES (64 * 1024)
/* The reply bytes one connection may hold unparsed: a pipeline of maximal values. */
#define BENCH_IN_BYTES_MAX ((size_t)1 << 31)
#define HIST_SUB_BITS 6
#define HIST_SUB_COUNT (1 << HIST_SUB_BITS)
#define HIST_BUCKETS_COUNT (HIST_SUB_COUNT * (64 - HIST_SUB_BITS + 1))

struct options {
    int port;
    unsigned clients;
    unsigned pipeline;
    uint64_t requests;      /* 0: run for duration_s instead */
    double duration_s;
    double read_ratio;      /* fraction of requests that are GETs */
    uint64_t keys_count;
    double zipf_theta;      /* 0: uniform keys */
    size_t value_bytes;
    uint64_t seed;
    bool resp3;
};

/* Latencies in nanoseconds, log-linear buckets. */
struct histogram {
    uint64_t counts[HIST_BUCKETS_COUNT];
    uint64_t total;
    uint64_t sum_ns;
    uint64_t max_ns;
};

/* YCSB's zipfian generator (Gray et al., "Quickly generating billion-record synthetic
 * databases", SIGMOD 1994): ranks 0..n-1, rank 0 the most popular. */
struct zipf {
    uint64_t n;
    double theta;
    double alpha;
    double zeta_n;
    double eta;
    double half_pow_theta;
};

struct bench;

struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    struct bench *bench;
    struct prng prng;
    struct buf out;                 /* the batch being written */
    struct buf in;                  /* received bytes; in[in_start..len) not yet parsed */
    size_t in_start;
    struct resp_reply_parser parser;
    uint64_t batch_sent_ns;
    unsigned batch_count;           /* requests in the batch */
    unsigned replies_count;         /* replies of the batch received so far */
    bool is_read[BENCH_PIPELINE_MAX];
    bool in_handshake;              /* waiting for HELLO 3's reply */
    bool write_pending;             /* write_req and out are in libuv's hands */
    bool batch_done;                /* a batch is due once the pending write completes */
};

struct bench {
    struct options opt;
    uv_loop_t *loop;
    uv_timer_t timer;
    struct conn *conns;
    struct zipf zipf;
    uint8_t *value;
    unsigned ready_count;           /* connections connected (and past HELLO) */
    unsigned active_count;          /* connections with a batch in flight */
    uint64_t issued_count;
    uint64_t completed_count;
    uint64_t errors_count;
    uint64_t start_ns;
    uint64_t end_ns;
    bool stopping;
    int failure;                    /* a libuv error that ended the run */
    struct histogram all;
    struct histogram reads;
    struct histogram writes;
};

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB_COUNT) {
        return (unsigned)v;
    }
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* e >= HIST_SUB_BITS */
    unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB_COUNT - 1);
    return HIST_SUB_COUNT + (e - HIST_SUB_BITS) * HIST_SUB_COUNT + sub;
}

/* The largest value that falls in bucket i. */
static uint64_t hist_upper(unsigned i)
{
    if (i < HIST_SUB_COUNT) {
        return i;
    }
    unsigned e = (i - HIST_SUB_COUNT) / HIST_SUB_COUNT + HIST_SUB_BITS;
    uint64_t sub = (i - HIST_SUB_COUNT) % HIST_SUB_COUNT;
    uint64_t lower = (HIST_SUB_COUNT + sub) << (e - HIST_SUB_BITS);
    return lower + (((uint64_t)1 << (e - HIST_SUB_BITS)) - 1);
}

static void hist_record(struct histogram *h, uint64_t ns)
{
    unsigned i = hist_index(ns);
    ASSERT(i < HIST_BUCKETS_COUNT);
    h->counts[i]++;
    h->total++;
    h->sum_ns += ns;
    h->max_ns = MAX(h->max_ns, ns);
}

/* The value at quantile q (0..1): the upper bound of the bucket holding that rank. */
static uint64_t hist_quantile(const struct histogram *h, double q)
{
    if (h->total == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)ceil(q * (double)h->total);
    rank = MAX(rank, (uint64_t)1);
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS_COUNT; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            return MIN(hist_upper(i), h->max_ns);
        }
    }
    return h->max_ns;
}

static double zeta(uint64_t n, double theta)
{
    double sum = 0;
    for (uint64_t i = 1; i <= n; i++) {
        sum += 1.0 / pow((double)i, theta);
    }
    return sum;
}

static void zipf_init(struct zipf *z, uint64_t n, double theta)
{
    ASSERT(n >= 2 && theta > 0 && theta < 1);
    z->n = n;
    z->theta = theta;
    z->alpha = 1.0 / (1.0 - theta);
    z->zeta_n = zeta(n, theta);
    z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta(2, theta) / z->zeta_n);
    z->half_pow_theta = pow(0.5, theta);
}

static double uniform01(struct prng *p) { return (double)(prng_next(p) >> 11) * 0x1.0p-53; }

static uint64_t zipf_next(const struct zipf *z, struct prng *p)
{
    double u = uniform01(p);
    double uz = u * z->zeta_n;
    if (uz < 1.0) {
        return 0;
    }
    if (uz < 1.0 + z->half_pow_theta) {
        return 1;
    }
    uint64_t rank = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
    return MIN(rank, z->n - 1);
}

static uint64_t next_key(struct bench *b, struct prng *p)
{
    if (b->opt.zipf_theta == 0) {
        return prng_below(p, b->opt.keys_count);
    }
    /* Scramble ranks over the keyspace, as YCSB's ScrambledZipfianGenerator does. */
    return prng_mix64(zipf_next(&b->zipf, p)) % b->opt.keys_count;
}

static void on_written(uv_write_t *req, int status);
static void finish_if_idle(struct bench *b);

static int write_out(struct conn *c)
{
    uv_buf_t ub = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    ASSERT(!c->write_pending);
    c->write_pending = true;
    c->batch_sent_ns = uv_hrtime();
    return uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &ub, 1, on_written);
}

/* Sends the next batch, or leaves the connection idle when the run is over. */
static void send_batch(struct conn *c)
{
    struct bench *b = c->bench;
    if (c->write_pending) {
        /* The next batch reuses write_req and out: on_written sends it. */
        c->batch_done = true;
        return;
    }
    uint64_t left = b->opt.requests != 0 ? b->opt.requests - b->issued_count : UINT64_MAX;
    if (b->stopping || left == 0 || b->failure != 0) {
        b->active_count--;
        finish_if_idle(b);
        return;
    }
    unsigned count = (unsigned)MIN((uint64_t)b->opt.pipeline, left);
    uint32_t read_per_million = (uint32_t)(b->opt.read_ratio * 1e6 + 0.5);
    buf_reset(&c->out);
    for (unsigned i = 0; i < count; i++) {
        char key[BENCH_KEY_BYTES_MAX];
        int key_len = snprintf(key, sizeof key, "key:%012" PRIu64, next_key(b, &c->prng));
        c->is_read[i] = prng_chance(&c->prng, read_per_million);
        struct resp_arg argv[3] = {{(const uint8_t *)(c->is_read[i] ? "GET" : "SET"), 3},
                                   {(const uint8_t *)key, (size_t)key_len},
                                   {b->value, b->opt.value_bytes}};
        resp_write_request(&c->out, c->is_read[i] ? 2 : 3, argv);
    }
    ASSERT(!c->out.failed);
    c->batch_count = count;
    c->replies_count = 0;
    b->issued_count += count;
    int rc = write_out(c);
    if (rc != 0) {
        b->failure = rc;
        uv_stop(b->loop);
    }
}

static void fail_run(struct bench *b, int code, const char *what)
{
    if (b->failure == 0) {
        fprintf(stderr, "chorus-bench: %s: %s\n", what, code < 0 ? uv_strerror(code) : "protocol error");
        b->failure = code != 0 ? code : -1;
    }
    uv_stop(b->loop);
}

static void start_run(struct bench *b);

/* A connection is connected (and past HELLO 3); the run starts when all are. */
static void mark_ready(struct conn *c)
{
    struct bench *b = c->bench;
    c->in_handshake = false;
    if (++b->ready_count == b->opt.clients) {
        start_run(b);
    }
}

static void reply_done(struct conn *c, uint64_t now_ns, bool is_error)
{
    struct bench *b = c->bench;
    if (c->in_handshake) {
        if (is_error) {
            fail_run(b, 0, "HELLO 3 refused");
            return;
        }
        mark_ready(c);
        return;
    }
    ASSERT(c->replies_count < c->batch_count);
    uint64_t ns = now_ns - c->batch_sent_ns;
    hist_record(&b->all, ns);
    hist_record(c->is_read[c->replies_count] ? &b->reads : &b->writes, ns);
    b->completed_count++;
    b->errors_count += is_error ? 1 : 0;
    c->replies_count++;
    if (c->replies_count == c->batch_count) {
        send_batch(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *ub)
{
    struct conn *c = h->data;
    (void)suggested;
    if (c->in_start > 0) {
        size_t left = c->in.len - c->in_start;
        memmove(c->in.data, c->in.data + c->in_start, left);
        c->in.len = left;
        c->in_start = 0;
    }
    if (buf_reserve(&c->in, BENCH_READ_CHUNK_BYTES) != 0) {
        *ub = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS to on_read */
        return;
    }
    *ub = uv_buf_init((char *)c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *ub)
{
    struct conn *c = s->data;
    (void)ub;
    if (nread < 0) {
        fail_run(c->bench, (int)nread, "read");
        return;
    }
    c->in.len += (size_t)nread;
    uint64_t now_ns = uv_hrtime();
    struct resp_token tok;
    long rc;
    while ((rc = resp_reply_next(&c->parser, c->in.data + c->in_start, c->in.len - c->in_start,
                                 &tok)) > 0) {
        c->in_start += (size_t)rc;
        if (tok.reply_done) {
            bool is_error = tok.depth == 0 && (tok.type == RESP_ERROR || tok.type == RESP_BLOB_ERROR);
            reply_done(c, now_ns, is_error);
        }
    }
    if (rc < 0) {
        fprintf(stderr, "chorus-bench: bad reply: %s\n", c->parser.error_text);
        fail_run(c->bench, 0, "reply");
    }
}

static void on_written(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->write_pending = false;
    if (status < 0) {
        fail_run(c->bench, status, "write");
        return;
    }
    if (c->batch_done) {
        c->batch_done = false;
        send_batch(c);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    struct bench *b = c->bench;
    if (status < 0) {
        fail_run(b, status, "connect to 127.0.0.1");
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        fail_run(b, rc, "read start");
        return;
    }
    if (!b->opt.resp3) {
        mark_ready(c);
        return;
    }
    struct resp_arg hello[2] = {{(const uint8_t *)"HELLO", 5}, {(const uint8_t *)"3", 1}};
    buf_reset(&c->out);
    resp_write_request(&c->out, 2, hello);
    c->in_handshake = true;
    rc = write_out(c);
    if (rc != 0) {
        fail_run(b, rc, "write");
    }
}

static void on_timer(uv_timer_t *t)
{
    struct bench *b = t->data;
    b->stopping = true; /* connections stop after the batch they have in flight */
}

static void start_run(struct bench *b)
{
    b->start_ns = uv_hrtime();
    b->active_count = b->opt.clients;
    if (b->opt.requests == 0) {
        uv_timer_start(&b->timer, on_timer, (uint64_t)(b->opt.duration_s * 1000.0), 0);
    }
    for (unsigned i = 0; i < b->opt.clients; i++) {
        send_batch(&b->conns[i]);
    }
}

static void finish_if_idle(struct bench *b)
{
    if (b->active_count != 0) {
        return;
    }
    b->end_ns = uv_hrtime();
    uv_timer_stop(&b->timer);
    uv_close((uv_handle_t *)&b->timer, NULL);
    for (unsigned i = 0; i < b->opt.clients; i++) {
        uv_close((uv_handle_t *)&b->conns[i].tcp, NULL);
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: chorus-bench -p PORT [options]   (connects to 127.0.0.1 only)\n"
            "  -c, --clients N       connections (default 50, max %d)\n"
            "  -P, --pipeline N      requests per batch on a connection (default 1, max %d)\n"
            "  -n, --requests N      total requests (default 100000)\n"
            "  -t, --duration S      run for S seconds instead of a request count\n"
            "  -r, --read-ratio R    fraction of GETs, the rest SETs (default 0.5)\n"
            "  -k, --keys N          keyspace size (default 100000)\n"
            "  -z, --zipf THETA      zipfian keys with 0 < THETA < 1 (default: uniform)\n"
            "  -d, --value-size N    SET value bytes (default 100)\n"
            "  -s, --seed N          random seed (default 1)\n"
            "  -3, --resp3           send HELLO 3 first and read RESP3 replies\n"
            "Prints one JSON object on stdout. chorus-bench --self-test checks itself.\n",
            BENCH_CLIENTS_MAX, BENCH_PIPELINE_MAX);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        {"port", required_argument, 0, 'p'},     {"clients", required_argument, 0, 'c'},
        {"pipeline", required_argument, 0, 'P'}, {"requests", required_argument, 0, 'n'},
        {"duration", required_argument, 0, 't'}, {"read-ratio", required_argument, 0, 'r'},
        {"keys", required_argument, 0, 'k'},     {"zipf", required_argument, 0, 'z'},
        {"value-size", required_argument, 0, 'd'}, {"seed", required_argument, 0, 's'},
        {"resp3", no_argument, 0, '3'},          {0, 0, 0, 0}};
    *o = (struct options){.port = 0, .clients = 50, .pipeline = 1, .requests = 100000,
                          .read_ratio = 0.5, .keys_count = 100000, .value_bytes = 100, .seed = 1};
    int ch;
    while ((ch = getopt_long(argc, argv, "p:c:P:n:t:r:k:z:d:s:3", longs, NULL)) != -1) {
        switch (ch) {
        case 'p': o->port = atoi(optarg); break;
        case 'c': o->clients = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'P': o->pipeline = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'n': o->requests = strtoull(optarg, NULL, 10); break;
        case 't': o->duration_s = strtod(optarg, NULL); o->requests = 0; break;
        case 'r': o->read_ratio = strtod(optarg, NULL); break;
        case 'k': o->keys_count = strtoull(optarg, NULL, 10); break;
        case 'z': o->zipf_theta = strtod(optarg, NULL); break;
        case 'd': o->value_bytes = strtoull(optarg, NULL, 10); break;
        case 's': o->seed = strtoull(optarg, NULL, 10); break;
        case '3': o->resp3 = true; break;
        default: return -1;
        }
    }
    bool ok = optind == argc && o->port > 0 && o->port < 65536 && o->clients >= 1 &&
              o->clients <= BENCH_CLIENTS_MAX && o->pipeline >= 1 &&
              o->pipeline <= BENCH_PIPELINE_MAX && (o->requests > 0 || o->duration_s > 0) &&
              o->read_ratio >= 0 && o->read_ratio <= 1 && o->keys_count >= 2 &&
              (o->zipf_theta == 0 || (o->zipf_theta > 0 && o->zipf_theta < 1)) &&
              o->value_bytes <= BENCH_VALUE_BYTES_MAX;
    return ok ? 0 : -1;
}

static void print_latency(const char *name, const struct histogram *h, bool last)
{
    double mean_us = h->total != 0 ? (double)h->sum_ns / (double)h->total / 1e3 : 0;
    printf("    \"%s\": {\"count\": %" PRIu64 ", \"mean\": %.1f, \"p50\": %.1f, \"p90\": %.1f, "
           "\"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f}%s\n",
           name, h->total, mean_us, (double)hist_quantile(h, 0.5) / 1e3,
           (double)hist_quantile(h, 0.9) / 1e3, (double)hist_quantile(h, 0.99) / 1e3,
           (double)hist_quantile(h, 0.999) / 1e3, (double)h->max_ns / 1e3, last ? "" : ",");
}

static void print_results(const struct bench *b)
{
    const struct options *o = &b->opt;
    double seconds = (double)(b->end_ns - b->start_ns) / 1e9;
    double rps = seconds > 0 ? (double)b->completed_count / seconds : 0;
    printf("{\n  \"tool\": \"chorus-bench\", \"host\": \"127.0.0.1\", \"port\": %d, \"resp\": %d,\n",
           o->port, o->resp3 ? 3 : 2);
    printf("  \"clients\": %u, \"pipeline\": %u, \"read_ratio\": %.3f, \"keys\": %" PRIu64
           ", \"distribution\": \"%s\", \"zipf_theta\": %.3f, \"value_bytes\": %zu, \"seed\": %" PRIu64
           ",\n",
           o->clients, o->pipeline, o->read_ratio, o->keys_count,
           o->zipf_theta != 0 ? "zipfian" : "uniform", o->zipf_theta, o->value_bytes, o->seed);
    printf("  \"requests\": %" PRIu64 ", \"errors\": %" PRIu64
           ", \"duration_s\": %.3f, \"throughput_rps\": %.0f,\n",
           b->completed_count, b->errors_count, seconds, rps);
    printf("  \"latency_us\": {\n");
    print_latency("all", &b->all, false);
    print_latency("read", &b->reads, false);
    print_latency("write", &b->writes, true);
    printf("  }\n}\n");
    fprintf(stderr, "chorus-bench: %" PRIu64 " requests in %.2f s: %.0f req/s, p50 %.1f us, "
            "p99 %.1f us, p999 %.1f us, %" PRIu64 " errors\n",
            b->completed_count, seconds, rps, (double)hist_quantile(&b->all, 0.5) / 1e3,
            (double)hist_quantile(&b->all, 0.99) / 1e3, (double)hist_quantile(&b->all, 0.999) / 1e3,
            b->errors_count);
}

static int bench_init(struct bench *b)
{
    b->loop = uv_default_loop();
    b->conns = calloc(b->opt.clients, sizeof *b->conns);
    b->value = malloc(MAX(b->opt.value_bytes, (size_t)1));
    if (b->conns == NULL || b->value == NULL) {
        return UV_ENOMEM;
    }
    memset(b->value, 'x', b->opt.value_bytes);
    if (b->opt.zipf_theta != 0) {
        zipf_init(&b->zipf, b->opt.keys_count, b->opt.zipf_theta);
    }
    uv_timer_init(b->loop, &b->timer);
    b->timer.data = b;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", b->opt.port, &addr);
    for (unsigned i = 0; i < b->opt.clients; i++) {
        struct conn *c = &b->conns[i];
        c->bench = b;
        prng_seed(&c->prng, prng_mix64(b->opt.seed) ^ (i + 1));
        buf_init(&c->out, 0);
        buf_init(&c->in, BENCH_IN_BYTES_MAX);
        resp_reply_parser_init(&c->parser, NULL);
        uv_tcp_init(b->loop, &c->tcp);
        c->tcp.data = c;
        c->connect_req.data = c;
        c->write_req.data = c;
        int rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&addr, on_connect);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static void bench_free(struct bench *b)
{
    for (unsigned i = 0; b->conns != NULL && i < b->opt.clients; i++) {
        buf_free(&b->conns[i].out);
        buf_free(&b->conns[i].in);
    }
    free(b->conns);
    free(b->value);
}

static int check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "chorus-bench self-test failed: %s\n", what);
    }
    return ok ? 0 : 1;
}

/* --self-test: the histogram's error bound and the zipfian law, checked numerically. */
static int self_test(void)
{
    int failed = 0;
    for (uint64_t v = 1; v < ((uint64_t)1 << 50); v = v * 3 / 2 + 1) {
        unsigned i = hist_index(v);
        failed += check(i < HIST_BUCKETS_COUNT && hist_upper(i) >= v &&
                            hist_upper(i) - v <= v / HIST_SUB_COUNT &&
                            (i == 0 || hist_upper(i - 1) < v),
                        "a value's bucket holds it within 1/64");
    }
    static struct histogram h;
    for (uint64_t us = 1; us <= 1000; us++) {
        hist_record(&h, us * 1000);
    }
    double p50 = (double)hist_quantile(&h, 0.5);
    double p99 = (double)hist_quantile(&h, 0.99);
    failed += check(p50 >= 500e3 && p50 <= 500e3 * 1.016, "p50 of 1..1000 us is 500 us");
    failed += check(p99 >= 990e3 && p99 <= 990e3 * 1.016, "p99 of 1..1000 us is 990 us");
    struct zipf z;
    struct prng p;
    zipf_init(&z, 1000, 0.99);
    prng_seed(&p, 7);
    uint64_t draws = 1000000, rank0 = 0, rank1 = 0, out_of_range = 0;
    for (uint64_t i = 0; i < draws; i++) {
        uint64_t r = zipf_next(&z, &p);
        rank0 += r == 0;
        rank1 += r == 1;
        out_of_range += r >= z.n;
    }
    double want0 = (double)draws / z.zeta_n;
    double want1 = want0 / pow(2.0, 0.99);
    failed += check(out_of_range == 0, "zipf ranks stay below n");
    failed += check(fabs((double)rank0 - want0) < want0 * 0.03, "zipf rank 0 has p = 1/zeta(n)");
    failed += check(fabs((double)rank1 - want1) < want1 * 0.03, "zipf rank 1 has p = 2^-theta/zeta(n)");
    fprintf(stderr, "chorus-bench self-test: %s\n", failed == 0 ? "ok" : "FAILED");
    return failed == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    static struct bench b; /* large (histograms): not on the stack */
    if (argc == 2 && strcmp(argv[1], "--self-test") == 0) {
        return self_test();
    }
    if (parse_options(argc, argv, &b.opt) != 0) {
        usage();
        return 2;
    }
    int rc = bench_init(&b);
    if (rc != 0) {
        fprintf(stderr, "chorus-bench: start: %s\n", uv_strerror(rc));
        return 1;
    }
    uv_run(b.loop, UV_RUN_DEFAULT);
    if (b.failure != 0) {
        bench_free(&b);
        return 1;
    }
    print_results(&b);
    bench_free(&b);
    return 0;
}
