/* The accounted allocator of the keyspace: every malloc and free of keys, values, list
 * elements, hash fields, sessions and scratch arrays of the kv module happens here.
 *
 * Each object is charged to a counter (struct kv_store.memory_bytes) with a size that
 * depends on its content only: content bytes plus a fixed overhead per key, blob, list
 * element or hash field. Capacity slack (ring buffers, hash table slots) is real memory
 * but is not charged, because it depends on history: a replica restored from a
 * snapshot has tighter tables than one that applied the log, and the cap must give both
 * the same answer. The cap itself is checked before a command runs (kv_apply.c), with
 * an upper bound of the command's growth, so a command never fails half-way. A failed
 * malloc is a real out-of-memory of the process and aborts. */
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "kv/kv_internal.h"

size_t kv_blob_charge(size_t len) { return KV_BLOB_OVERHEAD_BYTES + len; }
size_t kv_key_charge(size_t len) { return KV_KEY_OVERHEAD_BYTES + len; }
size_t kv_elem_charge(size_t len) { return KV_ELEM_OVERHEAD_BYTES + len; }
size_t kv_field_charge(size_t flen, size_t vlen) { return KV_FIELD_OVERHEAD_BYTES + flen + vlen; }

static void *kv_xalloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);
    ASSERT(p != NULL);
    return p;
}

static void charge_add(size_t *charge, size_t n) { *charge += n; }

static void charge_sub(size_t *charge, size_t n)
{
    ASSERT(*charge >= n);
    *charge -= n;
}

struct kv_blob *kv_blob_alloc(size_t *charge, const uint8_t *data, size_t len)
{
    struct kv_blob *b = kv_xalloc(sizeof *b + len);
    b->len = len;
    if (len > 0) {
        memcpy(b->data, data, len);
    }
    charge_add(charge, kv_blob_charge(len));
    return b;
}

struct kv_blob *kv_blob_concat(size_t *charge, const struct kv_blob *head, const uint8_t *tail,
                               size_t tail_len)
{
    struct kv_blob *b = kv_xalloc(sizeof *b + head->len + tail_len);
    b->len = head->len + tail_len;
    memcpy(b->data, head->data, head->len);
    if (tail_len > 0) {
        memcpy(b->data + head->len, tail, tail_len);
    }
    charge_add(charge, kv_blob_charge(b->len));
    return b;
}

void kv_blob_free(size_t *charge, struct kv_blob *b)
{
    if (b != NULL) {
        charge_sub(charge, kv_blob_charge(b->len));
        free(b);
    }
}

struct kv_key *kv_key_alloc(size_t *charge, const uint8_t *key, size_t len, uint64_t hash)
{
    struct kv_key *k = kv_xalloc(sizeof *k + len);
    memset(k, 0, sizeof *k);
    k->key_len = len;
    if (len > 0) {
        memcpy(k->key, key, len);
    }
    k->hash = hash;
    charge_add(charge, kv_key_charge(len));
    return k;
}

static void list_free(size_t *charge, struct kv_list *l)
{
    while (l->len > 0) {
        kv_blob_free(charge, kv_list_pop(charge, l, true));
    }
    free(l->items);
    free(l);
}

static void hash_free(size_t *charge, struct kv_hash *h)
{
    void *item;
    for (size_t i = 0; hashmap_next(&h->fields, &i, &item);) {
        struct kv_field *f = item;
        charge_sub(charge, kv_field_charge(f->field_len, f->value_len));
        free(f);
    }
    hashmap_free(&h->fields);
    free(h);
}

void kv_value_free(size_t *charge, struct kv_key *k)
{
    switch (k->type) {
    case KV_TYPE_STRING:
        kv_blob_free(charge, k->v.str);
        break;
    case KV_TYPE_LIST:
        if (k->v.list != NULL) {
            list_free(charge, k->v.list);
        }
        break;
    case KV_TYPE_HASH:
        if (k->v.hash != NULL) {
            hash_free(charge, k->v.hash);
        }
        break;
    }
    k->v.str = NULL;
}

void kv_key_free(size_t *charge, struct kv_key *k)
{
    kv_value_free(charge, k);
    charge_sub(charge, kv_key_charge(k->key_len));
    free(k);
}

/* ---- lists ---- */

struct kv_list *kv_list_alloc(void)
{
    struct kv_list *l = kv_xalloc(sizeof *l);
    memset(l, 0, sizeof *l);
    return l;
}

