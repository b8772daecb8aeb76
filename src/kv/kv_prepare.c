/* Proposal-time preparation, and the description of entries for traces: validate a
 * command and encode it as a chorus.Command for the log (proto/chorus.proto), fixing every clock-derived value from the leader's now_ms:
 *   SET k v [NX|XX] [GET] [KEEPTTL] [EX s|PX ms|EXAT s|PXAT ms]
 *       -> SET k v [NX|XX] [GET] [KEEPTTL] [PXAT abs_ms]
 *   EXPIRE|PEXPIRE|EXPIREAT k t [flags] -> PEXPIREAT k abs_ms [flags]
 * Every other command is carried as given. The entry also records now_ms, which moves
 * the log clock on apply. Temporary arrays for protobuf-c come from a local arena, so
 * this file never allocates from the heap itself. */
#include <stdio.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "kv/kv_handlers.h"
#include "proto/chorus.pb-c.h"
#include "wire/pb_lite.h"

#define KV_PREPARE_ARENA_BLOCK_BYTES 4096
/* The longest rewritten SET: SET k v NX GET KEEPTTL PXAT abs. */
#define KV_SET_REWRITE_ARGC_MAX 8

static ProtobufCBinaryData bin(const void *p, size_t len)
{
    ProtobufCBinaryData b = {len, (uint8_t *)p};
    return b;
}

static ProtobufCBinaryData bin_str(const char *s) { return bin(s, strlen(s)); }

static ProtobufCBinaryData bin_i64(struct arena *a, int64_t v)
{
    char *text = arena_alloc(a, KV_INT64_DIGITS_MAX + 2);
    ASSERT(text != NULL);
    size_t len;
    kv_format_i64(v, text, &len);
    return bin(text, len);
}

static size_t rewrite_set(struct kv_ctx *c, struct arena *a, ProtobufCBinaryData *out)
{
    struct kv_set_opts o;
    ASSERT(kv_set_parse(c, &o) == 0);
    size_t n = 0;
    out[n++] = bin_str("SET");
    out[n++] = bin(c->argv[1], c->argv_len[1]);
    out[n++] = bin(c->argv[2], c->argv_len[2]);
    if (o.nx || o.xx) {
        out[n++] = bin_str(o.nx ? "NX" : "XX");
    }
    if (o.get) {
        out[n++] = bin_str("GET");
    }
    if (o.keepttl) {
        out[n++] = bin_str("KEEPTTL");
    }
    if (o.has_expire) {
        out[n++] = bin_str("PXAT");
        out[n++] = bin_i64(a, o.expire_at_ms);
    }
    ASSERT(n <= KV_SET_REWRITE_ARGC_MAX);
    return n;
}

static void rewrite_expire(struct kv_ctx *c, struct arena *a, ProtobufCBinaryData *out)
{
    struct kv_expire_opts o;
    ASSERT(kv_expire_parse(c, &o) == 0);
    out[0] = bin_str("PEXPIREAT");
    out[1] = bin(c->argv[1], c->argv_len[1]);
    out[2] = bin_i64(a, o.at_ms);
    for (int i = 3; i < c->argc; i++) {
        out[i] = bin(c->argv[i], c->argv_len[i]);
    }
}

/* Validates cmd and fills out->argv with its normalized form: in small (small_count
 * slots, may be NULL) when it fits, else from the arena. */
static int normalize(const struct kv_config *cfg, uint64_t now_ms, const struct kv_argv *cmd,
                     struct arena *a, ProtobufCBinaryData *small, size_t small_count,
                     Chorus__Command *out, struct kv_reply *err)
{
    const struct kv_command *k = NULL;
    int rc = kv_command_check(cfg, now_ms, cmd, err, &k);
    if (rc != 0) {
        return rc;
    }
    struct kv_ctx c = {.cfg = cfg, .dry_run = true, .now_ms = now_ms, .argc = cmd->argc,
                       .argv = cmd->argv, .argv_len = cmd->argv_len, .reply = err};
    size_t slots = MAX((size_t)cmd->argc, KV_SET_REWRITE_ARGC_MAX);
    out->argv = slots <= small_count ? small : arena_alloc(a, slots * sizeof *out->argv);
    if (out->argv == NULL) {
        return ERR_NOMEM;
    }
    if (k->handler == kv_cmd_set) {
        out->n_argv = rewrite_set(&c, a, out->argv);
    } else if (k->handler == kv_cmd_expire) {
        rewrite_expire(&c, a, out->argv);
        out->n_argv = (size_t)cmd->argc;
    } else {
        for (int i = 0; i < cmd->argc; i++) {
            out->argv[i] = bin(cmd->argv[i], cmd->argv_len[i]);
        }
        out->n_argv = (size_t)cmd->argc;
    }
    return 0;
}

