/* The Raft consensus core: a pure state machine (DESIGN.md §2).
 *
 * struct raft never touches the clock, randomness, disk or network. The driver (the
 * simulator or the server) feeds it events, each carrying `now_ns`:
 *   raft_tick             time passed (timers are checked against now_ns)
 *   raft_receive          a message from a peer
 *   raft_propose          a client command (leader only)
 *   raft_persisted_*      the driver reports that a write it was asked for is durable
 * and collects its effects with raft_get_update() / raft_update_done(), in the shape of
 * etcd's Ready/Advance:
 *   - hard state (term, vote) to persist;
 *   - log entries to persist, starting at persist_from_index (everything at or after
 *     that index in storage is replaced);
 *   - messages to send;
 *   - committed entries to apply, in order.
 * The driver may handle those effects in any order and asynchronously: the core acts
 * only on what it was told is durable (STYLE.md rule 2). Messages that depend on a term
 * or vote are held inside the core until raft_persisted_hard_state() confirms them; a
 * follower acknowledges entries only once raft_persisted_entries() covers them; a leader
 * counts itself toward a commit only for entries it has synced (thesis §10.2.1), so it
 * may replicate in parallel with its own fsync.
 *
 * Implemented (with the section of the Raft paper, "Ongaro & Ousterhout 2014", or the
 * thesis, "Ongaro 2014", cited in each file): leader election with randomized timeouts
 * (§5.2), PreVote (thesis §9.6), CheckQuorum and leader stickiness (thesis §6.2, §9.6),
 * log replication with fast conflict backtracking (§5.3), per-follower probe/replicate
 * progress with a bound on messages in flight, commitment by counting only entries of
 * the current term (§5.4.2), ReadIndex for linearizable reads (thesis §6.4), lease reads
 * under a configured clock-drift bound (thesis §6.4.1), leadership transfer with
 * TimeoutNow (thesis §3.10), membership changes by joint consensus with learners (thesis
 * §4.3, config.c), and snapshots with log compaction and InstallSnapshot in bounded,
 * resumable chunks (§7, snapshot.c): the driver reports a snapshot it took
 * (raft_snapshot_taken), receives a complete one from the leader as
 * update.snapshot_install, and reports it durable (raft_persisted_snapshot) before the
 * follower acknowledges it. The configuration travels with the snapshot: the core keeps
 * the configuration in effect as of its snapshot's index, the driver stores it with the
 * snapshot (raft_snapshot_config_encode) and hands it back at boot, InstallSnapshot
 * carries it, and a node whose log holds no config entry uses it (never raft_options'
 * voters once a snapshot exists).
 *
 * Ownership: pointers inside a struct raft_update (entries, messages, their data) are
 * borrowed from the core and stay valid until raft_update_done() or the next event call,
 * whichever comes first; the driver copies what it keeps. Data passed to raft_propose and
 * raft_receive is copied. */
#ifndef CHORUS_RAFT_H
#define CHORUS_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"
#include "base/prng.h"

typedef uint64_t raft_term_t;
typedef uint64_t raft_index_t;
typedef uint32_t node_id_t;

#define RAFT_NODES_COUNT_MAX 9
/* A member's address is an opaque byte string of at most this many bytes, carried in
 * the configuration for the driver (e.g. "host:port"); raft never interprets it. */
#define RAFT_MEMBER_ADDRESS_BYTES_MAX 64

struct raft_member_address {
    node_id_t id;
    uint8_t len; /* 0..RAFT_MEMBER_ADDRESS_BYTES_MAX */
    uint8_t bytes[RAFT_MEMBER_ADDRESS_BYTES_MAX];
};

enum raft_role { RAFT_FOLLOWER = 0, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };

enum raft_entry_type { RAFT_ENTRY_NORMAL = 0, RAFT_ENTRY_NOOP = 1, RAFT_ENTRY_CONFIG = 2 };

struct raft_entry {
    raft_term_t term;
    raft_index_t index;
    uint8_t type;      /* enum raft_entry_type */
    uint32_t data_len;
    uint8_t *data;     /* owned by whoever owns the entry; NULL when data_len is 0 */
};

