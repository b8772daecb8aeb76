/* String commands: GET SET INCR DECR INCRBY DECRBY APPEND STRLEN MGET MSET, with Redis's
 * semantics and error texts. SET's relative expiries (EX, PX) are turned into an absolute
 * PXAT by kv_prepare, so by the time a SET is applied its expiry is a fixed log time. */
#include "base/assertions.h"
#include "base/errors.h"
#include "kv/kv_handlers.h"

static int syntax_error(struct kv_ctx *c)
{
    kv_reply_error(c->reply, "ERR syntax error");
    return ERR_INVALID;
}

static int invalid_expire(struct kv_ctx *c)
{
    kv_reply_error(c->reply, "ERR invalid expire time in 'set' command");
    return ERR_INVALID;
}

/* Converts an EX/PX/EXAT/PXAT amount to absolute ms; false on overflow or amount <= 0. */
static bool set_expire_at(uint64_t now_ms, int unit_ms, bool absolute, int64_t amount, int64_t *out)
{
    if (amount <= 0 || amount > INT64_MAX / unit_ms) {
        return false;
    }
    int64_t ms = amount * unit_ms;
    if (absolute) {
        *out = ms;
        return true;
    }
    if (now_ms > (uint64_t)INT64_MAX || ms > INT64_MAX - (int64_t)now_ms) {
        return false;
    }
    *out = ms + (int64_t)now_ms;
    return true;
}

static int set_parse_expire(struct kv_ctx *c, int i, struct kv_set_opts *o)
{
    int unit_ms = kv_arg_is(c, i, "EX") || kv_arg_is(c, i, "EXAT") ? 1000 : 1;
    bool absolute = kv_arg_is(c, i, "EXAT") || kv_arg_is(c, i, "PXAT");
    if (o->has_expire || o->keepttl || i + 1 >= c->argc) {
        return syntax_error(c);
    }
    int64_t amount;
    int rc = kv_arg_i64(c, i + 1, &amount);
    if (rc != 0) {
        return rc;
    }
    if (!set_expire_at(c->now_ms, unit_ms, absolute, amount, &o->expire_at_ms)) {
        return invalid_expire(c);
    }
    o->has_expire = true;
    return 0;
}

int kv_set_parse(struct kv_ctx *c, struct kv_set_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 3; i < c->argc; i++) {
        if (kv_arg_is(c, i, "NX") && !o->xx) {
            o->nx = true;
        } else if (kv_arg_is(c, i, "XX") && !o->nx) {
            o->xx = true;
        } else if (kv_arg_is(c, i, "GET")) {
            o->get = true;
        } else if (kv_arg_is(c, i, "KEEPTTL") && !o->has_expire) {
            o->keepttl = true;
        } else if (kv_arg_is(c, i, "EX") || kv_arg_is(c, i, "PX") || kv_arg_is(c, i, "EXAT") ||
                   kv_arg_is(c, i, "PXAT")) {
            int rc = set_parse_expire(c, i, o);
            if (rc != 0) {
                return rc;
            }
            i++;
        } else {
            return syntax_error(c);
        }
    }
    return 0;
}

/* Replaces k's value by a string (any old type), keeping the key's expiry. */
static void set_string_value(struct kv_ctx *c, struct kv_key *k, const uint8_t *v, size_t len)
{
    struct kv_blob *b = kv_blob_alloc(&c->rw->memory_bytes, v, len);
    kv_value_free(&c->rw->memory_bytes, k);
    k->type = KV_TYPE_STRING;
    k->v.str = b;
    k->version_index = c->index;
}

/* Sets argv[key_i], which kv_ctx_key found as k (NULL: absent), to a string. */
static struct kv_key *set_string_found(struct kv_ctx *c, struct kv_key *k, int key_i,
                                       const uint8_t *v, size_t len)
{
    if (k == NULL) {
        k = kv_ctx_key_create(c, key_i, KV_TYPE_STRING);
    }
    set_string_value(c, k, v, len);
    return k;
}

static struct kv_key *set_string(struct kv_ctx *c, int key_i, const uint8_t *v, size_t len)
{
    return set_string_found(c, kv_ctx_key(c, key_i), key_i, v, len);
}

