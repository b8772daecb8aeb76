/* Snapshots of the whole state machine: keyspace (values, expiries, versions), session
 * table (with cached replies), applied index, log clock and the removal index of WATCH.
 *
 * Byte format, version 1 (all integers little-endian):
 *   header  u32 magic 0x53564B43 ("CKVS")  u32 version (1)  u64 body_len
 *   body    u64 applied_index  u64 log_clock_ms  u64 removed_index
 *           u64 key_count, then per key in (hash, key bytes) order:
 *             u32 key_len, key bytes, u8 type (1 string, 2 list, 3 hash),
 *             u64 version_index, u64 expire_at_ms (0 = none), then the value:
 *               string: u32 len, bytes
 *               list:   u32 count (> 0), count x (u32 len, bytes), head first
 *               hash:   u32 count (> 0), count x (u32 flen, field, u32 vlen, value),
 *                       in field order
 *           u64 session_count, then per session in client id order:
 *             u64 client_id, u64 last_active_ms, u64 floor_seq, u32 cached_count,
 *             cached_count x (u64 seq, u32 len, reply bytes in the kv_reply.h format)
 *   trailer u32 CRC32C of header and body
 * The canonical order makes equal states give equal bytes. Loading checks the magic,
 * the version, that body_len matches the input exactly, the CRC, and then every field:
 * sizes within the configured limits (reply caches included), known types, non-empty collections, no duplicate
 * keys, fields or sessions, versions and session ids not above the applied index,
 * well-formed cached replies, the accounted size within the memory cap. It builds a
 * fresh store and swaps it in only when everything passed, so a failed load leaves the
 * store as it was. Mirrored in docs/kv.md. */
#include <stdlib.h>

#include "base/assertions.h"
#include "base/crc32c.h"
#include "base/errors.h"
#include "kv/kv_internal.h"

#define KV_SNAPSHOT_MAGIC 0x53564B43u
#define KV_SNAPSHOT_VERSION 1u
#define KV_SNAPSHOT_HEADER_BYTES 16
#define KV_SNAPSHOT_TRAILER_BYTES 4

/* ---- writing ---- */

static void put_bytes32(struct buf *b, const uint8_t *p, size_t len)
{
    ASSERT(len <= UINT32_MAX);
    buf_put_u32(b, (uint32_t)len);
    buf_put(b, p, len);
}

static void write_value(struct buf *b, const struct kv_key *k)
{
    if (k->type == KV_TYPE_STRING) {
        put_bytes32(b, k->v.str->data, k->v.str->len);
    } else if (k->type == KV_TYPE_LIST) {
        buf_put_u32(b, (uint32_t)k->v.list->len);
        for (size_t i = 0; i < k->v.list->len; i++) {
            const struct kv_blob *e = kv_list_at(k->v.list, i);
            put_bytes32(b, e->data, e->len);
        }
    } else {
        struct kv_vec fields;
        kv_vec_init(&fields);
        kv_hash_sorted_fields(k->v.hash, &fields);
        buf_put_u32(b, (uint32_t)fields.len);
        for (size_t i = 0; i < fields.len; i++) {
            const struct kv_field *f = fields.items[i];
            put_bytes32(b, f->data, f->field_len);
            put_bytes32(b, f->data + f->field_len, f->value_len);
        }
        kv_vec_free(&fields);
    }
}

static int session_cmp(const void *a, const void *b)
{
    uint64_t x = (*(const struct kv_session *const *)a)->client_id;
    uint64_t y = (*(const struct kv_session *const *)b)->client_id;
    return x < y ? -1 : x > y;
}

static void sorted_items(const struct hashmap *m, int (*cmp)(const void *, const void *),
                         struct kv_vec *out)
{
    void *item;
    for (size_t i = 0; hashmap_next(m, &i, &item);) {
        kv_vec_push(out, item);
    }
    if (out->len > 1) {
        qsort(out->items, out->len, sizeof *out->items, cmp);
    }
}

static void write_keys(const struct kv_store *s, struct buf *b)
{
    struct kv_vec keys;
    kv_vec_init(&keys);
    void *item;
    for (size_t i = 0; hashmap_next(&s->keys, &i, &item);) {
        kv_vec_push(&keys, item);
    }
    kv_sort_keys(&keys);
    buf_put_u64(b, keys.len);
    for (size_t i = 0; i < keys.len; i++) {
        const struct kv_key *k = keys.items[i];
        put_bytes32(b, k->key, k->key_len);
        buf_put_u8(b, (uint8_t)k->type);
        buf_put_u64(b, k->version_index);
        buf_put_u64(b, k->expire_at_ms);
        write_value(b, k);
    }
    kv_vec_free(&keys);
}

static void write_sessions(const struct kv_store *s, struct buf *b)
{
    struct kv_vec sessions;
    kv_vec_init(&sessions);
    sorted_items(&s->sessions, session_cmp, &sessions);
    buf_put_u64(b, sessions.len);
    for (size_t i = 0; i < sessions.len; i++) {
        const struct kv_session *ss = sessions.items[i];
        buf_put_u64(b, ss->client_id);
        buf_put_u64(b, ss->last_active_ms);
        buf_put_u64(b, ss->floor_seq);
        buf_put_u32(b, (uint32_t)ss->cached_count);
        for (size_t j = 0; j < ss->cached_count; j++) {
            buf_put_u64(b, ss->cached[j].seq);
            put_bytes32(b, ss->cached[j].reply.bytes.data, ss->cached[j].reply.bytes.len);
        }
    }
    kv_vec_free(&sessions);
}