enum raft_message_type {
    RAFT_MSG_VOTE = 1,         /* RequestVote, or PreVote when pre_vote is set */
    RAFT_MSG_VOTE_REPLY = 2,
    RAFT_MSG_APPEND = 3,       /* AppendEntries; a heartbeat has no entries */
    RAFT_MSG_APPEND_REPLY = 4,
    RAFT_MSG_SNAPSHOT = 5,       /* InstallSnapshot: one chunk of the leader's snapshot */
    RAFT_MSG_SNAPSHOT_REPLY = 6, /* how many bytes the follower holds, or installed */
    RAFT_MSG_TIMEOUT_NOW = 7,  /* leadership transfer: the target campaigns at once;
                                * numbered as in proto/chorus.proto */
};

struct raft_message {
    uint8_t type; /* enum raft_message_type */
    node_id_t from;
    node_id_t to;
    raft_term_t term;
    /* VOTE, VOTE_REPLY */
    bool pre_vote;
    bool granted;
    bool transfer;               /* VOTE: a campaign started by TimeoutNow (thesis §3.10);
                                  * voters waive leader stickiness for it alone */
    raft_index_t last_log_index; /* VOTE: candidate's; APPEND: the leader's last index;
                                  * APPEND_REPLY: the last index the follower accepted
                                  * from the append (maybe not synced) */
    raft_term_t last_log_term;
    /* APPEND */
    raft_index_t prev_log_index;
    raft_term_t prev_log_term;
    raft_index_t commit_index;
    uint64_t context;                /* heartbeat round for ReadIndex, echoed in the reply */
    const struct raft_entry *entries; /* borrowed, see the ownership note above */
    uint32_t entries_count;
    /* APPEND_REPLY */
    bool success;
    raft_index_t match_index;    /* on success: the follower holds and has synced up to here */
    raft_term_t conflict_term;   /* on failure: the follower's term at prev_log_index (0: none) */
    raft_index_t conflict_index; /* and its first index of that term, or its last index + 1 */
    bool log_lost;               /* on failure: the follower holds a vote barrier, having lost
                                  * entries it may have acknowledged (a damaged disk), so
                                  * the leader's match index for it may be too high */
    /* SNAPSHOT, SNAPSHOT_REPLY (snapshot.c): the snapshot is named by (snapshot_index,
     * snapshot_term); SNAPSHOT carries the bytes [offset, offset + data_len) of its
     * snapshot_size_bytes, done on the last chunk. SNAPSHOT_REPLY: offset is how many
     * leading bytes the follower holds (where the leader resumes); done means installed
     * and durable, with success and match_index as for APPEND_REPLY. */
    raft_index_t snapshot_index;
    raft_term_t snapshot_term;
    uint64_t snapshot_size_bytes;
    uint64_t offset;
    const uint8_t *data;         /* borrowed, see the ownership note above */
    uint32_t data_len;
    bool done;
    /* SNAPSHOT at offset 0: the configuration as of snapshot_index, encoded
     * (raft_config_encode); the follower refuses a first chunk without a valid one. */
    const uint8_t *config;       /* borrowed, see the ownership note above */
    uint32_t config_len;
};

/* Known-wrong variants of the core (STYLE.md rule 20). They exist only in builds with
 * CHORUS_MUTANTS defined; the simulator's tests prove each one is caught. */
