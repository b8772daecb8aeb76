/* Applying committed entries: decoding (into a bounded arena), the log clock, session
 * handling for exactly-once (kv_session.c), MULTI/EXEC with WATCH, and the memory cap.
 *
 * Order of one apply: decode; advance the log clock to max(log clock, entry now_ms);
 * expire sessions; when the index crosses a multiple of KV_EXPIRE_SWEEP_INTERVAL_ENTRIES
 * reap all expired keys;
 * then, for a session command: refuse an unknown session, apply session_ack, answer a
 * duplicate from the cache, refuse an evicted seq, otherwise run and remember the reply.
 * Running a command: validate it again (the log is untrusted input), check the memory
 * cap with an upper bound of its growth (sweeping expired keys before refusing), run.
 * An EXEC validates every queued command first (any failure: EXECABORT, nothing runs),
 * then checks the watched versions (any change: nil array, nothing runs), then the cap
 * for the whole batch, then runs them back to back: atomic, since nothing else can
 * interleave inside one entry. */
#include "base/assertions.h"
#include "base/errors.h"
#include "kv/kv_internal.h"
#include "proto/chorus.pb-c.h"
#include "wire/pb_lite.h"

#define KV_REGISTER_COMMAND "CHORUS.REGISTER"
#define KV_OOM_ERROR "OOM command not allowed when used memory > 'maxmemory'."
#define KV_EXECABORT_ERROR "EXECABORT Transaction discarded because of previous errors."

static bool bin_is(const ProtobufCBinaryData *b, const char *word)
{
    size_t n = strlen(word);
    if (b->len != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = b->data[i];
        if ((ch >= 'a' && ch <= 'z' ? ch - 32 : ch) != (uint8_t)word[i]) {
            return false;
        }
    }
    return true;
}

/* Arguments a command's view keeps on the stack; a longer one's arrays come from the
 * arena. */
#define KV_ARGV_VIEW_SMALL_COUNT 16

/* Room for a small argv view. */
struct argv_small {
    const uint8_t *argv[KV_ARGV_VIEW_SMALL_COUNT];
    size_t lens[KV_ARGV_VIEW_SMALL_COUNT];
};

/* Points an argv view at the decoded arguments; arrays in small (may be NULL) when they
 * fit, else from the arena. */
static int argv_view(struct arena *a, struct argv_small *small, const Chorus__Command *m,
                     struct kv_argv *out)
{
    if (m->n_argv > INT32_MAX) {
        return ERR_TOO_LARGE;
    }
    size_t n = MAX(m->n_argv, 1);
    bool fits = small != NULL && n <= KV_ARGV_VIEW_SMALL_COUNT;
    const uint8_t **argv = fits ? small->argv : arena_alloc(a, n * sizeof *argv);
    size_t *lens = fits ? small->lens : arena_alloc(a, n * sizeof *lens);
    if (argv == NULL || lens == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < m->n_argv; i++) {
        /* protobuf-c leaves an empty bytes field NULL; handlers want a real pointer. */
        argv[i] = m->argv[i].data != NULL ? m->argv[i].data : (const uint8_t *)"";
        lens[i] = m->argv[i].len;
    }
    out->argc = (int)m->n_argv;
    out->argv = argv;
    out->argv_len = lens;
    return 0;
}

static bool memory_allows(struct kv_store *s, size_t growth)
{
    size_t cap = s->cfg.memory_bytes_max;
    if (growth <= cap && s->memory_bytes <= cap - growth) {
        return true;
    }
    kv_expire_sweep(s, s->log_clock_ms);
    if (growth <= cap && s->memory_bytes <= cap - growth) {
        return true;
    }
    s->counters.oom_refusals++;
    return false;
}

static void run_single(struct kv_store *s, uint64_t index, const struct kv_argv *cmd,
                       struct kv_reply *reply)
{
    const struct kv_command *k = NULL;
    if (kv_command_check(&s->cfg, s->log_clock_ms, cmd, reply, &k) != 0) {
        return;
    }
    if (k->info.deny_oom && !memory_allows(s, kv_command_growth_bytes(k, cmd))) {
        kv_reply_error(reply, KV_OOM_ERROR);
        return;
    }
    kv_command_run(s, k, index, s->log_clock_ms, cmd, reply);
}

static bool watches_hold(const struct kv_store *s, const Chorus__Command *m)
{
    for (size_t i = 0; i < m->n_watch_keys; i++) {
        uint64_t v = kv_key_version(s, s->log_clock_ms, m->watch_keys[i].data, m->watch_keys[i].len);
        if (v != m->watch_versions[i]) {
            return false;
        }
    }
    return true;
}

