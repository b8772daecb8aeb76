/* Reply encoding, walking and formatting; the byte format is in kv_reply.h. The
 * builders never fail visibly: a growth failure marks the buffer failed, which is a
 * real out-of-memory and is asserted on when the reply is read. */
#include "kv/kv_reply.h"

#include "kv/kv_internal.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/assertions.h"
#include "base/errors.h"

/* Longest error text a handler formats (key names are not echoed). */
#define KV_REPLY_ERROR_TEXT_MAX 256

void kv_reply_init(struct kv_reply *r) { buf_init(&r->bytes, 0); }
void kv_reply_free(struct kv_reply *r) { buf_free(&r->bytes); }
void kv_reply_reset(struct kv_reply *r) { buf_reset(&r->bytes); }

static void put_string(struct kv_reply *r, char tag, const void *data, size_t len)
{
    ASSERT(len <= UINT32_MAX);
    uint8_t *p = buf_extend(&r->bytes, 5 + len);
    ASSERT(p != NULL && !r->bytes.failed);
    p[0] = (uint8_t)tag;
    le_store_u32(p + 1, (uint32_t)len);
    if (len > 0) {
        memcpy(p + 5, data, len);
    }
}

void kv_reply_status(struct kv_reply *r, const char *text)
{
    put_string(r, KV_REPLY_STATUS, text, strlen(text));
}

void kv_reply_error(struct kv_reply *r, const char *text)
{
    put_string(r, KV_REPLY_ERROR, text, strlen(text));
}

void kv_reply_errorf(struct kv_reply *r, const char *fmt, ...)
{
    char text[KV_REPLY_ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ASSERT(n >= 0);
    kv_reply_error(r, text);
}

void kv_reply_integer(struct kv_reply *r, int64_t v)
{
    buf_put_u8(&r->bytes, KV_REPLY_INTEGER);
    buf_put_u64(&r->bytes, (uint64_t)v);
    ASSERT(!r->bytes.failed);
}

void kv_reply_bulk(struct kv_reply *r, const uint8_t *data, size_t len)
{
    put_string(r, KV_REPLY_BULK, data, len);
}

void kv_reply_nil(struct kv_reply *r)
{
    buf_put_u8(&r->bytes, KV_REPLY_NIL);
    ASSERT(!r->bytes.failed);
}

void kv_reply_nil_array(struct kv_reply *r)
{
    buf_put_u8(&r->bytes, KV_REPLY_NIL_ARRAY);
    ASSERT(!r->bytes.failed);
}

static size_t aggregate_begin(struct kv_reply *r, enum kv_reply_type type)
{
    size_t pos = r->bytes.len;
    buf_put_u8(&r->bytes, (uint8_t)type);
    buf_put_u32(&r->bytes, 0);
    ASSERT(!r->bytes.failed);
    return pos;
}

static void aggregate_end(struct kv_reply *r, enum kv_reply_type type, size_t pos, uint32_t count)
{
    ASSERT(pos + 5 <= r->bytes.len && r->bytes.data[pos] == type);
    le_store_u32(r->bytes.data + pos + 1, count);
}

size_t kv_reply_array_begin(struct kv_reply *r) { return aggregate_begin(r, KV_REPLY_ARRAY); }

void kv_reply_array_end(struct kv_reply *r, size_t pos, uint32_t count)
{
    aggregate_end(r, KV_REPLY_ARRAY, pos, count);
}

size_t kv_reply_map_begin(struct kv_reply *r) { return aggregate_begin(r, KV_REPLY_MAP); }

void kv_reply_map_end(struct kv_reply *r, size_t pos, uint32_t pairs)
{
    aggregate_end(r, KV_REPLY_MAP, pos, pairs);
}

/* The number of nodes that follow an aggregate header. */
static uint64_t children_of(const struct kv_reply_item *item)
{
    if (item->type == KV_REPLY_ARRAY) {
        return item->count;
    }
    return item->type == KV_REPLY_MAP ? 2 * (uint64_t)item->count : 0;
}

void kv_reply_append(struct kv_reply *r, const struct kv_reply *value)
{
    buf_put(&r->bytes, value->bytes.data, value->bytes.len);
    ASSERT(!r->bytes.failed);
}

/* Reads one node; for arrays only the header. False on a malformed encoding. */
static bool read_item(struct buf_reader *rd, struct kv_reply_item *out)
{
    memset(out, 0, sizeof *out);
    uint8_t tag = buf_get_u8(rd);
    if (rd->failed) {
        return false;
    }
    out->type = (enum kv_reply_type)tag;
    switch (tag) {
    case KV_REPLY_STATUS:
    case KV_REPLY_ERROR:
    case KV_REPLY_BULK:
        out->str_len = buf_get_u32(rd);
        out->str = buf_get_bytes(rd, out->str_len);
        return out->str != NULL || (out->str_len == 0 && !rd->failed);
    case KV_REPLY_INTEGER:
        out->integer = (int64_t)buf_get_u64(rd);
        return !rd->failed;
    case KV_REPLY_NIL:
    case KV_REPLY_NIL_ARRAY:
        return true;
    case KV_REPLY_ARRAY:
    case KV_REPLY_MAP:
        out->count = buf_get_u32(rd);
        /* Every element takes at least one byte: a cheap bound before any loop. */
        return !rd->failed && children_of(out) <= buf_reader_left(rd);
    default:
        return false;
    }
}

/* Skips one whole value, arrays included, with a depth limit. */
static bool skip_value(struct buf_reader *rd, int depth)
{
    struct kv_reply_item item;
    if (depth > KV_REPLY_DEPTH_MAX || !read_item(rd, &item)) {
        return false;
    }
    uint64_t children = children_of(&item);
    for (uint64_t i = 0; i < children; i++) {
        if (!skip_value(rd, depth + 1)) {
            return false;
        }
    }
    return true;
}

bool kv_reply_valid(const uint8_t *data, size_t len)
{
    /* A lone string or nil (almost every reply) is checked by its length alone. */
    if (len >= 5 && (data[0] == KV_REPLY_STATUS || data[0] == KV_REPLY_ERROR ||
                     data[0] == KV_REPLY_BULK)) {
        return le_load_u32(data + 1) == len - 5;
    }
    if (len == 1 && (data[0] == KV_REPLY_NIL || data[0] == KV_REPLY_NIL_ARRAY)) {
        return true;
    }
    struct buf_reader rd = buf_reader_make(data, len);
    return len > 0 && skip_value(&rd, 0) && buf_reader_left(&rd) == 0;
}

int kv_reply_set_bytes(struct kv_reply *r, const uint8_t *data, size_t len)
{
    buf_reset(&r->bytes);
    if (!kv_reply_valid(data, len)) {
        return ERR_MALFORMED;
    }
    buf_put(&r->bytes, data, len);
    ASSERT(!r->bytes.failed);
    return 0;
}

void kv_reply_iter_init(struct kv_reply_iter *it, const struct kv_reply *r)
{
    it->r = buf_reader_make(r->bytes.data, r->bytes.len);
}

bool kv_reply_next(struct kv_reply_iter *it, struct kv_reply_item *out)
{
    if (buf_reader_left(&it->r) == 0) {
        return false;
    }
    return read_item(&it->r, out);
}

enum kv_reply_type kv_reply_type_of(const struct kv_reply *r)
{
    if (r->bytes.len == 0) {
        return KV_REPLY_NIL;
    }
    return (enum kv_reply_type)r->bytes.data[0];
}

bool kv_reply_is_error(const struct kv_reply *r) { return kv_reply_type_of(r) == KV_REPLY_ERROR; }

/* ---- formatting ---- */

void kv_text_put(struct kv_text *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (o->len + 4 >= o->cap) { /* keep room for "..." and the NUL */
            o->truncated = true;
            return;
        }
        o->p[o->len++] = s[i];
    }
}

