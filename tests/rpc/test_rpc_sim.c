/* A deterministic network simulation of the RPC runtime. One server (node 1) with the
 * test Admin service and CLIENTS clients (nodes 2..) exchange envelopes through a
 * simulated network in virtual time, seeded by base/prng, that loses (30%), duplicates
 * (10%), delays and reorders datagrams, and cuts the server off from everybody for
 * 0.5..4 s before it heals. Half the calls are Snapshot, which the server's "worker pool"
 * (this driver) completes 0..60 ms later, so duplicates reach running calls too.
 *
 * Two ways to carry the envelopes, each swept:
 *   - raw: every envelope is one datagram, so the RPC runtime alone must cope with the
 *     faults (its retries, deadlines and reply cache against a network that duplicates);
 *   - over links: as in the server, each (server, client) pair talks through a pair of
 *     link instances (src/link) and the faults hit the link datagrams. The link hides
 *     loss and network duplicates, but the RPC's own retries still send duplicates, its
 *     deadlines race the link's retransmission and backoff, and during the partition
 *     the link queues what the RPC sends; the RPC's promises must hold all the same.
 *
 * Checked on every completion and at the end of every seed:
 *   - every call completes exactly once; by the end no call is in flight;
 *   - no call completes after its deadline;
 *   - RPC_OK means the handler ran exactly once for that (client, call id);
 *   - no handler ever runs twice for one (client, call id), whatever the outcome;
 *   - RPC_REPLY_EVICTED appears only when the cache is small enough to evict;
 *   - the calls made outside the partition window mostly succeed (liveness).
 * Two known-wrong servers (no reply cache; evicted calls run again) must be caught by
 * the same checks on some seed (STYLE.md rule 20). A failure prints the seed. */
#include <stdarg.h>

#include "base/prng.h"
#include "link/link.h"
#include "rpc_test.h"

#define MS 1000000ull
#define SEC (1000 * MS)
#define SERVER_NODE 1
#define CLIENTS 3
#define CALLS_PER_CLIENT 150
#define PACKETS_MAX 65536
/* Sanitizer builds (slower by ~20x) sweep a quarter of the seeds; the release build
 * sweeps them all. */
#ifdef __SANITIZE_ADDRESS__
#define SEEDS(n) ((n) / 4)
#else
#define SEEDS(n) (n)
#endif

struct sim_config {
    uint32_t loss_ppm;
    uint32_t dup_ppm;
    bool partition;
    uint32_t cache_entries_max; /* small values force evictions */
    uint32_t mutant;            /* enum rpc_server_mutant */
    bool over_links;            /* envelopes travel through link instances */
};

/* The links' RTO cap in the simulation: the default 2 s would let a link still backing
 * off from the partition sit out the deadline of calls made after it healed. */
#define SIM_LINK_RTO_MAX_NS (300 * MS)

struct packet {
    uint64_t at_ns;
    uint64_t order;
    uint32_t from;
    uint32_t to;
    uint8_t *bytes;
    size_t len;
};

struct call_record {
    uint64_t deadline_ns;
    int completions;
    int status;
    bool in_partition; /* started while the partition was or could soon be on */
};

struct sim_client {
    struct rpc_client *rpc;
    uint64_t client_id;
    uint32_t calls_started;
    uint64_t next_call_ns;
    struct call_record calls[CALLS_PER_CLIENT + 1]; /* by call id */
};

struct sim {
    uint64_t seed;
    struct sim_config cfg;
    struct prng rng;
    uint64_t now_ns;
    struct rpc_server *server;
    struct test_admin admin;
    uint64_t parked_due_ns[ADMIN_PARKED_MAX];
    struct sim_client clients[CLIENTS];
    /* Over links: server_links[i] is the server's end toward client i, client_links[i]
     * the client's end toward the server. */
    struct link *server_links[CLIENTS];
    struct link *client_links[CLIENTS];
    struct buf datagram;
    struct packet heap[PACKETS_MAX];
    size_t heap_count;
    uint64_t order;
    uint64_t partition_start_ns, partition_end_ns;
    struct buf b;
    uint64_t server_steps;
    bool failed;
    /* totals over the run */
    uint64_t ok, deadline, evicted, busy, other, calls_outside_partition, ok_outside_partition;
};

static struct sim g_sim; /* large; one at a time */

