/* The simulator's event loop: a binary heap of events ordered by (virtual time,
 * insertion order), the fault schedule, and one run from start to verdict. Every random
 * choice comes from the world's PRNG, seeded from the run's seed, and every processed
 * event is folded into the trace digest, so a seed replays bit for bit. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "sim/sim_impl.h"

void sim_config_default(struct sim_config *c, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->seed = seed;
    c->nodes_count = 5;
    c->clients_count = 4;
    c->ops_count = 200;
    c->faults = SIM_FAULT_ALL;
    c->faults_duration_ns = 10 * SIM_SEC;
    c->progress_bound_ns = 30 * SIM_SEC;
    c->clock_drift_ppm_max = 1000;
    c->client_timeout_ns = 400 * SIM_MS;
}

void sim_digest(struct sim_world *w, uint64_t a, uint64_t b)
{
    w->digest = prng_mix64(w->digest ^ prng_mix64(a * 0x9e3779b97f4a7c15ull + b));
}

void sim_trace(struct sim_world *w, const char *fmt, ...)
{
    if (w->cfg.trace == NULL && !w->cfg.verbose) {
        return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (w->cfg.trace != NULL) {
        fprintf(w->cfg.trace, "{\"t\":%llu,%s}\n", (unsigned long long)w->now_ns, line);
    }
    if (w->cfg.verbose) {
        fprintf(stderr, "%10.3f ms  %s\n", (double)w->now_ns / 1e6, line);
    }
}

void sim_fail(struct sim_world *w, const char *check, const char *fmt, ...)
{
    if (w->failed) {
        return; /* keep the first failure */
    }
    w->failed = true;
    snprintf(w->result->check, sizeof w->result->check, "%s", check);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->result->detail, sizeof w->result->detail, fmt, ap);
    va_end(ap);
    sim_trace(w, "\"ev\":\"violation\",\"check\":\"%s\"", check);
}

uint64_t sim_node_now(const struct sim_world *w, const struct sim_node *n)
{
    int64_t drift = (int64_t)(w->now_ns / 1000000) * n->drift_ppm; /* ns per ms * ppm */
    return (uint64_t)((int64_t)w->now_ns + n->clock_offset_ns + drift);
}

/* ---- the event heap ---- */

static bool event_before(const struct sim_event *a, const struct sim_event *b)
{
    return a->at_ns != b->at_ns ? a->at_ns < b->at_ns : a->order < b->order;
}

static void heap_push(struct sim_heap *h, const struct sim_event *ev)
{
    if (h->count == h->cap) {
        h->cap = h->cap != 0 ? h->cap * 2 : 1024;
        h->items = realloc(h->items, h->cap * sizeof *h->items);
        ASSERT(h->items != NULL);
    }
    size_t i = h->count++;
    while (i > 0 && event_before(ev, &h->items[(i - 1) / 2])) {
        h->items[i] = h->items[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->items[i] = *ev;
}

static struct sim_event heap_pop(struct sim_heap *h)
{
    struct sim_event top = h->items[0];
    struct sim_event last = h->items[--h->count];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->count) {
            break;
        }
        if (c + 1 < h->count && event_before(&h->items[c + 1], &h->items[c])) {
            c++;
        }
        if (!event_before(&h->items[c], &last)) {
            break;
        }
        h->items[i] = h->items[c];
        i = c;
    }
    if (h->count > 0) {
        h->items[i] = last;
    }
    return top;
}

void sim_schedule(struct sim_world *w, uint64_t at_ns, uint8_t type, uint32_t node,
                  struct sim_event *ev_template)
{
    struct sim_event ev = {0};
    if (ev_template != NULL) {
        ev = *ev_template;
    }
    ev.at_ns = at_ns;
    ev.order = w->order++;
    ev.type = type;
    ev.node = node;
    heap_push(&w->heap, &ev);
}

static void event_free(struct sim_event *ev)
{
    switch (ev->type) {
    case EV_NET_DELIVER: net_free_message(ev->u.msg); break;
    case EV_CLIENT_REQUEST: free(ev->u.request); break;
    case EV_CLIENT_REPLY: free(ev->u.reply); break;
    default: break;
    }
}