static void list_grow(struct kv_list *l)
{
    size_t cap = l->cap != 0 ? l->cap * 2 : 8;
    struct kv_blob **items = kv_xalloc(cap * sizeof *items);
    for (size_t i = 0; i < l->len; i++) {
        items[i] = kv_list_at(l, i);
    }
    free(l->items);
    l->items = items;
    l->cap = cap;
    l->head = 0;
}

struct kv_blob *kv_list_at(const struct kv_list *l, size_t i)
{
    ASSERT(i < l->len);
    return l->items[(l->head + i) & (l->cap - 1)];
}

void kv_list_push(size_t *charge, struct kv_list *l, bool front, const uint8_t *data, size_t len)
{
    if (l->len == l->cap) {
        list_grow(l);
    }
    struct kv_blob *b = kv_blob_alloc(charge, data, len);
    /* An element is charged as a blob plus the difference to a list element. */
    charge_add(charge, kv_elem_charge(len) - kv_blob_charge(len));
    if (front) {
        l->head = (l->head + l->cap - 1) & (l->cap - 1);
        l->items[l->head] = b;
    } else {
        l->items[(l->head + l->len) & (l->cap - 1)] = b;
    }
    l->len++;
}

struct kv_blob *kv_list_pop(size_t *charge, struct kv_list *l, bool front)
{
    ASSERT(l->len > 0);
    struct kv_blob *b;
    if (front) {
        b = l->items[l->head];
        l->head = (l->head + 1) & (l->cap - 1);
    } else {
        b = kv_list_at(l, l->len - 1);
    }
    l->len--;
    charge_sub(charge, kv_elem_charge(b->len) - kv_blob_charge(b->len));
    return b;
}

/* ---- hashes ---- */

struct kv_hash *kv_hash_alloc(void)
{
    struct kv_hash *h = kv_xalloc(sizeof *h);
    hashmap_init(&h->fields, kv_field_eq);
    return h;
}

struct kv_field *kv_hash_find(const struct kv_hash *h, const uint8_t *f, size_t len)
{
    struct kv_bytes key = {f, len};
    return hashmap_find(&h->fields, hash_bytes(f, len), &key);
}

bool kv_hash_set(size_t *charge, struct kv_hash *h, const uint8_t *f, size_t flen,
                 const uint8_t *v, size_t vlen)
{
    struct kv_bytes key = {f, flen};
    uint64_t hash = hash_bytes(f, flen);
    struct kv_field *old = hashmap_remove(&h->fields, hash, &key);
    struct kv_field *nf = kv_xalloc(sizeof *nf + flen + vlen);
    nf->hash = hash;
    nf->field_len = flen;
    nf->value_len = vlen;
    if (flen > 0) {
        memcpy(nf->data, f, flen);
    }
    if (vlen > 0) {
        memcpy(nf->data + flen, v, vlen);
    }
    ASSERT(hashmap_insert(&h->fields, hash, nf) == 0);
    charge_add(charge, kv_field_charge(flen, vlen));
    if (old != NULL) {
        charge_sub(charge, kv_field_charge(old->field_len, old->value_len));
        free(old);
    }
    return old == NULL;
}

bool kv_hash_del(size_t *charge, struct kv_hash *h, const uint8_t *f, size_t flen)
{
    struct kv_bytes key = {f, flen};
    struct kv_field *old = hashmap_remove(&h->fields, hash_bytes(f, flen), &key);
    if (old == NULL) {
        return false;
    }
    charge_sub(charge, kv_field_charge(old->field_len, old->value_len));
    free(old);
    return true;
}

/* ---- scratch vectors ---- */

void kv_vec_init(struct kv_vec *v) { memset(v, 0, sizeof *v); }

void kv_vec_push(struct kv_vec *v, void *item)
{
    if (v->len == v->cap) {
        size_t cap = v->cap != 0 ? v->cap * 2 : 16;
        void **items = realloc(v->items, cap * sizeof *items);
        ASSERT(items != NULL);
        v->items = items;
        v->cap = cap;
    }
    v->items[v->len++] = item;
}

void kv_vec_free(struct kv_vec *v)
{
    free(v->items);
    kv_vec_init(v);
}

static int key_ptr_cmp(const void *a, const void *b)
{
    return kv_key_compare(*(const struct kv_key *const *)a, *(const struct kv_key *const *)b);
}

