/* List and hash commands, including emptiness removing the key and the length limit. */
#include "kv_test.h"

TEST(push_pop_and_range_follow_redis)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "RPUSH l a b c"), "(integer) 3");
    CHECK_REPLY(kvt_do(&t, "LPUSH l x y"), "(integer) 5");
    CHECK_REPLY(kvt_do(&t, "LRANGE l 0 -1"), "[\"y\",\"x\",\"a\",\"b\",\"c\"]");
    CHECK_REPLY(kvt_do(&t, "LRANGE l -2 100"), "[\"b\",\"c\"]");
    CHECK_REPLY(kvt_do(&t, "LRANGE l 3 1"), "[]");
    CHECK_REPLY(kvt_do(&t, "LRANGE l -100 0"), "[\"y\"]");
    CHECK_REPLY(kvt_do(&t, "LRANGE nope 0 -1"), "[]");
    CHECK_REPLY(kvt_do(&t, "LRANGE l a 1"), "(error) ERR value is not an integer or out of range");
    CHECK_REPLY(kvt_do(&t, "LPOP l"), "\"y\"");
    CHECK_REPLY(kvt_do(&t, "RPOP l"), "\"c\"");
    CHECK_REPLY(kvt_do(&t, "LPOP l 2"), "[\"x\",\"a\"]");
    CHECK_REPLY(kvt_do(&t, "LPOP l 0"), "[]");
    CHECK_REPLY(kvt_do(&t, "LLEN l"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "RPOP l 5"), "[\"b\"]");
    CHECK_REPLY(kvt_do(&t, "EXISTS l"), "(integer) 0"); /* emptied lists disappear */
    CHECK_REPLY(kvt_do(&t, "LPOP l"), "(nil)");
    CHECK_REPLY(kvt_do(&t, "LPOP l 1"), "(nil)");
    CHECK_REPLY(kvt_do(&t, "LPOP l -1"), "(error) ERR value is out of range, must be positive");
    CHECK_REPLY(kvt_do(&t, "LPOP l 1 2"), "(error) ERR syntax error");
    CHECK_REPLY(kvt_do(&t, "SET s v"), "OK");
    CHECK_REPLY(kvt_do(&t, "LPUSH s a"),
                "(error) WRONGTYPE Operation against a key holding the wrong kind of value");
    CHECK_REPLY(kvt_do(&t, "LLEN s"),
                "(error) WRONGTYPE Operation against a key holding the wrong kind of value");
    kvt_free(&t);
}

TEST(list_ring_buffer_wraps_and_grows)
{
    struct kvt t;
    kvt_init(&t);
    /* Alternate ends so the head wraps around while the buffer grows. */
    for (int i = 0; i < 50; i++) {
        char line[64];
        snprintf(line, sizeof line, "%s l %d", i % 2 ? "LPUSH" : "RPUSH", i);
        kvt_do(&t, line);
    }
    CHECK_REPLY(kvt_do(&t, "LLEN l"), "(integer) 50");
    CHECK_REPLY(kvt_do(&t, "LRANGE l 0 2"), "[\"49\",\"47\",\"45\"]");
    CHECK_REPLY(kvt_do(&t, "LRANGE l -3 -1"), "[\"44\",\"46\",\"48\"]");
    for (int i = 0; i < 20; i++) {
        kvt_do(&t, "RPOP l");
    }
    CHECK_REPLY(kvt_do(&t, "LRANGE l -1 -1"), "[\"8\"]");
    kvt_free(&t);
}

TEST(push_past_the_length_limit_is_refused_whole)
{
    struct kv_config cfg = {.collection_len_max = 3};
    struct kvt t;
    kvt_init_cfg(&t, &cfg);
    CHECK_REPLY(kvt_do(&t, "RPUSH l a b"), "(integer) 2");
    CHECK_REPLY(kvt_do(&t, "RPUSH l c d"), "(error) ERR list exceeds the maximum allowed length");
    CHECK_REPLY(kvt_do(&t, "LLEN l"), "(integer) 2");
    CHECK_REPLY(kvt_do(&t, "HSET h a 1 b 2 c 3 d 4"),
                "(error) ERR hash exceeds the maximum allowed number of fields");
    CHECK_REPLY(kvt_do(&t, "EXISTS h"), "(integer) 0");
    kvt_free(&t);
}

TEST(hash_commands_follow_redis)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "HSET h b 2 a 1"), "(integer) 2");
    CHECK_REPLY(kvt_do(&t, "HSET h a 10 c 3"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "HGET h a"), "\"10\"");
    CHECK_REPLY(kvt_do(&t, "HGET h z"), "(nil)");
    CHECK_REPLY(kvt_do(&t, "HGET nope a"), "(nil)");
    CHECK_REPLY(kvt_do(&t, "HLEN h"), "(integer) 3");
    CHECK_REPLY(kvt_do(&t, "HGETALL h"), "{\"a\":\"10\",\"b\":\"2\",\"c\":\"3\"}");
    CHECK_EQ(kv_reply_type_of(&t.reply), KV_REPLY_MAP);
    CHECK_REPLY(kvt_read(&t, "HGETALL nope"), "{}");
    CHECK_REPLY(kvt_do(&t, "HDEL h a z"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "HDEL h b c"), "(integer) 2");
    CHECK_REPLY(kvt_do(&t, "EXISTS h"), "(integer) 0"); /* emptied hashes disappear */
    CHECK_REPLY(kvt_do(&t, "HDEL h a"), "(integer) 0");
    CHECK_REPLY(kvt_do(&t, "HSET h a"), "(error) ERR wrong number of arguments for 'hset' command");
    CHECK_REPLY(kvt_do(&t, "HSET h a 1 b"),
                "(error) ERR wrong number of arguments for 'hset' command");
    CHECK_REPLY(kvt_do(&t, "SET s v"), "OK");
    CHECK_REPLY(kvt_do(&t, "HGET s a"),
                "(error) WRONGTYPE Operation against a key holding the wrong kind of value");
    CHECK_REPLY(kvt_do(&t, "HGETALL s"),
                "(error) WRONGTYPE Operation against a key holding the wrong kind of value");
    kvt_free(&t);
}

TEST(hgetall_order_does_not_depend_on_table_history)
{
    struct kvt a, b;
    kvt_init(&a);
    kvt_init(&b);
    /* The same 100 fields, inserted in opposite orders (b also deletes some on the way),
     * so the two tables collide and probe differently. */
    for (int i = 0; i < 100; i++) {
        char line[64];
        snprintf(line, sizeof line, "HSET h f%d v", i);
        kvt_do(&a, line);
        snprintf(line, sizeof line, "HSET h f%d v g%d v", 99 - i, i);
        kvt_do(&b, line);
        snprintf(line, sizeof line, "HDEL h g%d", i / 2);
        kvt_do(&b, line);
    }
    for (int i = 50; i < 100; i++) {
        char line[64];
        snprintf(line, sizeof line, "HDEL h g%d", i);
        kvt_do(&b, line);
    }
    static char first[KVT_LINE_MAX];
    snprintf(first, sizeof first, "%s", kvt_read(&a, "HGETALL h"));
    CHECK_REPLY(kvt_read(&b, "HGETALL h"), first);
    CHECK_EQ(kv_digest(a.s) == kv_digest(b.s), 0); /* versions differ, contents do not */
    kvt_free(&a);
    kvt_free(&b);
}
