/* Seed sweep: random sequences of appends, syncs, truncations, term/vote saves,
 * snapshots and compactions on a simulated disk that fails fsyncs with EIO, runs out of
 * space and crashes at random moments keeping a random torn part of what was unsynced.
 * After every crash the recovered log is checked against the model (log_model.h): a
 * state written since the last durability point, nothing synced lost, term/vote and
 * snapshot old or new, no false corruption. A failed fsync must leave the log refusing
 * writes until the restart. */
#include "log_model.h"

#define SEEDS_COUNT 2000
#define ROUNDS_COUNT 6
#define STEPS_PER_ROUND 25

struct sweep {
    struct prng prng; /* drives the workload; the disk has its own */
    struct model m;
    uint64_t term;
};

static struct step next_step(struct sweep *w, const struct log *l)
{
    struct model *m = &w->m;
    uint64_t first = log_first_index(l), last = m->cur.last;
    uint32_t dice = (uint32_t)prng_below(&w->prng, 100);
    if (m->window_count + 2 >= WINDOW_MAX) {
        return (struct step){S_SYNC, 0, 0, 0};
    }
    if (dice < 45 && last + 6 < INDEX_MAX) {
        uint64_t n = prng_range(&w->prng, 1, 5);
        return (struct step){S_APPEND, last + 1, last + n, w->term};
    }
    if (dice < 70) {
        return (struct step){S_SYNC, 0, 0, 0};
    }
    if (dice < 78 || last + 6 >= INDEX_MAX) {
        uint64_t lo = MAX(first, m->snap[0] + 1);
        if (lo <= last) {
            return (struct step){S_TRUNC, prng_range(&w->prng, lo, last), 0, 0};
        }
    }
    if (dice < 85) {
        w->term += prng_below(&w->prng, 2);
        return (struct step){S_TERMVOTE, w->term, prng_below(&w->prng, 4), 0};
    }
    if (dice < 93 && m->durable > m->snap[0]) {
        uint64_t index = prng_range(&w->prng, m->snap[0] + 1, m->durable);
        return (struct step){S_SNAP, index, m->cur.term[index], 0};
    }
    return (struct step){S_COMPACT, m->snap[0], 0, 0};
}

/* Restarts the model from what recovery found. */
static void model_restart(struct model *m, struct log *l, const struct log_recovery *rep)
{
    m->cur.last = log_last_index(l);
    for (uint64_t i = log_first_index(l); i <= m->cur.last; i++) {
        m->cur.term[i] = log_term_at(l, i);
    }
    m->durable = log_last_index(l);
    window_reset(m);
    m->tv[0] = m->tv_pending[0] = rep->term;
    m->tv[1] = m->tv_pending[1] = rep->vote;
    m->snap[0] = m->snap_pending[0] = rep->snapshot_index;
    m->snap[1] = m->snap_pending[1] = rep->snapshot_term;
}

/* One round of random steps; returns false when the log failed and must restart. */
static bool run_round(struct sweep *w, struct log *l, const char **why)
{
    for (int i = 0; i < STEPS_PER_ROUND; i++) {
        struct step s = next_step(w, l);
        int rc = run_step(l, &w->m, &s);
        log_check_invariants(l);
        if (rc == ERR_NOSPACE && log_failed(l) == 0) {
            continue; /* a clean error: nothing changed, carry on */
        }
        if (rc != 0) {
            /* Sticky: nothing may be written any more, whatever the disk would do now. */
            if (log_failed(l) == 0 || log_sync(l, NULL) == 0 || log_set_term_vote(l, 99, 9) == 0) {
                *why = "a failed fsync was not sticky";
            }
            return false;
        }
    }
    return true;
}

static const char *run_seed(uint64_t seed)
{
    struct sweep w = {.term = 1};
    struct tdisk t;
    struct disk_sim_config dcfg = {0, 20000, 0}; /* 2% of fsyncs fail */
    struct log_config cfg = {200, LOG_MUTANT_NONE};
    struct log_recovery rep;
    struct log *l = NULL;
    const char *why = NULL;
    prng_seed(&w.prng, seed);
    tdisk_init(&t, seed * 7919, &dcfg);
    memset(&w.m, 0, sizeof w.m);
    window_reset(&w.m);
    int rc = log_open(&l, t.disk, &cfg, &rep);
    for (int tries = 0; rc == ERR_IO && tries < 10; tries++) {
        rc = log_open(&l, t.disk, &cfg, &rep);
    }
    if (rc != 0) {
        return "first open failed";
    }
    for (int round = 0; round < ROUNDS_COUNT && why == NULL; round++) {
        uint64_t used = disk_sim_used_bytes(t.sim);
        disk_sim_set_capacity(t.sim, prng_below(&w.prng, 4) == 0 ? used + prng_below(&w.prng, 2000) : 0);
        (void)run_round(&w, l, &why);
        log_close(l);
        disk_sim_crash(t.sim, DISK_SIM_CRASH_RANDOM);
        disk_sim_set_capacity(t.sim, 0);
        disk_sim_fail_syncs(t.sim, 0);
        l = NULL;
        /* Recovery itself may meet a failing fsync; a restart after that must work. */
        rc = log_open(&l, t.disk, &cfg, &rep);
        for (int tries = 0; rc == ERR_IO && tries < 10; tries++) {
            rc = log_open(&l, t.disk, &cfg, &rep);
        }
        if (rc != 0) {
            return "recovery failed";
        }
        log_check_invariants(l);
        why = why != NULL ? why : check_recovered(l, &rep, &w.m);
        model_restart(&w.m, l, &rep);
        w.term = MAX(w.term, rep.term);
    }
    log_close(l);
    tdisk_free(&t);
    return why;
}

TEST(random_workloads_with_eio_enospc_and_crashes_keep_every_promise)
{
    size_t failures = 0;
    for (uint64_t seed = 1; seed <= SEEDS_COUNT; seed++) {
        const char *why = run_seed(seed);
        if (why != NULL && failures++ < 5) {
            printf("    seed %" PRIu64 ": %s\n", seed, why);
        }
    }
    CHECK_EQ(failures, 0);
}
