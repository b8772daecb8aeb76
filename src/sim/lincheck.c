/* The per-key linearizability checker; see lincheck.h for the contract and
 * docs/lincheck.md for the model and the search.
 *
 * Layout of this file: recording (the history), the model (interned states and one step
 * per operation), the search (Lowe's just-in-time linearization over a linked list of call
 * and return events, with a memo of visited configurations), and the report (verdicts,
 * the shortest failing prefix, printing).
 *
 * Model states are hash-consed: every distinct state exists once per key, so a state's id
 * identifies it in the memo. A list is a chain from its tail (last element plus the state
 * of the list without it), so RPUSH costs one small allocation and not a copy of the list.
 *
 * A memo key is compact. With the completed ("definite") ops numbered in invocation order
 * and k the first of them not yet linearized, every definite op before k is linearized and
 * every linearized one after k was invoked before k completed (the search never passes
 * k's return event), so the set is k plus a bit window up to the last op invoked before
 * k completed. Ops of unknown outcome get a plain bitset of their own. The key is then
 * (state id, k, window bits, unknown bits), a few words for a history of any length.
 *
 * The search tries candidates in three passes (observers, other completed ops, unknown
 * ops), takes a matching observer without trying alternatives, skips unknown ops that
 * would change nothing or have an identical earlier twin pending, and skips
 * configurations subsumed by a visited one with fewer unknown ops applied; the comments
 * at try_candidate and memo_add say why each is sound.
 *
 * Per-key working memory comes from one arena (wire/arena.h) that is reset between keys;
 * its limit is the key's memory budget. */
#include "sim/lincheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "base/hashmap.h"
#include "wire/arena.h"

#define STAMP_NONE UINT64_MAX
#define ARENA_BLOCK_BYTES (256u * 1024)
#define EXPLAIN_OPEN_OPS_MAX 8   /* ops listed as open at the deepest search point */
#define PRINT_BYTES_MAX 24       /* bytes of a value shown before "..." */
#define PRINT_ITEMS_MAX 5        /* list items shown */
#define INT64_DECIMAL_BYTES_MAX 20 /* "-9223372036854775808" */
#define EXPLAIN_STEPS_SLACK 100000 /* extra steps a prefix probe may take over the whole */

/* ------------------------------------------------------------------------------------
 * Recording */

void lincheck_history_init(struct lincheck_history *h, size_t ops_count_max)
{
    memset(h, 0, sizeof *h);
    h->ops_count_max = ops_count_max != 0 ? ops_count_max : LINCHECK_OPS_COUNT_MAX_DEFAULT;
    ASSERT(h->ops_count_max < LINCHECK_OP_NONE);
    buf_init(&h->bytes, LINCHECK_BYTES_MAX);
}

void lincheck_history_free(struct lincheck_history *h)
{
    free(h->ops);
    buf_free(&h->bytes);
    memset(h, 0, sizeof *h);
}

static int history_ops_alloc(struct lincheck_history *h)
{
    size_t cap = h->ops_cap != 0 ? h->ops_cap * 2 : 1024;
    struct lincheck_op *ops = realloc(h->ops, cap * sizeof *ops);
    if (ops == NULL) {
        return ERR_NOMEM;
    }
    h->ops = ops;
    h->ops_cap = cap;
    return 0;
}

static void history_fail(struct lincheck_history *h, int error)
{
    if (h->error == 0) {
        h->error = error;
    }
}

static uint64_t history_stamp(struct lincheck_history *h, uint64_t now_ns)
{
    ASSERT_CTX(now_ns >= h->now_ns_last, "events recorded out of order: %llu after %llu",
               (unsigned long long)now_ns, (unsigned long long)h->now_ns_last);
    h->now_ns_last = now_ns;
    return h->stamp_next++;
}

uint32_t lincheck_invoke(struct lincheck_history *h, uint32_t key_id, uint32_t client_id,
                         enum lincheck_op_kind kind, const void *arg, size_t arg_len,
                         uint64_t now_ns)
{
    ASSERT(kind < LINCHECK_OP_KIND_COUNT_);
    ASSERT(arg != NULL || arg_len == 0);
    if (h->error != 0) {
        return LINCHECK_OP_NONE;
    }
    if (h->ops_count >= h->ops_count_max || arg_len > LINCHECK_BYTES_MAX) {
        history_fail(h, ERR_TOO_LARGE);
        return LINCHECK_OP_NONE;
    }
    if (h->ops_count == h->ops_cap && history_ops_alloc(h) != 0) {
        history_fail(h, ERR_NOMEM);
        return LINCHECK_OP_NONE;
    }
    size_t offset = h->bytes.len;
    if (arg_len > 0 && buf_put(&h->bytes, arg, arg_len) != 0) {
        history_fail(h, ERR_TOO_LARGE);
        return LINCHECK_OP_NONE;
    }
    struct lincheck_op *op = &h->ops[h->ops_count];
    memset(op, 0, sizeof *op);
    op->key_id = key_id;
    op->client_id = client_id;
    op->kind = (uint8_t)kind;
    op->outcome = LINCHECK_PENDING;
    op->arg_offset = (uint32_t)offset;
    op->arg_len = (uint32_t)arg_len;
    op->invoke_stamp = history_stamp(h, now_ns);
    op->complete_stamp = STAMP_NONE;
    op->invoke_ns = now_ns;
    return (uint32_t)h->ops_count++;
}

/* Copies result's bytes; an ARRAY is stored last item first (see lincheck.h). */
static int history_put_result(struct lincheck_history *h, struct lincheck_op *op,
                              const struct lincheck_result *r)
{
    ASSERT(r->kind < LINCHECK_RESULT_KIND_COUNT_);
    op->result_kind = (uint8_t)r->kind;
    op->result_int = r->integer;
    op->result_offset = (uint32_t)h->bytes.len;
    if (r->kind == LINCHECK_RESULT_BULK) {
        ASSERT(r->bulk.data != NULL || r->bulk.len == 0);
        if (r->bulk.len > LINCHECK_BYTES_MAX) {
            return ERR_TOO_LARGE;
        }
        if (r->bulk.len > 0) {
            buf_put(&h->bytes, r->bulk.data, r->bulk.len);
        }
        op->result_len = (uint32_t)r->bulk.len;
    } else if (r->kind == LINCHECK_RESULT_ARRAY) {
        ASSERT(r->items != NULL || r->items_count == 0);
        if (r->items_count > LINCHECK_BYTES_MAX) {
            return ERR_TOO_LARGE;
        }
        for (size_t i = r->items_count; i-- > 0;) {
            if (r->items[i].len > LINCHECK_BYTES_MAX) {
                return ERR_TOO_LARGE;
            }
            buf_put_u32(&h->bytes, (uint32_t)r->items[i].len);
            if (r->items[i].len > 0) {
                buf_put(&h->bytes, r->items[i].data, r->items[i].len);
            }
        }
        op->result_len = (uint32_t)r->items_count;
    }
    return h->bytes.failed ? ERR_TOO_LARGE : 0;
}

