/* libFuzzer target for the kv state machine. The first byte picks a mode:
 *   0: kv_snapshot_load on the remaining bytes. A load that succeeds must give a store
 *      that passes its invariants and survives a write/load round trip with an equal
 *      digest; a load that fails must leave the store's digest unchanged.
 *   1: the rest is a series of raw log entries (u8 length, bytes) given to
 *      kv_entry_format and kv_apply, as a corrupt or hostile log would.
 *   2: the rest is command lines (split at '\n', arguments at ' ') sent through
 *      kv_prepare and kv_apply on two stores, with a register, sessions, MULTI batches
 *      and time moving; both stores must agree, and a snapshot of one must load into a
 *      third store with the same digest.
 * Small limits make the caps and evictions reachable. No crash, leak or UB is allowed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "kv/kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ARGC_MAX 16
#define FUZZ_MULTI_MAX 4

static const struct kv_config fuzz_cfg = {
    .memory_bytes_max = 16 << 10,
    .session_timeout_ms = 5000,
    .key_size_bytes_max = 64,
    .value_size_bytes_max = 256,
    .collection_len_max = 32,
    .argc_max = FUZZ_ARGC_MAX,
    .sessions_count_max = 3,
    .session_replies_count_max = 4,
    .multi_commands_count_max = FUZZ_MULTI_MAX,
};

static void round_trip(const struct kv_store *s)
{
    struct buf snap;
    buf_init(&snap, 0);
    ASSERT(kv_snapshot_write(s, &snap) == 0);
    struct kv_store *t = kv_create(&fuzz_cfg);
    ASSERT(kv_snapshot_load(t, snap.data, snap.len) == 0);
    kv_check_invariants(t);
    ASSERT(kv_digest(t) == kv_digest(s));
    kv_destroy(t);
    buf_free(&snap);
}

static void fuzz_snapshot(const uint8_t *data, size_t size)
{
    struct kv_store *s = kv_create(&fuzz_cfg);
    uint64_t before = kv_digest(s);
    if (kv_snapshot_load(s, data, size) == 0) {
        kv_check_invariants(s);
        round_trip(s);
    } else {
        ASSERT(kv_digest(s) == before);
    }
    kv_destroy(s);
}

static void fuzz_entries(const uint8_t *data, size_t size)
{
    struct kv_store *s = kv_create(&fuzz_cfg);
    struct kv_reply r;
    kv_reply_init(&r);
    uint64_t index = 0;
    while (size > 0) {
        size_t n = MIN((size_t)data[0], size - 1);
        char text[128];
        ASSERT(kv_entry_format(data + 1, n, text, sizeof text) < sizeof text);
        ASSERT(kv_apply(s, ++index, data + 1, n, &r) == 0);
        kv_check_invariants(s);
        data += 1 + n;
        size -= 1 + n;
    }
    round_trip(s);
    kv_reply_free(&r);
    kv_destroy(s);
}

struct fuzz_line {
    const uint8_t *argv[FUZZ_ARGC_MAX];
    size_t len[FUZZ_ARGC_MAX];
    struct kv_argv cmd;
};

static void split_line(struct fuzz_line *l, const uint8_t *p, size_t n)
{
    int argc = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n && argc < FUZZ_ARGC_MAX; i++) {
        if (i == n || p[i] == ' ') {
            l->argv[argc] = p + start;
            l->len[argc] = i - start;
            argc++;
            start = i + 1;
        }
    }
    l->cmd.argc = argc;
    l->cmd.argv = l->argv;
    l->cmd.argv_len = l->len;
}

struct fuzz_run {
    struct kv_store *a, *b;
    struct buf entry;
    struct kv_reply ra, rb;
    uint64_t index, now_ms, client, seq;
    struct fuzz_line queued[FUZZ_MULTI_MAX];
    size_t queued_count;
};

static void apply_both(struct fuzz_run *f)
{
    f->index++;
    ASSERT(kv_apply(f->a, f->index, f->entry.data, f->entry.len, &f->ra) == 0);
    ASSERT(kv_apply(f->b, f->index, f->entry.data, f->entry.len, &f->rb) == 0);
    ASSERT(f->ra.bytes.len == f->rb.bytes.len);
    ASSERT(memcmp(f->ra.bytes.data, f->rb.bytes.data, f->ra.bytes.len) == 0);
    kv_check_invariants(f->a);
    ASSERT(kv_digest(f->a) == kv_digest(f->b));
    if (f->client == 0 && kv_reply_type_of(&f->ra) == KV_REPLY_INTEGER) {
        struct kv_reply_iter it;
        struct kv_reply_item item;
        kv_reply_iter_init(&it, &f->ra);
        if (kv_reply_next(&it, &item) && (uint64_t)item.integer == f->index) {
            f->client = f->index; /* the register reply */
        }
    }
}

