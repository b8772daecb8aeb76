/* Replies are plain bytes: they round-trip through set_bytes, reject malformed
 * encodings, and format to the short forms the simulator's histories use. */
#include "harness.h"
#include "kv/kv_reply.h"

static const char *fmt(const struct kv_reply *r)
{
    static char out[128];
    kv_reply_format(r, out, sizeof out);
    return out;
}

TEST(reply_formats_every_type)
{
    struct kv_reply r;
    kv_reply_init(&r);
    kv_reply_status(&r, "OK");
    CHECK_STR(fmt(&r), "OK");
    kv_reply_reset(&r);
    kv_reply_nil(&r);
    CHECK_STR(fmt(&r), "(nil)");
    kv_reply_reset(&r);
    kv_reply_integer(&r, 5);
    CHECK_STR(fmt(&r), "(integer) 5");
    kv_reply_reset(&r);
    kv_reply_bulk(&r, (const uint8_t *)"v", 1);
    CHECK_STR(fmt(&r), "\"v\"");
    kv_reply_reset(&r);
    kv_reply_error(&r, "ERR syntax error");
    CHECK_STR(fmt(&r), "(error) ERR syntax error");
    CHECK(kv_reply_is_error(&r));
    kv_reply_reset(&r);
    size_t pos = kv_reply_array_begin(&r);
    kv_reply_bulk(&r, (const uint8_t *)"a", 1);
    kv_reply_bulk(&r, (const uint8_t *)"b", 1);
    kv_reply_array_end(&r, pos, 2);
    CHECK_STR(fmt(&r), "[\"a\",\"b\"]");
    CHECK_EQ(kv_reply_type_of(&r), KV_REPLY_ARRAY);
    kv_reply_free(&r);
}

TEST(reply_bytes_round_trip_and_reject_malformed)
{
    struct kv_reply r, copy;
    kv_reply_init(&r);
    kv_reply_init(&copy);
    size_t outer = kv_reply_array_begin(&r);
    kv_reply_integer(&r, -7);
    size_t inner = kv_reply_array_begin(&r);
    kv_reply_nil(&r);
    kv_reply_array_end(&r, inner, 1);
    kv_reply_array_end(&r, outer, 2);
    CHECK_EQ(kv_reply_set_bytes(&copy, r.bytes.data, r.bytes.len), 0);
    CHECK_STR(fmt(&copy), "[(integer) -7,[(nil)]]");
    /* Every strict prefix is malformed, and so is trailing garbage. */
    for (size_t n = 0; n < r.bytes.len; n++) {
        CHECK(!kv_reply_valid(r.bytes.data, n));
    }
    uint8_t longer[64];
    memcpy(longer, r.bytes.data, r.bytes.len);
    longer[r.bytes.len] = 'n';
    CHECK(!kv_reply_valid(longer, r.bytes.len + 1));
    uint8_t bad_tag[] = {'x'};
    CHECK(kv_reply_set_bytes(&copy, bad_tag, 1) != 0);
    CHECK_EQ(copy.bytes.len, 0);
    kv_reply_free(&r);
    kv_reply_free(&copy);
}

TEST(reply_format_truncates_and_escapes)
{
    struct kv_reply r;
    kv_reply_init(&r);
    kv_reply_bulk(&r, (const uint8_t *)"a\"\n", 3);
    CHECK_STR(fmt(&r), "\"a\\\"\\x0a\"");
    kv_reply_reset(&r);
    uint8_t big[100];
    memset(big, 'x', sizeof big);
    kv_reply_bulk(&r, big, sizeof big);
    char small[16];
    size_t n = kv_reply_format(&r, small, sizeof small);
    CHECK(n < sizeof small);
    CHECK(strstr(small, "...") != NULL);
    kv_reply_free(&r);
}

TEST(map_reply_holds_pairs_and_walks_in_pre_order)
{
    struct kv_reply r;
    kv_reply_init(&r);
    size_t pos = kv_reply_map_begin(&r);
    kv_reply_bulk(&r, (const uint8_t *)"f", 1);
    kv_reply_integer(&r, 1);
    kv_reply_map_end(&r, pos, 1);
    CHECK_STR(fmt(&r), "{\"f\":(integer) 1}");
    CHECK(kv_reply_valid(r.bytes.data, r.bytes.len));
    CHECK(!kv_reply_valid(r.bytes.data, r.bytes.len - 9)); /* the value is missing */
    struct kv_reply_iter it;
    struct kv_reply_item item;
    kv_reply_iter_init(&it, &r);
    CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_MAP && item.count == 1);
    CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_BULK && item.str_len == 1);
    CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_INTEGER && item.integer == 1);
    CHECK(!kv_reply_next(&it, &item));
    kv_reply_free(&r);
}
