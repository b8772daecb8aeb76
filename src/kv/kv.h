/* kv: the deterministic replicated state machine (DESIGN.md §4 "kv").
 *
 * Every replica applies the same committed log entries in the same order and must end in
 * the same state, so nothing here reads a clock or draws a random number:
 *  - kv_prepare() runs on the leader when a client command arrives. It validates the
 *    command (arity, syntax, option combinations, integers, limits), fixes every relative
 *    time against the leader's now_ms (SET EX/PX/EXAT become PXAT, EXPIRE, PEXPIRE and
 *    EXPIREAT become PEXPIREAT) and encodes a chorus.Command for the log. A command that
 *    fails validation yields an error reply and nothing to propose.
 *  - kv_apply() runs on every replica for every committed entry. Time inside an entry is
 *    the "log clock": the maximum now_ms of all entries applied so far, so a new leader
 *    with a lagging clock cannot resurrect expired keys, and replicas never consult their
 *    own clock. Apply re-validates everything (a log entry is untrusted input).
 *  - kv_read() serves read-only commands from local state at the caller's now_ms (never
 *    before the log clock) and changes nothing observable.
 *
 * Sessions (Raft thesis §6.3): CHORUS.REGISTER (client_id 0) creates a session whose id
 * is the entry's index. A command with a client id applies at most once per (client_id,
 * seq): a retry gets the cached reply. The cache is trimmed by session_ack (the client's
 * lowest unanswered seq) and bounded per session in count and bytes; a seq below what was
 * trimmed gets
 * "-EVICTED". Sessions expire when the log clock passes last activity plus
 * session_timeout_ms; a command from an unknown or expired session gets
 * "-SESSIONEXPIRED" and is not applied. client_id 0 commands are sessionless.
 *
 * Key versions for WATCH (see kv_key_version) and the memory cap (see struct kv_config)
 * are described where they are declared. The snapshot byte format is at the top of
 * kv_snapshot.c and in docs/kv.md. May depend on base and wire only. */
#ifndef CHORUS_KV_KV_H
#define CHORUS_KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "kv/kv_reply.h"

/* Defaults used for a zero field of struct kv_config. */
#define KV_MEMORY_BYTES_MAX_DEFAULT ((size_t)256 << 20)
#define KV_SESSION_TIMEOUT_MS_DEFAULT ((uint64_t)60 * 60 * 1000)
#define KV_KEY_SIZE_BYTES_MAX_DEFAULT ((size_t)64 << 10)
#define KV_VALUE_SIZE_BYTES_MAX_DEFAULT ((size_t)16 << 20)
#define KV_COLLECTION_LEN_MAX_DEFAULT ((size_t)1 << 20)
#define KV_ARGC_MAX_DEFAULT 1024
#define KV_SESSIONS_COUNT_MAX_DEFAULT 4096
#define KV_SESSION_REPLIES_COUNT_MAX_DEFAULT 256
#define KV_SESSION_REPLY_BYTES_MAX_DEFAULT ((size_t)1 << 20)
#define KV_MULTI_COMMANDS_COUNT_MAX_DEFAULT 1024
/* A decoded entry may use this many bytes of arena per byte of entry, plus a floor. */
#define KV_DECODE_ARENA_FACTOR 16
#define KV_DECODE_ARENA_FLOOR_BYTES ((size_t)64 << 10)

/* Every replica of one state machine must use the same configuration: the memory cap and
 * the limits decide replies, so differing values would make replicas diverge. A zero
 * field means its default. */
struct kv_config {
    /* The keyspace's accounted size (key and value bytes plus fixed per-key and
     * per-element overheads, a function of content only, so replicas agree) may not pass
     * this. A write that could pass it gets "-OOM ..." and changes nothing; DEL, pops,
     * HDEL, EXPIRE and reads are always allowed. */
    size_t memory_bytes_max;
    uint64_t session_timeout_ms;
    size_t key_size_bytes_max;
    size_t value_size_bytes_max;   /* strings, list elements, hash fields and values */
    size_t collection_len_max;     /* elements of one list, fields of one hash */
    int argc_max;                  /* arguments of one command, name included */
    size_t sessions_count_max;     /* registering past it evicts the least recently used */
    size_t session_replies_count_max; /* cached replies per session */
    size_t multi_commands_count_max;  /* queued commands in one MULTI/EXEC */
    /* Cached reply bytes per session; past it the oldest replies are dropped (a single
     * reply larger than this is still kept while it is the only one). */
    size_t session_reply_bytes_max;
#ifdef CHORUS_MUTANTS
    /* Known-wrong variant for the simulator (STYLE.md rule 20): a retried command is run
     * again instead of answered from the session's reply cache. */
    bool mutant_apply_retries_twice;
#endif
};

