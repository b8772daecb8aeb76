/* Keyspace commands: DEL EXISTS EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL PERSIST TYPE
 * DBSIZE SCAN.
 *
 * EXPIRE and friends reach the log as PEXPIREAT with an absolute time (kv_prepare), so
 * their effect does not depend on when a replica applies them. SCAN walks keys in the
 * order of their 64-bit hash: the cursor is the hash to resume from, so the order is the
 * same on every replica, survives table growth and snapshot reloads, and a key present
 * for the whole iteration is returned exactly once. The cost is a pass over the table
 * per call (acceptable at the simulator's sizes; a sorted index would remove it). */
#include <stdio.h>
#include <stdlib.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "kv/kv_handlers.h"

int kv_cmd_del(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    int64_t removed = 0;
    for (int i = 1; i < c->argc; i++) {
        struct kv_key *k = kv_ctx_key(c, i);
        if (k != NULL) {
            kv_key_remove(c->rw, c->index, k);
            removed++;
        }
    }
    kv_reply_integer(c->reply, removed);
    return 0;
}

int kv_cmd_exists(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    int64_t n = 0;
    for (int i = 1; i < c->argc; i++) {
        n += kv_ctx_key(c, i) != NULL;
    }
    kv_reply_integer(c->reply, n);
    return 0;
}