/* ---- faults ---- */

static void heal_network(struct sim_world *w)
{
    memset(w->blocked, 0, sizeof w->blocked);
}

static void partition_random(struct sim_world *w)
{
    uint32_t n = w->cfg.nodes_count;
    bool side[SIM_NODES_MAX];
    for (uint32_t i = 0; i < n; i++) {
        side[i] = prng_chance(&w->prng, 500000);
    }
    bool one_way = prng_chance(&w->prng, 300000);
    for (uint32_t a = 0; a < n; a++) {
        for (uint32_t b = 0; b < n; b++) {
            if (side[a] != side[b] && (!one_way || side[a])) {
                w->blocked[a][b] = true;
            }
        }
    }
    sim_trace(w, "\"ev\":\"partition\",\"one_way\":%s", one_way ? "true" : "false");
}

/* Cuts the current leader off from every peer, reconnecting everyone else: repeated,
 * it makes successive leaders strand unreplicated tails of different terms, which is
 * the ground of the Figure 8 scenario. Clients still reach the isolated leader. */
static void isolate_leader(struct sim_world *w)
{
    heal_network(w);
    for (uint32_t i = 0; i < w->cfg.nodes_count; i++) {
        struct sim_node *n = &w->nodes[i];
        if (n->up && raft_role(n->raft) == RAFT_LEADER) {
            for (uint32_t j = 0; j < w->cfg.nodes_count; j++) {
                w->blocked[i][j] = w->blocked[j][i] = j != i;
            }
            sim_trace(w, "\"ev\":\"isolate\",\"node\":%u", n->id);
            return;
        }
    }
}

static void fault_net(struct sim_world *w)
{
    switch (prng_below(&w->prng, 6)) {
    case 0: heal_network(w); break;
    case 1: partition_random(w); break;
    case 2: isolate_leader(w); break;
    case 3: w->loss_per_million = (uint32_t)prng_below(&w->prng, 300001); break;
    case 4: w->dup_per_million = (uint32_t)prng_below(&w->prng, 100001); break;
    default: w->delay_ns_max = prng_range(&w->prng, 1, 200) * SIM_MS; break;
    }
}

static void fault_crash(struct sim_world *w)
{
    struct sim_node *n = &w->nodes[prng_below(&w->prng, w->cfg.nodes_count)];
    if (!n->up || n->paused) {
        return;
    }
    uint64_t roll = prng_below(&w->prng, 10);
    if (roll < 3) {
        n->crash_trap = (uint8_t)prng_range(&w->prng, 1, 4);
        sim_trace(w, "\"ev\":\"trap\",\"node\":%u", n->id);
    } else if (roll < 8) {
        node_crash(w, n);
        w->result->crashes++;
        struct sim_event ev = {.generation = n->generation};
        sim_schedule(w, w->now_ns + prng_range(&w->prng, 10, 2000) * SIM_MS, EV_RESTART,
                     n->slot, &ev);
    } else {
        n->paused = true;
        sim_trace(w, "\"ev\":\"pause\",\"node\":%u", n->id);
        struct sim_event ev = {.generation = n->generation};
        sim_schedule(w, w->now_ns + prng_range(&w->prng, 10, 3000) * SIM_MS, EV_RESUME,
                     n->slot, &ev);
    }
}

/* Disk faults on a running node: its next fdatasync fails with EIO, or its disk fills up
 * (ENOSPC) until the faults heal. Either stops the node (a failed write is sticky) and it
 * comes back through recovery; torn unsynced writes come with every crash already. */
static void fault_disk(struct sim_world *w)
{
    struct sim_node *n = &w->nodes[prng_below(&w->prng, w->cfg.nodes_count)];
    if (n->disk == NULL) {
        return;
    }
    n->disk_faulty = true;
    if (prng_chance(&w->prng, 500000)) {
        disk_sim_fail_syncs(n->disk, 1);
        sim_trace(w, "\"ev\":\"disk_eio\",\"node\":%u", n->id);
    } else {
        disk_sim_set_capacity(n->disk, disk_sim_used_bytes(n->disk) + prng_below(&w->prng, 4096));
        sim_trace(w, "\"ev\":\"disk_full\",\"node\":%u", n->id);
    }
}