enum raft_mutant {
    RAFT_MUTANT_NONE = 0,
    RAFT_MUTANT_COMMIT_OLD_TERM,          /* count replicas to commit an earlier term's entry */
    RAFT_MUTANT_VOTE_WITHOUT_LOG_CHECK,   /* grant votes without the up-to-date check */
    RAFT_MUTANT_VOTE_BEFORE_PERSIST,      /* send votes before the vote is durable */
    RAFT_MUTANT_TRUNCATE_ON_STALE_APPEND, /* drop entries after a stale append's last entry */
    RAFT_MUTANT_NO_CHECK_QUORUM_LOCAL_READS, /* keep leading alone and read locally */
    RAFT_MUTANT_LEASE_WITHOUT_DRIFT_ALLOWANCE, /* lease = the whole election timeout */
    RAFT_MUTANT_LEASE_KEPT_AFTER_TIMEOUT_NOW,  /* keep the lease while handing over */
    RAFT_MUTANT_PROPOSE_DURING_TRANSFER,       /* accept proposals while handing over */
    RAFT_MUTANT_SNAPSHOT_ACK_BEFORE_DURABLE, /* acknowledge a received snapshot at once */
    RAFT_MUTANT_SNAPSHOT_KEEP_CONFLICTING_TAIL, /* installing keeps a log tail that conflicts */
    RAFT_MUTANT_MEMBERSHIP_SKIP_JOINT,    /* switch voters C_old -> C_new in one step */
    RAFT_MUTANT_MEMBERSHIP_COUNT_LEARNERS, /* learners' votes and acks count in quorums */
    RAFT_MUTANT_IGNORE_LOST_ENTRIES,      /* treat a damaged follower's rejection as stale */
    RAFT_MUTANT_SNAPSHOT_DROP_CONFIG,     /* a log without config entries uses raft_options'
                                           * voters, not the snapshot's configuration */
    RAFT_MUTANT_COUNT_
};

/* How a leader confirms it may serve a read (thesis §6.4). */
enum raft_read_mode {
    RAFT_READ_INDEX = 0, /* a heartbeat round acknowledged by a quorum, per batch of reads */
    RAFT_READ_LEASE,     /* no round while the lease holds; correct only while every
                          * clock's drift stays within clock_drift_bound_ns */
};

struct raft_options {
    node_id_t id;
    node_id_t voters[RAFT_NODES_COUNT_MAX]; /* the cluster, including id */
    uint32_t voters_count;
    uint64_t election_timeout_ns_min;  /* randomized in [min, 2*min) */
    uint64_t heartbeat_interval_ns;
    bool pre_vote;
    bool check_quorum;
    uint32_t entries_per_message_max;
    uint32_t bytes_per_message_max;
    uint32_t inflight_messages_max;    /* appends in flight per follower in replicate state */
    uint32_t applies_per_update_max;
    uint32_t snapshot_chunk_bytes_max;     /* InstallSnapshot payload per message */
    uint32_t snapshot_chunks_inflight_max; /* chunks in flight per follower */
    uint64_t snapshot_bytes_max;           /* largest snapshot a follower accepts */
    raft_index_t snapshot_trailing_entries; /* entries kept in memory behind a snapshot, so
                                             * a follower just behind needs no snapshot */
    uint64_t prng_seed;                /* election timeouts are drawn from it */
    enum raft_read_mode read_mode;
    /* How far two clocks may drift apart over one minimum election timeout: the lease
     * lasts election_timeout_ns_min minus this. Must be below election_timeout_ns_min
     * when read_mode is RAFT_READ_LEASE. */
    uint64_t clock_drift_bound_ns;
    struct logger *logger;             /* borrowed; may be NULL */
    enum raft_mutant mutant;           /* RAFT_MUTANT_NONE unless testing */
    /* A learner is promoted to voter only once its match index is within this many
     * entries of the leader's last index (a lagging voter would stall commitment). */
    uint32_t promote_lag_entries_max;
    /* Addresses of the initial voters (set with raft_options_set_address; none by
     * default). They go into the configuration used while the log and the snapshot
     * hold none. */
    struct raft_member_address voter_addresses[RAFT_NODES_COUNT_MAX];
    uint32_t voter_addresses_count;
};

void raft_options_default(struct raft_options *o, node_id_t id, const node_id_t *voters,
                          uint32_t voters_count);
/* Sets the address of initial voter id (copied; len 0 clears it). Returns 0,
 * ERR_NOT_FOUND when id is not among o->voters, ERR_TOO_LARGE when len >
 * RAFT_MEMBER_ADDRESS_BYTES_MAX. */
int raft_options_set_address(struct raft_options *o, node_id_t id, const uint8_t *address,
                             size_t len);

/* What the driver recovered from durable storage at start. Entries are copied. The
 * configuration is the latest config entry among them, else the snapshot's
 * configuration, else (no snapshot) the voters of raft_options. */
