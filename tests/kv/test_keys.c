/* Keyspace commands: DEL EXISTS EXPIRE family TTL PTTL PERSIST TYPE DBSIZE SCAN. */
#include "kv_test.h"

TEST(del_and_exists_count_keys)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "MSET a 1 b 2"), "OK");
    CHECK_REPLY(kvt_do(&t, "EXISTS a a b c"), "(integer) 3");
    CHECK_REPLY(kvt_do(&t, "DEL a c"), "(integer) 1");
    CHECK_REPLY(kvt_read(&t, "EXISTS a b"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "DEL"), "(error) ERR wrong number of arguments for 'del' command");
    kvt_free(&t);
}

TEST(expire_ttl_pttl_persist)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 10"), "(integer) 0");
    CHECK_REPLY(kvt_do(&t, "TTL k"), "(integer) -2");
    CHECK_REPLY(kvt_do(&t, "SET k v"), "OK");
    CHECK_REPLY(kvt_do(&t, "TTL k"), "(integer) -1");
    CHECK_REPLY(kvt_do(&t, "PEXPIRE k 1500"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "PTTL k"), "(integer) 1500");
    CHECK_REPLY(kvt_do(&t, "TTL k"), "(integer) 2"); /* rounded, as Redis does */
    CHECK_REPLY(kvt_do(&t, "PERSIST k"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "PERSIST k"), "(integer) 0");
    CHECK_REPLY(kvt_do(&t, "TTL k"), "(integer) -1");
    CHECK_REPLY(kvt_do(&t, "EXPIREAT k 5000"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "TTL k"), "(integer) 4000");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k -1"), "(integer) 1"); /* in the past: deleted */
    CHECK_REPLY(kvt_do(&t, "EXISTS k"), "(integer) 0");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k x"), "(error) ERR value is not an integer or out of range");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 9223372036854775807"),
                "(error) ERR invalid expire time in 'expire' command");
    CHECK_REPLY(kvt_do(&t, "PEXPIRE k 9223372036854775807"),
                "(error) ERR invalid expire time in 'pexpire' command");
    kvt_free(&t);
}

TEST(expire_flags_nx_xx_gt_lt)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "SET k v"), "OK");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 100 XX"), "(integer) 0");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 100 GT"), "(integer) 0");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 100 NX"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 200 NX"), "(integer) 0");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 50 GT"), "(integer) 0");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 200 GT"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 300 LT"), "(integer) 0");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 30 LT"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "TTL k"), "(integer) 30");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 30 NX XX"),
                "(error) ERR NX and XX, GT or LT options at the same time are not compatible");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 30 GT LT"),
                "(error) ERR GT and LT options at the same time are not compatible");
    CHECK_REPLY(kvt_do(&t, "EXPIRE k 30 YY"), "(error) ERR Unsupported option YY");
    kvt_free(&t);
}

TEST(type_and_dbsize_see_live_keys_only)
{
    struct kvt t;
    kvt_init(&t);
    CHECK_REPLY(kvt_do(&t, "SET s v"), "OK");
    CHECK_REPLY(kvt_do(&t, "RPUSH l a"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "HSET h f v"), "(integer) 1");
    CHECK_REPLY(kvt_do(&t, "SET e v PX 10"), "OK");
    CHECK_REPLY(kvt_do(&t, "TYPE s"), "string");
    CHECK_REPLY(kvt_do(&t, "TYPE l"), "list");
    CHECK_REPLY(kvt_do(&t, "TYPE h"), "hash");
    CHECK_REPLY(kvt_do(&t, "TYPE none"), "none");
    CHECK_REPLY(kvt_read(&t, "DBSIZE"), "(integer) 4");
    t.now_ms += 11;
    CHECK_REPLY(kvt_read(&t, "DBSIZE"), "(integer) 3");
    CHECK_REPLY(kvt_read(&t, "TYPE e"), "none");
    kvt_free(&t);
}

