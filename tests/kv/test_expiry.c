/* Determinism of expiry: relative times are fixed at prepare, application uses only the
 * log clock, and reads never change state. */
#include "kv_test.h"
#include "proto/chorus.pb-c.h"

TEST(prepare_turns_relative_expiry_into_absolute_pxat)
{
    struct kvt t;
    kvt_init(&t);
    t.now_ms = 5000;
    kvt_do(&t, "SET k v EX 10 NX");
    Chorus__Command *m = chorus__command__unpack(NULL, t.entry.len, t.entry.data);
    CHECK(m != NULL);
    CHECK_EQ(m->now_ms, 5000);
    CHECK_EQ(m->n_argv, 6);
    CHECK(m->argv[3].len == 2 && memcmp(m->argv[3].data, "NX", 2) == 0);
    CHECK(m->argv[4].len == 4 && memcmp(m->argv[4].data, "PXAT", 4) == 0);
    CHECK(m->argv[5].len == 5 && memcmp(m->argv[5].data, "15000", 5) == 0);
    chorus__command__free_unpacked(m, NULL);
    kvt_do(&t, "EXPIRE k 3");
    m = chorus__command__unpack(NULL, t.entry.len, t.entry.data);
    CHECK(m != NULL && m->n_argv == 3);
    CHECK(m->argv[0].len == 9 && memcmp(m->argv[0].data, "PEXPIREAT", 9) == 0);
    CHECK(m->argv[2].len == 4 && memcmp(m->argv[2].data, "8000", 4) == 0);
    chorus__command__free_unpacked(m, NULL);
    kvt_free(&t);
}

TEST(same_entries_give_same_state_whenever_they_are_applied)
{
    /* The leader prepares at 1000; replica B applies the entries much later in real
     * time, after its own clock moved on: nothing in apply may notice. */
    struct kvt a, b;
    kvt_init(&a);
    kvt_init(&b);
    a.now_ms = 1000;
    const char *lines[] = {"SET k v PX 500", "EXPIRE k 2", "SET j v EX 1", "PEXPIRE j 100"};
    for (size_t i = 0; i < ARRAY_COUNT(lines); i++) {
        kvt_do(&a, lines[i]);
        buf_reset(&b.entry);
        buf_put(&b.entry, a.entry.data, a.entry.len);
        b.now_ms = 999999999; /* B's local clock: irrelevant to apply */
        kvt_apply_entry(&b);
        CHECK_REPLY(b.out, a.out);
    }
    CHECK_EQ(kv_digest(a.s), kv_digest(b.s));
    a.now_ms = b.now_ms = 1050;
    CHECK_REPLY(kvt_read(&a, "PTTL j"), "(integer) 50");
    CHECK_REPLY(kvt_read(&b, "PTTL j"), "(integer) 50");
    CHECK_REPLY(kvt_read(&b, "PTTL k"), "(integer) 1950");
    kvt_free(&a);
    kvt_free(&b);
}

TEST(expiry_and_reads_are_judged_by_the_log_clock_which_never_goes_back)
{
    struct kvt t;
    kvt_init(&t);
    t.now_ms = 1000;
    kvt_do(&t, "SET k v PX 100");
    t.now_ms = 2000;
    kvt_do(&t, "GET other");
    t.now_ms = 1050; /* a new leader, or a replica reading locally, whose clock lags */
    CHECK_REPLY(kvt_read(&t, "GET k"), "(nil)");
    CHECK_REPLY(kvt_read(&t, "PTTL k"), "(integer) -2");
    CHECK_REPLY(kvt_do(&t, "GET k"), "(nil)");
    CHECK_REPLY(kvt_do(&t, "INCR k"), "(integer) 1"); /* the expired value is gone */
    CHECK_EQ(kv_log_clock_ms(t.s), 2000);
    kvt_free(&t);
}

TEST(reads_do_not_change_state_even_on_expired_keys)
{
    struct kvt t;
    kvt_init(&t);
    t.now_ms = 1000;
    kvt_do(&t, "SET k v PX 10");
    kvt_do(&t, "RPUSH l a b");
    uint64_t before = kv_digest(t.s);
    struct kv_stats st;
    kv_stats(t.s, &st);
    t.now_ms = 5000;
    const char *reads[] = {"GET k", "MGET k l", "EXISTS k", "STRLEN k", "TTL k", "PTTL k",
                           "TYPE k", "DBSIZE", "LRANGE l 0 -1", "LLEN l", "HGET h f",
                           "HGETALL h", "HLEN h", "SCAN 0"};
    for (size_t i = 0; i < ARRAY_COUNT(reads); i++) {
        kvt_read(&t, reads[i]);
        CHECK(!kv_reply_is_error(&t.reply));
    }
    CHECK_REPLY(kvt_read(&t, "GET k"), "(nil)");
    CHECK_REPLY(kvt_read(&t, "DBSIZE"), "(integer) 1");
    CHECK_EQ(kv_digest(t.s), before);
    struct kv_stats after;
    kv_stats(t.s, &after);
    CHECK_EQ(after.keys_count, st.keys_count);
    kvt_free(&t);
}

TEST(expired_keys_are_swept_at_fixed_indexes)
{
    struct kvt t;
    kvt_init(&t);
    kvt_do(&t, "SET k v PX 10");
    t.now_ms += 100;
    struct kv_stats st;
    kv_stats(t.s, &st);
    CHECK_EQ(st.keys_count, 1);
    while (t.index + 1 < 1024) {
        kvt_do(&t, "GET x");
    }
    kv_stats(t.s, &st);
    CHECK_EQ(st.keys_count, 1);
    kvt_do(&t, "GET x"); /* index 1024 */
    kv_stats(t.s, &st);
    CHECK_EQ(st.keys_count, 0);
    CHECK_EQ(st.memory_bytes, 0);
    kvt_free(&t);
}

TEST(sweep_is_not_skipped_when_the_multiple_index_is_not_a_command)
{
    struct kvt t;
    kvt_init(&t);
    kvt_do(&t, "SET k v PX 10");
    t.now_ms += 100;
    t.index = 1020;
    kvt_do(&t, "GET x"); /* index 1021 */
    t.index = 1030;      /* 1022..1030 were no-ops and configurations */
    kvt_do(&t, "GET x");
    struct kv_stats st;
    kv_stats(t.s, &st);
    CHECK_EQ(st.keys_count, 0);
    kvt_free(&t);
}