void lincheck_complete(struct lincheck_history *h, uint32_t op_id,
                       enum lincheck_outcome outcome, const struct lincheck_result *result,
                       uint64_t now_ns)
{
    if (op_id == LINCHECK_OP_NONE || h->error != 0) {
        return;
    }
    ASSERT(op_id < h->ops_count);
    ASSERT(outcome == LINCHECK_OK || outcome == LINCHECK_FAILED || outcome == LINCHECK_UNKNOWN);
    struct lincheck_op *op = &h->ops[op_id];
    ASSERT_CTX(op->outcome == LINCHECK_PENDING, "op %u completed twice", op_id);
    if (outcome == LINCHECK_OK) {
        ASSERT(result != NULL);
        int rc = history_put_result(h, op, result);
        if (rc != 0) {
            history_fail(h, rc);
            return;
        }
    }
    op->outcome = (uint8_t)outcome;
    op->complete_stamp = history_stamp(h, now_ns);
    op->complete_ns = now_ns;
}

const char *lincheck_verdict_name(enum lincheck_verdict v)
{
    switch (v) {
    case LINCHECK_LINEARIZABLE:
        return "linearizable";
    case LINCHECK_NOT_LINEARIZABLE:
        return "not linearizable";
    case LINCHECK_VERDICT_UNKNOWN:
        return "unknown";
    }
    UNREACHABLE();
}

const char *lincheck_op_kind_name(enum lincheck_op_kind kind)
{
    static const char *const names[LINCHECK_OP_KIND_COUNT_] = {
        "GET", "SET", "SET NX", "SET XX", "SET GET", "INCR", "RPUSH", "LRANGE", "DEL"};
    ASSERT(kind < LINCHECK_OP_KIND_COUNT_);
    return names[kind];
}

/* ------------------------------------------------------------------------------------
 * The checker's per-key working state */

enum state_kind { STATE_ABSENT, STATE_STRING, STATE_LIST };

/* One interned model state. */
struct model_state {
    const struct model_state *parent; /* LIST: the list without its last element, or NULL */
    uint32_t id;                      /* 0 is the absent key */
    uint32_t list_len;                /* LIST: elements */
    uint32_t bytes_len;
    uint8_t kind;                     /* enum state_kind */
    uint8_t bytes[];                  /* STRING: the value; LIST: the last element */
};

struct state_key {
    uint8_t kind;
    const struct model_state *parent;
    const uint8_t *bytes;
    size_t len;
};

/* A visited configuration. Entries with the same state and definite set share a hash
 * slot and are chained; each holds the set of unknown ops linearized. */
struct memo_entry {
    struct memo_entry *next_same;
    uint32_t words_count; /* of the definite part */
    uint64_t words[];     /* the definite part, then the unknown bits */
};

struct memo_key {
    const uint64_t *words;
    uint32_t words_count;
};

/* One op of the key under check. */
struct search_op {
    const struct lincheck_op *op;
    uint64_t call_stamp;
    uint64_t return_stamp; /* STAMP_NONE when unknown */
    uint32_t index;        /* among the definite ops (call order), or among the unknown */
    bool unknown;
    bool observer;         /* definite, and its result shows it changed nothing */
    uint32_t twin;         /* unknown: 1 + the index of the previous identical unknown op, or 0 */
    const uint8_t *arg;
};

/* A call or return event in the list; entry 0 is the head of a circular list. */
struct search_entry {
    uint32_t prev;
    uint32_t next;
    uint32_t sop;     /* index into search_op */
    uint32_t match;   /* a call's return entry */
    bool is_call;
};

/* The candidate passes over the event list at one level of the search. */
enum search_pass {
    PASS_OBSERVERS,  /* completed ops whose result shows they changed nothing */
    PASS_DEFINITE,   /* the other completed ops */
    PASS_UNKNOWN,    /* ops of unknown outcome */
};

struct search_frame {
    uint32_t entry;                   /* the call entry linearized */
    uint32_t pass;                    /* enum search_pass it was chosen in */
    const struct model_state *state;  /* the state before it */
};

/* The deepest point of one search, for the report. */
struct search_deepest {
    bool valid;
    uint32_t linearized_count; /* definite ops linearized */
    const struct model_state *state;
    const struct lincheck_op *blocker;
    const struct lincheck_op *open[EXPLAIN_OPEN_OPS_MAX];
    uint32_t open_count;
};

enum search_result { SEARCH_PASSES, SEARCH_FAILS, SEARCH_EXHAUSTED };

struct checker {
    const struct lincheck_history *h;
    struct lincheck_limits limits;
    struct arena arena;       /* states, memo entries and the tables below, per key */
    struct hashmap states;    /* struct model_state, by content */
    struct hashmap memo;      /* struct memo_entry */
    uint32_t states_count;
    const struct model_state *absent;
    uint64_t steps;           /* of the current search */
    uint64_t steps_total;
    size_t memory_bytes_peak;
    const char *exhausted;    /* which budget ran out, or NULL */
    /* Tables of the current search. */
    struct search_op *sops;
    uint32_t sops_count;
    uint32_t definite_count;
    uint32_t unknown_count;
    struct search_entry *entries; /* 1 + 2 * sops_count */
    uint32_t *window_end;     /* per definite op: definite ops invoked before it completed */
    uint64_t *definite_bits;  /* linearized definite ops; one spare word */
    uint64_t *unknown_bits;
    uint64_t *key_words;      /* scratch for a memo key */
    struct search_frame *frames;
    uint32_t first_open;      /* the first definite op not linearized (k in the notes above) */
    uint32_t definite_left;
    struct search_deepest deepest;
};

static bool state_eq(const void *item, const void *key)
{
    const struct model_state *s = item;
    const struct state_key *k = key;
    return s->kind == k->kind && s->parent == k->parent && s->bytes_len == k->len &&
           (k->len == 0 || memcmp(s->bytes, k->bytes, k->len) == 0);
}

