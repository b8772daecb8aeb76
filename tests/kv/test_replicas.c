/* Replicas agree: a seeded random workload (every command family, sessions with retries,
 * MULTI with WATCH, time moving, a small memory cap) is applied to one store, while a
 * second store is repeatedly rebuilt from the first's snapshot and continues from there.
 * Every reply must be byte-identical and every digest equal. */
#include "base/prng.h"
#include "kv_test.h"

#define WORKLOAD_STEPS 4000

static const char *const workload_keys[] = {"a", "b", "c", "l", "h", "n"};

static void random_line(struct prng *p, char *line, size_t cap)
{
    const char *k = workload_keys[prng_below(p, ARRAY_COUNT(workload_keys))];
    unsigned v = (unsigned)prng_below(p, 1000);
    switch (prng_below(p, 16)) {
    case 0: snprintf(line, cap, "SET %s v%u", k, v); break;
    case 1: snprintf(line, cap, "SET %s v%u PX %u", k, v, 1 + v % 50); break;
    case 2: snprintf(line, cap, "INCRBY %s %u", k, v); break;
    case 3: snprintf(line, cap, "APPEND %s x%u", k, v); break;
    case 4: snprintf(line, cap, "DEL %s %s", k, workload_keys[v % 6]); break;
    case 5: snprintf(line, cap, "RPUSH %s e%u f%u", k, v, v + 1); break;
    case 6: snprintf(line, cap, "LPOP %s %u", k, v % 3); break;
    case 7: snprintf(line, cap, "HSET %s f%u v%u", k, v % 7, v); break;
    case 8: snprintf(line, cap, "HDEL %s f%u", k, v % 7); break;
    case 9: snprintf(line, cap, "HGETALL %s", k); break;
    case 10: snprintf(line, cap, "EXPIRE %s %u", k, v % 3); break;
    case 11: snprintf(line, cap, "SCAN 0 COUNT %u", 1 + v % 4); break;
    case 12: snprintf(line, cap, "LRANGE %s 0 -1", k); break;
    case 13: snprintf(line, cap, "MSET %s %u b %u", k, v, v); break;
    case 14: snprintf(line, cap, "PERSIST %s", k); break;
    default: snprintf(line, cap, "GET %s", k); break;
    }
}

struct pair {
    struct kvt a, b;
    struct prng p;
    uint64_t client, seq;
};

/* Applies a's last entry to b and checks both answered and ended alike. */
static void mirror(struct pair *w)
{
    buf_reset(&w->b.entry);
    buf_put(&w->b.entry, w->a.entry.data, w->a.entry.len);
    w->b.index = w->a.index - 1;
    kvt_apply_entry(&w->b);
    CHECK_EQ(w->a.reply.bytes.len, w->b.reply.bytes.len);
    CHECK(memcmp(w->a.reply.bytes.data, w->b.reply.bytes.data, w->a.reply.bytes.len) == 0);
    CHECK_EQ(kv_digest(w->a.s), kv_digest(w->b.s));
}

static void rebuild_b_from_snapshot(struct pair *w)
{
    struct buf snap;
    buf_init(&snap, 0);
    CHECK_EQ(kv_snapshot_write(w->a.s, &snap), 0);
    kv_destroy(w->b.s);
    w->b.s = kv_create(kv_config_of(w->a.s));
    CHECK_EQ(kv_snapshot_load(w->b.s, snap.data, snap.len), 0);
    CHECK_EQ(kv_digest(w->a.s), kv_digest(w->b.s));
    buf_free(&snap);
}

static void step_multi(struct pair *w)
{
    struct kvt_args args[3];
    struct kv_argv cmds[3];
    char lines[3][128];
    for (int i = 0; i < 3; i++) {
        random_line(&w->p, lines[i], sizeof lines[i]);
        kvt_split(&args[i], lines[i]);
        cmds[i] = args[i].cmd;
    }
    struct kv_watch watch = {(const uint8_t *)"a", 1, 0};
    watch.version = kv_key_version(w->a.s, w->a.now_ms, watch.key, 1);
    if (prng_chance(&w->p, 300000)) {
        kvt_do(&w->a, "SET a changed");
        mirror(w);
    }
    struct kv_client c = {w->client, ++w->seq, w->seq};
    buf_reset(&w->a.entry);
    if (kv_prepare_multi(kv_config_of(w->a.s), w->a.now_ms, &c, cmds, 3, &watch, 1, &w->a.entry,
                         &w->a.reply) == 0) {
        kvt_apply_entry(&w->a);
        mirror(w);
    }
}

static void step(struct pair *w)
{
    uint64_t dice = prng_below(&w->p, 100);
    w->a.now_ms += prng_below(&w->p, 20);
    if (dice < 5) {
        step_multi(w);
        return;
    }
    if (dice < 8 && w->a.entry.len > 0) {
        kvt_apply_entry(&w->a); /* a retried proposal */
        mirror(w);
        return;
    }
    char line[128];
    random_line(&w->p, line, sizeof line);
    struct kv_client c = {w->client, ++w->seq, w->seq};
    uint64_t applied = kv_applied_index(w->a.s);
    kvt_client_do(&w->a, dice < 60 ? &c : NULL, line);
    if (kv_applied_index(w->a.s) != applied) {
        mirror(w);
    }
}

TEST(snapshot_restored_replica_answers_like_the_original)
{
    struct kv_config cfg = {.memory_bytes_max = 1200, .session_replies_count_max = 8};
    struct pair w;
    kvt_init_cfg(&w.a, &cfg);
    kvt_init_cfg(&w.b, &cfg);
    prng_seed(&w.p, 42);
    w.client = kvt_register(&w.a);
    mirror(&w);
    w.seq = 0;
    int rebuilds = 0;
    for (int i = 0; i < WORKLOAD_STEPS; i++) {
        uint64_t applied = kv_applied_index(w.a.s);
        step(&w);
        if (kv_applied_index(w.a.s) != applied && prng_chance(&w.p, 20000)) {
            rebuild_b_from_snapshot(&w);
            rebuilds++;
        }
    }
    struct kv_stats st;
    kv_stats(w.a.s, &st);
    CHECK(st.keys_count > 0);
    CHECK(st.duplicates > 0);
    CHECK(st.oom_refusals > 0);
    CHECK(rebuilds > 10);
    kvt_free(&w.a);
    kvt_free(&w.b);
}
