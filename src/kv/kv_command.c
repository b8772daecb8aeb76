/* The command table and what every command shares: lookup by name, arity, the size
 * limits of keys and values, strict integer parsing (Redis string2ll rules: optional
 * '-', no '+', no spaces, no leading zeros), the growth bound used by the memory cap,
 * and the dispatch of a handler in validation, read or apply mode. */
#include <stdio.h>
#include <strings.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "kv/kv_handlers.h"

/* Key positions as in Redis's command table: first, last (-1 = last argument), step.
 * growth_argc: only the first so many arguments can become stored bytes (0: all); the
 * rest are option words. */
struct kv_command_def {
    struct kv_command cmd;
    int first_key;
    int last_key;
    int key_step;
    int growth_argc;
};

#define W true
#define R false
static const struct kv_command_def command_table[] = {
    {{{"get", 2, R, false}, kv_cmd_get}, 1, 1, 1},
    {{{"set", -3, W, true}, kv_cmd_set}, 1, 1, 1, 3},
    {{{"del", -2, W, false}, kv_cmd_del}, 1, -1, 1},
    {{{"exists", -2, R, false}, kv_cmd_exists}, 1, -1, 1},
    {{{"incr", 2, W, true}, kv_cmd_incr}, 1, 1, 1},
    {{{"decr", 2, W, true}, kv_cmd_decr}, 1, 1, 1},
    {{{"incrby", 3, W, true}, kv_cmd_incrby}, 1, 1, 1},
    {{{"decrby", 3, W, true}, kv_cmd_decrby}, 1, 1, 1},
    {{{"append", 3, W, true}, kv_cmd_append}, 1, 1, 1},
    {{{"strlen", 2, R, false}, kv_cmd_strlen}, 1, 1, 1},
    {{{"mget", -2, R, false}, kv_cmd_mget}, 1, -1, 1},
    {{{"mset", -3, W, true}, kv_cmd_mset}, 1, -1, 2},
    {{{"expire", -3, W, false}, kv_cmd_expire}, 1, 1, 1},
    {{{"pexpire", -3, W, false}, kv_cmd_expire}, 1, 1, 1},
    {{{"expireat", -3, W, false}, kv_cmd_expire}, 1, 1, 1},
    {{{"pexpireat", -3, W, false}, kv_cmd_expire}, 1, 1, 1},
    {{{"ttl", 2, R, false}, kv_cmd_ttl}, 1, 1, 1},
    {{{"pttl", 2, R, false}, kv_cmd_pttl}, 1, 1, 1},
    {{{"persist", 2, W, false}, kv_cmd_persist}, 1, 1, 1},
    {{{"type", 2, R, false}, kv_cmd_type}, 1, 1, 1},
    {{{"dbsize", 1, R, false}, kv_cmd_dbsize}, 0, 0, 0},
    {{{"scan", -2, R, false}, kv_cmd_scan}, 0, 0, 0},
    {{{"lpush", -3, W, true}, kv_cmd_lpush}, 1, 1, 1},
    {{{"rpush", -3, W, true}, kv_cmd_rpush}, 1, 1, 1},
    {{{"lpop", -2, W, false}, kv_cmd_lpop}, 1, 1, 1},
    {{{"rpop", -2, W, false}, kv_cmd_rpop}, 1, 1, 1},
    {{{"lrange", 4, R, false}, kv_cmd_lrange}, 1, 1, 1},
    {{{"llen", 2, R, false}, kv_cmd_llen}, 1, 1, 1},
    {{{"hset", -4, W, true}, kv_cmd_hset}, 1, 1, 1},
    {{{"hget", 3, R, false}, kv_cmd_hget}, 1, 1, 1},
    {{{"hdel", -3, W, false}, kv_cmd_hdel}, 1, 1, 1},
    {{{"hgetall", 2, R, false}, kv_cmd_hgetall}, 1, 1, 1},
    {{{"hlen", 2, R, false}, kv_cmd_hlen}, 1, 1, 1},
};
#undef W
#undef R

