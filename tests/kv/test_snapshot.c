/* Snapshots: a round trip gives an equal state (digest, bytes, later behaviour), and
 * every truncation or corruption is rejected with the store left unchanged. */
#include "kv_test.h"

static void populate(struct kvt *t)
{
    uint64_t id = kvt_register(t);
    struct kv_client c = {id, 1, 1};
    kvt_client_do(t, &c, "INCR counter");
    c.seq = 2;
    kvt_client_do(t, &c, "MGET counter nope");
    kvt_do(t, "SET s hello EX 100");
    kvt_do(t, "RPUSH l a b c");
    kvt_do(t, "LPUSH l z");
    kvt_do(t, "HSET h f1 v1 f2 v2");
    kvt_do(t, "SET gone x");
    kvt_do(t, "DEL gone");
    kvt_do(t, "SET short x PX 1");
}

TEST(snapshot_round_trip_gives_equal_digest_and_bytes)
{
    struct kvt a, b;
    kvt_init(&a);
    kvt_init(&b);
    populate(&a);
    struct buf snap, again;
    buf_init(&snap, 0);
    buf_init(&again, 0);
    CHECK_EQ(kv_snapshot_write(a.s, &snap), 0);
    CHECK_EQ(kv_snapshot_load(b.s, snap.data, snap.len), 0);
    kv_check_invariants(b.s);
    CHECK_EQ(kv_digest(a.s), kv_digest(b.s));
    CHECK_EQ(kv_applied_index(b.s), kv_applied_index(a.s));
    CHECK_EQ(kv_snapshot_write(b.s, &again), 0);
    CHECK_EQ(again.len, snap.len);
    CHECK(memcmp(again.data, snap.data, snap.len) == 0);
    /* Both continue identically, including the session's duplicate answer. */
    b.index = a.index;
    b.now_ms = a.now_ms;
    struct kv_client c = {1, 1, 1};
    CHECK_REPLY(kvt_client_do(&b, &c, "INCR counter"), "(integer) 1");
    CHECK_REPLY(kvt_client_do(&a, &c, "INCR counter"), "(integer) 1");
    CHECK_REPLY(kvt_do(&b, "LRANGE l 0 -1"), "[\"z\",\"a\",\"b\",\"c\"]");
    CHECK_REPLY(kvt_do(&a, "LRANGE l 0 -1"), "[\"z\",\"a\",\"b\",\"c\"]");
    CHECK_REPLY(kvt_do(&b, "TTL s"), "(integer) 100");
    kvt_do(&a, "TTL s");
    CHECK_EQ(kv_digest(a.s), kv_digest(b.s));
    buf_free(&snap);
    buf_free(&again);
    kvt_free(&a);
    kvt_free(&b);
}

TEST(snapshot_load_rejects_every_truncation_and_bit_flip_and_keeps_the_store)
{
    struct kvt a, b;
    kvt_init(&a);
    kvt_init(&b);
    populate(&a);
    kvt_do(&b, "SET mine 1");
    uint64_t digest = kv_digest(b.s);
    struct buf snap;
    buf_init(&snap, 0);
    CHECK_EQ(kv_snapshot_write(a.s, &snap), 0);
    for (size_t n = 0; n < snap.len; n++) {
        CHECK(kv_snapshot_load(b.s, snap.data, n) != 0);
    }
    for (size_t i = 0; i < snap.len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            snap.data[i] ^= (uint8_t)(1u << bit);
            CHECK(kv_snapshot_load(b.s, snap.data, snap.len) != 0);
            snap.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    CHECK_EQ(kv_digest(b.s), digest);
    CHECK_REPLY(kvt_read(&b, "GET mine"), "\"1\"");
    buf_put_u8(&snap, 0);
    CHECK_EQ(kv_snapshot_load(b.s, snap.data, snap.len), ERR_MALFORMED);
    buf_free(&snap);
    kvt_free(&a);
    kvt_free(&b);
}

TEST(snapshot_load_reports_specific_errors)
{
    struct kvt a;
    kvt_init(&a);
    populate(&a);
    struct buf snap;
    buf_init(&snap, 0);
    CHECK_EQ(kv_snapshot_write(a.s, &snap), 0);
    CHECK_EQ(kv_snapshot_load(a.s, snap.data, 3), ERR_TRUNCATED);
    CHECK_EQ(kv_snapshot_load(a.s, snap.data, snap.len - 1), ERR_TRUNCATED);
    snap.data[0] ^= 1;
    CHECK_EQ(kv_snapshot_load(a.s, snap.data, snap.len), ERR_MAGIC);
    snap.data[0] ^= 1;
    snap.data[4] = 9;
    CHECK_EQ(kv_snapshot_load(a.s, snap.data, snap.len), ERR_VERSION);
    snap.data[4] = 1;
    snap.data[30] ^= 0x40;
    CHECK_EQ(kv_snapshot_load(a.s, snap.data, snap.len), ERR_CHECKSUM);
    snap.data[30] ^= 0x40;
    CHECK_EQ(kv_snapshot_load(a.s, snap.data, snap.len), 0);
    buf_free(&snap);
    kvt_free(&a);
}

TEST(snapshot_larger_than_the_memory_cap_is_refused)
{
    struct kvt a, b;
    kvt_init(&a);
    struct kv_config small = {.memory_bytes_max = 200};
    kvt_init_cfg(&b, &small);
    kvt_do(&a, "SET k 0123456789012345678901234567890123456789");
    kvt_do(&a, "SET j 0123456789012345678901234567890123456789");
    struct buf snap;
    buf_init(&snap, 0);
    CHECK_EQ(kv_snapshot_write(a.s, &snap), 0);
    CHECK_EQ(kv_snapshot_load(b.s, snap.data, snap.len), ERR_TOO_LARGE);
    CHECK_EQ(kv_applied_index(b.s), 0);
    buf_free(&snap);
    kvt_free(&a);
    kvt_free(&b);
}

TEST(empty_store_snapshot_round_trips)
{
    struct kvt a, b;
    kvt_init(&a);
    kvt_init(&b);
    struct buf snap;
    buf_init(&snap, 0);
    CHECK_EQ(kv_snapshot_write(a.s, &snap), 0);
    CHECK_EQ(kv_snapshot_load(b.s, snap.data, snap.len), 0);
    CHECK_EQ(kv_digest(a.s), kv_digest(b.s));
    buf_free(&snap);
    kvt_free(&a);
    kvt_free(&b);
}

TEST(digest_differs_when_state_differs)
{
    struct kvt a, b;
    kvt_init(&a);
    kvt_init(&b);
    kvt_do(&a, "SET k v");
    kvt_do(&b, "SET k w");
    CHECK(kv_digest(a.s) != kv_digest(b.s));
    kvt_do(&a, "HSET h a 1 b 2");
    kvt_do(&b, "HSET h a 2 b 1");
    CHECK(kv_digest(a.s) != kv_digest(b.s));
    kvt_free(&a);
    kvt_free(&b);
}