/* A line is a command; a line starting with '#' is a control: '#r' registers, '#t' moves
 * time, '#q' queues the rest for MULTI, '#x' runs the queued batch, '#d' retries the
 * last entry. */
static void fuzz_line(struct fuzz_run *f, const uint8_t *p, size_t n)
{
    struct kv_client client = {f->client, ++f->seq, f->seq > 2 ? f->seq - 2 : 1};
    if (n >= 2 && p[0] == '#') {
        if (p[1] == 'r') {
            buf_reset(&f->entry);
            ASSERT(kv_prepare_register(f->now_ms, &f->entry) == 0);
        } else if (p[1] == 't') {
            f->now_ms += n * 700;
            return;
        } else if (p[1] == 'q' && f->queued_count < FUZZ_MULTI_MAX) {
            split_line(&f->queued[f->queued_count++], p + 2, n - 2);
            return;
        } else if (p[1] == 'x') {
            struct kv_argv cmds[FUZZ_MULTI_MAX];
            for (size_t i = 0; i < f->queued_count; i++) {
                cmds[i] = f->queued[i].cmd;
            }
            struct kv_watch w = {(const uint8_t *)"k", 1, kv_key_version(f->a, f->now_ms, (const uint8_t *)"k", 1)};
            buf_reset(&f->entry);
            int rc = kv_prepare_multi(&fuzz_cfg, f->now_ms, &client, cmds,
                                      f->queued_count, &w, n > 2, &f->entry, &f->ra);
            f->queued_count = 0;
            if (rc != 0) {
                return;
            }
        } else if (p[1] != 'd' || f->entry.len == 0) {
            return;
        }
        apply_both(f);
        return;
    }
    struct fuzz_line l;
    split_line(&l, p, n);
    buf_reset(&f->entry);
    if (kv_prepare(&fuzz_cfg, f->now_ms, &client, &l.cmd, &f->entry, &f->ra) == 0) {
        apply_both(f);
    } else {
        ASSERT(kv_reply_is_error(&f->ra));
    }
    kv_read(f->a, f->now_ms, &l.cmd, &f->rb);
}

static void fuzz_commands(const uint8_t *data, size_t size)
{
    struct fuzz_run f;
    memset(&f, 0, sizeof f);
    f.a = kv_create(&fuzz_cfg);
    f.b = kv_create(&fuzz_cfg);
    f.now_ms = 1000;
    buf_init(&f.entry, 0);
    kv_reply_init(&f.ra);
    kv_reply_init(&f.rb);
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            fuzz_line(&f, data + start, i - start);
            start = i + 1;
        }
    }
    round_trip(f.a);
    kv_reply_free(&f.ra);
    kv_reply_free(&f.rb);
    buf_free(&f.entry);
    kv_destroy(f.a);
    kv_destroy(f.b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    switch (data[0] % 3) {
    case 0:
        fuzz_snapshot(data + 1, size - 1);
        break;
    case 1:
        fuzz_entries(data + 1, size - 1);
        break;
    default:
        fuzz_commands(data + 1, size - 1);
        break;
    }
    return 0;
}