int kv_snapshot_write(const struct kv_store *s, struct buf *out)
{
    size_t start = out->len;
    buf_put_u32(out, KV_SNAPSHOT_MAGIC);
    buf_put_u32(out, KV_SNAPSHOT_VERSION);
    buf_put_u64(out, 0); /* body_len, patched below */
    size_t body = out->len;
    buf_put_u64(out, s->applied_index);
    buf_put_u64(out, s->log_clock_ms);
    buf_put_u64(out, s->removed_index);
    write_keys(s, out);
    write_sessions(s, out);
    if (out->failed) {
        return ERR_NOMEM;
    }
    le_store_u64(out->data + start + 8, out->len - body);
    buf_put_u32(out, crc32c(out->data + start, out->len - start));
    return out->failed ? ERR_NOMEM : 0;
}

/* ---- loading ---- */

/* Reads u32 length + bytes, refusing lengths above max. NULL with *rc set on failure. */
static const uint8_t *get_bytes32(struct buf_reader *r, size_t max, size_t *len, int *rc)
{
    *len = buf_get_u32(r);
    if (r->failed) {
        *rc = ERR_MALFORMED;
        return NULL;
    }
    if (*len > max) {
        *rc = ERR_TOO_LARGE;
        return NULL;
    }
    const uint8_t *p = buf_get_bytes(r, *len);
    if (p == NULL && *len > 0) {
        *rc = ERR_MALFORMED;
        return NULL;
    }
    return p != NULL ? p : (const uint8_t *)"";
}

/* Reads a collection count: > 0, within the limit and the bytes left (>= 4 each). */
static int get_count(struct buf_reader *r, size_t max, size_t *count)
{
    *count = buf_get_u32(r);
    if (r->failed || *count == 0 || *count > buf_reader_left(r) / 4) {
        return ERR_MALFORMED;
    }
    return *count > max ? ERR_TOO_LARGE : 0;
}

static int read_list(struct kv_store *t, struct buf_reader *r, struct kv_key *k)
{
    size_t count, len;
    int rc = get_count(r, t->cfg.collection_len_max, &count);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const uint8_t *p = get_bytes32(r, t->cfg.value_size_bytes_max, &len, &rc);
        if (p != NULL) {
            kv_list_push(&t->memory_bytes, k->v.list, false, p, len);
        }
    }
    return rc;
}

static int read_hash(struct kv_store *t, struct buf_reader *r, struct kv_key *k)
{
    size_t count, flen, vlen;
    int rc = get_count(r, t->cfg.collection_len_max, &count);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const uint8_t *f = get_bytes32(r, t->cfg.value_size_bytes_max, &flen, &rc);
        const uint8_t *v = f != NULL ? get_bytes32(r, t->cfg.value_size_bytes_max, &vlen, &rc) : NULL;
        if (v != NULL && !kv_hash_set(&t->memory_bytes, k->v.hash, f, flen, v, vlen)) {
            rc = ERR_MALFORMED; /* a duplicate field */
        }
    }
    return rc;
}

static int read_value(struct kv_store *t, struct buf_reader *r, struct kv_key *k)
{
    if (k->type == KV_TYPE_LIST) {
        return read_list(t, r, k);
    }
    if (k->type == KV_TYPE_HASH) {
        return read_hash(t, r, k);
    }
    size_t len;
    int rc = 0;
    const uint8_t *p = get_bytes32(r, t->cfg.value_size_bytes_max, &len, &rc);
    if (p != NULL) {
        k->v.str = kv_blob_alloc(&t->memory_bytes, p, len);
    }
    return rc;
}

static int read_key(struct kv_store *t, struct buf_reader *r)
{
    size_t len;
    int rc = 0;
    const uint8_t *key = get_bytes32(r, t->cfg.key_size_bytes_max, &len, &rc);
    if (key == NULL) {
        return rc;
    }
    uint8_t type = buf_get_u8(r);
    uint64_t version = buf_get_u64(r);
    uint64_t expire = buf_get_u64(r);
    if (r->failed || type < KV_TYPE_STRING || type > KV_TYPE_HASH || version > t->applied_index ||
        kv_key_find(t, key, len) != NULL) {
        return ERR_MALFORMED;
    }
    struct kv_key *k = kv_key_create(t, version, key, len, (enum kv_type)type);
    kv_key_set_expire(t, k, expire);
    rc = read_value(t, r, k);
    if (rc == 0 && t->memory_bytes > t->cfg.memory_bytes_max) {
        rc = ERR_TOO_LARGE;
    }
    return rc;
}