static bool memo_eq(const void *item, const void *key)
{
    const struct memo_entry *e = item;
    const struct memo_key *k = key;
    return e->words_count == k->words_count &&
           memcmp(e->words, k->words, k->words_count * sizeof(uint64_t)) == 0;
}

static size_t checker_memory_bytes(const struct checker *c)
{
    return c->arena.used_bytes +
           (c->states.slots_count + c->memo.slots_count) * sizeof(struct hashmap_slot);
}

static void checker_init(struct checker *c, const struct lincheck_history *h,
                         const struct lincheck_limits *limits)
{
    memset(c, 0, sizeof *c);
    c->h = h;
    c->limits.steps_max = LINCHECK_STEPS_MAX_DEFAULT;
    c->limits.memory_bytes_max = LINCHECK_MEMORY_BYTES_MAX_DEFAULT;
    if (limits != NULL && limits->steps_max != 0) {
        c->limits.steps_max = limits->steps_max;
    }
    if (limits != NULL && limits->memory_bytes_max != 0) {
        c->limits.memory_bytes_max = limits->memory_bytes_max;
    }
    arena_init(&c->arena, ARENA_BLOCK_BYTES, c->limits.memory_bytes_max);
    hashmap_init(&c->states, state_eq);
    hashmap_init(&c->memo, memo_eq);
}

static void checker_free(struct checker *c)
{
    hashmap_free(&c->states);
    hashmap_free(&c->memo);
    arena_free(&c->arena);
}

/* Forgets the previous search: its states, memo and tables. */
static void checker_reset(struct checker *c)
{
    hashmap_free(&c->states);
    hashmap_free(&c->memo);
    arena_reset(&c->arena);
    c->states_count = 0;
    c->absent = NULL;
    c->steps = 0;
    c->exhausted = NULL;
    c->sops_count = 0;
    memset(&c->deepest, 0, sizeof c->deepest);
}

static void *checker_alloc(struct checker *c, size_t size)
{
    void *p = arena_alloc(&c->arena, size);
    if (p == NULL) {
        c->exhausted = "memory";
    }
    return p;
}

/* ------------------------------------------------------------------------------------
 * The model */

static const struct model_state *state_intern(struct checker *c, uint8_t kind,
                                              const struct model_state *parent,
                                              const uint8_t *bytes, size_t len)
{
    struct state_key key = {kind, parent, bytes, len};
    uint64_t hash = hash_u64(hash_bytes(bytes, len) ^ ((uint64_t)(parent != NULL ? parent->id : 0) << 8) ^ kind);
    struct model_state *s = hashmap_find(&c->states, hash, &key);
    if (s != NULL) {
        return s;
    }
    s = checker_alloc(c, sizeof *s + len);
    if (s == NULL) {
        return NULL;
    }
    s->parent = parent;
    s->id = c->states_count;
    s->list_len = kind == STATE_LIST ? (parent != NULL ? parent->list_len : 0) + 1 : 0;
    s->bytes_len = (uint32_t)len;
    s->kind = kind;
    if (len > 0) {
        memcpy(s->bytes, bytes, len);
    }
    if (hashmap_insert(&c->states, hash, s) != 0) {
        c->exhausted = "memory";
        return NULL;
    }
    c->states_count++;
    return s;
}

/* The recorded bytes at offset (the buffer is NULL while nothing was recorded). */
static const uint8_t *bytes_at(const struct lincheck_history *h, uint32_t offset)
{
    static const uint8_t none[1];
    return h->bytes.data != NULL ? h->bytes.data + offset : none;
}

static bool result_is(const struct lincheck_op *op, enum lincheck_result_kind kind)
{
    return op->result_kind == kind;
}

static bool result_is_int(const struct lincheck_op *op, int64_t v)
{
    return op->result_kind == LINCHECK_RESULT_INT && op->result_int == v;
}

static bool result_is_bulk(const struct checker *c, const struct lincheck_op *op,
                           const struct model_state *s)
{
    return op->result_kind == LINCHECK_RESULT_BULK && op->result_len == s->bytes_len &&
           (s->bytes_len == 0 ||
            memcmp(bytes_at(c->h, op->result_offset), s->bytes, s->bytes_len) == 0);
}

/* The recorded array (last item first) against the list s (NULL: empty). */
static bool result_is_list(const struct checker *c, const struct lincheck_op *op,
                           const struct model_state *s)
{
    uint32_t len = s != NULL ? s->list_len : 0;
    if (op->result_kind != LINCHECK_RESULT_ARRAY || op->result_len != len) {
        return false;
    }
    const uint8_t *p = bytes_at(c->h, op->result_offset);
    for (; s != NULL; s = s->parent) {
        uint32_t item_len = le_load_u32(p);
        if (item_len != s->bytes_len || memcmp(p + 4, s->bytes, item_len) != 0) {
            return false;
        }
        p += 4 + item_len;
    }
    return true;
}