struct raft_boot {
    raft_term_t term;
    node_id_t vote;
    raft_index_t first_index; /* index of entries[0]; the entry before it is the base */
    raft_term_t base_term;    /* term of entry first_index - 1 (0 for an empty log) */
    const struct raft_entry *entries;
    size_t entries_count;
    /* A damaged log (a checksum failure in the middle) was cut back before the damage,
     * and may have lost entries this node acknowledged. Until a leader has replicated to
     * it up to this index, the node neither votes nor campaigns (it cannot vouch for what
     * it had), or until it holds a current leader's whole log, which includes every
     * committed entry. 0: the log is whole. */
    raft_index_t vote_barrier_index;
    /* The latest snapshot (index 0: none): the state machine as of snapshot_index, which
     * the driver has loaded. first_index must be snapshot_index + 1. data is borrowed
     * until the next raft_snapshot_taken() or raft_destroy(); the leader sends it. */
    raft_index_t snapshot_index;
    raft_term_t snapshot_term;
    const uint8_t *snapshot_data;
    uint64_t snapshot_size_bytes;
    /* The configuration as of snapshot_index, as raft_snapshot_config_encode or
     * snapshot_install.config gave it (copied). Empty (a snapshot saved before
     * configurations travelled with snapshots): the voters of raft_options. */
    const uint8_t *snapshot_config;
    uint32_t snapshot_config_len;
};

struct raft;

/* Returns NULL when out of memory or when boot's snapshot_config does not decode. */
struct raft *raft_create(const struct raft_options *opt, const struct raft_boot *boot,
                         uint64_t now_ns);
void raft_destroy(struct raft *r);

void raft_tick(struct raft *r, uint64_t now_ns);
void raft_receive(struct raft *r, uint64_t now_ns, const struct raft_message *m);

/* Appends a command to the leader's log. Returns 0 and the entry's index, or
 * ERR_NOT_LEADER (with raft_leader() as a hint), ERR_TRANSFERRING (a leadership
 * transfer is under way; nothing was appended), ERR_TOO_LARGE or ERR_NOMEM. */
int raft_propose(struct raft *r, uint64_t now_ns, const uint8_t *data, size_t len,
                 raft_index_t *index_out);

/* ReadIndex (thesis §6.4): asks the leader to confirm its leadership with a heartbeat
 * round. When confirmed, an update's reads_ready lists (request_id, read_index): the
 * driver may serve the read once it has applied up to read_index. Returns ERR_NOT_LEADER
 * on a follower, ERR_BUSY when the leader has not yet committed an entry of its term. */
int raft_read_index(struct raft *r, uint64_t now_ns, uint64_t request_id);

/* Leadership transfer (thesis §3.10): the leader brings target's log up to date, then
 * sends it TimeoutNow, and target starts an election at once. Until the transfer ends
 * (target wins, this node steps down, or one election timeout passes and it is
 * abandoned), raft_propose refuses with ERR_TRANSFERRING: nothing is appended, so
 * nothing accepted can be lost. Returns 0 (also when the same transfer is already under
 * way), ERR_NOT_LEADER on a follower, ERR_INVALID for the leader itself, ERR_NOT_FOUND
 * for a node outside the cluster, ERR_BUSY while a transfer to another node runs. */
int raft_transfer_leadership(struct raft *r, uint64_t now_ns, node_id_t target);
/* The target of the transfer under way, or 0. */
node_id_t raft_transfer_target(const struct raft *r);
/* On a leader, the follower whose synced log reaches furthest (the quickest target of a
 * transfer); 0 on a follower or in a single-node cluster. */
node_id_t raft_most_up_to_date_follower(const struct raft *r);
/* On a leader, how far the member id's log is known to match the leader's (its own last
 * synced index for the leader itself); 0 on a follower or for a node it does not track. */
raft_index_t raft_member_match_index(const struct raft *r, node_id_t id);

/* Lease reads (thesis §6.4.1): with read_mode RAFT_READ_LEASE, raft_read_index answers
 * at once (reads_ready in the next update) while the leader's lease holds, and falls
 * back to a heartbeat round otherwise. The lease starts when the leader sent the newest
 * heartbeat round a quorum acknowledged; it ends at once when the leader steps down or
 * sends TimeoutNow. True when a read at now_ns would be served from the lease. */
bool raft_lease_holds(const struct raft *r, uint64_t now_ns);