static void set_client(Chorus__Command *m, uint64_t now_ms, const struct kv_client *client)
{
    m->now_ms = now_ms;
    if (client != NULL && client->client_id != 0) {
        m->client_id = client->client_id;
        m->seq = client->seq;
        m->session_ack = client->session_ack;
    }
}

/* One command without MULTI or WATCH, written as protoc-c would (fields in number
 * order, zeros left out) but without its generic per-field walk. */
static void pack_simple(const void *msg, struct pb_writer *w)
{
    const Chorus__Command *m = msg;
    pb_put_uint(w, 1, m->client_id);
    pb_put_uint(w, 2, m->seq);
    pb_put_uint(w, 3, m->now_ms);
    for (size_t i = 0; i < m->n_argv; i++) {
        pb_put_bytes_header(w, 4, m->argv[i].len);
        pb_put_raw(w, m->argv[i].data, m->argv[i].len);
    }
    pb_put_uint(w, 8, m->session_ack);
}

/* Varint fields pack_simple writes: client_id, seq, now_ms, session_ack. */
#define KV_PREPARE_SIMPLE_SCALARS 4

static int pack(const Chorus__Command *m, struct buf *entry_out)
{
    if (m->n_multi == 0 && m->n_watch_keys == 0 && m->n_watch_versions == 0) {
        size_t bound = KV_PREPARE_SIMPLE_SCALARS * PB_VARINT_FIELD_BYTES_MAX;
        for (size_t i = 0; i < m->n_argv; i++) {
            bound += PB_BYTES_HEADER_BYTES_MAX + m->argv[i].len;
        }
        return pb_encode_bounded(entry_out, pack_simple, m, bound) == 0 ? 0 : ERR_NOMEM;
    }
    size_t n = chorus__command__get_packed_size(m);
    uint8_t *p = buf_extend(entry_out, n);
    if (p == NULL) {
        return ERR_NOMEM;
    }
    ASSERT(chorus__command__pack(m, p) == n);
    return 0;
}

/* What both kinds of proposal share: the filled configuration, a scratch arena and the
 * message with the client's session fields. */
struct prepare_job {
    struct kv_config cfg;
    struct arena arena;
    Chorus__Command m;
};

static void job_begin(struct prepare_job *j, const struct kv_config *cfg, uint64_t now_ms,
                      const struct kv_client *client, struct kv_reply *error_out)
{
    kv_config_fill(&j->cfg, cfg);
    kv_reply_reset(error_out);
    arena_init(&j->arena, KV_PREPARE_ARENA_BLOCK_BYTES, 0);
    chorus__command__init(&j->m);
    set_client(&j->m, now_ms, client);
}

static int job_end(struct prepare_job *j, int rc, struct buf *entry_out)
{
    if (rc == 0) {
        rc = pack(&j->m, entry_out);
    }
    arena_free(&j->arena);
    return rc;
}

int kv_prepare(const struct kv_config *cfg, uint64_t now_ms, const struct kv_client *client,
               const struct kv_argv *cmd, struct buf *entry_out, struct kv_reply *error_out)
{
    struct prepare_job j;
    job_begin(&j, cfg, now_ms, client, error_out);
    /* A short command's arguments stay on the stack: a plain SET allocates nothing. */
    ProtobufCBinaryData small[16];
    int rc = normalize(&j.cfg, now_ms, cmd, &j.arena, small, ARRAY_COUNT(small), &j.m, error_out);
    return job_end(&j, rc, entry_out);
}

static int fill_watches(struct arena *a, const struct kv_watch *watches, size_t count,
                        Chorus__Command *m)
{
    if (count == 0) {
        return 0;
    }
    m->watch_keys = arena_alloc(a, count * sizeof *m->watch_keys);
    m->watch_versions = arena_alloc(a, count * sizeof *m->watch_versions);
    if (m->watch_keys == NULL || m->watch_versions == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        m->watch_keys[i] = bin(watches[i].key, watches[i].key_len);
        m->watch_versions[i] = watches[i].version;
    }
    m->n_watch_keys = count;
    m->n_watch_versions = count;
    return 0;
}