static void resume_node(struct sim_world *w, struct sim_node *n)
{
    n->paused = false;
    sim_trace(w, "\"ev\":\"resume\",\"node\":%u", n->id);
    for (size_t i = 0; i < n->held_count; i++) {
        struct sim_event ev = n->held[i];
        sim_schedule(w, w->now_ns, ev.type, ev.node, &ev);
    }
    n->held_count = 0;
    node_tick(w, n); /* the tick chain stopped while paused */
}

static void heal_all(struct sim_world *w)
{
    w->healed = true;
    heal_network(w);
    w->loss_per_million = 0;
    w->dup_per_million = 0;
    w->delay_ns_max = 2 * SIM_MS;
    for (uint32_t i = 0; i < w->cfg.nodes_count; i++) {
        struct sim_node *n = &w->nodes[i];
        if (!n->up) {
            node_start(w, n);
        }
        if (n->paused) {
            resume_node(w, n);
        }
        n->crash_trap = 0;
        if (n->disk != NULL) {
            disk_sim_set_capacity(n->disk, 0);
            disk_sim_fail_syncs(n->disk, 0);
            n->disk_faulty = false;
        }
    }
    sim_trace(w, "\"ev\":\"heal\"");
}

static void on_fault(struct sim_world *w)
{
    if (w->now_ns >= w->cfg.faults_duration_ns) {
        heal_all(w);
        return;
    }
    /* Weights of the enabled fault families; isolation is frequent when chosen on its
     * own and occasional inside the general network menu. */
    uint32_t f = w->cfg.faults;
    uint32_t w_isolate = (f & SIM_FAULT_ISOLATE) ? ((f & SIM_FAULT_NET) ? 1 : 4) : 0;
    uint32_t w_net = (f & SIM_FAULT_NET) ? 4 : 0;
    uint32_t w_crash = (f & SIM_FAULT_CRASH) ? 3 : 0;
    uint32_t w_disk = (f & SIM_FAULT_DISK) ? 1 : 0;
    uint32_t w_transfer = (f & SIM_FAULT_TRANSFER) ? 2 : 0;
    uint32_t total = w_isolate + w_net + w_crash + w_disk + w_transfer;
    if (total > 0) {
        uint64_t roll = prng_below(&w->prng, total);
        if (roll < w_isolate) {
            isolate_leader(w);
        } else if (roll < w_isolate + w_net) {
            fault_net(w);
        } else if (roll < w_isolate + w_net + w_crash) {
            fault_crash(w);
        } else if (roll < w_isolate + w_net + w_crash + w_disk) {
            fault_disk(w);
        } else {
            transfer_start_random(w);
        }
    }
    uint64_t next = w->now_ns + prng_range(&w->prng, 50, 800) * SIM_MS;
    sim_schedule(w, MIN(next, w->cfg.faults_duration_ns), EV_FAULT, 0, NULL);
}

/* ---- dispatch ---- */

static bool node_event_stale(struct sim_world *w, struct sim_event *ev, struct sim_node **out)
{
    struct sim_node *n = &w->nodes[ev->node];
    *out = n;
    if (!n->up || ev->generation != n->generation) {
        return true;
    }
    if (n->paused && ev->type != EV_RESUME) {
        if (ev->type == EV_NODE_TICK) {
            return true; /* the tick chain restarts at resume */
        }
        if (n->held_count == n->held_cap) {
            n->held_cap = n->held_cap != 0 ? n->held_cap * 2 : 64;
            n->held = realloc(n->held, n->held_cap * sizeof *n->held);
            ASSERT(n->held != NULL);
        }
        n->held[n->held_count++] = *ev;
        ev->type = 0; /* ownership moved to the held queue */
        return true;
    }
    return false;
}