/* Decodes and validates every queued command; the growth bound goes to growth_out. */
static int exec_check(struct kv_store *s, const Chorus__Command *m, struct kv_argv *cmds,
                      size_t *growth_out, struct kv_reply *reply)
{
    if (m->n_multi > s->cfg.multi_commands_count_max || m->n_watch_keys != m->n_watch_versions ||
        m->n_watch_keys > (size_t)s->cfg.argc_max) {
        return ERR_INVALID;
    }
    size_t growth = 0;
    for (size_t i = 0; i < m->n_multi; i++) {
        const Chorus__Command *sub = m->multi[i];
        if (sub->n_multi > 0 || sub->n_watch_keys > 0 ||
            argv_view(&s->arena, NULL, sub, &cmds[i]) != 0) {
            return ERR_INVALID;
        }
        const struct kv_command *k = NULL;
        int rc = kv_command_check(&s->cfg, s->log_clock_ms, &cmds[i], reply, &k);
        kv_reply_reset(reply);
        if (rc != 0) {
            return rc;
        }
        growth += k->info.deny_oom ? kv_command_growth_bytes(k, &cmds[i]) : 0;
    }
    *growth_out = growth;
    return 0;
}

static void run_exec(struct kv_store *s, uint64_t index, const Chorus__Command *m,
                     struct kv_reply *reply)
{
    struct kv_argv *cmds = arena_alloc(&s->arena, MAX(m->n_multi, 1) * sizeof *cmds);
    size_t growth = 0;
    if (cmds == NULL || exec_check(s, m, cmds, &growth, reply) != 0) {
        kv_reply_error(reply, KV_EXECABORT_ERROR);
        return;
    }
    if (!watches_hold(s, m)) {
        kv_reply_nil_array(reply);
        return;
    }
    if (growth > 0 && !memory_allows(s, growth)) {
        kv_reply_error(reply, KV_OOM_ERROR);
        return;
    }
    size_t pos = kv_reply_array_begin(reply);
    for (size_t i = 0; i < m->n_multi; i++) {
        const struct kv_command *k = kv_command_find(cmds[i].argv[0], cmds[i].argv_len[0]);
        kv_command_run(s, k, index, s->log_clock_ms, &cmds[i], reply);
    }
    kv_reply_array_end(reply, pos, (uint32_t)m->n_multi);
}

static void run_command(struct kv_store *s, uint64_t index, const Chorus__Command *m,
                        struct kv_reply *reply)
{
    if (m->n_argv == 1 && bin_is(&m->argv[0], "EXEC")) {
        run_exec(s, index, m, reply);
        return;
    }
    struct kv_argv cmd;
    struct argv_small small;
    if (m->n_multi > 0 || m->n_watch_keys > 0 || argv_view(&s->arena, &small, m, &cmd) != 0) {
        kv_reply_error(reply, "ERR malformed command entry");
        return;
    }
    run_single(s, index, &cmd, reply);
}

static void run_session_command(struct kv_store *s, uint64_t index, const Chorus__Command *m,
                                struct kv_reply *reply)
{
    struct kv_session *ss = kv_session_find(s, m->client_id);
    if (ss == NULL) {
        s->counters.session_refusals++;
        kv_reply_error(reply, "SESSIONEXPIRED unknown or expired client session");
        return;
    }
    ss->last_active_ms = s->log_clock_ms;
    kv_session_ack(ss, m->session_ack);
    const struct kv_reply *cached = kv_session_cached(ss, m->seq);
#ifdef CHORUS_MUTANTS
    if (cached != NULL && s->cfg.mutant_apply_retries_twice) {
        run_command(s, index, m, reply); /* known-wrong: the retry runs again */
        return;
    }
#endif
    if (cached != NULL) {
        s->counters.duplicates++;
        kv_reply_append(reply, cached);
        return;
    }
    if (m->seq < ss->floor_seq) {
        kv_reply_error(reply, "EVICTED the reply to this request was discarded from the session");
        return;
    }
    run_command(s, index, m, reply);
    kv_session_remember(ss, s->cfg.session_reply_bytes_max, m->seq, reply);
}

