/* List commands: LPUSH RPUSH LPOP RPOP LRANGE LLEN. A list is a ring buffer of blobs
 * (kv_alloc.c), so pushes and pops at both ends are O(1) and LRANGE is O(range). A list
 * that becomes empty is removed, as in Redis; a push that would make a list longer than
 * collection_len_max is refused whole. */
#include "base/assertions.h"
#include "base/errors.h"
#include "kv/kv_handlers.h"

static int push(struct kv_ctx *c, bool front)
{
    if (c->dry_run) {
        return 0;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (kv_ctx_wrongtype(c, k, KV_TYPE_LIST)) {
        return 0;
    }
    size_t n = (size_t)(c->argc - 2);
    size_t len = k != NULL ? k->v.list->len : 0;
    if (len + n > c->cfg->collection_len_max) {
        kv_reply_error(c->reply, "ERR list exceeds the maximum allowed length");
        return 0;
    }
    if (k == NULL) {
        k = kv_ctx_key_create(c, 1, KV_TYPE_LIST);
    }
    for (int i = 2; i < c->argc; i++) {
        kv_list_push(&c->rw->memory_bytes, k->v.list, front, c->argv[i], c->argv_len[i]);
    }
    k->version_index = c->index;
    kv_reply_integer(c->reply, (int64_t)k->v.list->len);
    return 0;
}

int kv_cmd_lpush(struct kv_ctx *c) { return push(c, true); }
int kv_cmd_rpush(struct kv_ctx *c) { return push(c, false); }

static int pop(struct kv_ctx *c, bool front)
{
    int64_t count = 1;
    if (c->argc > 3) {
        kv_reply_error(c->reply, "ERR syntax error");
        return ERR_INVALID;
    }
    if (c->argc == 3) {
        int rc = kv_arg_i64(c, 2, &count);
        if (rc != 0) {
            return rc;
        }
        if (count < 0) {
            kv_reply_error(c->reply, "ERR value is out of range, must be positive");
            return ERR_INVALID;
        }
    }
    if (c->dry_run) {
        return 0;
    }
    bool with_count = c->argc == 3;
    struct kv_key *k = kv_ctx_key(c, 1);
    if (kv_ctx_wrongtype(c, k, KV_TYPE_LIST)) {
        return 0;
    }
    if (k == NULL) {
        with_count ? kv_reply_nil_array(c->reply) : kv_reply_nil(c->reply);
        return 0;
    }
    struct kv_list *l = k->v.list;
    size_t n = (size_t)MIN((uint64_t)count, (uint64_t)l->len);
    size_t pos = with_count ? kv_reply_array_begin(c->reply) : 0;
    for (size_t i = 0; i < n; i++) {
        struct kv_blob *b = kv_list_pop(&c->rw->memory_bytes, l, front);
        kv_reply_bulk(c->reply, b->data, b->len);
        kv_blob_free(&c->rw->memory_bytes, b);
    }
    if (with_count) {
        kv_reply_array_end(c->reply, pos, (uint32_t)n);
    }
    if (l->len == 0) {
        kv_key_remove(c->rw, c->index, k);
    } else if (n > 0) {
        k->version_index = c->index;
    }
    return 0;
}

int kv_cmd_lpop(struct kv_ctx *c) { return pop(c, true); }
int kv_cmd_rpop(struct kv_ctx *c) { return pop(c, false); }

int kv_cmd_lrange(struct kv_ctx *c)
{
    int64_t start, stop;
    int rc = kv_arg_i64(c, 2, &start);
    if (rc == 0) {
        rc = kv_arg_i64(c, 3, &stop);
    }
    if (rc != 0 || c->dry_run) {
        return rc;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (kv_ctx_wrongtype(c, k, KV_TYPE_LIST)) {
        return 0;
    }
    int64_t len = k != NULL ? (int64_t)k->v.list->len : 0;
    /* Negative indexes count from the end; the range is clamped, as in Redis. */
    if (start < 0) {
        start = start < -len ? 0 : len + start;
    }
    if (stop < 0) {
        stop = stop < -len ? -1 : len + stop;
    }
    stop = MIN(stop, len - 1);
    size_t pos = kv_reply_array_begin(c->reply);
    uint32_t n = 0;
    for (int64_t i = start; i <= stop; i++, n++) {
        const struct kv_blob *b = kv_list_at(k->v.list, (size_t)i);
        kv_reply_bulk(c->reply, b->data, b->len);
    }
    kv_reply_array_end(c->reply, pos, n);
    return 0;
}

int kv_cmd_llen(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (!kv_ctx_wrongtype(c, k, KV_TYPE_LIST)) {
        kv_reply_integer(c->reply, k != NULL ? (int64_t)k->v.list->len : 0);
    }
    return 0;
}
