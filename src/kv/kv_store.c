/* The store object and its keyspace: creation, key lookup with expiry, removal with the
 * version bookkeeping of WATCH (kv.h, kv_key_version), the order-independent digest and
 * the invariant check.
 *
 * Expiry: a key whose expire_at_ms is below the current time reads as absent (as in
 * Redis, a key is alive at exactly its expiry millisecond). Reads never remove it; the
 * apply path removes ("reaps") an expired key when a write touches it, and sweeps all
 * expired keys when the index crosses a multiple of KV_EXPIRE_SWEEP_INTERVAL_ENTRIES and
 * before refusing a
 * write at the memory cap. Both are functions of the applied entries only, so every
 * replica reaps the same keys at the same index. */
#include <stdlib.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "kv/kv_internal.h"

static size_t or_default(size_t v, size_t d) { return v != 0 ? v : d; }

void kv_config_fill(struct kv_config *out, const struct kv_config *in)
{
    struct kv_config zero = {0};
    if (in == NULL) {
        in = &zero;
    }
    out->memory_bytes_max = or_default(in->memory_bytes_max, KV_MEMORY_BYTES_MAX_DEFAULT);
    out->session_timeout_ms = in->session_timeout_ms != 0 ? in->session_timeout_ms
                                                          : KV_SESSION_TIMEOUT_MS_DEFAULT;
    out->key_size_bytes_max = or_default(in->key_size_bytes_max, KV_KEY_SIZE_BYTES_MAX_DEFAULT);
    out->value_size_bytes_max =
        or_default(in->value_size_bytes_max, KV_VALUE_SIZE_BYTES_MAX_DEFAULT);
    out->collection_len_max = or_default(in->collection_len_max, KV_COLLECTION_LEN_MAX_DEFAULT);
    out->argc_max = in->argc_max > 0 ? in->argc_max : KV_ARGC_MAX_DEFAULT;
    out->sessions_count_max = or_default(in->sessions_count_max, KV_SESSIONS_COUNT_MAX_DEFAULT);
    out->session_replies_count_max =
        or_default(in->session_replies_count_max, KV_SESSION_REPLIES_COUNT_MAX_DEFAULT);
    out->multi_commands_count_max =
        or_default(in->multi_commands_count_max, KV_MULTI_COMMANDS_COUNT_MAX_DEFAULT);
    out->session_reply_bytes_max =
        or_default(in->session_reply_bytes_max, KV_SESSION_REPLY_BYTES_MAX_DEFAULT);
#ifdef CHORUS_MUTANTS
    out->mutant_apply_retries_twice = in->mutant_apply_retries_twice;
#endif
}

bool kv_key_eq(const void *item, const void *key)
{
    const struct kv_key *k = item;
    const struct kv_bytes *b = key;
    return k->key_len == b->len && (b->len == 0 || memcmp(k->key, b->p, b->len) == 0);
}

bool kv_field_eq(const void *item, const void *key)
{
    const struct kv_field *f = item;
    const struct kv_bytes *b = key;
    return f->field_len == b->len && (b->len == 0 || memcmp(f->data, b->p, b->len) == 0);
}

struct kv_store *kv_create(const struct kv_config *cfg)
{
    struct kv_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    kv_config_fill(&s->cfg, cfg);
    hashmap_init(&s->keys, kv_key_eq);
    hashmap_init(&s->sessions, kv_session_eq);
    /* The arena's limit is set per entry in kv_apply. */
    arena_init(&s->arena, 16 << 10, 0);
    return s;
}

static void keys_clear(struct kv_store *s)
{
    void *item;
    for (size_t i = 0; hashmap_next(&s->keys, &i, &item);) {
        kv_key_free(&s->memory_bytes, item);
    }
    hashmap_free(&s->keys);
    s->volatile_count = 0;
    ASSERT(s->memory_bytes == 0);
}

void kv_destroy(struct kv_store *s)
{
    if (s == NULL) {
        return;
    }
    keys_clear(s);
    kv_sessions_clear(s);
    hashmap_free(&s->sessions);
    arena_free(&s->arena);
    free(s);
}

const struct kv_config *kv_config_of(const struct kv_store *s) { return &s->cfg; }
uint64_t kv_applied_index(const struct kv_store *s) { return s->applied_index; }
uint64_t kv_log_clock_ms(const struct kv_store *s) { return s->log_clock_ms; }

void kv_stats(const struct kv_store *s, struct kv_stats *out)
{
    *out = s->counters;
    out->keys_count = s->keys.items_count;
    out->memory_bytes = s->memory_bytes;
    out->sessions_count = s->sessions.items_count;
}

/* ---- keys ---- */

bool kv_key_expired(const struct kv_key *k, uint64_t now_ms)
{
    return k->expire_at_ms != 0 && k->expire_at_ms < now_ms;
}

static struct kv_key *key_find_hashed(const struct kv_store *s, const uint8_t *key, size_t len,
                                      uint64_t hash)
{
    struct kv_bytes b = {key, len};
    return hashmap_find(&s->keys, hash, &b);
}

