/* Exactly-once client sessions (Raft thesis §6.3): registration, duplicate suppression,
 * refusal of unknown sessions, expiry by log time, and the bounded reply cache. */
#include "kv_test.h"
#include "proto/chorus.pb-c.h"

static const char *session_do(struct kvt *t, uint64_t id, uint64_t seq, uint64_t ack,
                              const char *line)
{
    struct kv_client c = {id, seq, ack};
    return kvt_client_do(t, &c, line);
}

TEST(register_returns_the_entry_index_as_client_id)
{
    struct kvt t;
    kvt_init(&t);
    kvt_do(&t, "SET a 1");
    uint64_t id = kvt_register(&t);
    CHECK_EQ(id, 2);
    CHECK_EQ(kvt_register(&t), 3);
    struct kv_stats st;
    kv_stats(t.s, &st);
    CHECK_EQ(st.sessions_count, 2);
    kvt_free(&t);
}

TEST(duplicate_command_returns_cached_reply_without_reapplying)
{
    struct kvt t;
    kvt_init(&t);
    uint64_t id = kvt_register(&t);
    CHECK_REPLY(session_do(&t, id, 1, 1, "INCR n"), "(integer) 1");
    /* The client retries: the same entry is proposed and committed again. */
    CHECK_REPLY(kvt_apply_entry(&t), "(integer) 1");
    CHECK_REPLY(kvt_apply_entry(&t), "(integer) 1");
    CHECK_REPLY(kvt_read(&t, "GET n"), "\"1\"");
    CHECK_REPLY(session_do(&t, id, 2, 1, "INCR n"), "(integer) 2");
    /* Even an error reply is answered once and cached. */
    CHECK_REPLY(session_do(&t, id, 3, 1, "LPUSH n x"),
                "(error) WRONGTYPE Operation against a key holding the wrong kind of value");
    CHECK_REPLY(kvt_apply_entry(&t),
                "(error) WRONGTYPE Operation against a key holding the wrong kind of value");
    struct kv_stats st;
    kv_stats(t.s, &st);
    CHECK_EQ(st.duplicates, 3);
    kvt_free(&t);
}

TEST(unknown_client_is_refused_and_not_applied)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(session_do(&t, 77, 1, 1, "SET k v"),
                "(error) SESSIONEXPIRED unknown or expired client session");
    CHECK_REPLY(kvt_read(&t, "EXISTS k"), "(integer) 0");
    struct kv_stats st;
    kv_stats(t.s, &st);
    CHECK_EQ(st.session_refusals, 1);
    kvt_free(&t);
}

TEST(session_expires_by_log_time_not_local_time)
{
    struct kv_config cfg = {.session_timeout_ms = 1000};
    struct kvt t;
    kvt_init_cfg(&t, &cfg);
    uint64_t id = kvt_register(&t);
    t.now_ms += 900;
    CHECK_REPLY(session_do(&t, id, 1, 1, "SET k 1"), "OK"); /* activity renews */
    t.now_ms += 900;
    kvt_do(&t, "GET x");                                      /* log time moves on */
    CHECK_REPLY(session_do(&t, id, 2, 1, "SET k 2"), "OK");
    /* A leader with a clock far behind cannot keep it alive: log time is a maximum. */
    t.now_ms += 5000;
    kvt_do(&t, "GET x");
    t.now_ms -= 4500;
    CHECK_REPLY(session_do(&t, id, 3, 1, "SET k 3"),
                "(error) SESSIONEXPIRED unknown or expired client session");
    CHECK_REPLY(kvt_read(&t, "GET k"), "\"2\"");
    kvt_free(&t);
}

#define EVICTED_REPLY "(error) EVICTED the reply to this request was discarded from the session"

/* Registers a session and runs INCR n as its seqs 1, 2, 3 (the third acking ack3);
 * first receives seq 1's entry for a late retry. */