/* Runs SCAN to the end and returns how many times each of n keys k0..k{n-1} was seen. */
static void scan_all(struct kvt *t, const char *extra, int n, int *seen, int *calls)
{
    char cursor[32] = "0";
    *calls = 0;
    do {
        char line[256];
        snprintf(line, sizeof line, "SCAN %s COUNT 3 %s", cursor, extra);
        kvt_read(t, line);
        (*calls)++;
        struct kv_reply_iter it;
        struct kv_reply_item item;
        kv_reply_iter_init(&it, &t->reply);
        CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_ARRAY && item.count == 2);
        CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_BULK && item.str_len < sizeof cursor);
        memcpy(cursor, item.str, item.str_len);
        cursor[item.str_len] = '\0';
        CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_ARRAY);
        uint32_t count = item.count;
        for (uint32_t i = 0; i < count; i++) {
            CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_BULK && item.str[0] == 'k');
            char digits[16];
            size_t dn = MIN(item.str_len - 1, sizeof digits - 1);
            memcpy(digits, item.str + 1, dn);
            digits[dn] = '\0';
            int id = atoi(digits);
            CHECK(id >= 0 && id < n);
            seen[id]++;
        }
    } while (strcmp(cursor, "0") != 0 && *calls < 1000);
}

TEST(scan_returns_every_key_exactly_once)
{
    struct kvt t;
    kvt_init(&t);
    enum { N = 40 };
    for (int i = 0; i < N; i++) {
        char line[64];
        snprintf(line, sizeof line, "SET k%d v", i);
        CHECK_REPLY(kvt_do(&t, line), "OK");
    }
    int seen[N] = {0}, calls;
    scan_all(&t, "", N, seen, &calls);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(seen[i], 1);
    }
    CHECK(calls >= N / 3);
    int matched[N] = {0};
    scan_all(&t, "MATCH k1*", N, matched, &calls);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(matched[i], (i == 1 || (i >= 10 && i < 20)) ? 1 : 0);
    }
    int typed[N] = {0};
    scan_all(&t, "TYPE list", N, typed, &calls);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(typed[i], 0);
    }
    CHECK_REPLY(kvt_read(&t, "SCAN x"), "(error) ERR invalid cursor");
    CHECK_REPLY(kvt_read(&t, "SCAN -1"), "(error) ERR invalid cursor");
    CHECK_REPLY(kvt_read(&t, "SCAN 18446744073709551616"), "(error) ERR invalid cursor");
    CHECK_REPLY(kvt_read(&t, "SCAN 18446744073709551615"), "[\"0\",[]]");
    CHECK_REPLY(kvt_read(&t, "SCAN 0 COUNT 0"), "(error) ERR syntax error");
    CHECK_REPLY(kvt_read(&t, "SCAN 0 MATCH"), "(error) ERR syntax error");
    kvt_free(&t);
}

TEST(scan_order_survives_a_snapshot_reload)
{
    struct kvt a;
    kvt_init(&a);
    for (int i = 0; i < 30; i++) {
        char line[64];
        snprintf(line, sizeof line, "SET k%d v", i);
        kvt_do(&a, line);
        if (i % 3 == 0) {
            snprintf(line, sizeof line, "DEL k%d", i / 2);
            kvt_do(&a, line);
        }
    }
    struct buf snap;
    buf_init(&snap, 0);
    CHECK_EQ(kv_snapshot_write(a.s, &snap), 0);
    struct kvt b;
    kvt_init(&b);
    CHECK_EQ(kv_snapshot_load(b.s, snap.data, snap.len), 0);
    char first[KVT_LINE_MAX];
    snprintf(first, sizeof first, "%s", kvt_read(&a, "SCAN 0 COUNT 7"));
    CHECK_REPLY(kvt_read(&b, "SCAN 0 COUNT 7"), first);
    buf_free(&snap);
    kvt_free(&a);
    kvt_free(&b);
}