struct kv_key *kv_key_find(const struct kv_store *s, const uint8_t *key, size_t len)
{
    return key_find_hashed(s, key, len, hash_bytes(key, len));
}

struct kv_key *kv_key_get_hashed(const struct kv_store *s, uint64_t now_ms, const uint8_t *key,
                                 size_t len, uint64_t hash)
{
    struct kv_key *k = key_find_hashed(s, key, len, hash);
    return k != NULL && !kv_key_expired(k, now_ms) ? k : NULL;
}

struct kv_key *kv_key_get(const struct kv_store *s, uint64_t now_ms, const uint8_t *key, size_t len)
{
    return kv_key_get_hashed(s, now_ms, key, len, hash_bytes(key, len));
}

struct kv_key *kv_key_get_for_write_hashed(struct kv_store *s, uint64_t now_ms, const uint8_t *key,
                                           size_t len, uint64_t hash)
{
    struct kv_key *k = key_find_hashed(s, key, len, hash);
    if (k != NULL && kv_key_expired(k, now_ms)) {
        kv_key_reap(s, k);
        return NULL;
    }
    return k;
}

static void key_unlink_free(struct kv_store *s, struct kv_key *k)
{
    struct kv_bytes b = {k->key, k->key_len};
    ASSERT(hashmap_remove(&s->keys, k->hash, &b) == k);
    if (k->expire_at_ms != 0) {
        s->volatile_count--;
    }
    kv_key_free(&s->memory_bytes, k);
}

struct kv_key *kv_key_create(struct kv_store *s, uint64_t index, const uint8_t *key, size_t len,
                             enum kv_type type)
{
    return kv_key_create_hashed(s, index, key, len, hash_bytes(key, len), type);
}

struct kv_key *kv_key_create_hashed(struct kv_store *s, uint64_t index, const uint8_t *key,
                                    size_t len, uint64_t hash, enum kv_type type)
{
    /* kv_check_invariants checks every key's hash; here only that the key is new. */
    DEBUG_ASSERT(key_find_hashed(s, key, len, hash) == NULL);
    struct kv_key *k = kv_key_alloc(&s->memory_bytes, key, len, hash);
    k->type = type;
    k->version_index = index;
    if (type == KV_TYPE_LIST) {
        k->v.list = kv_list_alloc();
    } else if (type == KV_TYPE_HASH) {
        k->v.hash = kv_hash_alloc();
    }
    ASSERT(hashmap_insert(&s->keys, k->hash, k) == 0);
    return k;
}

void kv_key_remove(struct kv_store *s, uint64_t index, struct kv_key *k)
{
    s->removed_index = MAX(s->removed_index, index);
    key_unlink_free(s, k);
}

void kv_key_reap(struct kv_store *s, struct kv_key *k)
{
    /* As if the key had been removed when it was last written: its own version (2D+1
     * with D >= version_index) is unchanged by the reaping. */
    s->removed_index = MAX(s->removed_index, k->version_index);
    key_unlink_free(s, k);
}

void kv_key_set_expire(struct kv_store *s, struct kv_key *k, uint64_t expire_at_ms)
{
    if (k->expire_at_ms == 0 && expire_at_ms != 0) {
        s->volatile_count++;
    } else if (k->expire_at_ms != 0 && expire_at_ms == 0) {
        s->volatile_count--;
    }
    k->expire_at_ms = expire_at_ms;
}

void kv_expire_sweep(struct kv_store *s, uint64_t now_ms)
{
    if (s->volatile_count == 0) {
        return;
    }
    struct kv_vec dead;
    kv_vec_init(&dead);
    void *item;
    for (size_t i = 0; hashmap_next(&s->keys, &i, &item);) {
        if (kv_key_expired(item, now_ms)) {
            kv_vec_push(&dead, item);
        }
    }
    /* The result does not depend on the order: removed_index takes a maximum. */
    for (size_t i = 0; i < dead.len; i++) {
        kv_key_reap(s, dead.items[i]);
    }
    kv_vec_free(&dead);
}

uint64_t kv_key_version(const struct kv_store *s, uint64_t now_ms, const uint8_t *key,
                        size_t key_len)
{
    const struct kv_key *k = kv_key_find(s, key, key_len);
    if (k != NULL && !kv_key_expired(k, now_ms)) {
        return 2 * k->version_index;
    }
    uint64_t d = MAX(s->removed_index, k != NULL ? k->version_index : 0);
    return 2 * d + 1;
}

const char *kv_type_name(enum kv_type t)
{
    switch (t) {
    case KV_TYPE_STRING:
        return "string";
    case KV_TYPE_LIST:
        return "list";
    case KV_TYPE_HASH:
        return "hash";
    }
    return "none";
}

int kv_key_compare(const struct kv_key *a, const struct kv_key *b)
{
    if (a->hash != b->hash) {
        return a->hash < b->hash ? -1 : 1;
    }
    size_t n = MIN(a->key_len, b->key_len);
    int c = n > 0 ? memcmp(a->key, b->key, n) : 0;
    if (c != 0) {
        return c;
    }
    return a->key_len < b->key_len ? -1 : a->key_len > b->key_len;
}

