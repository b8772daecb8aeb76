/* The linearizability checker of the simulator: per-key histories of a Redis-like store.
 *
 * The simulator's clients record every operation they send: lincheck_invoke() when the
 * request leaves the client, lincheck_complete() when its fate is known. The outcome is
 * one of
 *   OK       the reply arrived; its result must be explained by the model;
 *   FAILED   the operation was definitely not applied (it is dropped from the history);
 *   UNKNOWN  it may or may not have taken effect, at any time after its invocation
 *            (timeouts, lost replies, crashes). An operation never completed by the time
 *            lincheck_check() runs counts as UNKNOWN too.
 *
 * lincheck_check() splits the history by key (linearizability is compositional, so each
 * key is checked on its own) and searches for a linearization with the Wing & Gong
 * algorithm as refined by Lowe ("Testing for linearizability", 2017): operations are
 * linearized just in time, in the order of a list of call and return events, and every
 * visited configuration (set of linearized operations, model state) is memoized so that
 * it is never expanded twice. That is also how Porcupine and Knossos work.
 *
 * The model is one key of the store: absent, a string, or a list, with GET, SET (plain,
 * NX, XX, GET), INCR, RPUSH, LRANGE 0 -1 and DEL, including the WRONGTYPE and integer
 * errors Redis returns; docs/lincheck.md lists the exact semantics.
 *
 * Real-time order comes from the order of the calls, not from the timestamps: the
 * recorder stamps every invoke and complete with a sequence number, and op A precedes
 * op B when A's completion was recorded before B's invocation. The simulator therefore
 * has to record events in the order they happen (now_ns never decreases, ASSERTed);
 * the nanoseconds only label the report.
 *
 * The search is bounded by a count of steps and by a memory cap per key, never by wall
 * time, so the verdict is a function of the history alone and a seed replays exactly.
 * The module is pure: no clock, no randomness, no I/O. It allocates only in its _init,
 * _free and _alloc functions. Depends on base (buf, hashmap) and wire (arena). */
#ifndef CHORUS_SIM_LINCHECK_H
#define CHORUS_SIM_LINCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* The operations of the model; arg is the value for SET* and RPUSH, empty otherwise. */
enum lincheck_op_kind {
    LINCHECK_GET,
    LINCHECK_SET,
    LINCHECK_SET_NX,
    LINCHECK_SET_XX,
    LINCHECK_SET_GET, /* SET key v GET: returns the old value */
    LINCHECK_INCR,
    LINCHECK_RPUSH,   /* one element */
    LINCHECK_LRANGE,  /* LRANGE key 0 -1 */
    LINCHECK_DEL,
    LINCHECK_OP_KIND_COUNT_
};

enum lincheck_outcome {
    LINCHECK_PENDING, /* recorded by lincheck_invoke; checked as UNKNOWN if never completed */
    LINCHECK_OK,
    LINCHECK_FAILED,
    LINCHECK_UNKNOWN,
};

/* What a reply said. The simulator translates its RESP or RPC reply into one of these. */
enum lincheck_result_kind {
    LINCHECK_RESULT_NIL,             /* null bulk string */
    LINCHECK_RESULT_OK,              /* +OK */
    LINCHECK_RESULT_INT,             /* :n */
    LINCHECK_RESULT_BULK,            /* $bytes */
    LINCHECK_RESULT_ARRAY,           /* *n of bulk strings (LRANGE) */
    LINCHECK_RESULT_ERR_WRONGTYPE,   /* -WRONGTYPE ... */
    LINCHECK_RESULT_ERR_NOT_INTEGER, /* -ERR value is not an integer or out of range */
    LINCHECK_RESULT_ERR_OVERFLOW,    /* -ERR increment or decrement would overflow */
    LINCHECK_RESULT_KIND_COUNT_
};

struct lincheck_bytes {
    const void *data; /* borrowed */
    size_t len;
};

/* A result as handed to lincheck_complete(); every pointer is borrowed for the call. */
struct lincheck_result {
    enum lincheck_result_kind kind;
    int64_t integer;                    /* INT */
    struct lincheck_bytes bulk;         /* BULK */
    const struct lincheck_bytes *items; /* ARRAY, items_count of them */
    size_t items_count;
};

/* Named limits on what one history may hold (STYLE.md rule 6). */
#define LINCHECK_OPS_COUNT_MAX_DEFAULT (4u * 1000 * 1000)
#define LINCHECK_BYTES_MAX (1u << 30)       /* args and results of the whole history */
#define LINCHECK_EXPLANATION_BYTES_MAX 2048 /* the report's text, NUL included */
#define LINCHECK_OP_NONE UINT32_MAX         /* lincheck_invoke's answer after a failure */

/* One recorded operation. Byte fields are offsets into lincheck_history.bytes. */
struct lincheck_op {
    uint32_t key_id;
    uint32_t client_id;
    uint8_t kind;        /* enum lincheck_op_kind */
    uint8_t outcome;     /* enum lincheck_outcome */
    uint8_t result_kind; /* enum lincheck_result_kind, when outcome is OK */
    uint32_t arg_offset;
    uint32_t arg_len;
    int64_t result_int;
    /* BULK: the bytes. ARRAY: result_len is the items count, and at result_offset lie the
     * items LAST FIRST, each as a u32 little-endian length and its bytes (the model keeps
     * lists as chains from the tail, so a comparison walks both in the same direction). */
    uint32_t result_offset;
    uint32_t result_len;
    uint64_t invoke_stamp;   /* event sequence numbers: real-time order */
    uint64_t complete_stamp; /* UINT64_MAX until completed */
    uint64_t invoke_ns;      /* for the report only */
    uint64_t complete_ns;
};