/* The driver reports durability. Entries: everything up to index (whose entry has term)
 * is synced. Hard state: (term, vote) is durable. Stale reports are ignored. */
void raft_persisted_entries(struct raft *r, uint64_t now_ns, raft_index_t index, raft_term_t term);
void raft_persisted_hard_state(struct raft *r, uint64_t now_ns, raft_term_t term, node_id_t vote);

/* Snapshots (snapshot.c, §7). The driver serialised its state machine as of applied
 * index `index` (<= raft_applied_index) and saved it durably, with the configuration
 * raft_snapshot_config_encode(index) gave it when it serialised: the core drops in-memory
 * entries up to index - snapshot_trailing_entries and sends this snapshot to followers
 * that need entries it no longer has. data is borrowed until the next call or
 * raft_destroy(). Must not be called between raft_get_update and raft_update_done.
 * Returns ERR_INVALID for an index outside (current snapshot, applied index]. */
int raft_snapshot_taken(struct raft *r, uint64_t now_ns, raft_index_t index,
                        const uint8_t *data, uint64_t size_bytes);
/* The driver made the update's snapshot_install durable (saved it, replaced its log as
 * the install said, loaded its state machine): the follower installs it in memory and
 * only now acknowledges it to the leader. Stale reports are ignored. */
void raft_persisted_snapshot(struct raft *r, uint64_t now_ns, raft_index_t index, raft_term_t term);
/* The configuration in effect as of applied index `index` (raft_snapshot_index <= index <=
 * raft_applied_index), encoded into out (RAFT_CONFIG_ENCODED_SIZE_MAX bytes suffice), for
 * the driver to save with the snapshot it takes at index (log_snapshot_save's config).
 * Returns the length. */
size_t raft_snapshot_config_encode(const struct raft *r, raft_index_t index, uint8_t *out);

struct raft_read_ready {
    uint64_t request_id;
    raft_index_t read_index;
};

/* A complete snapshot received from the leader, to be installed by the driver: save it
 * durably; if log_tail_matches, keep the log entries after index and drop those at or
 * before it, otherwise drop the whole log (it conflicts or ends before index), so the
 * next entry is index + 1; load the state machine from data; then call
 * raft_persisted_snapshot(). data and config are borrowed until that call or
 * raft_destroy(). While an install is pending the follower accepts no entries and does
 * not campaign. config, the configuration as of index, is saved with the snapshot and
 * given back at boot (raft_boot.snapshot_config); the core adopts it on install. */
struct raft_snapshot_install {
    raft_index_t index;
    raft_term_t term;
    const uint8_t *data;
    uint64_t size_bytes;
    bool log_tail_matches;
    const uint8_t *config;
    uint32_t config_len;
};

struct raft_update {
    bool hard_state_changed;
    raft_term_t term;
    node_id_t vote;

    raft_index_t persist_from_index;      /* 0: nothing to persist */
    const struct raft_entry *persist_entries;
    size_t persist_entries_count;

    const struct raft_message *messages;
    size_t messages_count;

    const struct raft_entry *apply_entries; /* committed, in order, applied_index + 1 first */
    size_t apply_entries_count;

    const struct raft_read_ready *reads_ready;
    size_t reads_ready_count;
    const uint64_t *reads_failed; /* request ids that lost leadership before confirming */
    size_t reads_failed_count;

    const struct raft_snapshot_install *snapshot_install; /* NULL: none */
};

/* True exactly when raft_get_update has something to hand out, so a driver may loop on it:
 * entries committed but held back (while a snapshot installs) do not count. */
bool raft_has_update(const struct raft *r);
void raft_get_update(struct raft *r, struct raft_update *u);
/* Marks the update handled: the apply entries count as applied, messages as sent. */
void raft_update_done(struct raft *r);