/* Command names are short; a longer name cannot match and is not lowered. */
#define KV_COMMAND_NAME_LEN_MAX 16

/* Lookup runs several times per command on every replica, so it is a perfect hash of
 * (first letter, second letter, last letter, length), letters lowered, into 64 slots.
 * command_slot[h] - 1 is the index in command_table of the name whose hash is h (0: no
 * name). The multipliers are the first that give the 33 names distinct slots; a name
 * added to the table without a slot here is still found, by the scan behind the hash
 * (only slower): tests/kv/test_keys.c looks every name up in both cases. */
#define KV_COMMAND_SLOTS 64
static const uint8_t command_slot[KV_COMMAND_SLOTS] = {
    0,  0, 11, 0,  31, 10, 28, 0,  25, 0, 0,  14, 0,  0,  0,  29, 0,  23, 4, 5, 19, 9,
    16, 27, 20, 2, 26, 0,  0,  0,  12, 6, 0,  0,  0,  24, 0,  0,  7,  0, 0, 0,  0,  0,
    18, 0,  0,  21, 13, 0,  8,  30, 3,  1, 22, 17, 0,  0,  33, 15, 0, 0, 32, 0,
};

static size_t name_slot(const uint8_t *name, size_t len)
{
    unsigned first = name[0] | 0x20u, second = name[1] | 0x20u, last = name[len - 1] | 0x20u;
    return (first * 3 + second * 61 + last * 39 + len) & (KV_COMMAND_SLOTS - 1);
}

/* Every table name is lower-case letters only, and x | 0x20 is a lower-case letter
 * exactly when x is that letter in either case: this is strncasecmp's equality. A
 * longer name stops at want's terminator, which no byte | 0x20 equals. */
static bool name_is(const char *want, const uint8_t *name, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((uint8_t)(name[i] | 0x20) != (uint8_t)want[i]) {
            return false;
        }
    }
    return want[len] == '\0';
}

static const struct kv_command_def *def_find(const uint8_t *name, size_t len)
{
    if (len < 2 || len > KV_COMMAND_NAME_LEN_MAX) {
        return NULL; /* every name has 3 letters or more */
    }
    unsigned slot = command_slot[name_slot(name, len)];
    if (slot != 0 && name_is(command_table[slot - 1].cmd.info.name, name, len)) {
        return &command_table[slot - 1];
    }
    for (size_t i = 0; i < ARRAY_COUNT(command_table); i++) {
        if (name_is(command_table[i].cmd.info.name, name, len)) {
            return &command_table[i];
        }
    }
    return NULL;
}

const struct kv_command *kv_command_find(const uint8_t *name, size_t len)
{
    const struct kv_command_def *d = def_find(name, len);
    return d != NULL ? &d->cmd : NULL;
}

const struct kv_command_info *kv_command_lookup(const uint8_t *name, size_t len)
{
    const struct kv_command *c = kv_command_find(name, len);
    return c != NULL ? &c->info : NULL;
}

bool kv_is_write(const uint8_t *name, size_t len)
{
    const struct kv_command_info *info = kv_command_lookup(name, len);
    return info == NULL || info->write;
}

/* ---- shared helpers ---- */