static int fill_multi(const struct kv_config *cfg, uint64_t now_ms, struct arena *a,
                      const struct kv_argv *cmds, size_t count, Chorus__Command *m,
                      struct kv_reply *err)
{
    if (count > cfg->multi_commands_count_max) {
        kv_reply_error(err, "EXECABORT Transaction discarded because of previous errors.");
        return ERR_INVALID;
    }
    m->multi = arena_alloc(a, MAX(count, 1) * sizeof *m->multi);
    if (m->multi == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        Chorus__Command *sub = arena_alloc(a, sizeof *sub);
        if (sub == NULL) {
            return ERR_NOMEM;
        }
        chorus__command__init(sub);
        int rc = normalize(cfg, now_ms, &cmds[i], a, NULL, 0, sub, err);
        if (rc == ERR_INVALID) {
            kv_reply_reset(err);
            kv_reply_error(err, "EXECABORT Transaction discarded because of previous errors.");
        }
        if (rc != 0) {
            return rc;
        }
        m->multi[i] = sub;
    }
    m->n_multi = count;
    return 0;
}

int kv_prepare_multi(const struct kv_config *cfg, uint64_t now_ms, const struct kv_client *client,
                     const struct kv_argv *cmds, size_t cmds_count, const struct kv_watch *watches,
                     size_t watches_count, struct buf *entry_out, struct kv_reply *error_out)
{
    struct prepare_job j;
    job_begin(&j, cfg, now_ms, client, error_out);
    ProtobufCBinaryData exec = bin_str("EXEC");
    j.m.argv = &exec;
    j.m.n_argv = 1;
    int rc = fill_multi(&j.cfg, now_ms, &j.arena, cmds, cmds_count, &j.m, error_out);
    if (rc == 0 && watches_count > (size_t)j.cfg.argc_max) {
        kv_reply_error(error_out, "ERR too many watched keys");
        rc = ERR_INVALID;
    }
    if (rc == 0) {
        rc = fill_watches(&j.arena, watches, watches_count, &j.m);
    }
    return job_end(&j, rc, entry_out);
}

int kv_prepare_register(uint64_t now_ms, struct buf *entry_out)
{
    Chorus__Command m = CHORUS__COMMAND__INIT;
    ProtobufCBinaryData name = bin_str("CHORUS.REGISTER");
    m.now_ms = now_ms;
    m.argv = &name;
    m.n_argv = 1;
    return pack(&m, entry_out);
}

/* ---- describing entries for traces ---- */

static void text_argv(struct kv_text *o, const Chorus__Command *m)
{
    for (size_t i = 0; i < m->n_argv; i++) {
        if (i > 0) {
            kv_text_put(o, " ", 1);
        }
        kv_text_bytes(o, m->argv[i].data, m->argv[i].len, false);
    }
}

static void text_command(struct kv_text *o, const Chorus__Command *m)
{
    char num[64];
    text_argv(o, m);
    if (m->n_multi > 0 || (m->n_argv == 1 && m->argv[0].len == 4 &&
                           memcmp(m->argv[0].data, "EXEC", 4) == 0)) {
        kv_text_put(o, "[", 1);
        for (size_t i = 0; i < m->n_multi; i++) {
            kv_text_put(o, i > 0 ? "; " : "", i > 0 ? 2 : 0);
            text_argv(o, m->multi[i]);
        }
        kv_text_put(o, "]", 1);
    }
    for (size_t i = 0; i < m->n_watch_keys; i++) {
        kv_text_put(o, i == 0 ? " WATCH " : " ", i == 0 ? 7 : 1);
        kv_text_bytes(o, m->watch_keys[i].data, m->watch_keys[i].len, false);
        uint64_t v = i < m->n_watch_versions ? m->watch_versions[i] : 0;
        kv_text_put(o, num, (size_t)snprintf(num, sizeof num, "=%llu", (unsigned long long)v));
    }
    if (m->client_id != 0) {
        int n = snprintf(num, sizeof num, " client=%llu seq=%llu", (unsigned long long)m->client_id,
                         (unsigned long long)m->seq);
        kv_text_put(o, num, (size_t)n);
    }
}

size_t kv_entry_format(const uint8_t *entry, size_t len, char *out, size_t cap)
{
    ASSERT(cap >= 8);
    struct kv_text o = {out, cap, 0, false};
    struct arena a;
    arena_init(&a, KV_PREPARE_ARENA_BLOCK_BYTES,
               len * KV_DECODE_ARENA_FACTOR + KV_DECODE_ARENA_FLOOR_BYTES);
    Chorus__Command *m = chorus__command__unpack(&a.allocator, len, entry);
    if (m == NULL) {
        kv_text_put(&o, "(malformed)", 11);
    } else {
        text_command(&o, m);
    }
    arena_free(&a);
    return kv_text_finish(&o);
}