/* Soft state, for drivers, checkers and /metrics. */
enum raft_role raft_role(const struct raft *r);
raft_term_t raft_term(const struct raft *r);
node_id_t raft_vote(const struct raft *r);
node_id_t raft_leader(const struct raft *r);
node_id_t raft_id(const struct raft *r);
raft_index_t raft_commit_index(const struct raft *r);
raft_index_t raft_applied_index(const struct raft *r);
raft_index_t raft_last_index(const struct raft *r);
raft_index_t raft_persisted_index(const struct raft *r);
/* On a leader whose followers already hold more than it has synced: the index it would
 * commit if its own log were synced to its end, when that is beyond the commit index
 * (so the commit waits on the leader's fsync alone); otherwise 0. A driver that defers
 * the leader's fsync (thesis §10.2.1: a majority of followers may commit without it)
 * uses this to sync at once when the followers alone are not enough. */
raft_index_t raft_commit_waiting_on_self(const struct raft *r);
/* The entry at index (borrowed), or NULL when outside the in-memory log. */
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index_t index);
raft_term_t raft_term_at(const struct raft *r, raft_index_t index);
const char *raft_role_name(enum raft_role role);
/* True when the NO_CHECK_QUORUM_LOCAL_READS mutant lets this leader read locally. */
bool raft_mutant_local_reads(const struct raft *r);
/* Nonzero while a damaged node waits to be repaired past this index (no votes). */
raft_index_t raft_vote_barrier(const struct raft *r);
/* The first index held in memory (entries before it are covered by the snapshot). */
raft_index_t raft_first_index(const struct raft *r);
raft_index_t raft_snapshot_index(const struct raft *r);
/* Followers this leader is sending a snapshot to; whether this node is receiving or
 * installing one. For the simulator's crash accounting and /metrics. */
uint32_t raft_snapshots_sending(const struct raft *r);
bool raft_snapshot_receiving(const struct raft *r);

/* Asserts every internal invariant; the simulator calls it after every step. */
void raft_check_invariants(const struct raft *r);

/* Membership (thesis §4.3, config.c). A configuration is the set of voters, and while a
 * change is in its joint phase C_old,new also the old set of voters, plus the learners,
 * which receive the log but never vote and never count toward any quorum. Each node uses
 * the latest configuration in its log, whether committed or not (it takes effect when
 * appended); without one, the snapshot's configuration; without a snapshot, the voters
 * of raft_options. Every quorum decision of the core goes through raft_config_has_quorum
 * / raft_config_committed_index, which demand majorities of both sets while joint. Once the entry that set a configuration is
 * compacted into a snapshot, the configuration lives on with the snapshot (see
 * raft_boot.snapshot_config). A node outside the voters of its configuration
 * campaigns only through PreVote, and only when its log is what the voters need (see
 * config.c); as leader it hands leadership over once its configuration commits: a
 * leadership transfer to the most caught-up voter of C_new, then it steps down (when the
 * target wins, or when the transfer times out). */
struct raft_config {
    node_id_t voters[RAFT_NODES_COUNT_MAX];     /* C_new, or the only set when not joint */
    uint32_t voters_count;
    node_id_t voters_old[RAFT_NODES_COUNT_MAX]; /* C_old while joint */
    uint32_t voters_old_count;                  /* 0: not joint */
    node_id_t learners[RAFT_NODES_COUNT_MAX];
    uint32_t learners_count;
    /* The members' addresses, one entry per member that has a nonempty one, in any
     * order; read and write them with raft_config_address / raft_config_set_address. */
    struct raft_member_address addresses[RAFT_NODES_COUNT_MAX];
    uint32_t addresses_count;
};

/* A config entry's payload (also the configuration stored with a snapshot), all
 * integers little-endian. Version 2:
 *   byte 0       version (2)
 *   bytes 1..3   count of voters, of old voters (0: not joint), of learners, each <= 9
 *   then         each id as 4 bytes: the voters, then the old voters, then the learners
 *   then         for each member once, in the order of first appearance above (voters,
 *                old voters that are not voters, learners): one length byte L <=
 *                RAFT_MEMBER_ADDRESS_BYTES_MAX and L bytes of its address (L = 0: none)
 * and nothing after. Version 1 (still decoded, with every address empty) is the same
 * without the addresses. */
#define RAFT_CONFIG_ENCODED_SIZE_MAX \
    (4 + 3 * RAFT_NODES_COUNT_MAX * 4 + RAFT_NODES_COUNT_MAX * (1 + RAFT_MEMBER_ADDRESS_BYTES_MAX))