static void three_increments(struct kvt *t, uint64_t ack3, struct buf *first)
{
    uint64_t id = kvt_register(t);
    CHECK_REPLY(session_do(t, id, 1, 1, "INCR n"), "(integer) 1");
    buf_init(first, 0);
    buf_put(first, t->entry.data, t->entry.len);
    CHECK_REPLY(session_do(t, id, 2, 1, "INCR n"), "(integer) 2");
    CHECK_REPLY(session_do(t, id, 3, ack3, "INCR n"), "(integer) 3");
}

/* Applies a saved entry again (a late retry) and checks it did not run twice. */
static void retry_is_evicted(struct kvt *t, struct buf *first)
{
    buf_reset(&t->entry);
    buf_put(&t->entry, first->data, first->len);
    CHECK_REPLY(kvt_apply_entry(t), EVICTED_REPLY);
    CHECK_REPLY(kvt_read(t, "GET n"), "\"3\"");
    buf_free(first);
}

TEST(ack_trims_the_cache_and_late_retries_are_evicted_not_reapplied)
{
    struct kvt t;
    kvt_init(&t);
    struct buf first;
    three_increments(&t, 3, &first); /* the third acks 1 and 2 */
    retry_is_evicted(&t, &first);
    kvt_free(&t);
}

TEST(reply_cache_is_bounded_per_session_in_count_and_in_bytes)
{
    /* Two replies fit either way: an integer reply is 9 bytes. */
    struct kv_config by_count = {.session_replies_count_max = 2};
    struct kv_config by_bytes = {.session_reply_bytes_max = 20};
    const struct kv_config *cfgs[] = {&by_count, &by_bytes};
    for (size_t i = 0; i < ARRAY_COUNT(cfgs); i++) {
        struct kvt t;
        kvt_init_cfg(&t, cfgs[i]);
        struct buf first;
        three_increments(&t, 1, &first);
        CHECK_REPLY(kvt_apply_entry(&t), "(integer) 3"); /* seq 3 still cached */
        retry_is_evicted(&t, &first);
        kvt_free(&t);
    }
}

TEST(registering_past_the_limit_evicts_the_least_recently_active)
{
    struct kv_config cfg = {.sessions_count_max = 2};
    struct kvt t;
    kvt_init_cfg(&t, &cfg);
    uint64_t a = kvt_register(&t);
    t.now_ms += 10;
    uint64_t b = kvt_register(&t);
    t.now_ms += 10;
    CHECK_REPLY(session_do(&t, a, 1, 1, "SET k a"), "OK"); /* a is now the most recent */
    t.now_ms += 10;
    uint64_t c = kvt_register(&t);
    CHECK_REPLY(session_do(&t, b, 1, 1, "SET k b"),
                "(error) SESSIONEXPIRED unknown or expired client session");
    CHECK_REPLY(session_do(&t, a, 2, 1, "SET k a2"), "OK");
    CHECK_REPLY(session_do(&t, c, 1, 1, "SET k c"), "OK");
    kvt_free(&t);
}

TEST(sessionless_commands_are_not_deduplicated)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "INCR n"), "(integer) 1");
    CHECK_REPLY(kvt_apply_entry(&t), "(integer) 2");
    kvt_free(&t);
}

TEST(apply_rejects_stale_indexes_and_accepts_gaps)
{
    struct kvt t;
    kvt_init(&t);
    kvt_do(&t, "SET k 1");
    struct kv_reply r;
    kv_reply_init(&r);
    CHECK_EQ(kv_apply(t.s, 1, t.entry.data, t.entry.len, &r), ERR_STALE);
    CHECK_EQ(kv_apply(t.s, 10, t.entry.data, t.entry.len, &r), 0);
    CHECK_EQ(kv_applied_index(t.s), 10);
    uint8_t junk[] = {0xff, 0xff, 0xff};
    CHECK_EQ(kv_apply(t.s, 11, junk, sizeof junk, &r), 0);
    char out[128];
    kv_reply_format(&r, out, sizeof out);
    CHECK_REPLY(out, "(error) ERR malformed command entry");
    CHECK_EQ(kv_applied_index(t.s), 11);
    kv_reply_free(&r);
    kvt_free(&t);
}

