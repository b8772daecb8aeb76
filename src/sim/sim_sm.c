/* Adapter from the simulator to src/kv; see sim_sm.h. */
#include "sim/sim_sm.h"

#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "kv/kv.h"
#include "proto/chorus.pb-c.h"
#include "wire/arena.h"

struct sm {
    struct kv_store *kv;
    struct kv_reply reply;
    struct arena arena;
};

struct sm *sm_create(bool mutant_apply_twice)
{
    struct sm *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    struct kv_config cfg = {0};
#ifdef CHORUS_MUTANTS
    cfg.mutant_apply_retries_twice = mutant_apply_twice;
#else
    (void)mutant_apply_twice;
#endif
    s->kv = kv_create(&cfg);
    if (s->kv == NULL) {
        free(s);
        return NULL;
    }
    kv_reply_init(&s->reply);
    arena_init(&s->arena, 4096, 1 << 20);
    return s;
}

void sm_destroy(struct sm *s)
{
    if (s == NULL) {
        return;
    }
    kv_destroy(s->kv);
    kv_reply_free(&s->reply);
    arena_free(&s->arena);
    free(s);
}

static void reply_copy(struct sm_reply *out, const struct kv_reply *r)
{
    size_t n = r->bytes.len;
    out->truncated = n > SM_REPLY_BYTES_MAX;
    out->len = (uint32_t)MIN(n, SM_REPLY_BYTES_MAX);
    if (out->len != 0) {
        memcpy(out->bytes, r->bytes.data, out->len);
    }
}

int sm_prepare(struct sm *s, uint64_t now_ms, uint64_t client_id, uint64_t seq, int argc,
               const uint8_t *const *argv, const size_t *argv_len, struct buf *entry_out,
               struct sm_reply *err)
{
    if (client_id == 0 && argc == 1 && argv_len[0] == 15 &&
        memcmp(argv[0], "CHORUS.REGISTER", 15) == 0) {
        return kv_prepare_register(now_ms, entry_out);
    }
    struct kv_client client = {.client_id = client_id, .seq = seq, .session_ack = seq};
    struct kv_argv cmd = {.argc = argc, .argv = argv, .argv_len = argv_len};
    kv_reply_reset(&s->reply);
    int rc = kv_prepare(kv_config_of(s->kv), now_ms, client_id != 0 ? &client : NULL, &cmd,
                        entry_out, &s->reply);
    if (rc != 0) {
        reply_copy(err, &s->reply);
    }
    return rc;
}

void sm_apply(struct sm *s, uint64_t index, const uint8_t *data, size_t len,
              struct sm_reply *out, struct sm_applied *info)
{
    kv_reply_reset(&s->reply);
    int rc = kv_apply(s->kv, index, data, len, &s->reply);
    ASSERT(rc == 0);
    reply_copy(out, &s->reply);
    memset(info, 0, sizeof *info);
    arena_reset(&s->arena);
    Chorus__Command *c = chorus__command__unpack(&s->arena.allocator, len, data);
    if (c != NULL) {
        info->client_id = c->client_id;
        info->seq = c->seq;
    }
}

void sm_read(struct sm *s, uint64_t now_ms, int argc, const uint8_t *const *argv,
             const size_t *argv_len, struct sm_reply *out)
{
    struct kv_argv cmd = {.argc = argc, .argv = argv, .argv_len = argv_len};
    kv_reply_reset(&s->reply);
    kv_read(s->kv, now_ms, &cmd, &s->reply);
    reply_copy(out, &s->reply);
}

uint64_t sm_digest(const struct sm *s) { return kv_digest(s->kv); }

int sm_snapshot_write(const struct sm *s, struct buf *out) { return kv_snapshot_write(s->kv, out); }

int sm_snapshot_load(struct sm *s, const uint8_t *data, size_t len)
{
    return kv_snapshot_load(s->kv, data, len);
}

void sim_kv_check_invariants(const struct sm *s) { kv_check_invariants(s->kv); }

static void as_kv_reply(const struct sm_reply *r, struct kv_reply *kr)
{
    kv_reply_init(kr);
    if (kv_reply_set_bytes(kr, r->bytes, r->len) != 0) {
        kv_reply_error(kr, "SIM malformed or truncated reply");
    }
}

void sm_reply_format(const struct sm_reply *r, char *out, size_t cap)
{
    struct kv_reply kr;
    as_kv_reply(r, &kr);
    kv_reply_format(&kr, out, cap);
    kv_reply_free(&kr);
}

bool sm_reply_is_error_prefix(const struct sm_reply *r, const char *prefix)
{
    size_t n = strlen(prefix);
    /* An error is 'e', u32 length, text. */
    return r->len >= 5 + n && r->bytes[0] == 'e' && memcmp(r->bytes + 5, prefix, n) == 0;
}