static void dispatch(struct sim_world *w, struct sim_event *ev)
{
    sim_digest(w, ev->at_ns, ((uint64_t)ev->type << 32) | ev->node);
    struct sim_node *n = NULL;
    switch (ev->type) {
    case EV_FAULT: on_fault(w); return;
    case EV_MEMBERSHIP: membership_step(w); return;
    case EV_CLIENT_WAKE: client_wake(w, &w->clients[ev->node], ev->u.value); return;
    case EV_CLIENT_REPLY: client_reply(w, &w->clients[ev->node], ev->u.reply); return;
    case EV_RESTART:
        if (!w->nodes[ev->node].up && w->nodes[ev->node].generation == ev->generation) {
            node_start(w, &w->nodes[ev->node]);
        }
        return;
    case EV_RESUME:
        if (w->nodes[ev->node].paused && w->nodes[ev->node].generation == ev->generation) {
            resume_node(w, &w->nodes[ev->node]);
        }
        return;
    default: break;
    }
    if (node_event_stale(w, ev, &n)) {
        return;
    }
    switch (ev->type) {
    case EV_NODE_TICK: node_tick(w, n); break;
    case EV_NET_DELIVER: node_deliver(w, n, ev->u.msg); break;
    case EV_DISK_DONE: node_disk_done(w, n); break;
    case EV_CLIENT_REQUEST:
        node_client_request(w, n, ev->u.request);
        ev->u.request = NULL; /* the node took it */
        break;
    default: UNREACHABLE();
    }
    check_after_step(w, n);
}

/* Lease reads for a quarter of the seeds in MIXED mode, drawn from the seed alone so the
 * run's random stream is the same either way. The lease's drift allowance covers this
 * run's bound: over one election timeout E, a leader clock slow by ppm and a follower
 * clock fast by ppm part by 2*ppm*E; 100 us more covers the clocks' 1 ms steps. */
static void choose_read_mode(struct sim_world *w, uint32_t drift_ppm_max)
{
    bool lease = w->cfg.reads == SIM_READS_LEASE ||
                 (w->cfg.reads == SIM_READS_MIXED && prng_mix64(w->cfg.seed ^ 0x1ea5e) % 4 == 0);
    w->read_mode = lease ? RAFT_READ_LEASE : RAFT_READ_INDEX;
    w->clock_drift_bound_ns = SIM_ELECTION_TIMEOUT_NS * 2 * drift_ppm_max / 1000000 + SIM_MS / 10;
    w->result->lease_reads = lease;
}

static void world_init(struct sim_world *w, const struct sim_config *cfg, struct sim_result *out)
{
    memset(w, 0, sizeof *w);
    memset(out, 0, sizeof *out);
    w->cfg = *cfg;
    w->result = out;
    prng_seed(&w->prng, cfg->seed);
    w->digest = prng_mix64(cfg->seed);
    w->delay_ns_max = 2 * SIM_MS;
    /* Small batches are where commit-ordering bugs hide, so they are drawn often. */
    w->entries_per_message_max = (uint32_t)(prng_chance(&w->prng, 500000)
                                                ? prng_range(&w->prng, 1, 3)
                                                : prng_range(&w->prng, 4, 64));
    w->inflight_messages_max = (uint32_t)prng_range(&w->prng, 1, 16);
    /* Frequent snapshots and small chunks, so that followers often fall behind the
     * leader's compaction and transfers take many chunks that faults can cut. */
    w->snapshot_every_entries = prng_range(&w->prng, 5, 40);
    w->snapshot_trailing_entries = prng_chance(&w->prng, 500000)
                                       ? 0
                                       : prng_below(&w->prng, w->snapshot_every_entries);
    w->snapshot_chunk_bytes_max = (uint32_t)prng_range(&w->prng, 64, 2048);
    w->snapshot_chunks_inflight_max = (uint32_t)prng_range(&w->prng, 1, 4);
    buf_init(&w->scratch, 0);
    check_init(w);
    membership_init(w);
    uint32_t drift_max = (cfg->faults & SIM_FAULT_CLOCK) ? cfg->clock_drift_ppm_max : 0;
    choose_read_mode(w, drift_max);
    for (uint32_t i = 0; i < cfg->nodes_count; i++) {
        struct sim_node *n = &w->nodes[i];
        n->slot = i;
        n->id = i + 1;
        n->clock_offset_ns = (int64_t)prng_below(&w->prng, 1000) * (int64_t)SIM_MS;
        n->drift_ppm = drift_max != 0 ? (int32_t)prng_below(&w->prng, 2 * drift_max + 1) -
                                            (int32_t)drift_max
                                      : 0;
        node_start(w, n);
    }
    for (uint32_t i = 0; i < cfg->clients_count; i++) {
        w->clients[i].index = i;
        client_start(w, &w->clients[i]);
    }
    if (w->membership) {
        sim_schedule(w, prng_range(&w->prng, 200, 1000) * SIM_MS, EV_MEMBERSHIP, 0, NULL);
    }
    if (cfg->faults != 0) {
        sim_schedule(w, prng_range(&w->prng, 100, 1000) * SIM_MS, EV_FAULT, 0, NULL);
    } else {
        w->healed = true;
    }
}