static int read_cached(struct buf_reader *r, struct kv_session *ss)
{
    uint64_t seq = buf_get_u64(r);
    size_t len;
    int rc = ERR_MALFORMED;
    const uint8_t *p = get_bytes32(r, buf_reader_left(r), &len, &rc);
    if (p == NULL || seq < ss->floor_seq || kv_session_cached(ss, seq) != NULL) {
        return ERR_MALFORMED;
    }
    struct kv_cached *c = &ss->cached[ss->cached_count++];
    c->seq = seq;
    return kv_reply_set_bytes(&c->reply, p, len);
}

static int read_session(struct kv_store *t, struct buf_reader *r)
{
    uint64_t id = buf_get_u64(r);
    uint64_t last_active_ms = buf_get_u64(r);
    uint64_t floor_seq = buf_get_u64(r);
    uint32_t count = buf_get_u32(r);
    if (r->failed || id == 0 || id > t->applied_index || kv_session_find(t, id) != NULL ||
        count > t->cfg.session_replies_count_max) {
        return ERR_MALFORMED;
    }
    kv_session_register(t, id);
    struct kv_session *ss = kv_session_find(t, id);
    ss->last_active_ms = last_active_ms;
    ss->floor_seq = floor_seq;
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        rc = read_cached(r, ss);
    }
    if (rc == 0 && count > 1 && kv_session_cached_bytes(ss) > t->cfg.session_reply_bytes_max) {
        rc = ERR_MALFORMED;
    }
    return rc;
}

static int read_body(struct kv_store *t, struct buf_reader *r)
{
    t->applied_index = buf_get_u64(r);
    t->log_clock_ms = buf_get_u64(r);
    t->removed_index = buf_get_u64(r);
    uint64_t keys = buf_get_u64(r);
    if (r->failed || t->removed_index > t->applied_index || keys > buf_reader_left(r)) {
        return ERR_MALFORMED;
    }
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && i < keys; i++) {
        rc = read_key(t, r);
    }
    uint64_t sessions = rc == 0 ? buf_get_u64(r) : 0;
    if (rc == 0 && (r->failed || sessions > t->cfg.sessions_count_max)) {
        rc = ERR_MALFORMED;
    }
    for (uint64_t i = 0; rc == 0 && i < sessions; i++) {
        rc = read_session(t, r);
    }
    if (rc == 0 && buf_reader_left(r) != 0) {
        rc = ERR_MALFORMED;
    }
    /* Sessions were registered at log clock 0; the first apply recomputes the sweep. */
    t->session_sweep_ms = 0;
    return rc;
}

static int check_frame(const uint8_t *data, size_t len)
{
    if (len < KV_SNAPSHOT_HEADER_BYTES + KV_SNAPSHOT_TRAILER_BYTES) {
        return ERR_TRUNCATED;
    }
    if (le_load_u32(data) != KV_SNAPSHOT_MAGIC) {
        return ERR_MAGIC;
    }
    if (le_load_u32(data + 4) != KV_SNAPSHOT_VERSION) {
        return ERR_VERSION;
    }
    uint64_t body_len = le_load_u64(data + 8);
    size_t room = len - KV_SNAPSHOT_HEADER_BYTES - KV_SNAPSHOT_TRAILER_BYTES;
    if (body_len > room) {
        return ERR_TRUNCATED;
    }
    if (body_len < room) {
        return ERR_MALFORMED;
    }
    uint32_t want = le_load_u32(data + len - KV_SNAPSHOT_TRAILER_BYTES);
    if (crc32c(data, len - KV_SNAPSHOT_TRAILER_BYTES) != want) {
        return ERR_CHECKSUM;
    }
    return 0;
}

/* Exchanges the state of two stores; configuration, arena and counters stay put. */
static void swap_state(struct kv_store *a, struct kv_store *b)
{
    struct kv_store tmp = *a;
    a->keys = b->keys;
    a->memory_bytes = b->memory_bytes;
    a->volatile_count = b->volatile_count;
    a->applied_index = b->applied_index;
    a->log_clock_ms = b->log_clock_ms;
    a->removed_index = b->removed_index;
    a->sessions = b->sessions;
    a->session_sweep_ms = b->session_sweep_ms;
    b->keys = tmp.keys;
    b->memory_bytes = tmp.memory_bytes;
    b->volatile_count = tmp.volatile_count;
    b->applied_index = tmp.applied_index;
    b->log_clock_ms = tmp.log_clock_ms;
    b->removed_index = tmp.removed_index;
    b->sessions = tmp.sessions;
    b->session_sweep_ms = tmp.session_sweep_ms;
}

int kv_snapshot_load(struct kv_store *s, const uint8_t *data, size_t len)
{
    int rc = check_frame(data, len);
    if (rc != 0) {
        return rc;
    }
    struct kv_store *t = kv_create(&s->cfg);
    if (t == NULL) {
        return ERR_NOMEM;
    }
    struct buf_reader r = buf_reader_make(data + KV_SNAPSHOT_HEADER_BYTES,
                                          len - KV_SNAPSHOT_HEADER_BYTES - KV_SNAPSHOT_TRAILER_BYTES);
    rc = read_body(t, &r);
    if (rc == 0) {
        swap_state(s, t);
    }
    kv_destroy(t);
    return rc;
}