bool kv_parse_i64(const uint8_t *p, size_t len, int64_t *out)
{
    if (len == 0 || len > KV_INT64_DIGITS_MAX) {
        return false;
    }
    if (len == 1 && p[0] == '0') {
        *out = 0;
        return true;
    }
    bool negative = p[0] == '-';
    size_t i = negative ? 1 : 0;
    if (i == len || p[i] < '1' || p[i] > '9') {
        return false;
    }
    uint64_t v = 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (negative) {
        if (v > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
        return true;
    }
    if (v > (uint64_t)INT64_MAX) {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

void kv_format_i64(int64_t v, char *out, size_t *len_out)
{
    int n = snprintf(out, KV_INT64_DIGITS_MAX + 2, "%lld", (long long)v);
    ASSERT(n > 0 && n <= KV_INT64_DIGITS_MAX);
    *len_out = (size_t)n;
}

bool kv_arg_is(const struct kv_ctx *c, int i, const char *word)
{
    size_t n = strlen(word);
    return c->argv_len[i] == n && strncasecmp((const char *)c->argv[i], word, n) == 0;
}

int kv_arg_i64(struct kv_ctx *c, int i, int64_t *out)
{
    if (!kv_parse_i64(c->argv[i], c->argv_len[i], out)) {
        kv_reply_error(c->reply, "ERR value is not an integer or out of range");
        return ERR_INVALID;
    }
    return 0;
}

void kv_reply_wrongtype(struct kv_reply *r)
{
    kv_reply_error(r, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

struct kv_key *kv_ctx_key(struct kv_ctx *c, int i)
{
    c->hashed_arg = i;
    c->key_hash = hash_bytes(c->argv[i], c->argv_len[i]);
    if (c->rw != NULL) {
        return kv_key_get_for_write_hashed(c->rw, c->now_ms, c->argv[i], c->argv_len[i],
                                           c->key_hash);
    }
    return kv_key_get_hashed(c->ro, c->now_ms, c->argv[i], c->argv_len[i], c->key_hash);
}

struct kv_key *kv_ctx_key_create(struct kv_ctx *c, int i, enum kv_type t)
{
    uint64_t hash = i != 0 && c->hashed_arg == i ? c->key_hash
                                                 : hash_bytes(c->argv[i], c->argv_len[i]);
    return kv_key_create_hashed(c->rw, c->index, c->argv[i], c->argv_len[i], hash, t);
}

bool kv_ctx_wrongtype(struct kv_ctx *c, const struct kv_key *k, enum kv_type t)
{
    if (k != NULL && k->type != t) {
        kv_reply_wrongtype(c->reply);
        return true;
    }
    return false;
}

/* ---- checking and running ---- */

static void reply_unknown(struct kv_reply *r, const struct kv_argv *cmd)
{
    char args[160] = "";
    size_t used = 0;
    for (int i = 1; i < cmd->argc && used + 40 < sizeof args; i++) {
        int n = snprintf(args + used, sizeof args - used, "'%.*s' ",
                         (int)MIN(cmd->argv_len[i], 32), (const char *)cmd->argv[i]);
        used += (size_t)MAX(n, 0);
    }
    kv_reply_errorf(r, "ERR unknown command '%.*s', with args beginning with: %s",
                    (int)MIN(cmd->argv_len[0], 64), (const char *)cmd->argv[0], args);
}

static int check_limits(const struct kv_config *cfg, const struct kv_command_def *d,
                        const struct kv_argv *cmd, struct kv_reply *err)
{
    if (cmd->argc > cfg->argc_max) {
        kv_reply_error(err, "ERR too many arguments");
        return ERR_INVALID;
    }
    for (int i = 1; i < cmd->argc; i++) {
        if (cmd->argv_len[i] > cfg->value_size_bytes_max) {
            kv_reply_error(err, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            return ERR_INVALID;
        }
    }
    int last = d->last_key < 0 ? cmd->argc - 1 : d->last_key;
    for (int i = d->first_key; d->key_step > 0 && i <= last && i < cmd->argc; i += d->key_step) {
        if (cmd->argv_len[i] > cfg->key_size_bytes_max) {
            kv_reply_error(err, "ERR key exceeds the maximum allowed size");
            return ERR_INVALID;
        }
    }
    return 0;
}

/* The table entry of k: cmd is struct kv_command_def's first member. */
static const struct kv_command_def *def_of(const struct kv_command *k)
{
    return (const struct kv_command_def *)(const void *)k;
}

int kv_command_check(const struct kv_config *cfg, uint64_t now_ms, const struct kv_argv *cmd,
                     struct kv_reply *err, const struct kv_command **found_out)
{
    if (cmd->argc < 1) {
        kv_reply_error(err, "ERR empty command");
        return ERR_INVALID;
    }
    const struct kv_command_def *d = def_find(cmd->argv[0], cmd->argv_len[0]);
    if (d == NULL) {
        reply_unknown(err, cmd);
        return ERR_INVALID;
    }
    int arity = d->cmd.info.arity;
    if ((arity > 0 && cmd->argc != arity) || (arity < 0 && cmd->argc < -arity)) {
        kv_reply_errorf(err, "ERR wrong number of arguments for '%s' command", d->cmd.info.name);
        return ERR_INVALID;
    }
    int rc = check_limits(cfg, d, cmd, err);
    if (rc != 0) {
        return rc;
    }
    struct kv_ctx c = {.cfg = cfg, .dry_run = true, .now_ms = now_ms, .argc = cmd->argc,
                       .argv = cmd->argv, .argv_len = cmd->argv_len, .reply = err};
    rc = d->cmd.handler(&c);
    if (found_out != NULL) {
        *found_out = &d->cmd;
    }
    return rc;
}

void kv_command_run(struct kv_store *s, const struct kv_command *k, uint64_t index, uint64_t now_ms,
                    const struct kv_argv *cmd, struct kv_reply *reply)
{
    ASSERT(k != NULL);
    struct kv_ctx c = {.cfg = &s->cfg, .ro = s, .rw = s, .now_ms = now_ms, .index = index,
                       .argc = cmd->argc, .argv = cmd->argv, .argv_len = cmd->argv_len,
                       .reply = reply};
    size_t before = reply->bytes.len;
    int rc = k->handler(&c);
    /* Validation already passed, so a handler cannot fail it now. */
    ASSERT(rc == 0 && reply->bytes.len > before);
}

size_t kv_command_growth_bytes(const struct kv_command *k, const struct kv_argv *cmd)
{
    /* Every argument may become stored bytes with the largest per-object overhead; one
     * slack covers a value the command makes up (an INCR result). */
    const struct kv_command_def *d = def_of(k);
    int argc = d->growth_argc > 0 ? MIN(cmd->argc, d->growth_argc) : cmd->argc;
    size_t total = KV_COMMAND_GROWTH_SLACK_BYTES;
    for (int i = 1; i < argc; i++) {
        total += cmd->argv_len[i] + KV_OVERHEAD_BYTES_MAX;
    }
    return total;
}

int kv_validate(const struct kv_config *cfg, const struct kv_argv *cmd, struct kv_reply *error_out)
{
    struct kv_config filled;
    kv_config_fill(&filled, cfg);
    kv_reply_reset(error_out);
    return kv_command_check(&filled, 0, cmd, error_out, NULL);
}

int kv_read(const struct kv_store *s, uint64_t now_ms, const struct kv_argv *cmd,
            struct kv_reply *reply_out)
{
    kv_reply_reset(reply_out);
    const struct kv_command *k = NULL;
    int rc = kv_command_check(&s->cfg, now_ms, cmd, reply_out, &k);
    if (rc != 0) {
        return rc;
    }
    if (k->info.write) {
        kv_reply_errorf(reply_out, "ERR '%s' is not a read-only command", k->info.name);
        return ERR_INVALID;
    }
    /* Never read in the past of the log: a replica whose clock lags must not show a
     * key that the log clock already expired. */
    now_ms = MAX(now_ms, s->log_clock_ms);
    struct kv_ctx c = {.cfg = &s->cfg, .ro = s, .now_ms = now_ms, .argc = cmd->argc,
                       .argv = cmd->argv, .argv_len = cmd->argv_len, .reply = reply_out};
    ASSERT(k->handler(&c) == 0);
    return 0;
}
