/* The memory cap: a write that could pass it gets -OOM and changes nothing; deletions and
 * reads still work; accounting is a function of content, so replicas agree. */
#include "kv_test.h"

#define OOM_REPLY "(error) OOM command not allowed when used memory > 'maxmemory'."

TEST(write_past_the_cap_is_refused_and_changes_nothing)
{
    struct kv_config cfg = {.memory_bytes_max = 2000};
    struct kvt t;
    kvt_init_cfg(&t, &cfg);
    int ok = 0;
    for (int i = 0; i < 100; i++) {
        char line[64];
        snprintf(line, sizeof line, "SET key%d value%d", i, i);
        const char *r = kvt_do(&t, line);
        if (strcmp(r, "OK") != 0) {
            CHECK_REPLY(r, OOM_REPLY);
            break;
        }
        ok++;
    }
    CHECK(ok > 3 && ok < 100);
    struct kv_stats st;
    kv_stats(t.s, &st);
    CHECK(st.memory_bytes <= cfg.memory_bytes_max);
    CHECK_EQ(st.oom_refusals, 1);
    CHECK_EQ(st.keys_count, (size_t)ok);
    char line[64];
    snprintf(line, sizeof line, "EXISTS key%d", ok);
    CHECK_REPLY(kvt_read(&t, line), "(integer) 0");
    /* Reads, DEL and pops still work at the cap, and free room. */
    CHECK_REPLY(kvt_do(&t, "GET key0"), "\"value0\"");
    CHECK_REPLY(kvt_do(&t, "DEL key0 key1 key2"), "(integer) 3");
    CHECK_REPLY(kvt_do(&t, "SET again v"), "OK");
    kvt_free(&t);
}

TEST(oom_refused_exec_runs_nothing)
{
    struct kv_config cfg = {.memory_bytes_max = 1000};
    struct kvt t;
    kvt_init_cfg(&t, &cfg);
    CHECK_REPLY(kvt_do(&t, "SET a 1"), "OK");
    struct kvt_args a1, a2;
    kvt_split(&a1, "INCR a");
    kvt_split(&a2, "SET big 0123456789012345678901234567890123456789012345678901234567890123456789"
                    "012345678901234567890123456789012345678901234567890123456789012345678901234"
                    "56789012345678901234567890123456789012345678901234567890123456789012345678"
                    "90123456789012345678901234567890123456789012345678901234567890123456789012"
                    "3456789012345678901234567890123456789012345678901234567890123456789");
    struct kv_argv cmds[2] = {a1.cmd, a2.cmd};
    buf_reset(&t.entry);
    CHECK_EQ(kv_prepare_multi(kv_config_of(t.s), t.now_ms, NULL, cmds, 2, NULL, 0, &t.entry, &t.reply), 0);
    CHECK_REPLY(kvt_apply_entry(&t), OOM_REPLY);
    CHECK_REPLY(kvt_read(&t, "GET a"), "\"1\"");
    kvt_free(&t);
}

TEST(expired_keys_are_reclaimed_before_refusing)
{
    struct kv_config cfg = {.memory_bytes_max = 600};
    struct kvt t;
    kvt_init_cfg(&t, &cfg);
    CHECK_REPLY(kvt_do(&t, "SET a 0123456789012345678901234567890123456789 PX 10"), "OK");
    CHECK_REPLY(kvt_do(&t, "SET b 0123456789012345678901234567890123456789 PX 10"), "OK");
    CHECK_REPLY(kvt_do(&t, "SET c 0123456789012345678901234567890123456789"), OOM_REPLY);
    t.now_ms += 100;
    CHECK_REPLY(kvt_do(&t, "SET c 0123456789012345678901234567890123456789"), "OK");
    struct kv_stats st;
    kv_stats(t.s, &st);
    CHECK_EQ(st.keys_count, 1);
    kvt_free(&t);
}

TEST(accounting_is_the_same_after_a_snapshot_reload)
{
    struct kvt a, b;
    kvt_init(&a);
    kvt_init(&b);
    for (int i = 0; i < 100; i++) {
        char line[64];
        snprintf(line, sizeof line, "RPUSH l%d a b c", i % 7);
        kvt_do(&a, line);
        snprintf(line, sizeof line, "HSET h%d f%d v", i % 5, i);
        kvt_do(&a, line);
        if (i % 3 == 0) {
            snprintf(line, sizeof line, "DEL l%d h%d", i % 7, i % 5);
            kvt_do(&a, line);
        }
    }
    struct buf snap;
    buf_init(&snap, 0);
    CHECK_EQ(kv_snapshot_write(a.s, &snap), 0);
    CHECK_EQ(kv_snapshot_load(b.s, snap.data, snap.len), 0);
    struct kv_stats sa, sb;
    kv_stats(a.s, &sa);
    kv_stats(b.s, &sb);
    CHECK(sa.memory_bytes > 0);
    CHECK_EQ(sa.memory_bytes, sb.memory_bytes);
    buf_free(&snap);
    kvt_free(&a);
    kvt_free(&b);
}
