/* MULTI/EXEC as one entry applied atomically, and WATCH versions (kv_key_version). */
#include "kv_test.h"

#define KVT_MULTI_MAX 8

struct multi {
    struct kvt_args args[KVT_MULTI_MAX];
    struct kv_argv cmds[KVT_MULTI_MAX];
    size_t count;
    struct kv_watch watches[KVT_MULTI_MAX];
    size_t watches_count;
};

static void multi_add(struct multi *m, const char *line)
{
    kvt_split(&m->args[m->count], line);
    m->cmds[m->count] = m->args[m->count].cmd;
    m->count++;
}

/* WATCH key as the leader would: remember its version now. */
static void multi_watch(struct multi *m, struct kvt *t, const char *key)
{
    struct kv_watch *w = &m->watches[m->watches_count++];
    w->key = (const uint8_t *)key;
    w->key_len = strlen(key);
    w->version = kv_key_version(t->s, t->now_ms, w->key, w->key_len);
}

/* A transaction that watches key and queues one command. */
static void watch_and_queue(struct multi *m, struct kvt *t, const char *key, const char *line)
{
    memset(m, 0, sizeof *m);
    multi_watch(m, t, key);
    multi_add(m, line);
}

static const char *multi_exec(struct kvt *t, struct multi *m)
{
    buf_reset(&t->entry);
    if (kv_prepare_multi(kv_config_of(t->s), t->now_ms, NULL, m->cmds, m->count, m->watches,
                         m->watches_count, &t->entry, &t->reply) != 0) {
        return kvt_format(t);
    }
    return kvt_apply_entry(t);
}

TEST(exec_applies_queued_commands_as_one_entry)
{
    struct kvt t;
    kvt_init(&t);
    struct multi m = {0};
    multi_add(&m, "SET a 1");
    multi_add(&m, "INCR a");
    multi_add(&m, "LPUSH a x"); /* a runtime error does not stop the others */
    multi_add(&m, "RPUSH l x y");
    multi_add(&m, "LRANGE l 0 -1");
    CHECK_REPLY(multi_exec(&t, &m),
                "[OK,(integer) 2,(error) WRONGTYPE Operation against a key holding the wrong kind "
                "of value,(integer) 2,[\"x\",\"y\"]]");
    CHECK_EQ(kv_applied_index(t.s), 1);
    CHECK_REPLY(kvt_read(&t, "GET a"), "\"2\"");
    struct multi empty = {0};
    CHECK_REPLY(multi_exec(&t, &empty), "[]");
    kvt_free(&t);
}

TEST(exec_with_an_invalid_queued_command_is_discarded_whole)
{
    struct kvt t;
    kvt_init(&t);
    struct multi m = {0};
    multi_add(&m, "SET a 1");
    multi_add(&m, "SET a 1 NX XX");
    CHECK_REPLY(multi_exec(&t, &m),
                "(error) EXECABORT Transaction discarded because of previous errors.");
    CHECK_EQ(kv_applied_index(t.s), 0);
    struct kvt_args bad;
    kvt_split(&bad, "GET");
    CHECK_EQ(kv_validate(NULL, &bad.cmd, &t.reply), ERR_INVALID);
    CHECK_REPLY(kvt_format(&t), "(error) ERR wrong number of arguments for 'get' command");
    kvt_free(&t);
}

TEST(watch_aborts_exec_when_a_watched_key_changed)
{
    struct kvt t;
    kvt_init(&t);
    kvt_do(&t, "SET w 1");
    struct multi m;
    watch_and_queue(&m, &t, "w", "SET a 1");
    kvt_do(&t, "SET w 2");
    CHECK_REPLY(multi_exec(&t, &m), "(nil)");
    CHECK_EQ(kv_reply_type_of(&t.reply), KV_REPLY_NIL_ARRAY);
    CHECK_REPLY(kvt_read(&t, "EXISTS a"), "(integer) 0");
    /* Unchanged (even though other keys changed): it runs. */
    struct multi ok;
    watch_and_queue(&ok, &t, "w", "SET a 1");
    kvt_do(&t, "SET other 1");
    CHECK_REPLY(multi_exec(&t, &ok), "[OK]");
    kvt_free(&t);
}

TEST(watch_sees_delete_then_recreate)
{
    struct kvt t;
    kvt_init(&t);
    kvt_do(&t, "SET w 1");
    struct multi m;
    watch_and_queue(&m, &t, "w", "SET a 1");
    kvt_do(&t, "DEL w");
    kvt_do(&t, "SET w 1"); /* same value, new version */
    CHECK_REPLY(multi_exec(&t, &m), "(nil)");
    kvt_free(&t);
}

