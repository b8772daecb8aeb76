/* Internal structures of the kv module, shared by its .c files; not part of the contract
 * (kv.h is). The keyspace is a base hashmap of struct kv_key; lists are ring buffers of
 * blobs, hashes are hashmaps of fields. Every keyspace allocation goes through the
 * accounted allocator in kv_alloc.c, which charges a content-defined size (bytes plus
 * fixed overheads) so that every replica, however its tables grew, reports the same
 * number and makes the same out-of-memory decisions. */
#ifndef CHORUS_KV_INTERNAL_H
#define CHORUS_KV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/hashmap.h"
#include "kv/kv.h"
#include "kv/kv_reply.h"
#include "wire/arena.h"

/* Charged overheads (bytes) on top of content bytes; roughly the real malloc cost. */
#define KV_KEY_OVERHEAD_BYTES 96
#define KV_BLOB_OVERHEAD_BYTES 16
#define KV_ELEM_OVERHEAD_BYTES 32
#define KV_FIELD_OVERHEAD_BYTES 64
#define KV_OVERHEAD_BYTES_MAX 96
/* Added once per command to the growth estimate (an INCR result, say). */
#define KV_COMMAND_GROWTH_SLACK_BYTES (KV_OVERHEAD_BYTES_MAX + 64)
/* Longest decimal int64 ("-9223372036854775808"). */
#define KV_INT64_DIGITS_MAX 20
/* Full sweep of expired keys every this many applied entries (by index). */
#define KV_EXPIRE_SWEEP_INTERVAL_ENTRIES 1024
/* SCAN: default and largest COUNT. */
#define KV_SCAN_COUNT_DEFAULT 10
#define KV_SCAN_COUNT_MAX 100000

/* The lookup key of the keyspace and field tables. */
struct kv_bytes {
    const uint8_t *p;
    size_t len;
};

enum kv_type {
    KV_TYPE_STRING = 1,
    KV_TYPE_LIST = 2,
    KV_TYPE_HASH = 3,
};

struct kv_blob {
    size_t len;
    uint8_t data[];
};

/* A ring buffer: element i lives at items[(head + i) & (cap - 1)]. */
struct kv_list {
    struct kv_blob **items; /* owned, with the blobs */
    size_t cap;             /* a power of two, or 0 */
    size_t head;
    size_t len;
};

struct kv_field {
    uint64_t hash;          /* hash_bytes of the field name */
    size_t field_len;
    size_t value_len;
    uint8_t data[];         /* field bytes, then value bytes */
};

struct kv_hash {
    struct hashmap fields;  /* of struct kv_field, owned */
};

struct kv_key {
    uint64_t hash;          /* hash_bytes of the key */
    uint64_t version_index; /* index of the last entry that modified the key */
    uint64_t expire_at_ms;  /* absolute log-clock time; 0 = no expiry */
    enum kv_type type;
    union {
        struct kv_blob *str;
        struct kv_list *list;
        struct kv_hash *hash;
    } v;                    /* owned */
    size_t key_len;
    uint8_t key[];
};

/* One cached reply of a session. */
struct kv_cached {
    uint64_t seq;
    struct kv_reply reply; /* owned */
};

struct kv_session {
    uint64_t client_id;
    uint64_t last_active_ms;  /* log clock of its last command */
    uint64_t floor_seq;       /* replies below this seq are forgotten */
    size_t cached_count;
    size_t cached_cap;        /* session_replies_count_max */
    struct kv_cached *cached; /* owned, cached_cap slots */
};

struct kv_store {
    struct kv_config cfg;
    struct hashmap keys;      /* of struct kv_key, owned */
    size_t memory_bytes;      /* accounted keyspace bytes */
    size_t volatile_count;    /* keys with an expiry */
    uint64_t applied_index;
    uint64_t log_clock_ms;
    uint64_t removed_index;   /* D of kv_key_version */
    struct hashmap sessions;  /* of struct kv_session, owned */
    uint64_t session_sweep_ms; /* no session can expire before this log time */
    struct arena arena;       /* decoding of one entry; reset after each */
    struct kv_stats counters; /* only the uint64 counters are kept here */
};

/* A command being validated or run. For prepare and validation ro and rw are NULL and
 * dry_run is set: a handler parses its arguments, emits an error if they are invalid,
 * and returns before touching the store. For reads rw is NULL. */