static int field_cmp(const void *a, const void *b)
{
    const struct kv_field *fa = *(const struct kv_field *const *)a;
    const struct kv_field *fb = *(const struct kv_field *const *)b;
    size_t n = MIN(fa->field_len, fb->field_len);
    int c = n > 0 ? memcmp(fa->data, fb->data, n) : 0;
    if (c != 0) {
        return c;
    }
    return fa->field_len < fb->field_len ? -1 : fa->field_len > fb->field_len;
}

void kv_hash_sorted_fields(const struct kv_hash *h, struct kv_vec *out)
{
    void *item;
    for (size_t i = 0; hashmap_next(&h->fields, &i, &item);) {
        kv_vec_push(out, item);
    }
    if (out->len > 1) {
        qsort(out->items, out->len, sizeof *out->items, field_cmp);
    }
}

/* A key with its hash beside it: the sort reads hashes inside the array rather than
 * through a pointer to each key (a cache miss per comparison, most of the time a
 * 100,000-key snapshot took). */
struct hashed_key {
    uint64_t hash;
    const struct kv_key *key;
};

/* Below this many keys kv_sort_keys calls qsort; above, the radix sort's fixed cost (8
 * passes over 256 counters) is the smaller one. */
#define KV_KEYS_RADIX_SORT_MIN 64
#define KV_RADIX_BITS 8
#define KV_RADIX_BUCKETS (1u << KV_RADIX_BITS)

/* One stable pass of the LSD radix sort: from into to by the byte of hash at shift. */
static void radix_pass(const struct hashed_key *from, struct hashed_key *to, size_t n,
                       unsigned shift)
{
    size_t start[KV_RADIX_BUCKETS] = {0};
    for (size_t i = 0; i < n; i++) {
        start[(from[i].hash >> shift) & (KV_RADIX_BUCKETS - 1)]++;
    }
    size_t sum = 0;
    for (size_t d = 0; d < KV_RADIX_BUCKETS; d++) {
        size_t c = start[d];
        start[d] = sum;
        sum += c;
    }
    for (size_t i = 0; i < n; i++) {
        to[start[(from[i].hash >> shift) & (KV_RADIX_BUCKETS - 1)]++] = from[i];
    }
}

/* Sorts n pairs by hash (8 stable byte passes between a and tmp, an even number, so the
 * result ends in a), then puts keys that share a hash (rare) in kv_key_compare order. */
static void radix_sort(struct hashed_key *a, struct hashed_key *tmp, size_t n)
{
    struct hashed_key *from = a, *to = tmp;
    for (unsigned shift = 0; shift < 64; shift += KV_RADIX_BITS) {
        radix_pass(from, to, n, shift);
        struct hashed_key *t = from;
        from = to;
        to = t;
    }
    ASSERT(from == a);
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && a[j - 1].hash == a[j].hash; j--) {
            if (kv_key_compare(a[j - 1].key, a[j].key) < 0) {
                break;
            }
            struct hashed_key t = a[j - 1];
            a[j - 1] = a[j];
            a[j] = t;
        }
    }
}

void kv_sort_keys(struct kv_vec *keys)
{
    size_t n = keys->len;
    struct hashed_key *pairs = n >= KV_KEYS_RADIX_SORT_MIN ? malloc(2 * n * sizeof *pairs) : NULL;
    if (pairs == NULL) {
        if (n > 1) {
            qsort(keys->items, n, sizeof *keys->items, key_ptr_cmp); /* same order */
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct kv_key *k = keys->items[i];
        pairs[i] = (struct hashed_key){.hash = k->hash, .key = k};
    }
    radix_sort(pairs, pairs + n, n);
    for (size_t i = 0; i < n; i++) {
        keys->items[i] = (void *)pairs[i].key;
    }
    free(pairs);
}

/* ---- sessions ---- */

struct kv_session *kv_session_alloc(uint64_t client_id, size_t replies_max)
{
    struct kv_session *ss = kv_xalloc(sizeof *ss);
    memset(ss, 0, sizeof *ss);
    ss->client_id = client_id;
    ss->cached_cap = replies_max;
    ss->cached = kv_xalloc(replies_max * sizeof *ss->cached);
    for (size_t i = 0; i < replies_max; i++) {
        ss->cached[i].seq = 0;
        kv_reply_init(&ss->cached[i].reply);
    }
    return ss;
}

void kv_session_free(struct kv_session *ss)
{
    /* Slots beyond cached_count keep their buffers for reuse; all are freed here. */
    for (size_t i = 0; i < ss->cached_cap; i++) {
        kv_reply_free(&ss->cached[i].reply);
    }
    free(ss->cached);
    free(ss);
}