void kv_text_bytes(struct kv_text *o, const uint8_t *s, size_t n, bool quoted)
{
    if (quoted) {
        kv_text_put(o, "\"", 1);
    }
    for (size_t i = 0; i < n && !o->truncated; i++) {
        char esc[8];
        if (quoted && (s[i] == '"' || s[i] == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)s[i];
            kv_text_put(o, esc, 2);
        } else if (s[i] < 0x20 || s[i] >= 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", s[i]);
            kv_text_put(o, esc, 4);
        } else {
            kv_text_put(o, (const char *)&s[i], 1);
        }
    }
    if (quoted) {
        kv_text_put(o, "\"", 1);
    }
}

size_t kv_text_finish(struct kv_text *o)
{
    if (o->truncated) {
        memcpy(o->p + o->len, "...", 3);
        o->len += 3;
    }
    o->p[o->len] = '\0';
    return o->len;
}

static bool fmt_value(struct kv_text *o, struct kv_reply_iter *it, int depth);

/* [a,b] for arrays, {k:v,k:v} for maps. */
static bool fmt_aggregate(struct kv_text *o, struct kv_reply_iter *it,
                          const struct kv_reply_item *item, int depth)
{
    bool map = item->type == KV_REPLY_MAP;
    kv_text_put(o, map ? "{" : "[", 1);
    uint64_t children = children_of(item);
    for (uint64_t i = 0; i < children; i++) {
        if (i > 0) {
            kv_text_put(o, map && i % 2 == 1 ? ":" : ",", 1);
        }
        if (!fmt_value(o, it, depth + 1)) {
            return false;
        }
    }
    kv_text_put(o, map ? "}" : "]", 1);
    return true;
}

static bool fmt_value(struct kv_text *o, struct kv_reply_iter *it, int depth)
{
    struct kv_reply_item item;
    if (depth > KV_REPLY_DEPTH_MAX || !kv_reply_next(it, &item)) {
        return false;
    }
    char num[32];
    switch (item.type) {
    case KV_REPLY_STATUS:
        kv_text_put(o, (const char *)item.str, item.str_len);
        return true;
    case KV_REPLY_ERROR:
        kv_text_put(o, "(error) ", 8);
        kv_text_put(o, (const char *)item.str, item.str_len);
        return true;
    case KV_REPLY_INTEGER:
        kv_text_put(o, num, (size_t)snprintf(num, sizeof num, "(integer) %lld", (long long)item.integer));
        return true;
    case KV_REPLY_BULK:
        kv_text_bytes(o, item.str, item.str_len, true);
        return true;
    case KV_REPLY_NIL:
    case KV_REPLY_NIL_ARRAY:
        kv_text_put(o, "(nil)", 5);
        return true;
    case KV_REPLY_ARRAY:
    case KV_REPLY_MAP:
        return fmt_aggregate(o, it, &item, depth);
    }
    return false;
}

size_t kv_reply_format(const struct kv_reply *r, char *out, size_t cap)
{
    ASSERT(cap >= 8);
    struct kv_text o = {out, cap, 0, false};
    struct kv_reply_iter it;
    kv_reply_iter_init(&it, r);
    if (!fmt_value(&o, &it, 0)) {
        o.len = 0;
        o.truncated = false;
        kv_text_put(&o, "(malformed)", 11);
    }
    return kv_text_finish(&o);
}