struct kv_ctx {
    const struct kv_config *cfg;
    const struct kv_store *ro;
    struct kv_store *rw;
    bool dry_run;
    uint64_t now_ms;
    uint64_t index;
    int argc;
    const uint8_t *const *argv;
    const size_t *argv_len;
    struct kv_reply *reply;
    /* kv_ctx_key's last lookup: argv[hashed_arg] hashes to key_hash (hashed_arg 0: none,
     * argv[0] is the command name), so that kv_ctx_key_create does not hash it again. */
    int hashed_arg;
    uint64_t key_hash;
};

/* A handler returns 0 after emitting one reply value (possibly a runtime error such as
 * WRONGTYPE), or ERR_INVALID after emitting a validation error (syntax, integers,
 * limits), which prepare turns into "nothing to propose". In dry_run mode nothing is
 * emitted on success. */
typedef int (*kv_handler_fn)(struct kv_ctx *c);

struct kv_command {
    struct kv_command_info info;
    kv_handler_fn handler;
};

/* kv_command.c */
const struct kv_command *kv_command_find(const uint8_t *name, size_t len);
/* Arity and limits, then the handler in dry-run mode. Errors as the handler's. On
 * success *found_out (when not NULL) is the command's table entry, so that the caller
 * need not look the name up again. */
int kv_command_check(const struct kv_config *cfg, uint64_t now_ms, const struct kv_argv *cmd,
                     struct kv_reply *err, const struct kv_command **found_out);
/* Runs a checked command k (kv_command_find of its name) against the store (rw set) at
 * index and now_ms. */
void kv_command_run(struct kv_store *s, const struct kv_command *k, uint64_t index, uint64_t now_ms,
                    const struct kv_argv *cmd, struct kv_reply *reply);
/* The bytes command k (kv_command_find of its name) could add to the accounted memory at
 * most. */
size_t kv_command_growth_bytes(const struct kv_command *k, const struct kv_argv *cmd);
bool kv_parse_i64(const uint8_t *p, size_t len, int64_t *out);
bool kv_arg_is(const struct kv_ctx *c, int i, const char *word); /* case-insensitive */
int kv_arg_i64(struct kv_ctx *c, int i, int64_t *out);           /* emits the error */
void kv_format_i64(int64_t v, char *out, size_t *len_out);
void kv_reply_wrongtype(struct kv_reply *r);

/* kv_store.c: the keyspace */
void kv_config_fill(struct kv_config *out, const struct kv_config *in);
struct kv_key *kv_key_find(const struct kv_store *s, const uint8_t *key, size_t len);
/* The live key (NULL when absent or expired at now_ms); never changes anything. */
struct kv_key *kv_key_get(const struct kv_store *s, uint64_t now_ms, const uint8_t *key, size_t len);
struct kv_key *kv_key_create(struct kv_store *s, uint64_t index, const uint8_t *key, size_t len,
                             enum kv_type type);
/* The *_hashed forms take hash_bytes(key, len) from the caller, who hashed the key once
 * for both the lookup and the creation of a missing key. */
struct kv_key *kv_key_get_hashed(const struct kv_store *s, uint64_t now_ms, const uint8_t *key,
                                 size_t len, uint64_t hash);
struct kv_key *kv_key_get_for_write_hashed(struct kv_store *s, uint64_t now_ms, const uint8_t *key,
                                           size_t len, uint64_t hash);
struct kv_key *kv_key_create_hashed(struct kv_store *s, uint64_t index, const uint8_t *key,
                                    size_t len, uint64_t hash, enum kv_type type);
void kv_key_remove(struct kv_store *s, uint64_t index, struct kv_key *k);
void kv_key_reap(struct kv_store *s, struct kv_key *k);
void kv_key_set_expire(struct kv_store *s, struct kv_key *k, uint64_t expire_at_ms);
bool kv_key_expired(const struct kv_key *k, uint64_t now_ms);
/* Removes every key expired at now_ms. */
void kv_expire_sweep(struct kv_store *s, uint64_t now_ms);
const char *kv_type_name(enum kv_type t);
/* Keys sorted by (hash, bytes): the canonical order of SCAN and snapshots. */
int kv_key_compare(const struct kv_key *a, const struct kv_key *b);