__attribute__((format(printf, 2, 3))) static void sim_fail(struct sim *s, const char *fmt, ...)
{
    s->failed = true;
    if (s->cfg.mutant != RPC_SERVER_MUTANT_NONE) {
        return; /* an expected failure: stay quiet */
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "    seed %llu at %llu ns: ", (unsigned long long)s->seed,
            (unsigned long long)s->now_ns);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* ---- the network: a binary heap of packets ordered by (at_ns, order) ---- */

static bool packet_before(const struct packet *a, const struct packet *b)
{
    return a->at_ns != b->at_ns ? a->at_ns < b->at_ns : a->order < b->order;
}

static void heap_swap(struct sim *s, size_t i, size_t j)
{
    struct packet t = s->heap[i];
    s->heap[i] = s->heap[j];
    s->heap[j] = t;
}

static void heap_push(struct sim *s, struct packet p)
{
    ASSERT(s->heap_count < PACKETS_MAX);
    size_t i = s->heap_count++;
    s->heap[i] = p;
    while (i > 0 && packet_before(&s->heap[i], &s->heap[(i - 1) / 2])) {
        heap_swap(s, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static struct packet heap_pop(struct sim *s)
{
    struct packet top = s->heap[0];
    s->heap[0] = s->heap[--s->heap_count];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->heap_count && packet_before(&s->heap[l], &s->heap[m])) {
            m = l;
        }
        if (r < s->heap_count && packet_before(&s->heap[r], &s->heap[m])) {
            m = r;
        }
        if (m == i) {
            break;
        }
        heap_swap(s, i, m);
        i = m;
    }
    return top;
}

static bool partitioned(const struct sim *s, uint64_t at_ns)
{
    return s->cfg.partition && at_ns >= s->partition_start_ns && at_ns < s->partition_end_ns;
}

/* Sends one datagram through the faults: lost, duplicated, delayed 1..20 ms (hence
 * reordered), and cut while the partition is on. */
static void net_send(struct sim *s, uint32_t from, uint32_t to, const struct buf *b)
{
    if (partitioned(s, s->now_ns) || prng_chance(&s->rng, s->cfg.loss_ppm)) {
        return;
    }
    int copies = prng_chance(&s->rng, s->cfg.dup_ppm) ? 2 : 1;
    for (int i = 0; i < copies; i++) {
        struct packet p = {s->now_ns + prng_range(&s->rng, 1 * MS, 20 * MS), s->order++, from,
                           to, malloc(b->len), b->len};
        ASSERT(p.bytes != NULL);
        memcpy(p.bytes, b->data, b->len);
        heap_push(s, p);
    }
}

/* ---- links ---- */

/* The link at node `self` toward node `peer` (one end is always the server). */
static struct link *link_of(struct sim *s, uint32_t self, uint32_t peer)
{
    return self == SERVER_NODE ? s->server_links[peer - 2] : s->client_links[self - 2];
}

/* Puts every datagram the link at self toward peer wants to send on the network. */
static void link_pump(struct sim *s, uint32_t self, uint32_t peer)
{
    struct link *l = link_of(s, self, peer);
    for (buf_reset(&s->datagram); link_next_datagram(l, s->now_ns, &s->datagram) == 1;
         buf_reset(&s->datagram)) {
        net_send(s, self, peer, &s->datagram);
    }
    link_check_invariants(l);
}

/* Sends one envelope: a raw datagram, or a message on the link. */
static void rpc_send(struct sim *s, uint32_t from, uint32_t to, const struct buf *b)
{
    if (!s->cfg.over_links) {
        net_send(s, from, to, b);
        return;
    }
    ASSERT(link_send(link_of(s, from, to), s->now_ns, b->data, b->len) == 0);
    link_pump(s, from, to);
}

static struct link *link_make(uint32_t self, uint32_t peer)
{
    struct link_config c;
    link_config_defaults(&c);
    c.cluster_id = 5;
    c.local_id = self;
    c.peer_id = peer;
    c.local_incarnation = 100 + self;
    c.rto_max_ns = SIM_LINK_RTO_MAX_NS;
    struct link *l = NULL;
    ASSERT(link_create(&c, &l) == 0);
    return l;
}

/* ---- the nodes ---- */

static void flush_server(struct sim *s)
{
    uint32_t to = 0;
    for (buf_reset(&s->b); rpc_server_next_message(s->server, &to, &s->b); buf_reset(&s->b)) {
        rpc_send(s, SERVER_NODE, to, &s->b);
    }
    /* The check walks the whole reply cache: every 16th step keeps sanitizer runs short. */
    if (++s->server_steps % 16 == 0) {
        rpc_server_check_invariants(s->server);
    }
    if (s->admin.ran_twice) {
        sim_fail(s, "a handler ran twice for one call");
    }
}

static void flush_client(struct sim *s, uint32_t node)
{
    struct sim_client *c = &s->clients[node - 2];
    uint32_t to = 0;
    for (buf_reset(&s->b); rpc_client_next_message(c->rpc, &to, &s->b); buf_reset(&s->b)) {
        rpc_send(s, node, to, &s->b);
    }
    rpc_client_check_invariants(c->rpc);
}

struct completion_ctx {
    struct sim *s;
    struct sim_client *c;
};

static struct completion_ctx g_ctx[CLIENTS];

static void on_done(void *ctx, const struct rpc_result *r)
{
    struct completion_ctx *x = ctx;
    struct sim *s = x->s;
    struct sim_client *c = x->c;
    ASSERT(r->call_id >= 1 && r->call_id <= CALLS_PER_CLIENT);
    struct call_record *rec = &c->calls[r->call_id];
    if (++rec->completions != 1) {
        sim_fail(s, "client %llu call %llu completed twice", (unsigned long long)c->client_id,
                 (unsigned long long)r->call_id);
    }
    if (s->now_ns > rec->deadline_ns) {
        sim_fail(s, "call %llu completed %llu ns after its deadline",
                 (unsigned long long)r->call_id, (unsigned long long)(s->now_ns - rec->deadline_ns));
    }
    uint32_t runs = admin_executions(&s->admin, c->client_id, r->call_id);
    rec->status = r->status;
    switch (r->status) {
    case CHORUS__RPC_STATUS__RPC_OK:
        s->ok++;
        s->ok_outside_partition += !rec->in_partition;
        if (runs != 1 || r->reply == NULL) {
            sim_fail(s, "call %llu: RPC_OK but ran %u times", (unsigned long long)r->call_id, runs);
        }
        break;
    case CHORUS__RPC_STATUS__RPC_DEADLINE_EXCEEDED:
        s->deadline++;
        break;
    case CHORUS__RPC_STATUS__RPC_REPLY_EVICTED:
        s->evicted++;
        if (s->cfg.cache_entries_max >= RPC_SERVER_DEFAULT_ENTRIES_MAX) {
            sim_fail(s, "RPC_REPLY_EVICTED from a cache that never fills");
        }
        break;
    case CHORUS__RPC_STATUS__RPC_BUSY:
        s->busy++;
        break;
    default:
        s->other++;
        sim_fail(s, "call %llu ended %s: %s", (unsigned long long)r->call_id,
                 rpc_status_name(r->status), r->detail);
    }
}

static void start_call(struct sim *s, struct sim_client *c)
{
    uint64_t timeout_ns = prng_range(&s->rng, 200 * MS, 3 * SEC);
    uint64_t id = c->calls_started + 1;
    struct call_record *rec = &c->calls[id];
    rec->deadline_ns = s->now_ns + timeout_ns;
    /* A call whose life overlaps the partition may fairly fail. */
    rec->in_partition = s->cfg.partition && s->now_ns < s->partition_end_ns &&
                        rec->deadline_ns > s->partition_start_ns;
    s->calls_outside_partition += !rec->in_partition;
    struct rpc_retry_policy policy = {.attempts_max = 10, .attempt_timeout_ns = 10 * MS,
                                     .backoff_base_ns = 5 * MS, .backoff_cap_ns = 200 * MS};
    Chorus__StatusRequest status = CHORUS__STATUS_REQUEST__INIT;
    Chorus__SnapshotRequest snapshot = CHORUS__SNAPSHOT_REQUEST__INIT;
    bool slow = prng_chance(&s->rng, 500000);
    int64_t got = rpc_client_call(c->rpc, s->now_ns, SERVER_NODE, &chorus__admin__descriptor,
                                  slow ? METHOD_SNAPSHOT : METHOD_STATUS,
                                  slow ? &snapshot.base : &status.base, timeout_ns, &policy,
                                  on_done, &g_ctx[c - s->clients]);
    ASSERT(got == (int64_t)id);
    c->calls_started++;
    c->next_call_ns = c->calls_started == CALLS_PER_CLIENT
                          ? UINT64_MAX
                          : s->now_ns + prng_range(&s->rng, 0, 40 * MS);
}

static void sim_init(struct sim *s, uint64_t seed, const struct sim_config *cfg)
{
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->cfg = *cfg;
    prng_seed(&s->rng, seed);
    s->now_ns = SEC;
    s->partition_start_ns = SEC + prng_range(&s->rng, 0, 3 * SEC);
    s->partition_end_ns = s->partition_start_ns + prng_range(&s->rng, SEC / 2, 4 * SEC);
    struct rpc_server_config sc;
    rpc_server_config_defaults(&sc);
    sc.entries_max = cfg->cache_entries_max;
    sc.mutant = cfg->mutant;
    ASSERT(rpc_server_create(&sc, &s->server) == 0);
    test_admin_init(&s->admin);
    ASSERT(rpc_server_add_service(s->server, &s->admin.service.base) == 0);
    for (int i = 0; i < CLIENTS; i++) {
        struct sim_client *c = &s->clients[i];
        struct rpc_client_config cc;
        rpc_client_config_defaults(&cc);
        c->client_id = prng_mix64(seed) ^ (uint64_t)(i + 1);
        cc.client_id = c->client_id;
        cc.prng_seed = prng_next(&s->rng);
        ASSERT(rpc_client_create(&cc, &c->rpc) == 0);
        c->next_call_ns = s->now_ns + prng_range(&s->rng, 0, 40 * MS);
        g_ctx[i] = (struct completion_ctx){s, c};
        if (cfg->over_links) {
            s->server_links[i] = link_make(SERVER_NODE, (uint32_t)i + 2);
            s->client_links[i] = link_make((uint32_t)i + 2, SERVER_NODE);
        }
    }
    buf_init(&s->b, 0);
    buf_init(&s->datagram, 0);
}

static void sim_free(struct sim *s)
{
    while (s->admin.parked_count > 0) {
        admin_finish_parked(&s->admin, 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        rpc_client_destroy(s->clients[i].rpc);
        link_destroy(s->server_links[i]);
        link_destroy(s->client_links[i]);
    }
    rpc_server_destroy(s->server);
    while (s->heap_count > 0) {
        free(heap_pop(s).bytes);
    }
    buf_free(&s->b);
    buf_free(&s->datagram);
}

/* The earliest pending event, or UINT64_MAX when the run is over. */
static uint64_t next_event_ns(const struct sim *s)
{
    uint64_t t = s->heap_count > 0 ? s->heap[0].at_ns : UINT64_MAX;
    if (s->admin.parked_count > 0) {
        t = MIN(t, s->parked_due_ns[0]);
    }
    for (int i = 0; i < CLIENTS; i++) {
        t = MIN(t, MIN(s->clients[i].next_call_ns, rpc_client_next_timeout_ns(s->clients[i].rpc)));
        if (s->cfg.over_links) {
            t = MIN(t, MIN(link_next_timeout_ns(s->server_links[i]),
                           link_next_timeout_ns(s->client_links[i])));
        }
    }
    return t;
}

static void deliver_envelope(struct sim *s, uint32_t from, uint32_t to, const uint8_t *bytes,
                             size_t len);

/* Over links: the datagram goes to the link at `to`; whatever it delivers goes up. */
static void deliver_datagram(struct sim *s, const struct packet *p)
{
    struct link *l = link_of(s, p->to, p->from);
    link_on_datagram(l, s->now_ns, p->bytes, p->len);
    struct link_delivery d;
    while (link_next_delivery(l, &d)) {
        deliver_envelope(s, p->from, p->to, d.data, d.len);
        link_delivery_free(&d);
    }
    link_pump(s, p->to, p->from); /* acks, and anything the envelopes' replies queued */
}

static void deliver(struct sim *s, struct packet p)
{
    if (s->cfg.over_links) {
        deliver_datagram(s, &p);
    } else {
        deliver_envelope(s, p.from, p.to, p.bytes, p.len);
    }
    free(p.bytes);
}

static void deliver_envelope(struct sim *s, uint32_t from, uint32_t to, const uint8_t *bytes,
                             size_t len)
{
    struct packet p = {0, 0, from, to, (uint8_t *)bytes, len};
    if (p.to == SERVER_NODE) {
        uint32_t parked_before = s->admin.parked_count;
        rpc_server_on_message(s->server, p.from, p.bytes, p.len);
        for (uint32_t i = parked_before; i < s->admin.parked_count; i++) {
            uint64_t due = s->now_ns + prng_range(&s->rng, 0, 60 * MS);
            s->parked_due_ns[i] = i == 0 ? due : MAX(due, s->parked_due_ns[i - 1]);
        }
        flush_server(s);
    } else {
        struct sim_client *c = &s->clients[p.to - 2];
        rpc_client_on_message(c->rpc, s->now_ns, p.from, p.bytes, p.len);
        flush_client(s, p.to);
    }
}

static void step(struct sim *s)
{
    s->now_ns = next_event_ns(s);
    if (s->heap_count > 0 && s->heap[0].at_ns == s->now_ns) {
        deliver(s, heap_pop(s));
        return;
    }
    if (s->admin.parked_count > 0 && s->parked_due_ns[0] == s->now_ns) {
        memmove(s->parked_due_ns, s->parked_due_ns + 1,
                (s->admin.parked_count - 1) * sizeof s->parked_due_ns[0]);
        admin_finish_parked(&s->admin, s->now_ns);
        flush_server(s);
        return;
    }
    for (int i = 0; i < CLIENTS; i++) {
        struct sim_client *c = &s->clients[i];
        if (c->next_call_ns == s->now_ns) {
            start_call(s, c);
        }
        rpc_client_tick(c->rpc, s->now_ns);
        flush_client(s, (uint32_t)i + 2);
        if (s->cfg.over_links) {
            link_tick(s->server_links[i], s->now_ns);
            link_pump(s, SERVER_NODE, (uint32_t)i + 2);
            link_tick(s->client_links[i], s->now_ns);
            link_pump(s, (uint32_t)i + 2, SERVER_NODE);
        }
    }
}

static void check_end(struct sim *s)
{
    for (int i = 0; i < CLIENTS; i++) {
        struct sim_client *c = &s->clients[i];
        if (rpc_client_calls_in_flight(c->rpc) != 0) {
            sim_fail(s, "client %d ends with calls in flight", i);
        }
        for (uint32_t id = 1; id <= c->calls_started; id++) {
            if (c->calls[id].completions != 1) {
                sim_fail(s, "client %d call %u completed %d times", i, id, c->calls[id].completions);
            }
        }
    }
}

/* Runs one seed; returns true when every check held. */
static bool run_seed(uint64_t seed, const struct sim_config *cfg, struct sim *totals)
{
    struct sim *s = &g_sim;
    sim_init(s, seed, cfg);
    for (uint64_t steps = 0; next_event_ns(s) != UINT64_MAX && !s->failed; steps++) {
        ASSERT(steps < 10 * 1000 * 1000);
        step(s);
    }
    check_end(s);
    rpc_server_check_invariants(s->server);
    totals->ok += s->ok;
    totals->deadline += s->deadline;
    totals->evicted += s->evicted;
    totals->busy += s->busy;
    totals->calls_outside_partition += s->calls_outside_partition;
    totals->ok_outside_partition += s->ok_outside_partition;
    const struct rpc_server_counters *sc = rpc_server_counters(s->server);
    totals->order += sc->duplicates_replayed + sc->duplicates_running; /* duplicates absorbed */
    bool ok = !s->failed;
    sim_free(s);
    return ok;
}

static const struct sim_config FAULTS = {300000, 100000, true, RPC_SERVER_DEFAULT_ENTRIES_MAX, 0,
                                         false};

static void sweep(const char *name, const struct sim_config *cfg, uint64_t seeds,
                  uint64_t *failed_out, struct sim *totals)
{
    memset(totals, 0, sizeof *totals);
    uint64_t failed = 0;
    for (uint64_t seed = 1; seed <= seeds; seed++) {
        if (!run_seed(seed, cfg, totals)) {
            failed++;
        }
    }
    printf("    %s: %llu seeds x %d calls: ok %llu, deadline %llu, evicted %llu, busy %llu; "
           "ok outside the partition %llu/%llu; duplicates absorbed by the cache %llu; "
           "failing seeds %llu\n",
           name, (unsigned long long)seeds, CLIENTS * CALLS_PER_CLIENT,
           (unsigned long long)totals->ok, (unsigned long long)totals->deadline,
           (unsigned long long)totals->evicted, (unsigned long long)totals->busy,
           (unsigned long long)totals->ok_outside_partition,
           (unsigned long long)totals->calls_outside_partition,
           (unsigned long long)totals->order, (unsigned long long)failed);
    *failed_out = failed;
}

TEST(every_call_completes_once_or_by_its_deadline_under_loss_duplication_and_partition)
{
    struct sim totals;
    uint64_t failed = 0;
    sweep("faults", &FAULTS, SEEDS(200), &failed, &totals);
    CHECK_EQ(failed, 0);
    CHECK(totals.ok > 0 && totals.deadline > 0); /* both outcomes really happen */
    /* Liveness: away from the partition, 30% loss each way is beaten by retries. */
    CHECK(totals.ok_outside_partition * 100 >= totals.calls_outside_partition * 95);
    CHECK(totals.order > 0);
}

TEST(without_faults_every_call_succeeds)
{
    struct sim_config cfg = {0, 0, false, RPC_SERVER_DEFAULT_ENTRIES_MAX, 0, false};
    struct sim totals;
    uint64_t failed = 0;
    sweep("clean", &cfg, SEEDS(20), &failed, &totals);
    CHECK_EQ(failed, 0);
    CHECK_EQ(totals.ok, SEEDS(20) * CLIENTS * CALLS_PER_CLIENT);
}

TEST(small_reply_cache_evicts_and_still_never_runs_a_call_twice)
{
    struct sim_config cfg = FAULTS;
    cfg.cache_entries_max = 8;
    struct sim totals;
    uint64_t failed = 0;
    sweep("cache of 8", &cfg, SEEDS(200), &failed, &totals);
    CHECK_EQ(failed, 0);
    CHECK(totals.evicted > 0); /* the eviction path was taken */
}

TEST(server_without_reply_cache_is_caught)
{
    struct sim_config cfg = FAULTS;
    cfg.mutant = RPC_SERVER_MUTANT_NO_REPLY_CACHE;
    struct sim totals;
    uint64_t failed = 0;
    sweep("mutant no-reply-cache", &cfg, SEEDS(20), &failed, &totals);
    CHECK(failed > 0);
}

TEST(server_that_reruns_evicted_calls_is_caught)
{
    struct sim_config cfg = FAULTS;
    cfg.cache_entries_max = 8;
    cfg.mutant = RPC_SERVER_MUTANT_RUN_EVICTED;
    struct sim totals;
    uint64_t failed = 0;
    sweep("mutant run-evicted", &cfg, SEEDS(50), &failed, &totals);
    CHECK(failed > 0);
}

/* ---- the same properties with the envelopes carried by links ---- */

/* Sweeps seeds 1..seeds of cfg carried over links; returns the failing seeds. */
static uint64_t sweep_over_links(const char *name, struct sim_config cfg, uint64_t seeds,
                                 struct sim *totals)
{
    cfg.over_links = true;
    uint64_t failed = 0;
    sweep(name, &cfg, seeds, &failed, totals);
    return failed;
}

TEST(over_links_every_call_completes_once_or_by_its_deadline_under_the_same_faults)
{
    struct sim totals;
    CHECK_EQ(sweep_over_links("faults over links", FAULTS, SEEDS(100), &totals), 0);
    CHECK(totals.ok > 0 && totals.deadline > 0);
    CHECK(totals.ok_outside_partition * 100 >= totals.calls_outside_partition * 95);
    CHECK(totals.order > 0); /* the RPC's own retries still reach the server twice */
}

TEST(over_links_a_small_reply_cache_still_never_runs_a_call_twice)
{
    struct sim_config cfg = FAULTS;
    cfg.cache_entries_max = 8;
    struct sim totals;
    CHECK_EQ(sweep_over_links("cache of 8 over links", cfg, SEEDS(100), &totals), 0);
}

TEST(over_links_a_server_without_reply_cache_is_caught)
{
    struct sim_config cfg = FAULTS;
    cfg.mutant = RPC_SERVER_MUTANT_NO_REPLY_CACHE;
    struct sim totals;
    CHECK(sweep_over_links("mutant no-reply-cache over links", cfg, SEEDS(20), &totals) > 0);
}