/* kv_apply decodes the common entry by hand (pb_lite) and the rest with protobuf-c:
 * both must agree on what protobuf allows (unknown fields are skipped) and refuse the
 * same malformed bytes. */
TEST(apply_decodes_unknown_fields_many_arguments_and_refuses_truncation)
{
    struct kvt t;
    kvt_init(&t);
    kvt_do(&t, "SET k 1");
    struct kv_reply r;
    kv_reply_init(&r);
    struct buf e;
    buf_init(&e, 0);
    buf_put(&e, t.entry.data, t.entry.len);
    const uint8_t unknown[] = {0xa0, 0x01, 0x07, 0xad, 0x01, 1, 2, 3, 4}; /* 20: 7; 21: fixed32 */
    buf_put(&e, unknown, sizeof unknown);
    CHECK_EQ(kv_apply(t.s, 10, e.data, e.len, &r), 0);
    char out[128];
    kv_reply_format(&r, out, sizeof out);
    CHECK_REPLY(out, "OK");
    CHECK_EQ(kv_apply(t.s, 11, t.entry.data, t.entry.len - 1, &r), 0);
    kv_reply_format(&r, out, sizeof out);
    CHECK_REPLY(out, "(error) ERR malformed command entry");
    kv_reply_free(&r);
    buf_free(&e);
    t.index = 11;
    CHECK_REPLY(kvt_do(&t, "DEL a b c d e f g h i j k l m n o p q r s t"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "GET k"), "(nil)");
    /* kv_prepare writes the same bytes as protoc-c's pack. */
    kvt_do(&t, "SET k2 v PX 100000");
    Chorus__Command *m = chorus__command__unpack(NULL, t.entry.len, t.entry.data);
    CHECK(m != NULL);
    CHECK_EQ(chorus__command__get_packed_size(m), t.entry.len);
    uint8_t packed[256];
    chorus__command__pack(m, packed);
    CHECK(memcmp(packed, t.entry.data, t.entry.len) == 0);
    chorus__command__free_unpacked(m, NULL);
    kvt_free(&t);
}

/* The server's pattern (docs/server.md "Client sessions"): a connection pipelines seqs
 * 1..4, each acking the lowest unanswered seq (1); a leadership change loses 1 and 3
 * after 2 and 4 applied; the server re-sends all four entries byte for byte, in seq
 * order. 1 and 3 apply now, 2 and 4 answer their cached replies: each INCR counts once. */
TEST(resent_pipelined_entries_apply_each_seq_exactly_once)
{
    struct kvt t;
    kvt_init(&t);
    uint64_t id = kvt_register(&t);
    struct buf entries[4];
    for (uint64_t seq = 1; seq <= 4; seq++) {
        struct kvt_args a;
        kvt_split(&a, "INCR n");
        struct kv_client c = {id, seq, 1};
        buf_init(&entries[seq - 1], 0);
        CHECK_EQ(kv_prepare(kv_config_of(t.s), t.now_ms, &c, &a.cmd, &entries[seq - 1], &t.reply), 0);
    }
    const char *first[] = {"(integer) 1", "(integer) 2"};
    for (int k = 0; k < 2; k++) { /* seqs 2 and 4 commit before the change */
        struct buf *e = &entries[1 + 2 * k];
        CHECK_EQ(kv_apply(t.s, ++t.index, e->data, e->len, &t.reply), 0);
        CHECK_REPLY(kvt_format(&t), first[k]);
    }
    const char *resent[] = {"(integer) 3", "(integer) 1", "(integer) 4", "(integer) 2"};
    for (int k = 0; k < 4; k++) {
        CHECK_EQ(kv_apply(t.s, ++t.index, entries[k].data, entries[k].len, &t.reply), 0);
        CHECK_REPLY(kvt_format(&t), resent[k]);
        buf_free(&entries[k]);
    }
    CHECK_REPLY(kvt_read(&t, "GET n"), "\"4\"");
    kvt_free(&t);
}