TEST(watch_on_absent_key_aborts_when_it_is_created_or_created_and_deleted)
{
    struct kvt t;
    kvt_init(&t);
    struct multi m1;
    watch_and_queue(&m1, &t, "w", "SET a 1");
    kvt_do(&t, "SET w 1");
    CHECK_REPLY(multi_exec(&t, &m1), "(nil)");

    kvt_do(&t, "DEL w");
    struct multi m2;
    watch_and_queue(&m2, &t, "w", "SET a 1");
    kvt_do(&t, "SET w 1");
    kvt_do(&t, "DEL w");
    CHECK_REPLY(multi_exec(&t, &m2), "(nil)");

    struct multi m3;
    watch_and_queue(&m3, &t, "w", "SET a 1");
    CHECK_REPLY(multi_exec(&t, &m3), "[OK]");
    kvt_free(&t);
}

TEST(watch_aborts_when_the_watched_key_expires)
{
    struct kvt t;
    kvt_init(&t);
    kvt_do(&t, "SET w 1 PX 100");
    struct multi m;
    watch_and_queue(&m, &t, "w", "SET a 1");
    t.now_ms += 200;
    CHECK_REPLY(multi_exec(&t, &m), "(nil)");
    kvt_free(&t);
}

TEST(watch_on_an_already_expired_key_is_stable_across_reaping)
{
    struct kvt t;
    kvt_init(&t);
    kvt_do(&t, "SET w 1 PX 100");
    t.now_ms += 200;
    struct multi m;
    watch_and_queue(&m, &t, "w", "GET w");
    CHECK_REPLY(kvt_do(&t, "DEL w"), "(integer) 0"); /* reaps it: not a modification */
    CHECK_REPLY(multi_exec(&t, &m), "[(nil)]");
    kvt_free(&t);
}

TEST(key_version_is_twice_the_modifying_index_and_odd_when_absent)
{
    struct kvt t;
    kvt_init(&t);
    kvt_do(&t, "SET k v");
    CHECK_EQ(kv_key_version(t.s, t.now_ms, (const uint8_t *)"k", 1), 2);
    kvt_do(&t, "GET k"); /* reads do not modify */
    CHECK_EQ(kv_key_version(t.s, t.now_ms, (const uint8_t *)"k", 1), 2);
    kvt_do(&t, "APPEND k x");
    CHECK_EQ(kv_key_version(t.s, t.now_ms, (const uint8_t *)"k", 1), 6);
    kvt_do(&t, "DEL k");
    CHECK_EQ(kv_key_version(t.s, t.now_ms, (const uint8_t *)"k", 1), 9);
    kvt_free(&t);
}

TEST(exec_in_a_session_runs_once_and_retries_get_the_cached_array)
{
    struct kvt t;
    kvt_init(&t);
    uint64_t id = kvt_register(&t);
    struct multi m = {0};
    multi_add(&m, "INCR n");
    multi_add(&m, "INCR n");
    struct kv_client c = {id, 1, 1};
    buf_reset(&t.entry);
    CHECK_EQ(kv_prepare_multi(kv_config_of(t.s), t.now_ms, &c, m.cmds, m.count, NULL, 0, &t.entry,
                              &t.reply), 0);
    CHECK_REPLY(kvt_apply_entry(&t), "[(integer) 1,(integer) 2]");
    CHECK_REPLY(kvt_apply_entry(&t), "[(integer) 1,(integer) 2]");
    CHECK_REPLY(kvt_read(&t, "GET n"), "\"2\"");
    kvt_free(&t);
}

TEST(exec_with_too_many_queued_commands_is_discarded)
{
    struct kv_config cfg = {.multi_commands_count_max = 2};
    struct kvt t;
    kvt_init_cfg(&t, &cfg);
    struct multi m = {0};
    multi_add(&m, "INCR n");
    multi_add(&m, "INCR n");
    multi_add(&m, "INCR n");
    CHECK_REPLY(multi_exec(&t, &m),
                "(error) EXECABORT Transaction discarded because of previous errors.");
    kvt_free(&t);
}

TEST(entries_render_for_traces)
{
    struct kvt t;
    kvt_init(&t);
    t.now_ms = 1000;
    char out[256];
    kvt_do(&t, "SET k v EX 1");
    kv_entry_format(t.entry.data, t.entry.len, out, sizeof out);
    CHECK_REPLY(out, "SET k v PXAT 2000");
    struct multi m;
    watch_and_queue(&m, &t, "k", "INCR n");
    multi_add(&m, "GET n");
    struct kv_client c = {7, 3, 1};
    buf_reset(&t.entry);
    CHECK_EQ(kv_prepare_multi(NULL, t.now_ms, &c, m.cmds, m.count, m.watches, m.watches_count,
                              &t.entry, &t.reply), 0);
    kv_entry_format(t.entry.data, t.entry.len, out, sizeof out);
    CHECK_REPLY(out, "EXEC[INCR n; GET n] WATCH k=2 client=7 seq=3");
    uint8_t junk[] = {0xff};
    kv_entry_format(junk, 1, out, sizeof out);
    CHECK_REPLY(out, "(malformed)");
    kvt_free(&t);
}