TEST(every_command_name_is_found_in_any_case_and_nothing_else)
{
    static const char *const names[] = {
        "get",    "set",     "del",      "exists",    "incr",  "decr",    "incrby",  "decrby",
        "append", "strlen",  "mget",     "mset",      "expire", "pexpire", "expireat",
        "pexpireat", "ttl",  "pttl",     "persist",   "type",  "dbsize",  "scan",    "lpush",
        "rpush",  "lpop",    "rpop",     "lrange",    "llen",  "hset",    "hget",    "hdel",
        "hgetall", "hlen",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char upper[32], mixed[32];
        size_t n = strlen(names[i]);
        for (size_t j = 0; j <= n; j++) {
            upper[j] = (char)(names[i][j] >= 'a' ? names[i][j] - 32 : names[i][j]);
            mixed[j] = j % 2 == 0 ? upper[j] : names[i][j];
        }
        const struct kv_command_info *info = kv_command_lookup((const uint8_t *)names[i], n);
        CHECK(info != NULL && strcmp(info->name, names[i]) == 0);
        CHECK(kv_command_lookup((const uint8_t *)upper, n) == info);
        CHECK(kv_command_lookup((const uint8_t *)mixed, n) == info);
        CHECK(kv_command_lookup((const uint8_t *)names[i], n - 1) == NULL ||
              strcmp(kv_command_lookup((const uint8_t *)names[i], n - 1)->name, names[i]) != 0);
    }
    /* Bytes that only look like letters once their case bit is set, prefixes, extensions. */
    static const char *const others[] = {"GE\x14", "s\x05t", "getx", "ge", "g", "", "Set\x20",
                                         "hgetal", "pexpireatt", "ping", "multi", "chorus"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        CHECK(kv_command_lookup((const uint8_t *)others[i], strlen(others[i])) == NULL);
    }
}

/* The key ids of one SCAN reply (keys k<id>) appended to ids; returns the next cursor. */
static uint64_t scan_ids(struct kvt *t, uint64_t cursor, int count, int *ids, int *n)
{
    char line[128];
    snprintf(line, sizeof line, "SCAN %llu COUNT %d", (unsigned long long)cursor, count);
    kvt_read(t, line);
    struct kv_reply_iter it;
    struct kv_reply_item item;
    kv_reply_iter_init(&it, &t->reply);
    CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_ARRAY && item.count == 2);
    CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_BULK && item.str_len < 32);
    char text[32];
    memcpy(text, item.str, item.str_len);
    text[item.str_len] = '\0';
    uint64_t next = strtoull(text, NULL, 10);
    CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_ARRAY);
    for (uint32_t i = 0, count_got = item.count; i < count_got; i++) {
        CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_BULK && item.str[0] == 'k');
        CHECK(item.str_len > 1 && item.str_len - 1 < sizeof text);
        memcpy(text, item.str + 1, item.str_len - 1);
        text[item.str_len - 1] = '\0';
        ids[(*n)++] = atoi(text);
    }
    return next;
}

TEST(scan_order_is_the_same_whether_many_or_few_keys_are_sorted)
{
    /* One SCAN over all keys sorts hundreds at once (radix sort); one key per call sorts
     * ever fewer (down to qsort's range). Both must give the (hash, bytes) order. */
    struct kvt t;
    kvt_init(&t);
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        char line[64];
        snprintf(line, sizeof line, "SET k%d v", i);
        CHECK_REPLY(kvt_do(&t, line), "OK");
    }
    int all[N], one_by_one[N], n_all = 0, n_one = 0;
    CHECK_EQ(scan_ids(&t, 0, 1000, all, &n_all), 0);
    CHECK_EQ(n_all, N);
    uint64_t cursor = 0;
    do {
        cursor = scan_ids(&t, cursor, 1, one_by_one, &n_one);
    } while (cursor != 0 && n_one < N);
    CHECK_EQ(n_one, N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(all[i], one_by_one[i]);
    }
    kvt_free(&t);
}