struct kv_store;

/* Returns a new empty store or NULL when out of memory. cfg is copied (NULL: defaults). */
struct kv_store *kv_create(const struct kv_config *cfg);
void kv_destroy(struct kv_store *s);
/* The effective configuration (defaults filled in); borrowed from s. */
const struct kv_config *kv_config_of(const struct kv_store *s);

/* ---- the command table ---- */

/* Redis-style arity: n > 0 exactly n arguments (name included), n < 0 at least -n. */
struct kv_command_info {
    const char *name; /* lower case, static */
    int arity;
    bool write;       /* changes the keyspace; must go through the log */
    bool deny_oom;    /* may grow memory; refused at the cap */
};

/* The table entry for a command name (case-insensitive; borrowed, static), or NULL for
 * an unknown name. Includes the internal normalized forms (PEXPIREAT) but not MULTI,
 * EXEC, WATCH or the session commands, which the server and kv_prepare_multi handle. */
const struct kv_command_info *kv_command_lookup(const uint8_t *name, size_t len);
/* True when the command must be proposed through the log. Unknown names count as writes
 * so that they get their error through the normal path. */
bool kv_is_write(const uint8_t *name, size_t len);

/* ---- leader side: proposal ---- */

/* Who sends a command: client_id 0 means sessionless (seq and session_ack ignored). */
struct kv_client {
    uint64_t client_id;
    uint64_t seq;
    uint64_t session_ack; /* the client's lowest seq still waiting for its reply */
};

/* One command as arguments: argv[i] (argv_len[i] bytes), all borrowed. */
struct kv_argv {
    int argc;
    const uint8_t *const *argv;
    const size_t *argv_len;
};

/* Validates a command (for MULTI queueing). 0, or ERR_INVALID with the Redis error in
 * error_out (reset first). cfg borrowed (NULL: defaults). */
int kv_validate(const struct kv_config *cfg, const struct kv_argv *cmd, struct kv_reply *error_out);

/* Validates and encodes one command into entry_out (appended; the caller owns entry_out
 * and its bytes). Relative times are fixed from now_ms. client NULL means sessionless.
 * 0 on success; ERR_INVALID with error_out holding the Redis error ("ERR syntax error")
 * and nothing appended. All pointers are borrowed for the call. */
int kv_prepare(const struct kv_config *cfg, uint64_t now_ms, const struct kv_client *client,
               const struct kv_argv *cmd, struct buf *entry_out, struct kv_reply *error_out);

/* A watched key and the version kv_key_version() gave when WATCH ran. */
struct kv_watch {
    const uint8_t *key; /* borrowed */
    size_t key_len;
    uint64_t version;
};

/* Encodes a MULTI ... EXEC transaction as ONE entry (argv ["EXEC"], the queued commands
 * in `multi`, the watches in watch_keys/watch_versions). Applied atomically: if a watched
 * key's version changed the reply is a nil array and nothing runs; otherwise the reply
 * is the array of the commands' replies. A queued command that fails validation makes
 * the whole thing fail with "EXECABORT Transaction discarded because of previous
 * errors." and nothing is appended; more than argc_max watches gets "ERR too many watched
 * keys". watches may be NULL when watches_count is 0. All pointers borrowed for the
 * call. */
int kv_prepare_multi(const struct kv_config *cfg, uint64_t now_ms, const struct kv_client *client,
                     const struct kv_argv *cmds, size_t cmds_count, const struct kv_watch *watches,
                     size_t watches_count, struct buf *entry_out, struct kv_reply *error_out);

/* Appends the session registration entry (client_id 0, argv ["CHORUS.REGISTER"]) to
 * entry_out (caller-owned). Its reply is the new client id, an integer equal to the
 * entry's index. 0 or ERR_NOMEM. */
int kv_prepare_register(uint64_t now_ms, struct buf *entry_out);