/* kv_alloc.c: every allocation of keyspace and session objects */
struct kv_blob *kv_blob_alloc(size_t *charge, const uint8_t *data, size_t len);
/* A new blob holding head's bytes followed by tail's. */
struct kv_blob *kv_blob_concat(size_t *charge, const struct kv_blob *head, const uint8_t *tail,
                               size_t tail_len);
void kv_blob_free(size_t *charge, struct kv_blob *b);
/* hash: hash_bytes(key, len), computed by the caller's lookup. */
struct kv_key *kv_key_alloc(size_t *charge, const uint8_t *key, size_t len, uint64_t hash);
void kv_key_free(size_t *charge, struct kv_key *k); /* and its value */
void kv_value_free(size_t *charge, struct kv_key *k); /* only the value */
struct kv_list *kv_list_alloc(void);
void kv_list_push(size_t *charge, struct kv_list *l, bool front, const uint8_t *data, size_t len);
/* Removes and returns an element; the caller frees it with kv_blob_free. */
struct kv_blob *kv_list_pop(size_t *charge, struct kv_list *l, bool front);
struct kv_blob *kv_list_at(const struct kv_list *l, size_t i);
struct kv_hash *kv_hash_alloc(void);
struct kv_field *kv_hash_find(const struct kv_hash *h, const uint8_t *f, size_t len);
/* Sets a field; true when it is new. */
bool kv_hash_set(size_t *charge, struct kv_hash *h, const uint8_t *f, size_t flen,
                 const uint8_t *v, size_t vlen);
bool kv_hash_del(size_t *charge, struct kv_hash *h, const uint8_t *f, size_t flen);
size_t kv_blob_charge(size_t len);
size_t kv_key_charge(size_t len);
size_t kv_elem_charge(size_t len);
size_t kv_field_charge(size_t flen, size_t vlen);

/* A growable array of pointers for sorting and two-phase deletion. */
struct kv_vec {
    void **items; /* owned array; the items are borrowed */
    size_t len;
    size_t cap;
};
void kv_vec_init(struct kv_vec *v);
void kv_vec_push(struct kv_vec *v, void *item);
void kv_vec_free(struct kv_vec *v);
/* Sorts key pointers (struct kv_key *) into the canonical (hash, bytes) order of SCAN
 * and snapshots, kv_key_compare's. */
void kv_sort_keys(struct kv_vec *keys);
/* All fields of h, sorted by name. */
void kv_hash_sorted_fields(const struct kv_hash *h, struct kv_vec *out);

struct kv_session *kv_session_alloc(uint64_t client_id, size_t replies_max);
void kv_session_free(struct kv_session *ss);

/* kv_session.c */
struct kv_session *kv_session_find(const struct kv_store *s, uint64_t client_id);
void kv_session_register(struct kv_store *s, uint64_t client_id);
void kv_session_expire(struct kv_store *s);
void kv_sessions_clear(struct kv_store *s);
/* The cached reply of seq, or NULL. */
const struct kv_reply *kv_session_cached(const struct kv_session *ss, uint64_t seq);
void kv_session_ack(struct kv_session *ss, uint64_t ack);
void kv_session_remember(struct kv_session *ss, size_t bytes_max, uint64_t seq,
                         const struct kv_reply *reply);
size_t kv_session_cached_bytes(const struct kv_session *ss);
bool kv_session_eq(const void *item, const void *key);
uint64_t kv_session_digest(const struct kv_session *ss);

/* kv_store.c */
bool kv_key_eq(const void *item, const void *key);
bool kv_field_eq(const void *item, const void *key);

/* kv_reply.c: bounded text output for the human-readable forms. Past cap the text ends
 * in "..."; bytes outside printable ASCII are written as \xNN. */
struct kv_text {
    char *p;     /* borrowed, cap bytes */
    size_t cap;  /* at least 8 */
    size_t len;
    bool truncated;
};
void kv_text_put(struct kv_text *o, const char *s, size_t n);
void kv_text_bytes(struct kv_text *o, const uint8_t *s, size_t n, bool quoted);
size_t kv_text_finish(struct kv_text *o); /* NUL-terminates; returns the length */

/* kv_digest helpers */
uint64_t kv_mix(uint64_t h, const void *data, size_t len);

#endif