/* ---- digest ---- */

uint64_t kv_mix(uint64_t h, const void *data, size_t len)
{
    return hash_u64(h * 0x9e3779b97f4a7c15ull ^ hash_bytes(data, len) ^ (uint64_t)len);
}

static uint64_t mix_u64(uint64_t h, uint64_t v)
{
    uint8_t b[8];
    le_store_u64(b, v);
    return kv_mix(h, b, sizeof b);
}

static uint64_t value_digest(const struct kv_key *k)
{
    uint64_t h = 0;
    if (k->type == KV_TYPE_STRING) {
        return kv_mix(h, k->v.str->data, k->v.str->len);
    }
    if (k->type == KV_TYPE_LIST) {
        for (size_t i = 0; i < k->v.list->len; i++) {
            const struct kv_blob *b = kv_list_at(k->v.list, i);
            h = kv_mix(h, b->data, b->len);
        }
        return h;
    }
    void *item;
    for (size_t i = 0; hashmap_next(&k->v.hash->fields, &i, &item);) {
        const struct kv_field *f = item;
        h += kv_mix(kv_mix(0, f->data, f->field_len), f->data + f->field_len, f->value_len);
    }
    return h;
}

static uint64_t key_digest(const struct kv_key *k)
{
    uint64_t h = kv_mix(0, k->key, k->key_len);
    h = mix_u64(h, (uint64_t)k->type);
    h = mix_u64(h, k->version_index);
    h = mix_u64(h, k->expire_at_ms);
    return mix_u64(h, value_digest(k));
}

uint64_t kv_digest(const struct kv_store *s)
{
    uint64_t keys = 0, sessions = 0;
    void *item;
    for (size_t i = 0; hashmap_next(&s->keys, &i, &item);) {
        keys += key_digest(item);
    }
    for (size_t i = 0; hashmap_next(&s->sessions, &i, &item);) {
        sessions += kv_session_digest(item);
    }
    uint64_t h = mix_u64(0, keys);
    h = mix_u64(h, sessions);
    h = mix_u64(h, s->applied_index);
    h = mix_u64(h, s->log_clock_ms);
    return mix_u64(h, s->removed_index);
}

/* ---- invariants ---- */

static size_t check_key(const struct kv_store *s, const struct kv_key *k)
{
    size_t charge = kv_key_charge(k->key_len);
    ASSERT(k->hash == hash_bytes(k->key, k->key_len));
    ASSERT(k->version_index <= s->applied_index);
    if (k->type == KV_TYPE_STRING) {
        ASSERT(k->v.str != NULL);
        return charge + kv_blob_charge(k->v.str->len);
    }
    if (k->type == KV_TYPE_LIST) {
        const struct kv_list *l = k->v.list;
        ASSERT(l != NULL && l->len > 0 && l->len <= l->cap && (l->cap & (l->cap - 1)) == 0);
        for (size_t i = 0; i < l->len; i++) {
            charge += kv_elem_charge(kv_list_at(l, i)->len);
        }
        return charge;
    }
    ASSERT(k->type == KV_TYPE_HASH && k->v.hash != NULL && k->v.hash->fields.items_count > 0);
    void *item;
    for (size_t i = 0; hashmap_next(&k->v.hash->fields, &i, &item);) {
        const struct kv_field *f = item;
        ASSERT(f->hash == hash_bytes(f->data, f->field_len));
        charge += kv_field_charge(f->field_len, f->value_len);
    }
    return charge;
}

static void check_session(const struct kv_store *s, const struct kv_session *ss)
{
    ASSERT(ss->client_id != 0 && ss->client_id <= s->applied_index);
    ASSERT(ss->cached_cap == s->cfg.session_replies_count_max);
    ASSERT(ss->cached_count <= ss->cached_cap);
    ASSERT(ss->cached_count <= 1 || kv_session_cached_bytes(ss) <= s->cfg.session_reply_bytes_max);
    for (size_t i = 0; i < ss->cached_count; i++) {
        ASSERT(ss->cached[i].seq >= ss->floor_seq);
        ASSERT(kv_reply_valid(ss->cached[i].reply.bytes.data, ss->cached[i].reply.bytes.len));
        for (size_t j = 0; j < i; j++) {
            ASSERT(ss->cached[j].seq != ss->cached[i].seq);
        }
    }
}

void kv_check_invariants(const struct kv_store *s)
{
    size_t charge = 0, volatile_count = 0;
    void *item;
    for (size_t i = 0; hashmap_next(&s->keys, &i, &item);) {
        const struct kv_key *k = item;
        charge += check_key(s, k);
        volatile_count += k->expire_at_ms != 0;
    }
    ASSERT(charge == s->memory_bytes);
    ASSERT(s->memory_bytes <= s->cfg.memory_bytes_max);
    ASSERT(volatile_count == s->volatile_count);
    ASSERT(s->removed_index <= s->applied_index);
    ASSERT(s->sessions.items_count <= s->cfg.sessions_count_max);
    for (size_t i = 0; hashmap_next(&s->sessions, &i, &item);) {
        check_session(s, item);
    }
}