/* WATCH support: an opaque version that changes whenever the key may have changed.
 * A live key's version is 2 * (index of the last entry that modified it). A key that is
 * absent (or expired at now_ms) has version 2 * D + 1, where D is the highest index that
 * removed any key (DEL, a pop or HDEL emptying it, EXPIRE into the past) or at which an
 * expired key was last written. So: watching a live key aborts EXEC if it is overwritten,
 * deleted, expires, or is deleted and recreated (the new index differs); watching an
 * absent key aborts if it is created, or created and removed again (D moves past the
 * watch). Removal of any other key also moves D, so EXEC on a watched absent key can
 * abort spuriously; that is the price of keeping no tombstones. Reaping an expired key
 * moves D to at most that key's last write index, so the reaped key's own version does
 * not change. The same rule holds on every replica, so WATCH outcomes are deterministic.
 * key borrowed. */
uint64_t kv_key_version(const struct kv_store *s, uint64_t now_ms, const uint8_t *key,
                        size_t key_len);

/* Renders an entry for traces and histories: "SET k v PXAT 15000", "EXEC[INCR n; GET n]
 * WATCH k=4", with " client=5 seq=3" for a session command, "(malformed)" when it does
 * not decode. out (cap >= 8 bytes) is always NUL-terminated, truncated with "...".
 * Returns the length written. entry borrowed. */
size_t kv_entry_format(const uint8_t *entry, size_t len, char *out, size_t cap);

/* ---- every replica: apply ---- */

/* Applies the committed entry at `index` (must be above kv_applied_index; gaps are
 * allowed for entries that are not commands). reply_out (caller-owned) is reset and
 * receives the reply: a malformed entry still counts as applied and gets an error reply.
 * Returns 0, or ERR_STALE (nothing changed) when index is not above the applied index.
 * entry borrowed for the call. */
int kv_apply(struct kv_store *s, uint64_t index, const uint8_t *entry, size_t len,
             struct kv_reply *reply_out);
uint64_t kv_applied_index(const struct kv_store *s);
/* The log clock: the highest now_ms among applied entries. */
uint64_t kv_log_clock_ms(const struct kv_store *s);

/* ---- local reads ---- */

/* Runs a read-only command on local state as of max(now_ms, kv_log_clock_ms) (the
 * caller's clock, but never before the log's: expired keys read as absent). Changes
 * nothing. reply_out (caller-owned) is reset and filled. Returns
 * 0, or ERR_INVALID when the command is not a read-only one (with an error reply). */
int kv_read(const struct kv_store *s, uint64_t now_ms, const struct kv_argv *cmd,
            struct kv_reply *reply_out);

/* ---- snapshots, digest, invariants ---- */

/* Appends the whole state (keyspace with expiries and versions, sessions with cached
 * replies, applied index, log clock) to out (caller-owned), in a canonical order so equal
 * states give equal bytes. Returns 0 or ERR_NOMEM. s is only read. */
int kv_snapshot_write(const struct kv_store *s, struct buf *out);
/* Replaces s's state with the snapshot (data borrowed). On any failure (ERR_MAGIC,
 * ERR_VERSION, ERR_TRUNCATED, ERR_CHECKSUM, ERR_MALFORMED, ERR_TOO_LARGE, ERR_NOMEM) s is
 * unchanged. */
int kv_snapshot_load(struct kv_store *s, const uint8_t *data, size_t len);

/* An order-independent 64-bit hash of the keyspace, the sessions and the applied state:
 * replicas that applied the same prefix give the same digest, however their tables were
 * built (log or snapshot). */
uint64_t kv_digest(const struct kv_store *s);

/* Checks every structural invariant (accounting, counts, versions, list and hash
 * shapes, session caches) and aborts on a violation (STYLE.md rule 11). O(state). */
void kv_check_invariants(const struct kv_store *s);

/* Numbers for metrics and tests. */
struct kv_stats {
    size_t keys_count;        /* keys in the table, expired-but-unreaped included */
    size_t memory_bytes;      /* accounted keyspace bytes */
    size_t sessions_count;
    uint64_t oom_refusals;    /* writes refused at the memory cap */
    uint64_t session_refusals; /* commands from unknown or expired sessions */
    uint64_t duplicates;      /* commands answered from the reply cache */
};
void kv_stats(const struct kv_store *s, struct kv_stats *out); /* out caller-owned */

#endif