static void apply_decoded(struct kv_store *s, uint64_t index, uint64_t previous_index,
                          const Chorus__Command *m, struct kv_reply *reply)
{
    s->log_clock_ms = MAX(s->log_clock_ms, m->now_ms);
    kv_session_expire(s);
    /* Sweep when the index crosses a multiple of the interval, so entries the state
     * machine never sees (no-ops, configurations) cannot skip a sweep. */
    if (index / KV_EXPIRE_SWEEP_INTERVAL_ENTRIES !=
        previous_index / KV_EXPIRE_SWEEP_INTERVAL_ENTRIES) {
        kv_expire_sweep(s, s->log_clock_ms);
    }
    if (m->client_id != 0) {
        run_session_command(s, index, m, reply);
    } else if (m->n_argv == 1 && m->n_multi == 0 && bin_is(&m->argv[0], KV_REGISTER_COMMAND)) {
        kv_session_register(s, index);
        kv_reply_integer(reply, (int64_t)index);
    } else {
        run_command(s, index, m, reply);
    }
}

/* Arguments the fast decoder holds; a command with more goes through protobuf-c. */
#define KV_FAST_DECODE_ARGS_MAX 16

/* The common entry, one command without MULTI or WATCH (fields 1-4 and 8), decoded in
 * place: argv points into entry (borrowed for the apply). False for anything else, a
 * malformed entry included, which protobuf-c then decodes or refuses. */
static bool decode_simple(const uint8_t *entry, size_t len, Chorus__Command *m,
                          ProtobufCBinaryData *args)
{
    chorus__command__init(m);
    m->argv = args;
    struct pb_reader r = pb_reader_make(entry, len);
    while (pb_reader_more(&r)) {
        /* The keys kv_prepare writes are one byte each: taken straight from the byte. A
         * field written any other way (a longer key, an unknown or repeated field, too
         * many arguments) goes the general way below, with the same result. */
        uint8_t key = *r.p;
        if (key == (4 << 3 | PB_BYTES) && m->n_argv < KV_FAST_DECODE_ARGS_MAX) {
            r.p++;
            ProtobufCBinaryData *a = &args[m->n_argv++];
            a->data = (uint8_t *)pb_read_bytes(&r, &a->len);
            continue;
        }
        if (key == (1 << 3 | PB_VARINT) || key == (2 << 3 | PB_VARINT) ||
            key == (3 << 3 | PB_VARINT) || key == (8 << 3 | PB_VARINT)) {
            r.p++;
            uint64_t v = pb_read_varint(&r);
            *(key == (1 << 3)   ? &m->client_id
              : key == (2 << 3) ? &m->seq
              : key == (3 << 3) ? &m->now_ms
                                : &m->session_ack) = v;
            continue;
        }
        uint32_t field = 0;
        uint32_t type = pb_read_key(&r, &field);
        bool scalar = field == 1 || field == 2 || field == 3 || field == 8;
        if (field == 4 && type == PB_BYTES && m->n_argv < KV_FAST_DECODE_ARGS_MAX) {
            ProtobufCBinaryData *a = &args[m->n_argv++];
            a->data = (uint8_t *)pb_read_bytes(&r, &a->len);
        } else if (scalar && type == PB_VARINT) {
            uint64_t v = pb_read_varint(&r);
            *(field == 1 ? &m->client_id : field == 2 ? &m->seq : field == 3 ? &m->now_ms
                                                                             : &m->session_ack) = v;
        } else if (field <= 8) {
            return false; /* MULTI, WATCH, many arguments, or an unexpected wire type */
        } else {
            pb_skip(&r, type);
        }
    }
    return !r.failed;
}

int kv_apply(struct kv_store *s, uint64_t index, const uint8_t *entry, size_t len,
             struct kv_reply *reply_out)
{
    if (index <= s->applied_index) {
        return ERR_STALE;
    }
    kv_reply_reset(reply_out);
    uint64_t previous_index = s->applied_index;
    s->applied_index = index;
    arena_reset(&s->arena);
    s->arena.used_bytes_max = len * KV_DECODE_ARENA_FACTOR + KV_DECODE_ARENA_FLOOR_BYTES;
    Chorus__Command simple;
    ProtobufCBinaryData args[KV_FAST_DECODE_ARGS_MAX];
    Chorus__Command *m = &simple;
    if (!decode_simple(entry, len, &simple, args)) {
        m = chorus__command__unpack(&s->arena.allocator, len, entry);
    }
    if (m == NULL) {
        kv_reply_error(reply_out, "ERR malformed command entry");
    } else {
        apply_decoded(s, index, previous_index, m, reply_out);
    }
    arena_reset(&s->arena);
    ASSERT(kv_reply_valid(reply_out->bytes.data, reply_out->bytes.len));
    return 0;
}