int kv_cmd_set(struct kv_ctx *c)
{
    struct kv_set_opts o;
    int rc = kv_set_parse(c, &o);
    if (rc != 0 || c->dry_run) {
        return rc;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (o.get && kv_ctx_wrongtype(c, k, KV_TYPE_STRING)) {
        return 0;
    }
    if ((o.nx && k != NULL) || (o.xx && k == NULL)) {
        if (o.get && k != NULL) {
            kv_reply_bulk(c->reply, k->v.str->data, k->v.str->len);
        } else {
            kv_reply_nil(c->reply);
        }
        return 0;
    }
    if (o.get) {
        if (k != NULL) {
            kv_reply_bulk(c->reply, k->v.str->data, k->v.str->len);
        } else {
            kv_reply_nil(c->reply);
        }
    } else {
        kv_reply_status(c->reply, "OK");
    }
    if (o.has_expire && o.expire_at_ms <= (int64_t)c->now_ms) {
        /* Already expired when applied: the net effect is a removal (as in Redis). */
        if (k != NULL) {
            kv_key_remove(c->rw, c->index, k);
        }
        return 0;
    }
    k = set_string_found(c, k, 1, c->argv[2], c->argv_len[2]); /* k: still the lookup's */
    if (o.has_expire) {
        kv_key_set_expire(c->rw, k, (uint64_t)o.expire_at_ms);
    } else if (!o.keepttl) {
        kv_key_set_expire(c->rw, k, 0);
    }
    return 0;
}

int kv_cmd_get(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (kv_ctx_wrongtype(c, k, KV_TYPE_STRING)) {
        return 0;
    }
    if (k == NULL) {
        kv_reply_nil(c->reply);
    } else {
        kv_reply_bulk(c->reply, k->v.str->data, k->v.str->len);
    }
    return 0;
}

static int incr_by(struct kv_ctx *c, int64_t by)
{
    struct kv_key *k = kv_ctx_key(c, 1);
    if (kv_ctx_wrongtype(c, k, KV_TYPE_STRING)) {
        return 0;
    }
    int64_t v = 0;
    if (k != NULL && !kv_parse_i64(k->v.str->data, k->v.str->len, &v)) {
        kv_reply_error(c->reply, "ERR value is not an integer or out of range");
        return 0;
    }
    if ((by > 0 && v > INT64_MAX - by) || (by < 0 && v < INT64_MIN - by)) {
        kv_reply_error(c->reply, "ERR increment or decrement would overflow");
        return 0;
    }
    v += by;
    char text[KV_INT64_DIGITS_MAX + 2];
    size_t len;
    kv_format_i64(v, text, &len);
    set_string_found(c, k, 1, (const uint8_t *)text, len); /* keeps the expiry, as Redis does */
    kv_reply_integer(c->reply, v);
    return 0;
}

int kv_cmd_incr(struct kv_ctx *c) { return c->dry_run ? 0 : incr_by(c, 1); }
int kv_cmd_decr(struct kv_ctx *c) { return c->dry_run ? 0 : incr_by(c, -1); }

int kv_cmd_incrby(struct kv_ctx *c)
{
    int64_t by;
    int rc = kv_arg_i64(c, 2, &by);
    return rc != 0 || c->dry_run ? rc : incr_by(c, by);
}

int kv_cmd_decrby(struct kv_ctx *c)
{
    int64_t by;
    int rc = kv_arg_i64(c, 2, &by);
    if (rc != 0) {
        return rc;
    }
    if (by == INT64_MIN) {
        kv_reply_error(c->reply, "ERR decrement would overflow");
        return ERR_INVALID;
    }
    return c->dry_run ? 0 : incr_by(c, -by);
}

int kv_cmd_append(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (kv_ctx_wrongtype(c, k, KV_TYPE_STRING)) {
        return 0;
    }
    size_t old_len = k != NULL ? k->v.str->len : 0;
    size_t add = c->argv_len[2];
    if (old_len + add > c->cfg->value_size_bytes_max) {
        kv_reply_error(c->reply, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return 0;
    }
    if (k == NULL) {
        set_string_found(c, NULL, 1, c->argv[2], add);
    } else if (add > 0) {
        struct kv_blob *b = kv_blob_concat(&c->rw->memory_bytes, k->v.str, c->argv[2], add);
        kv_blob_free(&c->rw->memory_bytes, k->v.str);
        k->v.str = b;
        k->version_index = c->index;
    }
    kv_reply_integer(c->reply, (int64_t)(old_len + add));
    return 0;
}

int kv_cmd_strlen(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (!kv_ctx_wrongtype(c, k, KV_TYPE_STRING)) {
        kv_reply_integer(c->reply, k != NULL ? (int64_t)k->v.str->len : 0);
    }
    return 0;
}

int kv_cmd_mget(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    size_t pos = kv_reply_array_begin(c->reply);
    for (int i = 1; i < c->argc; i++) {
        struct kv_key *k = kv_ctx_key(c, i);
        if (k == NULL || k->type != KV_TYPE_STRING) {
            kv_reply_nil(c->reply);
        } else {
            kv_reply_bulk(c->reply, k->v.str->data, k->v.str->len);
        }
    }
    kv_reply_array_end(c->reply, pos, (uint32_t)(c->argc - 1));
    return 0;
}

int kv_cmd_mset(struct kv_ctx *c)
{
    if (c->argc % 2 == 0) {
        kv_reply_error(c->reply, "ERR wrong number of arguments for 'mset' command");
        return ERR_INVALID;
    }
    if (c->dry_run) {
        return 0;
    }
    for (int i = 1; i < c->argc; i += 2) {
        struct kv_key *k = set_string(c, i, c->argv[i + 1], c->argv_len[i + 1]);
        kv_key_set_expire(c->rw, k, 0);
    }
    kv_reply_status(c->reply, "OK");
    return 0;
}