static void world_free(struct sim_world *w)
{
    while (w->heap.count > 0) {
        struct sim_event ev = heap_pop(&w->heap);
        event_free(&ev);
    }
    free(w->heap.items);
    for (uint32_t i = 0; i < w->cfg.nodes_count; i++) {
        node_free(&w->nodes[i]);
    }
    check_free(w);
    buf_free(&w->scratch);
}

bool sim_run(const struct sim_config *cfg, struct sim_result *out)
{
    ASSERT(cfg->nodes_count >= 1 && cfg->nodes_count <= SIM_NODES_MAX);
    ASSERT(cfg->clients_count >= 1 && cfg->clients_count <= SIM_CLIENTS_MAX);
    struct sim_world *w = calloc(1, sizeof *w);
    ASSERT(w != NULL);
    world_init(w, cfg, out);
    uint64_t deadline = cfg->faults_duration_ns + cfg->progress_bound_ns;
    uint64_t settle_until = UINT64_MAX;
    while (w->heap.count > 0 && !w->failed) {
        struct sim_event ev = heap_pop(&w->heap);
        if (ev.at_ns > deadline || ev.at_ns > settle_until) {
            event_free(&ev);
            break;
        }
        w->now_ns = ev.at_ns;
        w->result->events_count++;
        dispatch(w, &ev);
        event_free(&ev);
        if (w->healed && clients_done(w) && settle_until == UINT64_MAX) {
            /* Let the healed cluster settle so every replica learns the last commits. */
            settle_until = w->now_ns + SIM_SETTLE_NS;
        }
    }
    if (!w->failed && !clients_done(w)) {
        sim_fail(w, "progress", "%u of %u operations unfinished %.1f s after faults healed",
                 cfg->ops_count - w->ops_finished, cfg->ops_count,
                 (double)cfg->progress_bound_ns / 1e9);
    }
    client_finish_run(w);
    w->result->commits = w->applied_max;
    for (uint32_t i = 0; i < cfg->nodes_count && cfg->verbose; i++) {
        struct sim_node *n = &w->nodes[i];
        if (n->up) {
            fprintf(stderr, "node %u: %s term %llu leader %u commit %llu applied %llu persisted "
                    "%llu last %llu\n", n->id, raft_role_name(raft_role(n->raft)),
                    (unsigned long long)raft_term(n->raft), raft_leader(n->raft),
                    (unsigned long long)raft_commit_index(n->raft),
                    (unsigned long long)raft_applied_index(n->raft),
                    (unsigned long long)raft_persisted_index(n->raft),
                    (unsigned long long)raft_last_index(n->raft));
            const struct raft_config *c = raft_configuration(n->raft);
            fprintf(stderr, "  config at %llu:", (unsigned long long)raft_configuration_index(n->raft));
            for (uint32_t k = 0; k < c->voters_count; k++) {
                fprintf(stderr, " v%u", c->voters[k]);
            }
            for (uint32_t k = 0; k < c->voters_old_count; k++) {
                fprintf(stderr, " old%u", c->voters_old[k]);
            }
            for (uint32_t k = 0; k < c->learners_count; k++) {
                fprintf(stderr, " l%u", c->learners[k]);
            }
            fprintf(stderr, "; vote barrier %llu\n", (unsigned long long)raft_vote_barrier(n->raft));
        }
    }
    if (!w->failed) {
        check_final(w);
    }
    out->ok = !w->failed;
    out->trace_digest = w->digest;
    out->virtual_ns = w->now_ns;
    world_free(w);
    free(w);
    return out->ok;
}