static int expire_flags(struct kv_ctx *c, struct kv_expire_opts *o)
{
    for (int i = 3; i < c->argc; i++) {
        if (kv_arg_is(c, i, "NX")) {
            o->nx = true;
        } else if (kv_arg_is(c, i, "XX")) {
            o->xx = true;
        } else if (kv_arg_is(c, i, "GT")) {
            o->gt = true;
        } else if (kv_arg_is(c, i, "LT")) {
            o->lt = true;
        } else {
            kv_reply_errorf(c->reply, "ERR Unsupported option %.*s", (int)MIN(c->argv_len[i], 32),
                            (const char *)c->argv[i]);
            return ERR_INVALID;
        }
    }
    if (o->nx && (o->xx || o->gt || o->lt)) {
        kv_reply_error(c->reply, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return ERR_INVALID;
    }
    if (o->gt && o->lt) {
        kv_reply_error(c->reply, "ERR GT and LT options at the same time are not compatible");
        return ERR_INVALID;
    }
    return 0;
}

int kv_expire_parse(struct kv_ctx *c, struct kv_expire_opts *o)
{
    memset(o, 0, sizeof *o);
    o->flags_from = 3;
    int64_t amount;
    int rc = kv_arg_i64(c, 2, &amount);
    if (rc != 0) {
        return rc;
    }
    bool seconds = kv_arg_is(c, 0, "EXPIRE") || kv_arg_is(c, 0, "EXPIREAT");
    bool absolute = kv_arg_is(c, 0, "EXPIREAT") || kv_arg_is(c, 0, "PEXPIREAT");
    int64_t unit = seconds ? 1000 : 1;
    bool ok = amount <= INT64_MAX / unit && amount >= INT64_MIN / unit;
    int64_t base = absolute ? 0 : (int64_t)MIN(c->now_ms, (uint64_t)INT64_MAX);
    ok = ok && (amount * unit <= 0 || amount * unit <= INT64_MAX - base);
    if (!ok) {
        char name[16];
        size_t n = MIN(c->argv_len[0], sizeof name - 1);
        for (size_t i = 0; i < n; i++) {
            name[i] = (char)(c->argv[0][i] | 0x20); /* ASCII letters to lower case */
        }
        name[n] = '\0';
        kv_reply_errorf(c->reply, "ERR invalid expire time in '%s' command", name);
        return ERR_INVALID;
    }
    o->at_ms = amount * unit + base;
    return expire_flags(c, o);
}

int kv_cmd_expire(struct kv_ctx *c)
{
    struct kv_expire_opts o;
    int rc = kv_expire_parse(c, &o);
    if (rc != 0 || c->dry_run) {
        return rc;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (k == NULL) {
        kv_reply_integer(c->reply, 0);
        return 0;
    }
    /* No expiry counts as an infinite one for GT and LT, as in Redis. */
    bool has = k->expire_at_ms != 0;
    int64_t cur = has ? (int64_t)k->expire_at_ms : INT64_MAX;
    if ((o.nx && has) || (o.xx && !has) || (o.gt && (!has || o.at_ms <= cur)) ||
        (o.lt && has && o.at_ms >= cur)) {
        kv_reply_integer(c->reply, 0);
        return 0;
    }
    if (o.at_ms <= (int64_t)c->now_ms) {
        kv_key_remove(c->rw, c->index, k);
    } else {
        kv_key_set_expire(c->rw, k, (uint64_t)o.at_ms);
        k->version_index = c->index;
    }
    kv_reply_integer(c->reply, 1);
    return 0;
}

static int64_t pttl_of(struct kv_ctx *c)
{
    struct kv_key *k = kv_ctx_key(c, 1);
    if (k == NULL) {
        return -2;
    }
    if (k->expire_at_ms == 0) {
        return -1;
    }
    return (int64_t)(k->expire_at_ms - c->now_ms);
}

int kv_cmd_pttl(struct kv_ctx *c)
{
    if (!c->dry_run) {
        kv_reply_integer(c->reply, pttl_of(c));
    }
    return 0;
}

int kv_cmd_ttl(struct kv_ctx *c)
{
    if (!c->dry_run) {
        int64_t ms = pttl_of(c);
        kv_reply_integer(c->reply, ms < 0 ? ms : (ms + 500) / 1000);
    }
    return 0;
}

int kv_cmd_persist(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    struct kv_key *k = kv_ctx_key(c, 1);
    if (k == NULL || k->expire_at_ms == 0) {
        kv_reply_integer(c->reply, 0);
        return 0;
    }
    kv_key_set_expire(c->rw, k, 0);
    k->version_index = c->index;
    kv_reply_integer(c->reply, 1);
    return 0;
}

int kv_cmd_type(struct kv_ctx *c)
{
    if (!c->dry_run) {
        struct kv_key *k = kv_ctx_key(c, 1);
        kv_reply_status(c->reply, k != NULL ? kv_type_name(k->type) : "none");
    }
    return 0;
}

int kv_cmd_dbsize(struct kv_ctx *c)
{
    if (c->dry_run) {
        return 0;
    }
    const struct kv_store *s = c->ro;
    size_t n = s->keys.items_count;
    if (s->volatile_count > 0) {
        void *item;
        for (size_t i = 0; hashmap_next(&s->keys, &i, &item);) {
            n -= kv_key_expired(item, c->now_ms);
        }
    }
    kv_reply_integer(c->reply, (int64_t)n);
    return 0;
}

/* ---- SCAN ---- */

struct scan_opts {
    uint64_t cursor;
    size_t count;
    bool has_match, has_type;
    const uint8_t *match;
    size_t match_len;
    const uint8_t *type;
    size_t type_len;
};

/* Glob matching as Redis's stringmatchlen: * ? [abc] [^a-z] and \x escapes. */
static bool glob_match(const uint8_t *p, size_t plen, const uint8_t *s, size_t slen, int depth)
{
    if (depth > 64) {
        return false; /* bounds the recursion a hostile pattern could cause */
    }
    while (plen > 0) {
        if (p[0] == '*') {
            while (plen > 1 && p[1] == '*') {
                p++, plen--;
            }
            if (plen == 1) {
                return true;
            }
            for (size_t i = 0; i <= slen; i++) {
                if (glob_match(p + 1, plen - 1, s + i, slen - i, depth + 1)) {
                    return true;
                }
            }
            return false;
        }
        if (slen == 0) {
            return false;
        }
        if (p[0] == '[') {
            size_t i = 1;
            bool negate = i < plen && p[i] == '^';
            i += negate;
            bool hit = false;
            for (; i < plen && p[i] != ']'; i++) {
                if (p[i] == '\\' && i + 1 < plen) {
                    i++;
                    hit |= p[i] == s[0];
                } else if (i + 2 < plen && p[i + 1] == '-' && p[i + 2] != ']') {
                    uint8_t lo = MIN(p[i], p[i + 2]), hi = MAX(p[i], p[i + 2]);
                    hit |= s[0] >= lo && s[0] <= hi;
                    i += 2;
                } else {
                    hit |= p[i] == s[0];
                }
            }
            if (hit == negate) {
                return false;
            }
            p += MIN(i + 1, plen), plen -= MIN(i + 1, plen);
            s++, slen--;
            continue;
        }
        if (p[0] == '\\' && plen > 1) {
            p++, plen--;
        } else if (p[0] == '?') {
            p++, plen--, s++, slen--;
            continue;
        }
        if (p[0] != s[0]) {
            return false;
        }
        p++, plen--, s++, slen--;
    }
    return slen == 0;
}

static bool parse_u64(const uint8_t *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    bool ok = len > 0 && len <= KV_INT64_DIGITS_MAX;
    for (size_t i = 0; ok && i < len; i++) {
        uint64_t d = (uint64_t)(p[i] - '0');
        ok = p[i] >= '0' && p[i] <= '9' && v <= (UINT64_MAX - d) / 10;
        v = v * 10 + d;
    }
    *out = v;
    return ok;
}

static int scan_parse(struct kv_ctx *c, struct scan_opts *o)
{
    memset(o, 0, sizeof *o);
    o->count = KV_SCAN_COUNT_DEFAULT;
    /* Cursors are unsigned 64-bit decimals (a key hash to resume from). */
    if (!parse_u64(c->argv[1], c->argv_len[1], &o->cursor)) {
        kv_reply_error(c->reply, "ERR invalid cursor");
        return ERR_INVALID;
    }
    for (int i = 2; i < c->argc; i += 2) {
        if (i + 1 >= c->argc) {
            kv_reply_error(c->reply, "ERR syntax error");
            return ERR_INVALID;
        }
        if (kv_arg_is(c, i, "MATCH")) {
            o->has_match = true;
            o->match = c->argv[i + 1];
            o->match_len = c->argv_len[i + 1];
        } else if (kv_arg_is(c, i, "TYPE")) {
            o->has_type = true;
            o->type = c->argv[i + 1];
            o->type_len = c->argv_len[i + 1];
        } else if (kv_arg_is(c, i, "COUNT")) {
            int64_t n;
            int rc = kv_arg_i64(c, i + 1, &n);
            if (rc != 0) {
                return rc;
            }
            if (n < 1) {
                kv_reply_error(c->reply, "ERR syntax error");
                return ERR_INVALID;
            }
            o->count = (size_t)MIN(n, KV_SCAN_COUNT_MAX);
        } else {
            kv_reply_error(c->reply, "ERR syntax error");
            return ERR_INVALID;
        }
    }
    return 0;
}

static bool scan_wanted(const struct scan_opts *o, const struct kv_key *k)
{
    if (o->has_match && !glob_match(o->match, o->match_len, k->key, k->key_len, 0)) {
        return false;
    }
    const char *t = kv_type_name(k->type);
    return !o->has_type || (strlen(t) == o->type_len && memcmp(t, o->type, o->type_len) == 0);
}

int kv_cmd_scan(struct kv_ctx *c)
{
    struct scan_opts o;
    int rc = scan_parse(c, &o);
    if (rc != 0 || c->dry_run) {
        return rc;
    }
    struct kv_vec keys;
    kv_vec_init(&keys);
    void *item;
    for (size_t i = 0; hashmap_next(&c->ro->keys, &i, &item);) {
        const struct kv_key *k = item;
        if (k->hash >= o.cursor && !kv_key_expired(k, c->now_ms)) {
            kv_vec_push(&keys, item);
        }
    }
    kv_sort_keys(&keys);
    /* Take count keys, then every key sharing the last one's hash. */
    size_t take = MIN(o.count, keys.len);
    while (take > 0 && take < keys.len &&
           ((struct kv_key *)keys.items[take])->hash == ((struct kv_key *)keys.items[take - 1])->hash) {
        take++;
    }
    uint64_t next = 0;
    if (take < keys.len) {
        next = ((struct kv_key *)keys.items[take - 1])->hash + 1;
    }
    size_t outer = kv_reply_array_begin(c->reply);
    char text[24];
    int n = snprintf(text, sizeof text, "%llu", (unsigned long long)next);
    kv_reply_bulk(c->reply, (const uint8_t *)text, (size_t)n);
    size_t inner = kv_reply_array_begin(c->reply);
    uint32_t emitted = 0;
    for (size_t i = 0; i < take; i++) {
        const struct kv_key *k = keys.items[i];
        if (scan_wanted(&o, k)) {
            kv_reply_bulk(c->reply, k->key, k->key_len);
            emitted++;
        }
    }
    kv_reply_array_end(c->reply, inner, emitted);
    kv_reply_array_end(c->reply, outer, 2);
    kv_vec_free(&keys);
    return 0;
}
