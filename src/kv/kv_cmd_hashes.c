/* Hash commands: HSET HGET HDEL HGETALL HLEN. A hash is a base hashmap of fields
 * (kv_alloc.c). HGETALL answers a map (kv_reply.h) in field-name order, not table order, so the reply is the
 * same on every replica whatever the history of its table (it may sit inside an EXEC
 * reply that is cached in a session and compared across replicas). A hash that becomes
 * empty is removed; an HSET that would pass collection_len_max fields is refused whole. */
#include "base/assertions.h"
#include "base/errors.h"
#include "kv/kv_handlers.h"

int kv_cmd_hset(struct kv_ctx *c)
{
    if (c->argc % 2 != 0) {
        kv_reply_error(c->reply, "ERR wrong number of arguments for 'hset' command");
        return ERR_INVALID;
    }
    if (c->dry_run) {
        return 0;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (kv_ctx_wrongtype(c, k, KV_TYPE_HASH)) {
        return 0;
    }
    /* Count the fields that would be new; a new field named twice in one command counts
     * twice, which only makes the limit stricter. */
    size_t fresh = 0;
    for (int i = 2; i < c->argc; i += 2) {
        fresh += k == NULL || kv_hash_find(k->v.hash, c->argv[i], c->argv_len[i]) == NULL;
    }
    size_t len = k != NULL ? k->v.hash->fields.items_count : 0;
    if (len + fresh > c->cfg->collection_len_max) {
        kv_reply_error(c->reply, "ERR hash exceeds the maximum allowed number of fields");
        return 0;
    }
    if (k == NULL) {
        k = kv_ctx_key_create(c, 1, KV_TYPE_HASH);
    }
    int64_t added = 0;
    for (int i = 2; i < c->argc; i += 2) {
        added += kv_hash_set(&c->rw->memory_bytes, k->v.hash, c->argv[i], c->argv_len[i],
                             c->argv[i + 1], c->argv_len[i + 1]);
    }
    k->version_index = c->index;
    kv_reply_integer(c->reply, added);
    return 0;
}

int kv_cmd_hget(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (kv_ctx_wrongtype(c, k, KV_TYPE_HASH)) {
        return 0;
    }
    const struct kv_field *f = k != NULL ? kv_hash_find(k->v.hash, c->argv[2], c->argv_len[2]) : NULL;
    if (f == NULL) {
        kv_reply_nil(c->reply);
    } else {
        kv_reply_bulk(c->reply, f->data + f->field_len, f->value_len);
    }
    return 0;
}

int kv_cmd_hdel(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (kv_ctx_wrongtype(c, k, KV_TYPE_HASH)) {
        return 0;
    }
    int64_t removed = 0;
    for (int i = 2; k != NULL && i < c->argc; i++) {
        removed += kv_hash_del(&c->rw->memory_bytes, k->v.hash, c->argv[i], c->argv_len[i]);
    }
    if (k != NULL && k->v.hash->fields.items_count == 0) {
        kv_key_remove(c->rw, c->index, k);
    } else if (removed > 0) {
        k->version_index = c->index;
    }
    kv_reply_integer(c->reply, removed);
    return 0;
}

int kv_cmd_hgetall(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (kv_ctx_wrongtype(c, k, KV_TYPE_HASH)) {
        return 0;
    }
    size_t pos = kv_reply_map_begin(c->reply);
    if (k == NULL) {
        kv_reply_map_end(c->reply, pos, 0);
        return 0;
    }
    struct kv_vec fields;
    kv_vec_init(&fields);
    kv_hash_sorted_fields(k->v.hash, &fields);
    for (size_t i = 0; i < fields.len; i++) {
        const struct kv_field *f = fields.items[i];
        kv_reply_bulk(c->reply, f->data, f->field_len);
        kv_reply_bulk(c->reply, f->data + f->field_len, f->value_len);
    }
    kv_reply_map_end(c->reply, pos, (uint32_t)fields.len);
    kv_vec_free(&fields);
    return 0;
}

int kv_cmd_hlen(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (!kv_ctx_wrongtype(c, k, KV_TYPE_HASH)) {
        kv_reply_integer(c->reply, k != NULL ? (int64_t)k->v.hash->fields.items_count : 0);
    }
    return 0;
}