bool raft_config_is_joint(const struct raft_config *c);
/* A voter of C_new or, while joint, of C_old. */
bool raft_config_is_voter(const struct raft_config *c, node_id_t id);
bool raft_config_is_learner(const struct raft_config *c, node_id_t id);
/* True when `granted` holds for a majority of the voters (of both sets while joint). */
bool raft_config_has_quorum(const struct raft_config *c,
                            bool (*granted)(const void *ctx, node_id_t id), const void *ctx);
/* The highest index stored by a majority (of both sets while joint), given each voter's
 * match index. */
raft_index_t raft_config_committed_index(const struct raft_config *c,
                                         raft_index_t (*match_of)(const void *ctx, node_id_t id),
                                         const void *ctx);
/* The address of member id (a voter of either set or a learner): a pointer to its bytes,
 * borrowed from c, and their count in *len (0: none was given). NULL (and *len = 0)
 * when id is not a member of c. Raft never interprets an address. */
const uint8_t *raft_config_address(const struct raft_config *c, node_id_t id, size_t *len);
/* Sets member id's address (copied; len 0 clears it). Returns 0, ERR_NOT_FOUND when id
 * is not a member of c, ERR_TOO_LARGE when len > RAFT_MEMBER_ADDRESS_BYTES_MAX. */
int raft_config_set_address(struct raft_config *c, node_id_t id, const uint8_t *address,
                            size_t len);
/* Writes c in the current version into out (RAFT_CONFIG_ENCODED_SIZE_MAX bytes suffice);
 * returns the length. Addresses of ids that are not members are not written. */
size_t raft_config_encode(const struct raft_config *c, uint8_t *out);
/* Returns 0, or ERR_MALFORMED / ERR_VERSION for a payload that is not a valid config:
 * bad lengths, no voters, an id of 0, an id twice in one set or in two roles, or an
 * address longer than RAFT_MEMBER_ADDRESS_BYTES_MAX. */
int raft_config_decode(const uint8_t *data, size_t len, struct raft_config *c);

enum raft_change_type {
    RAFT_CHANGE_ADD_LEARNER = 1, /* a node that is not a member becomes a learner */
    RAFT_CHANGE_PROMOTE,         /* a caught-up learner becomes a voter */
    RAFT_CHANGE_REMOVE,          /* a voter or learner leaves the cluster */
};

struct raft_change {
    uint8_t type; /* enum raft_change_type */
    node_id_t id;
    /* ADD_LEARNER: the new member's address (borrowed for the call, copied into the
     * configuration; may be empty); it stays with the node through promotion and the
     * joint phase until the node is removed. Ignored by the other changes. */
    const uint8_t *address;
    size_t address_len;
};

/* Proposes a membership change (leader only). Changes that touch the voters go through
 * the joint configuration C_old,new; once it commits the leader proposes C_new by itself.
 * Learner-only changes take one step. Returns 0 and the config entry's index, or
 * ERR_NOT_LEADER; ERR_BUSY while another change is in flight or before the leader has
 * committed an entry of its term; ERR_NOT_CAUGHT_UP when a learner to promote lags by
 * more than promote_lag_entries_max; ERR_INVALID for a change that does not fit the
 * current configuration (unknown or duplicate id, no voter left, too many members);
 * ERR_TOO_LARGE for an address longer than RAFT_MEMBER_ADDRESS_BYTES_MAX. */
int raft_change_membership(struct raft *r, uint64_t now_ns, const struct raft_change *changes,
                           size_t changes_count, raft_index_t *index_out);
/* The configuration in effect (borrowed until the next event call), and the index of the
 * entry that set it (the snapshot's index when it came with the snapshot; 0: the voters
 * of raft_options). */
const struct raft_config *raft_configuration(const struct raft *r);
raft_index_t raft_configuration_index(const struct raft *r);
/* The configuration in effect as of index: the latest config entry at or before it, else
 * the snapshot's configuration; an index before the snapshot's reads as the snapshot's.
 * Returns the index of the entry that set it, as raft_configuration_index does (the
 * snapshot's index when it had to come from the snapshot). */
raft_index_t raft_configuration_at(const struct raft *r, raft_index_t index,
                                   struct raft_config *out);

#endif
