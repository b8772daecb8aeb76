/* String commands through prepare + apply: Redis semantics and Redis's error texts. */
#include "kv_test.h"

TEST(set_then_get_returns_the_value)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "GET k"), "(nil)");
    CHECK_REPLY(kvt_do(&t, "SET k v"), "OK");
    CHECK_REPLY(kvt_do(&t, "GET k"), "\"v\"");
    CHECK_REPLY(kvt_read(&t, "GET k"), "\"v\"");
    CHECK_REPLY(kvt_do(&t, "set k \"\""), "OK");
    CHECK_REPLY(kvt_do(&t, "get k"), "\"\"");
    kvt_free(&t);
}

TEST(set_nx_xx_get_follow_redis)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "SET k v XX"), "(nil)");
    CHECK_REPLY(kvt_do(&t, "GET k"), "(nil)");
    CHECK_REPLY(kvt_do(&t, "SET k v NX"), "OK");
    CHECK_REPLY(kvt_do(&t, "SET k w NX"), "(nil)");
    CHECK_REPLY(kvt_do(&t, "GET k"), "\"v\"");
    CHECK_REPLY(kvt_do(&t, "SET k w XX GET"), "\"v\"");
    CHECK_REPLY(kvt_do(&t, "SET k x NX GET"), "\"w\"");
    CHECK_REPLY(kvt_do(&t, "GET k"), "\"w\"");
    CHECK_REPLY(kvt_do(&t, "SET new x GET"), "(nil)");
    CHECK_REPLY(kvt_do(&t, "RPUSH l a"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "SET l x GET"),
              "(error) WRONGTYPE Operation against a key holding the wrong kind of value");
    CHECK_REPLY(kvt_do(&t, "LLEN l"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "SET l x"), "OK"); /* plain SET replaces any type */
    CHECK_REPLY(kvt_do(&t, "TYPE l"), "string");
    kvt_free(&t);
}

TEST(set_rejects_bad_option_combinations_with_syntax_error)
{
    struct kvt t;
    kvt_init(&t);
    const char *bad[] = {"SET k v NX XX", "SET k v EX 10 PX 100", "SET k v EX 10 KEEPTTL",
                         "SET k v KEEPTTL PX 5", "SET k v EX", "SET k v FOO", "SET k v XX NX"};
    for (size_t i = 0; i < ARRAY_COUNT(bad); i++) {
        CHECK_REPLY(kvt_do(&t, bad[i]), "(error) ERR syntax error");
    }
    CHECK_REPLY(kvt_do(&t, "SET k v EX abc"), "(error) ERR value is not an integer or out of range");
    CHECK_REPLY(kvt_do(&t, "SET k v EX 0"), "(error) ERR invalid expire time in 'set' command");
    CHECK_REPLY(kvt_do(&t, "SET k v PX -5"), "(error) ERR invalid expire time in 'set' command");
    CHECK_REPLY(kvt_do(&t, "SET k v EX 9223372036854775807"),
              "(error) ERR invalid expire time in 'set' command");
    CHECK_REPLY(kvt_do(&t, "SET k"), "(error) ERR wrong number of arguments for 'set' command");
    /* Nothing was proposed for any of them. */
    CHECK_EQ(t.index, 0);
    CHECK_EQ(kv_applied_index(t.s), 0);
    kvt_free(&t);
}

TEST(set_keepttl_keeps_and_plain_set_clears_the_expiry)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "SET k v EX 100"), "OK");
    CHECK_REPLY(kvt_do(&t, "TTL k"), "(integer) 100");
    CHECK_REPLY(kvt_do(&t, "SET k w KEEPTTL"), "OK");
    CHECK_REPLY(kvt_do(&t, "PTTL k"), "(integer) 100000");
    CHECK_REPLY(kvt_do(&t, "SET k x"), "OK");
    CHECK_REPLY(kvt_do(&t, "TTL k"), "(integer) -1");
    CHECK_REPLY(kvt_do(&t, "SET k v PXAT 1"), "OK"); /* in the past: the key is gone */
    CHECK_REPLY(kvt_do(&t, "EXISTS k"), "(integer) 0");
    CHECK_REPLY(kvt_do(&t, "SET k v EXAT 2000"), "OK");
    CHECK_REPLY(kvt_do(&t, "PTTL k"), "(integer) 1000000");
    kvt_free(&t);
}