/* A history under construction. Owned by the caller; init before use, free after. A
 * recording failure (memory, or a limit) is sticky: later calls are no-ops and
 * lincheck_check() returns the error, so the recorder needs no error handling. */
struct lincheck_history {
    struct lincheck_op *ops; /* owned; indexed by op id */
    size_t ops_count;
    size_t ops_cap;
    size_t ops_count_max;
    struct buf bytes;        /* args and results */
    uint64_t stamp_next;
    uint64_t now_ns_last;
    int error;               /* 0, or the first recording error (ERR_NOMEM, ERR_TOO_LARGE) */
};

/* The search budget of one key. Both are deterministic: the same history gives the same
 * verdict on any machine. Zero fields take the defaults. */
struct lincheck_limits {
    uint64_t steps_max;        /* search steps (candidate tries and backtracks) per key */
    size_t memory_bytes_max;   /* memo, model states and search tables of one key */
};
#define LINCHECK_STEPS_MAX_DEFAULT (50ull * 1000 * 1000)
#define LINCHECK_MEMORY_BYTES_MAX_DEFAULT ((size_t)256 << 20)

enum lincheck_verdict {
    LINCHECK_LINEARIZABLE,
    LINCHECK_NOT_LINEARIZABLE,
    LINCHECK_VERDICT_UNKNOWN, /* some key ran out of budget and none failed */
};

struct lincheck_report {
    enum lincheck_verdict verdict;
    uint32_t key_id;             /* the lowest failing key; else the lowest unknown key */
    uint32_t keys_count;         /* keys in the history */
    uint32_t keys_failed_count;  /* keys proven not linearizable */
    uint32_t keys_unknown_count; /* keys whose search ran out of budget */
    uint64_t ops_count;          /* operations checked (FAILED and unknown reads dropped) */
    uint64_t steps;              /* search steps over all keys, explanation search included */
    size_t memory_bytes_peak;    /* the most working memory one key's search used */
    /* NOT_LINEARIZABLE: the key, the shortest failing prefix of its history (it ends when
     * the op whose result cannot be explained completes), the model state at the deepest
     * point of the search and the ops that were open there. UNKNOWN: which budget ran out.
     * Empty when linearizable. Lines end with '\n'; always NUL-terminated. */
    char explanation[LINCHECK_EXPLANATION_BYTES_MAX];
};

/* ops_count_max 0 means LINCHECK_OPS_COUNT_MAX_DEFAULT. */
void lincheck_history_init(struct lincheck_history *h, size_t ops_count_max);
void lincheck_history_free(struct lincheck_history *h);

/* Records the invocation of op on key_id by client_id at now_ns. arg (SET* and RPUSH
 * value; NULL/0 otherwise) is copied. Returns the op id to complete, or LINCHECK_OP_NONE
 * when the history has failed (see lincheck_history.error). */
uint32_t lincheck_invoke(struct lincheck_history *h, uint32_t key_id, uint32_t client_id,
                         enum lincheck_op_kind kind, const void *arg, size_t arg_len,
                         uint64_t now_ns);

/* Records the completion of op_id. result is read only when outcome is LINCHECK_OK (and
 * must then be non-NULL); its bytes are copied. An op completes at most once; op_id
 * LINCHECK_OP_NONE is ignored. */
void lincheck_complete(struct lincheck_history *h, uint32_t op_id,
                       enum lincheck_outcome outcome, const struct lincheck_result *result,
                       uint64_t now_ns);

/* Checks every key. limits may be NULL (defaults). Returns 0 with *report filled, or the
 * history's recording error, or ERR_NOMEM when the checker's own tables could not be
 * allocated (exceeding memory_bytes_max is not an error: that key is UNKNOWN). */
int lincheck_check(const struct lincheck_history *h, const struct lincheck_limits *limits,
                   struct lincheck_report *report);

const char *lincheck_verdict_name(enum lincheck_verdict v);
const char *lincheck_op_kind_name(enum lincheck_op_kind kind);

/* Result constructors for recorders. */
static inline struct lincheck_result lincheck_result_nil(void)
{
    struct lincheck_result r = {.kind = LINCHECK_RESULT_NIL};
    return r;
}
static inline struct lincheck_result lincheck_result_ok(void)
{
    struct lincheck_result r = {.kind = LINCHECK_RESULT_OK};
    return r;
}
static inline struct lincheck_result lincheck_result_int(int64_t v)
{
    struct lincheck_result r = {.kind = LINCHECK_RESULT_INT, .integer = v};
    return r;
}
static inline struct lincheck_result lincheck_result_bulk(const void *data, size_t len)
{
    struct lincheck_result r = {.kind = LINCHECK_RESULT_BULK, .bulk = {data, len}};
    return r;
}
static inline struct lincheck_result lincheck_result_array(const struct lincheck_bytes *items,
                                                           size_t items_count)
{
    struct lincheck_result r = {
        .kind = LINCHECK_RESULT_ARRAY, .items = items, .items_count = items_count};
    return r;
}
static inline struct lincheck_result lincheck_result_error(enum lincheck_result_kind kind)
{
    struct lincheck_result r = {.kind = kind};
    return r;
}

#endif