/* Redis's string2ll: an optional '-', then digits without leading zeros, in range. */
static bool parse_int64(const uint8_t *p, size_t len, int64_t *out)
{
    if (len == 0 || len > INT64_DECIMAL_BYTES_MAX) {
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
        if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (negative ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) {
        return false;
    }
    *out = negative ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* What an op leaves behind, decided before any state is interned. */
enum next_kind { NEXT_SAME, NEXT_ABSENT, NEXT_STRING, NEXT_LIST };

struct model_next {
    enum next_kind kind;
    const uint8_t *bytes; /* STRING: the value; LIST: the pushed element */
    size_t len;
};

/* INCR: the reply Redis gives in state s, and the new value into num. */
static bool model_incr(const struct lincheck_op *op, const struct model_state *s,
                       char num[INT64_DECIMAL_BYTES_MAX + 2], struct model_next *next)
{
    int64_t v = 0;
    if (s->kind == STATE_LIST) {
        return result_is(op, LINCHECK_RESULT_ERR_WRONGTYPE);
    }
    if (s->kind == STATE_STRING && !parse_int64(s->bytes, s->bytes_len, &v)) {
        return result_is(op, LINCHECK_RESULT_ERR_NOT_INTEGER);
    }
    if (v == INT64_MAX) {
        return result_is(op, LINCHECK_RESULT_ERR_OVERFLOW);
    }
    int n = snprintf(num, INT64_DECIMAL_BYTES_MAX + 2, "%lld", (long long)(v + 1));
    ASSERT(n > 0 && n <= INT64_DECIMAL_BYTES_MAX);
    next->kind = NEXT_STRING;
    next->bytes = (const uint8_t *)num;
    next->len = (size_t)n;
    return result_is_int(op, v + 1);
}

/* The SET family: which reply, and whether the value is written. */
static bool model_set(const struct checker *c, const struct lincheck_op *op,
                      const struct model_state *s, struct model_next *next)
{
    bool present = s->kind != STATE_ABSENT;
    bool ok;
    bool writes;
    switch (op->kind) {
    case LINCHECK_SET:
        ok = result_is(op, LINCHECK_RESULT_OK);
        writes = true;
        break;
    case LINCHECK_SET_NX:
        ok = result_is(op, present ? LINCHECK_RESULT_NIL : LINCHECK_RESULT_OK);
        writes = !present;
        break;
    case LINCHECK_SET_XX:
        ok = result_is(op, present ? LINCHECK_RESULT_OK : LINCHECK_RESULT_NIL);
        writes = present;
        break;
    default: /* SET GET aborts on a list (Redis 7) */
        ASSERT(op->kind == LINCHECK_SET_GET);
        if (s->kind == STATE_LIST) {
            return result_is(op, LINCHECK_RESULT_ERR_WRONGTYPE);
        }
        ok = present ? result_is_bulk(c, op, s) : result_is(op, LINCHECK_RESULT_NIL);
        writes = true;
        break;
    }
    if (writes) {
        next->kind = NEXT_STRING;
        next->bytes = bytes_at(c->h, op->arg_offset);
        next->len = op->arg_len;
    }
    return ok;
}

/* Whether op's recorded result is what the model replies in state s; fills *next. */
static bool model_reply(const struct checker *c, const struct lincheck_op *op,
                        const struct model_state *s, char *num, struct model_next *next)
{
    next->kind = NEXT_SAME;
    switch (op->kind) {
    case LINCHECK_GET:
        if (s->kind == STATE_STRING) {
            return result_is_bulk(c, op, s);
        }
        return result_is(op, s->kind == STATE_LIST ? LINCHECK_RESULT_ERR_WRONGTYPE
                                                   : LINCHECK_RESULT_NIL);
    case LINCHECK_INCR:
        return model_incr(op, s, num, next);
    case LINCHECK_RPUSH:
        if (s->kind == STATE_STRING) {
            return result_is(op, LINCHECK_RESULT_ERR_WRONGTYPE);
        }
        next->kind = NEXT_LIST;
        next->bytes = bytes_at(c->h, op->arg_offset);
        next->len = op->arg_len;
        return result_is_int(op, (int64_t)s->list_len + 1);
    case LINCHECK_LRANGE:
        if (s->kind == STATE_STRING) {
            return result_is(op, LINCHECK_RESULT_ERR_WRONGTYPE);
        }
        return result_is_list(c, op, s->kind == STATE_LIST ? s : NULL);
    case LINCHECK_DEL:
        next->kind = NEXT_ABSENT;
        return result_is_int(op, s->kind == STATE_ABSENT ? 0 : 1);
    default:
        return model_set(c, op, s, next);
    }
}

/* Applies op in state s. Returns false when op is definite and its recorded result is not
 * the model's (or memory ran out, with c->exhausted set); else *out is the next state. */
static bool model_step(struct checker *c, const struct search_op *sop,
                       const struct model_state *s, const struct model_state **out)
{
    char num[INT64_DECIMAL_BYTES_MAX + 2];
    struct model_next next;
    bool ok = model_reply(c, sop->op, s, num, &next);
    if (!ok && !sop->unknown) {
        return false;
    }
    switch (next.kind) {
    case NEXT_SAME:
        *out = s;
        break;
    case NEXT_ABSENT:
        *out = c->absent;
        break;
    case NEXT_STRING:
        *out = state_intern(c, STATE_STRING, NULL, next.bytes, next.len);
        break;
    case NEXT_LIST:
        *out = state_intern(c, STATE_LIST, s->kind == STATE_LIST ? s : NULL, next.bytes, next.len);
        break;
    }
    return *out != NULL;
}

/* ------------------------------------------------------------------------------------
 * Building one key's search */

static bool op_is_read(const struct lincheck_op *op)
{
    return op->kind == LINCHECK_GET || op->kind == LINCHECK_LRANGE;
}

/* Whether a completed op left the state unchanged in every state its result matches:
 * reads, errors, a refused SET NX or XX, a DEL that found nothing. */
static bool op_is_observer(const struct lincheck_op *op)
{
    switch (op->result_kind) {
    case LINCHECK_RESULT_ERR_WRONGTYPE:
    case LINCHECK_RESULT_ERR_NOT_INTEGER:
    case LINCHECK_RESULT_ERR_OVERFLOW:
        return true;
    case LINCHECK_RESULT_NIL:
        return op->kind != LINCHECK_SET_GET;
    case LINCHECK_RESULT_INT:
        return op->kind == LINCHECK_DEL && op->result_int == 0;
    default:
        return op_is_read(op);
    }
}

/* Collects the ops of a key that matter in the history cut at stamp cutoff: ops invoked
 * later do not exist yet, ops completing later are unknown, FAILED ops and reads of
 * unknown outcome change nothing and are left out. */
static void search_collect(struct checker *c, const uint32_t *ids, size_t n, uint64_t cutoff)
{
    c->sops_count = c->definite_count = c->unknown_count = 0;
    for (size_t i = 0; i < n; i++) {
        const struct lincheck_op *op = &c->h->ops[ids[i]];
        if (op->invoke_stamp > cutoff) {
            break;
        }
        bool definite = op->outcome == LINCHECK_OK && op->complete_stamp <= cutoff;
        if (op->outcome == LINCHECK_FAILED && op->complete_stamp <= cutoff) {
            continue;
        }
        if (!definite && op_is_read(op)) {
            continue;
        }
        struct search_op *sop = &c->sops[c->sops_count++];
        sop->op = op;
        sop->call_stamp = op->invoke_stamp;
        sop->return_stamp = definite ? op->complete_stamp : STAMP_NONE;
        sop->unknown = !definite;
        sop->observer = definite && op_is_observer(op);
        sop->twin = 0;
        sop->arg = bytes_at(c->h, op->arg_offset);
        sop->index = definite ? c->definite_count++ : c->unknown_count++;
    }
}

struct event_sort {
    uint64_t stamp;
    uint32_t tie;
    uint32_t entry;
};

static int event_cmp(const void *a, const void *b)
{
    const struct event_sort *x = a, *y = b;
    if (x->stamp != y->stamp) {
        return x->stamp < y->stamp ? -1 : 1;
    }
    return x->tie < y->tie ? -1 : x->tie > y->tie;
}

/* Links the call and return entries in event order; unknown returns go last. */
static bool search_link(struct checker *c)
{
    uint32_t n = c->sops_count;
    struct event_sort *ev = checker_alloc(c, 2 * (size_t)n * sizeof *ev);
    if (ev == NULL) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct search_entry *call = &c->entries[1 + 2 * i];
        struct search_entry *ret = &c->entries[2 + 2 * i];
        call->sop = ret->sop = i;
        call->is_call = true;
        ret->is_call = false;
        call->match = 2 + 2 * i;
        ev[2 * i] = (struct event_sort){c->sops[i].call_stamp, 0, 1 + 2 * i};
        ev[2 * i + 1] = (struct event_sort){c->sops[i].return_stamp, i, 2 + 2 * i};
    }
    qsort(ev, 2 * (size_t)n, sizeof *ev, event_cmp);
    uint32_t prev = 0;
    for (size_t i = 0; i < 2 * (size_t)n; i++) {
        c->entries[prev].next = ev[i].entry;
        c->entries[ev[i].entry].prev = prev;
        prev = ev[i].entry;
    }
    c->entries[prev].next = 0;
    c->entries[0].prev = prev;
    c->entries[0].is_call = false; /* the head */
    c->entries[0].sop = 0;
    return true;
}

/* window_end[k]: the number of definite ops invoked before definite op k completed. */
static void search_windows(struct checker *c)
{
    const struct search_op **calls = (const struct search_op **)c->frames; /* scratch */
    for (uint32_t i = 0; i < c->sops_count; i++) {
        if (!c->sops[i].unknown) {
            calls[c->sops[i].index] = &c->sops[i];
        }
    }
    for (uint32_t k = 0; k < c->definite_count; k++) {
        uint64_t ret = calls[k]->return_stamp;
        uint32_t lo = k + 1, hi = c->definite_count; /* calls are sorted */
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (calls[mid]->call_stamp < ret) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        c->window_end[k] = lo;
    }
}

static bool twin_eq(const void *item, const void *key)
{
    const struct search_op *a = item, *b = key;
    return a->op->kind == b->op->kind && a->op->arg_len == b->op->arg_len &&
           (a->op->arg_len == 0 || memcmp(a->arg, b->arg, a->op->arg_len) == 0);
}

/* Links every unknown op to the previous unknown op that is identical (same operation,
 * same argument). Of identical pending unknown ops the search uses only the earliest: the
 * others can take effect wherever it can, so trying them too only permutes names. */
static bool search_twins(struct checker *c)
{
    struct hashmap last;
    hashmap_init(&last, twin_eq);
    bool ok = true;
    for (uint32_t i = 0; i < c->sops_count && ok; i++) {
        struct search_op *sop = &c->sops[i];
        if (!sop->unknown) {
            continue;
        }
        uint64_t hash = hash_bytes(sop->arg, sop->op->arg_len) ^ sop->op->kind;
        struct search_op *prev = hashmap_remove(&last, hash, sop);
        sop->twin = prev != NULL ? prev->index + 1 : 0;
        ok = hashmap_insert(&last, hash, sop) == 0;
    }
    hashmap_free(&last);
    if (!ok) {
        c->exhausted = "memory";
    }
    return ok;
}

static size_t words_for(size_t bits) { return (bits + 63) / 64; }

/* Allocates and fills the tables of a search over the ops ids[0..n) cut at cutoff. */
static bool search_prepare(struct checker *c, const uint32_t *ids, size_t n, uint64_t cutoff)
{
    c->sops = checker_alloc(c, n * sizeof *c->sops + 1);
    if (c->sops == NULL) {
        return false;
    }
    search_collect(c, ids, n, cutoff);
    uint32_t m = c->sops_count;
    size_t key_words_max = 1 + words_for(c->definite_count);
    c->entries = checker_alloc(c, (1 + 2 * (size_t)m) * sizeof *c->entries);
    c->window_end = checker_alloc(c, ((size_t)c->definite_count + 1) * sizeof *c->window_end);
    c->definite_bits = checker_alloc(c, (words_for(c->definite_count) + 1) * sizeof(uint64_t));
    c->unknown_bits = checker_alloc(c, (words_for(c->unknown_count) + 1) * sizeof(uint64_t));
    c->key_words = checker_alloc(c, key_words_max * sizeof(uint64_t));
    c->frames = checker_alloc(c, ((size_t)m + 1) * sizeof *c->frames);
    c->absent = state_intern(c, STATE_ABSENT, NULL, NULL, 0);
    if (c->exhausted != NULL || !search_link(c) || !search_twins(c)) {
        return false;
    }
    memset(c->definite_bits, 0, (words_for(c->definite_count) + 1) * sizeof(uint64_t));
    memset(c->unknown_bits, 0, (words_for(c->unknown_count) + 1) * sizeof(uint64_t));
    search_windows(c);
    c->first_open = 0;
    c->definite_left = c->definite_count;
    return true;
}

/* ------------------------------------------------------------------------------------
 * The search */

static bool bit_get(const uint64_t *bits, uint32_t i) { return (bits[i / 64] >> (i % 64)) & 1; }
static void bit_set(uint64_t *bits, uint32_t i) { bits[i / 64] |= 1ull << (i % 64); }
static void bit_clear(uint64_t *bits, uint32_t i) { bits[i / 64] &= ~(1ull << (i % 64)); }

/* Copies count bits of src starting at bit start into dst (src has a spare word). */
static void bits_extract(uint64_t *dst, const uint64_t *src, uint32_t start, uint32_t count)
{
    for (uint32_t w = 0; w * 64 < count; w++) {
        uint32_t bit = start + w * 64;
        uint32_t shift = bit % 64;
        uint64_t v = src[bit / 64] >> shift;
        if (shift != 0) {
            v |= src[bit / 64 + 1] << (64 - shift);
        }
        uint32_t left = count - w * 64;
        if (left < 64) {
            v &= (1ull << left) - 1;
        }
        dst[w] = v;
    }
}

static void mark(struct checker *c, const struct search_op *sop)
{
    if (sop->unknown) {
        bit_set(c->unknown_bits, sop->index);
        return;
    }
    bit_set(c->definite_bits, sop->index);
    c->definite_left--;
    while (c->first_open < c->definite_count && bit_get(c->definite_bits, c->first_open)) {
        c->first_open++;
    }
}

static void unmark(struct checker *c, const struct search_op *sop)
{
    if (sop->unknown) {
        bit_clear(c->unknown_bits, sop->index);
        return;
    }
    bit_clear(c->definite_bits, sop->index);
    c->definite_left++;
    if (sop->index < c->first_open) {
        c->first_open = sop->index;
    }
}

/* Whether every bit of a is set in b. */
static bool bits_subset(const uint64_t *a, const uint64_t *b, uint32_t words)
{
    for (uint32_t i = 0; i < words; i++) {
        if ((a[i] & ~b[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* Adds the current configuration to the memo. False when it is subsumed by one visited
 * before, or when memory ran out (c->exhausted set). A configuration is subsumed by one
 * with the same state and definite set and fewer unknown ops linearized: an unknown op not
 * yet linearized never blocks anything and may still take effect later, so the smaller
 * one can do all the larger one can. With no unknown ops this is plain equality. */
static bool memo_add(struct checker *c, const struct model_state *state)
{
    uint64_t *w = c->key_words;
    uint32_t k = c->first_open;
    uint32_t count = 1;
    w[0] = (uint64_t)state->id | ((uint64_t)k << 32);
    if (k < c->definite_count) {
        uint32_t window_bits = c->window_end[k] - k - 1;
        bits_extract(w + count, c->definite_bits, k + 1, window_bits);
        count += (uint32_t)words_for(window_bits);
    }
    uint32_t unknown_words = (uint32_t)words_for(c->unknown_count);
    struct memo_key key = {w, count};
    uint64_t hash = hash_bytes(w, count * sizeof(uint64_t));
    struct memo_entry *first = hashmap_find(&c->memo, hash, &key);
    for (const struct memo_entry *i = first; i != NULL; i = i->next_same) {
        if (bits_subset(i->words + count, c->unknown_bits, unknown_words)) {
            return false;
        }
    }
    size_t words = (size_t)count + unknown_words;
    struct memo_entry *e = checker_alloc(c, sizeof *e + words * sizeof(uint64_t));
    if (e == NULL) {
        return false;
    }
    e->next_same = NULL;
    e->words_count = count;
    memcpy(e->words, w, count * sizeof(uint64_t));
    memcpy(e->words + count, c->unknown_bits, unknown_words * sizeof(uint64_t));
    if (first != NULL) {
        e->next_same = first->next_same;
        first->next_same = e;
    } else if (hashmap_insert(&c->memo, hash, e) != 0) {
        c->exhausted = "memory";
        return false;
    }
    if (checker_memory_bytes(c) > c->limits.memory_bytes_max) {
        c->exhausted = "memory";
        return false;
    }
    return true;
}

static void lift(struct checker *c, uint32_t call)
{
    struct search_entry *e = c->entries;
    uint32_t ret = e[call].match;
    e[e[call].prev].next = e[call].next;
    e[e[call].next].prev = e[call].prev;
    e[e[ret].prev].next = e[ret].next;
    e[e[ret].next].prev = e[ret].prev;
}

static void unlift(struct checker *c, uint32_t call)
{
    struct search_entry *e = c->entries;
    uint32_t ret = e[call].match;
    e[e[ret].prev].next = ret;
    e[e[ret].next].prev = ret;
    e[e[call].prev].next = call;
    e[e[call].next].prev = call;
}

/* Remembers the point where the most definite ops were linearized: the op whose return
 * blocked the search there, the state, and the ops that were open. */
static void note_deepest(struct checker *c, uint32_t ret_entry, const struct model_state *s)
{
    uint32_t done = c->definite_count - c->definite_left;
    struct search_deepest *d = &c->deepest;
    if (d->valid && done <= d->linearized_count) {
        return;
    }
    d->valid = true;
    d->linearized_count = done;
    d->state = s;
    d->blocker = c->sops[c->entries[ret_entry].sop].op;
    d->open_count = 0;
    for (uint32_t e = c->entries[0].next; e != ret_entry && e != 0; e = c->entries[e].next) {
        if (c->entries[e].is_call && d->open_count < EXPLAIN_OPEN_OPS_MAX) {
            d->open[d->open_count++] = c->sops[c->entries[e].sop].op;
        }
    }
}

enum candidate { CANDIDATE_SKIP, CANDIDATE_TAKEN, CANDIDATE_LEVEL_FAILS };

/* Whether applying the unknown op v now (in state s, leading to s_next) is worth trying:
 * not when it changes nothing (then it might as well not have happened), and not while an
 * identical unknown op invoked earlier is still pending (that one can take effect
 * wherever v can, so trying v too would only permute names). */
static bool unknown_is_worth_trying(const struct checker *c, const struct search_op *v,
                                    const struct model_state *s,
                                    const struct model_state *s_next)
{
    return s_next != s && (v->twin == 0 || bit_get(c->unknown_bits, v->twin - 1));
}

/* Tries to linearize the op of call entry e in state s during pass.
 *
 * An observer (an op whose result shows it changed nothing) that matches now can always go
 * first: in any linearization from here it can be moved to the front without changing a
 * result (it changed nothing where it was, and it matches here) and without breaking
 * real-time order (it is a candidate, so whatever had to precede it already has). So it is
 * taken without trying alternatives, and when that configuration was visited before (and
 * so failed) the whole level fails (CANDIDATE_LEVEL_FAILS).
 */
static enum candidate try_candidate(struct checker *c, uint32_t e, enum search_pass pass,
                                    const struct model_state *s,
                                    const struct model_state **next)
{
    const struct search_op *sop = &c->sops[c->entries[e].sop];
    if (sop->unknown != (pass == PASS_UNKNOWN) ||
        (pass != PASS_UNKNOWN && sop->observer != (pass == PASS_OBSERVERS)) ||
        !model_step(c, sop, s, next)) {
        return CANDIDATE_SKIP;
    }
    ASSERT(!sop->observer || *next == s);
    if (sop->unknown && !unknown_is_worth_trying(c, sop, s, *next)) {
        return CANDIDATE_SKIP;
    }
    mark(c, sop);
    if (!memo_add(c, *next)) {
        unmark(c, sop);
        return pass == PASS_OBSERVERS && c->exhausted == NULL ? CANDIDATE_LEVEL_FAILS
                                                                : CANDIDATE_SKIP;
    }
    return CANDIDATE_TAKEN;
}

/* Undoes linearizations up to the last one that has alternatives left (ops taken in
 * PASS_OBSERVERS have none). Returns its call entry, or 0 when the stack runs out. */
static uint32_t backtrack(struct checker *c, uint32_t *depth, const struct model_state **state,
                          enum search_pass *pass)
{
    struct search_frame f;
    do {
        if (*depth == 0) {
            return 0;
        }
        f = c->frames[--*depth];
        unmark(c, &c->sops[c->entries[f.entry].sop]);
        unlift(c, f.entry);
    } while (f.pass == PASS_OBSERVERS);
    *state = f.state;
    *pass = (enum search_pass)f.pass;
    return f.entry;
}

/* The just-in-time depth-first search: walk the event list from its head; a call is a
 * candidate to linearize now; reaching a return means that op should have been linearized
 * already, so the next pass starts, or after the last pass the search backtracks. Done
 * when every definite op is linearized (unknown ops left over may take effect after
 * everything else, where no result observes them). Unknown ops come in the last pass so
 * that one is applied only where the completed ops cannot go on without it. */
static enum search_result search_run(struct checker *c)
{
    const struct model_state *state = c->absent;
    uint32_t depth = 0;
    uint32_t e = c->entries[0].next;
    enum search_pass pass = PASS_OBSERVERS;
    while (c->definite_left > 0) {
        ASSERT(e != 0);
        if (++c->steps > c->limits.steps_max) {
            c->exhausted = "steps";
            return SEARCH_EXHAUSTED;
        }
        enum candidate r = CANDIDATE_SKIP;
        const struct model_state *next;
        if (c->entries[e].is_call) {
            r = try_candidate(c, e, pass, state, &next);
            if (r == CANDIDATE_TAKEN) {
                c->frames[depth++] = (struct search_frame){e, pass, state};
                state = next;
                lift(c, e);
                e = c->entries[0].next;
                pass = PASS_OBSERVERS;
                continue;
            }
            if (c->exhausted != NULL) {
                return SEARCH_EXHAUSTED;
            }
            if (r == CANDIDATE_SKIP) {
                e = c->entries[e].next;
                continue;
            }
        } else if (pass == PASS_OBSERVERS || (pass == PASS_DEFINITE && c->unknown_count > 0)) {
            pass++;
            e = c->entries[0].next;
            continue;
        } else {
            note_deepest(c, e, state);
        }
        uint32_t undone = backtrack(c, &depth, &state, &pass);
        if (undone == 0) {
            return SEARCH_FAILS;
        }
        e = c->entries[undone].next;
    }
    return SEARCH_PASSES;
}

/* Checks the ops ids[0..n) of one key (in invocation order) cut at stamp cutoff. */
static enum search_result key_search(struct checker *c, const uint32_t *ids, size_t n,
                                     uint64_t cutoff)
{
    checker_reset(c);
    enum search_result r = SEARCH_EXHAUSTED;
    if (search_prepare(c, ids, n, cutoff)) {
        r = search_run(c);
    }
    c->steps_total += c->steps;
    c->memory_bytes_peak = MAX(c->memory_bytes_peak, checker_memory_bytes(c));
    return r;
}

/* ------------------------------------------------------------------------------------
 * The report */

struct text {
    char *p;
    size_t cap;
    size_t len;
};

__attribute__((format(printf, 2, 3))) static void text_printf(struct text *t, const char *fmt,
                                                              ...)
{
    if (t->len + 1 >= t->cap) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        t->len = MIN(t->len + (size_t)n, t->cap - 1);
    }
}

static void print_bytes(struct text *t, const uint8_t *p, size_t len)
{
    text_printf(t, "\"");
    for (size_t i = 0; i < len && i < PRINT_BYTES_MAX; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\') {
            text_printf(t, "%c", p[i]);
        } else {
            text_printf(t, "\\x%02x", p[i]);
        }
    }
    text_printf(t, len > PRINT_BYTES_MAX ? "...\"" : "\"");
}

/* A recorded array, first items first (it is stored last first). */
static void print_array(struct text *t, const uint8_t *p, uint32_t count)
{
    const uint8_t *head[PRINT_ITEMS_MAX]; /* a ring of the last items visited */
    for (uint32_t i = 0; i < count; i++) {
        head[i % PRINT_ITEMS_MAX] = p;
        p += 4 + le_load_u32(p);
    }
    text_printf(t, "[");
    for (uint32_t i = 0; i < count && i < PRINT_ITEMS_MAX; i++) {
        const uint8_t *item = head[(count - 1 - i) % PRINT_ITEMS_MAX];
        text_printf(t, i > 0 ? ", " : "");
        print_bytes(t, item + 4, le_load_u32(item));
    }
    text_printf(t, count > PRINT_ITEMS_MAX ? ", ... %u items]" : "]", count);
}

static void print_result(struct text *t, const struct lincheck_history *h,
                         const struct lincheck_op *op)
{
    const uint8_t *p = bytes_at(h, op->result_offset);
    switch (op->result_kind) {
    case LINCHECK_RESULT_NIL:
        text_printf(t, "nil");
        break;
    case LINCHECK_RESULT_OK:
        text_printf(t, "OK");
        break;
    case LINCHECK_RESULT_INT:
        text_printf(t, "%lld", (long long)op->result_int);
        break;
    case LINCHECK_RESULT_BULK:
        print_bytes(t, p, op->result_len);
        break;
    case LINCHECK_RESULT_ARRAY:
        print_array(t, p, op->result_len);
        break;
    case LINCHECK_RESULT_ERR_WRONGTYPE:
        text_printf(t, "WRONGTYPE");
        break;
    case LINCHECK_RESULT_ERR_NOT_INTEGER:
        text_printf(t, "ERR not an integer");
        break;
    default:
        text_printf(t, "ERR overflow");
        break;
    }
}

static void print_op(struct text *t, const struct lincheck_history *h, const struct lincheck_op *op)
{
    text_printf(t, "  op %u: client %u %s", (uint32_t)(op - h->ops), op->client_id,
                lincheck_op_kind_name(op->kind));
    if (op->arg_len > 0 || !(op->kind == LINCHECK_GET || op->kind == LINCHECK_INCR ||
                             op->kind == LINCHECK_LRANGE || op->kind == LINCHECK_DEL)) {
        text_printf(t, " ");
        print_bytes(t, bytes_at(h, op->arg_offset), op->arg_len);
    }
    text_printf(t, " -> ");
    if (op->outcome == LINCHECK_OK) {
        print_result(t, h, op);
        text_printf(t, " [%llu, %llu] ns\n", (unsigned long long)op->invoke_ns,
                    (unsigned long long)op->complete_ns);
    } else {
        text_printf(t, "unknown [%llu, ...] ns\n", (unsigned long long)op->invoke_ns);
    }
}

static void print_state(struct text *t, const struct model_state *s)
{
    if (s->kind == STATE_ABSENT) {
        text_printf(t, "absent");
    } else if (s->kind == STATE_STRING) {
        print_bytes(t, s->bytes, s->bytes_len);
    } else {
        const struct model_state *tail[PRINT_ITEMS_MAX];
        uint32_t shown = 0;
        for (const struct model_state *i = s; i != NULL && shown < PRINT_ITEMS_MAX; i = i->parent) {
            tail[shown++] = i;
        }
        text_printf(t, "list of %u [%s", s->list_len, shown < s->list_len ? "..., " : "");
        for (uint32_t i = shown; i-- > 0;) {
            print_bytes(t, tail[i]->bytes, tail[i]->bytes_len);
            text_printf(t, i > 0 ? ", " : "]");
        }
    }
}

/* The smallest stamp C such that the key's history cut at C is not linearizable; the
 * history cut at the last stamp is known to fail. Linearizability is prefix-closed, so a
 * binary search finds it. Each probe gets the steps the whole history needed (plus some
 * slack) and the probes together at most the key's budget; a probe that runs out counts
 * as passing, and when the budget is spent the search stops with a failing cutoff that
 * may not be the smallest (*minimal false). */
static uint64_t shortest_failing_cutoff(struct checker *c, const uint32_t *ids, size_t n,
                                        uint64_t steps_total_max, bool *minimal)
{
    uint64_t lo = c->h->ops[ids[0]].invoke_stamp; /* passes: nothing has completed */
    uint64_t hi = c->h->stamp_next - 1;
    uint64_t spent = 0;
    *minimal = true;
    while (hi - lo > 1) {
        if (spent > steps_total_max) {
            *minimal = false;
            break;
        }
        uint64_t mid = lo + (hi - lo) / 2;
        enum search_result r = key_search(c, ids, n, mid);
        spent += c->steps;
        if (r == SEARCH_FAILS) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return hi;
}

static void explain_failure(struct checker *c, const uint32_t *ids, size_t n, struct text *t)
{
    const struct lincheck_history *h = c->h;
    uint64_t steps_max = c->limits.steps_max;
    c->limits.steps_max = MIN(steps_max, c->steps + EXPLAIN_STEPS_SLACK);
    bool minimal;
    uint64_t cutoff = shortest_failing_cutoff(c, ids, n, steps_max, &minimal);
    enum search_result r = key_search(c, ids, n, cutoff); /* again, for its deepest point */
    c->limits.steps_max = steps_max;
    ASSERT(r == SEARCH_FAILS);
    text_printf(t, "key %u: not linearizable (%zu ops); the history is already not "
                   "linearizable when this op completes%s:\n", h->ops[ids[0]].key_id, n,
                minimal ? "" : " (search for an earlier point cut short)");
    for (size_t i = 0; i < n; i++) {
        if (h->ops[ids[i]].complete_stamp == cutoff) {
            print_op(t, h, &h->ops[ids[i]]);
        }
    }
    const struct search_deepest *d = &c->deepest;
    ASSERT(d->valid);
    text_printf(t, "deepest point of the search: %u of %u completed ops linearized, state ",
                d->linearized_count, c->definite_count);
    print_state(t, d->state);
    text_printf(t, "; this op had to take effect next and could not:\n");
    print_op(t, h, d->blocker);
    text_printf(t, "ops that could take effect there:\n");
    for (uint32_t i = 0; i < d->open_count; i++) {
        print_op(t, h, d->open[i]);
    }
}

/* Checks one key and folds its verdict into the report. */
static void check_key(struct checker *c, const uint32_t *ids, size_t n, struct lincheck_report *r)
{
    uint32_t key_id = c->h->ops[ids[0]].key_id;
    enum search_result result = key_search(c, ids, n, STAMP_NONE);
    r->keys_count++;
    r->ops_count += c->sops_count;
    struct text t = {r->explanation, sizeof r->explanation, strlen(r->explanation)};
    if (result == SEARCH_EXHAUSTED) {
        r->keys_unknown_count++;
        if (r->verdict == LINCHECK_LINEARIZABLE) {
            r->verdict = LINCHECK_VERDICT_UNKNOWN;
            r->key_id = key_id;
            text_printf(&t, "key %u: unknown; the search ran out of %s after %llu steps "
                            "(%zu ops)\n", key_id, c->exhausted,
                        (unsigned long long)c->steps, n);
        }
    } else if (result == SEARCH_FAILS) {
        r->keys_failed_count++;
        if (r->verdict != LINCHECK_NOT_LINEARIZABLE) {
            r->verdict = LINCHECK_NOT_LINEARIZABLE;
            r->key_id = key_id;
            t.len = 0;
            t.p[0] = '\0';
            explain_failure(c, ids, n, &t);
        }
    }
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The op ids sorted by key, each key's ops in invocation order (op ids are). */
static uint32_t *ops_by_key_alloc(const struct lincheck_history *h)
{
    uint64_t *pairs = malloc((h->ops_count + 1) * sizeof *pairs);
    uint32_t *ids = malloc((h->ops_count + 1) * sizeof *ids);
    if (pairs != NULL && ids != NULL) {
        for (size_t i = 0; i < h->ops_count; i++) {
            pairs[i] = (uint64_t)h->ops[i].key_id << 32 | i;
        }
        qsort(pairs, h->ops_count, sizeof *pairs, u64_cmp);
        for (size_t i = 0; i < h->ops_count; i++) {
            ids[i] = (uint32_t)pairs[i];
        }
    } else {
        free(ids);
        ids = NULL;
    }
    free(pairs);
    return ids;
}

static void ops_by_key_free(uint32_t *ids) { free(ids); }

int lincheck_check(const struct lincheck_history *h, const struct lincheck_limits *limits,
                   struct lincheck_report *report)
{
    memset(report, 0, sizeof *report);
    report->verdict = LINCHECK_LINEARIZABLE;
    if (h->error != 0) {
        return h->error;
    }
    uint32_t *ids = ops_by_key_alloc(h);
    if (ids == NULL) {
        return ERR_NOMEM;
    }
    struct checker c;
    checker_init(&c, h, limits);
    for (size_t start = 0, end; start < h->ops_count; start = end) {
        for (end = start + 1; end < h->ops_count &&
                              h->ops[ids[end]].key_id == h->ops[ids[start]].key_id;) {
            end++;
        }
        check_key(&c, ids + start, end - start, report);
    }
    report->steps = c.steps_total;
    report->memory_bytes_peak = c.memory_bytes_peak;
    checker_free(&c);
    ops_by_key_free(ids);
    return 0;
}