TEST(incr_family_counts_and_reports_redis_errors)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "INCR n"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "INCRBY n 10"), "(integer) 11");
    CHECK_REPLY(kvt_do(&t, "DECR n"), "(integer) 10");
    CHECK_REPLY(kvt_do(&t, "DECRBY n -5"), "(integer) 15");
    CHECK_REPLY(kvt_do(&t, "GET n"), "\"15\"");
    CHECK_REPLY(kvt_do(&t, "INCRBY n x"), "(error) ERR value is not an integer or out of range");
    CHECK_REPLY(kvt_do(&t, "INCRBY n 01"), "(error) ERR value is not an integer or out of range");
    CHECK_REPLY(kvt_do(&t, "INCRBY n +1"), "(error) ERR value is not an integer or out of range");
    CHECK_REPLY(kvt_do(&t, "SET s abc"), "OK");
    CHECK_REPLY(kvt_do(&t, "INCR s"), "(error) ERR value is not an integer or out of range");
    CHECK_REPLY(kvt_do(&t, "SET m 9223372036854775807"), "OK");
    CHECK_REPLY(kvt_do(&t, "INCR m"), "(error) ERR increment or decrement would overflow");
    CHECK_REPLY(kvt_do(&t, "SET m -9223372036854775808"), "OK");
    CHECK_REPLY(kvt_do(&t, "DECR m"), "(error) ERR increment or decrement would overflow");
    CHECK_REPLY(kvt_do(&t, "GET m"), "\"-9223372036854775808\"");
    CHECK_REPLY(kvt_do(&t, "DECRBY m -9223372036854775808"), "(error) ERR decrement would overflow");
    CHECK_REPLY(kvt_do(&t, "INCR"), "(error) ERR wrong number of arguments for 'incr' command");
    CHECK_REPLY(kvt_do(&t, "LPUSH l a"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "INCR l"),
              "(error) WRONGTYPE Operation against a key holding the wrong kind of value");
    kvt_free(&t);
}

TEST(incr_keeps_the_expiry)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "SET n 1 EX 50"), "OK");
    CHECK_REPLY(kvt_do(&t, "INCR n"), "(integer) 2");
    CHECK_REPLY(kvt_do(&t, "TTL n"), "(integer) 50");
    kvt_free(&t);
}

TEST(append_and_strlen)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "APPEND k ab"), "(integer) 2");
    CHECK_REPLY(kvt_do(&t, "APPEND k cd"), "(integer) 4");
    CHECK_REPLY(kvt_do(&t, "APPEND k \"\""), "(integer) 4");
    CHECK_REPLY(kvt_do(&t, "GET k"), "\"abcd\"");
    CHECK_REPLY(kvt_do(&t, "STRLEN k"), "(integer) 4");
    CHECK_REPLY(kvt_do(&t, "STRLEN nope"), "(integer) 0");
    CHECK_REPLY(kvt_do(&t, "HSET h f v"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "STRLEN h"),
              "(error) WRONGTYPE Operation against a key holding the wrong kind of value");
    kvt_free(&t);
}

TEST(append_past_the_value_limit_is_refused)
{
    struct kv_config cfg = {.value_size_bytes_max = 4};
    struct kvt t;
    kvt_init_cfg(&t, &cfg);
    CHECK_REPLY(kvt_do(&t, "APPEND k abc"), "(integer) 3");
    CHECK_REPLY(kvt_do(&t, "APPEND k de"),
              "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    CHECK_REPLY(kvt_do(&t, "GET k"), "\"abc\"");
    CHECK_REPLY(kvt_do(&t, "SET k abcde"),
              "(error) ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    kvt_free(&t);
}

TEST(mget_and_mset)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "MSET a 1 b 2"), "OK");
    CHECK_REPLY(kvt_do(&t, "LPUSH l x"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "MGET a b c l"), "[\"1\",\"2\",(nil),(nil)]");
    CHECK_REPLY(kvt_do(&t, "MSET a 1 b"), "(error) ERR wrong number of arguments for 'mset' command");
    CHECK_REPLY(kvt_read(&t, "MGET b a"), "[\"2\",\"1\"]");
    kvt_free(&t);
}

TEST(unknown_command_and_limits_are_rejected_at_prepare)
{
    struct kv_config cfg = {.key_size_bytes_max = 3, .argc_max = 4};
    struct kvt t;
    kvt_init_cfg(&t, &cfg);
    CHECK_REPLY(kvt_do(&t, "FOO a b"),
              "(error) ERR unknown command 'FOO', with args beginning with: 'a' 'b' ");
    CHECK_REPLY(kvt_do(&t, "SET long v"), "(error) ERR key exceeds the maximum allowed size");
    CHECK_REPLY(kvt_do(&t, "MGET a b c d"), "(error) ERR too many arguments");
    CHECK_REPLY(kvt_do(&t, "get"), "(error) ERR wrong number of arguments for 'get' command");
    CHECK_EQ(kv_applied_index(t.s), 0);
    kvt_free(&t);
}

TEST(command_table_tells_reads_from_writes)
{
    CHECK(kv_is_write((const uint8_t *)"set", 3));
    CHECK(kv_is_write((const uint8_t *)"LPOP", 4));
    CHECK(!kv_is_write((const uint8_t *)"GET", 3));
    CHECK(!kv_is_write((const uint8_t *)"hgetall", 7));
    CHECK(kv_is_write((const uint8_t *)"nonsense", 8));
    const struct kv_command_info *info = kv_command_lookup((const uint8_t *)"Set", 3);
    CHECK(info != NULL);
    CHECK_EQ(info->arity, -3);
    CHECK(info->deny_oom);
    CHECK(kv_command_lookup((const uint8_t *)"multi", 5) == NULL);
}

TEST(read_path_refuses_writes)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_read(&t, "SET k v"), "(error) ERR 'set' is not a read-only command");
    CHECK_REPLY(kvt_read(&t, "GET k"), "(nil)");
    kvt_free(&t);
}
