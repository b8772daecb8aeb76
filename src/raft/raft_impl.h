/* Internal state of the Raft core, shared by its files (raft.c, election.c,
 * replication.c, read_index.c, lease.c, transfer.c, snapshot.c, raft_log.c, config.c). Not
 * part of the module's contract. */
#ifndef CHORUS_RAFT_IMPL_H
#define CHORUS_RAFT_IMPL_H

#include "base/assertions.h"
#include "raft/config.h"
#include "raft/raft.h"

/* The in-memory log: entries first_index..last_index, each with owned data. The entry
 * before first_index is the base (index first_index - 1, term base_term); with snapshots
 * it will be the snapshot's last entry. */
struct raft_log {
    struct raft_entry *entries; /* ring buffer of capacity entries_cap */
    size_t entries_cap;
    size_t head;                /* slot of first_index */
    size_t count;
    raft_index_t first_index;
    raft_term_t base_term;
};

void raft_log_init(struct raft_log *l, raft_index_t first_index, raft_term_t base_term);
void raft_log_free(struct raft_log *l);
raft_index_t raft_log_last_index(const struct raft_log *l);
raft_term_t raft_log_last_term(const struct raft_log *l);
/* Term at index; 0 when unknown (before the base or after the end). */
raft_term_t raft_log_term_at(const struct raft_log *l, raft_index_t index);
const struct raft_entry *raft_log_get(const struct raft_log *l, raft_index_t index);
/* Appends a copy of e (data copied); e->index must be last_index + 1. */
int raft_log_append_copy(struct raft_log *l, const struct raft_entry *e);
/* Removes every entry at or after index. */
void raft_log_truncate_from(struct raft_log *l, raft_index_t index);
/* Removes every entry up to index (which becomes the base, with its term), keeping
 * those after it; index may lie past the last entry (the log becomes empty). */
void raft_log_compact_to(struct raft_log *l, raft_index_t index, raft_term_t term);
/* Copies up to count entries from index into out (struct copies; data borrowed). */
size_t raft_log_slice(const struct raft_log *l, raft_index_t index, size_t count_max,
                      size_t bytes_max, struct raft_entry *out);

#define RAFT_INFLIGHT_MAX 64

enum progress_state { PROGRESS_PROBE = 0, PROGRESS_REPLICATE, PROGRESS_SNAPSHOT };

/* A snapshot transfer to one follower (PROGRESS_SNAPSHOT). */
struct snapshot_send {
    raft_index_t index;           /* the snapshot being sent */
    uint64_t next_offset;         /* next byte to send */
    uint64_t acked_offset;        /* bytes the follower said it holds */
    uint64_t acked_at_last_heartbeat; /* no progress for a heartbeat: resume from acked */
    bool probing;                 /* one chunk out; trust the next reply's offset */
};

/* The leader's view of one follower (thesis §10.2 flow control, etcd's Progress). */
struct progress {
    node_id_t id;
    raft_index_t next_index;
    raft_index_t match_index;
    enum progress_state state;
    raft_index_t inflight_last[RAFT_INFLIGHT_MAX]; /* last index of each append in flight */
    uint32_t inflight_head;
    uint32_t inflight_count;
    raft_index_t match_at_last_heartbeat; /* no progress for a heartbeat: back to probe */
    bool probe_sent;              /* probe state: an append is outstanding */
    bool recently_active;         /* heard from within this CheckQuorum window */
    uint64_t heartbeat_acked_context; /* highest heartbeat round it answered */
    struct snapshot_send snapshot;
};

/* The follower's side of InstallSnapshot: chunks of one snapshot from one leader in one
 * term, gathered in order; then handed to the driver (installing) until it is durable. */
struct snapshot_receive {
    node_id_t from;
    raft_term_t leader_term;
    raft_index_t index;           /* 0: nothing being received */
    raft_term_t term;
    uint64_t size_bytes;
    uint64_t have_bytes;          /* contiguous bytes received from offset 0 */
    uint8_t *data;                /* owned */
    bool installing;              /* handed to the driver, not yet durable */
    bool install_reported;        /* the update carried it */
    bool log_tail_matches;
    struct raft_config config;    /* as of index, from the first chunk */
    uint8_t config_bytes[RAFT_CONFIG_ENCODED_SIZE_MAX]; /* the same, encoded */
    uint32_t config_len;
};

struct pending_read {
    uint64_t request_id;
    raft_index_t read_index;
    uint64_t context; /* heartbeat round that must be acknowledged by a quorum */
};

/* Heartbeat rounds whose send time the leader remembers for its lease; older rounds
 * are more than an election timeout old and could not extend it anyway. */
#define RAFT_LEASE_ROUNDS 32

#define RAFT_OUTBOX_COUNT_MAX 256
#define RAFT_PENDING_READS_MAX 1024
#define RAFT_ENTRIES_SCRATCH_MAX 4096

struct raft {
    struct raft_options opt;
    struct prng prng;
    uint64_t now_ns;

    /* Persistent state (Figure 2) and what the driver confirmed durable. */
    raft_term_t term;
    node_id_t vote;
    raft_term_t durable_term;
    node_id_t durable_vote;
    raft_index_t persisted_index; /* entries synced by the driver */
    struct raft_log log;

    /* Volatile state. */
    enum raft_role role;
    node_id_t leader;
    raft_index_t commit_index;
    raft_index_t applied_index;   /* handed to the driver and confirmed by update_done */
    uint64_t election_deadline_ns;
    uint64_t heartbeat_deadline_ns;
    uint64_t check_quorum_deadline_ns;
    uint64_t leader_contact_ns;   /* last time a current leader was heard from */
    bool votes_granted[RAFT_NODES_COUNT_MAX];
    bool votes_answered[RAFT_NODES_COUNT_MAX];

    /* Follower: the highest index known to match the current leader's log (verified by
     * an append of this leader in this term), and an acknowledgement waiting for entries
     * to be synced. Every reply reports min(verified, persisted), so a lost
     * acknowledgement is repaired by the next heartbeat's reply. */
    raft_index_t verified_index;
    raft_index_t vote_barrier_index; /* see struct raft_boot; 0 once passed */
    raft_index_t pending_ack_index;
    node_id_t pending_ack_to;
    raft_term_t pending_ack_term;

    /* Membership (config.c): the configuration in effect, the index of the config entry
     * that set it (0: raft_options), and its members (voters of both sets, then
     * learners), whose slots index progress[], votes_granted[] and votes_answered[]. */
    struct raft_config config;
    raft_index_t config_index;
    node_id_t members[RAFT_NODES_COUNT_MAX];
    uint32_t members_count;

    /* Leader. */
    struct progress progress[RAFT_NODES_COUNT_MAX];
    raft_index_t first_index_of_term; /* the leader's no-op; reads wait for its commit */
    uint64_t heartbeat_context;       /* current heartbeat round (ReadIndex, lease) */
    bool read_round_in_flight;        /* that round is not yet confirmed by a quorum */
    bool read_round_pending;          /* reads wait for a round that starts when the
                                       * driver next takes an update (read_index.c) */
    struct pending_read reads[RAFT_PENDING_READS_MAX];
    size_t reads_count;
    /* Lease (lease.c): when each recent heartbeat round started, by round number. */
    uint64_t round_context[RAFT_LEASE_ROUNDS];
    uint64_t round_sent_ns[RAFT_LEASE_ROUNDS];
    bool lease_forfeited;             /* TimeoutNow left: no lease for the rest of the term */
    /* Leadership transfer (transfer.c). */
    node_id_t transfer_target;        /* 0: none */
    uint64_t transfer_deadline_ns;    /* abandoned when reached */
    bool timeout_now_sent;
    bool hand_over_started; /* removed by a committed C_new: the hand-over transfer began */

    /* Effects accumulated for the next update. */
    struct raft_message outbox[RAFT_OUTBOX_COUNT_MAX];
    size_t outbox_count;
    size_t outbox_released;           /* messages before this may be sent */
    raft_index_t persist_from_index;  /* 0: nothing new to persist */
    bool broadcast_pending;           /* proposals since the last update: their appends
                                       * go out together when the update is taken */
    struct raft_read_ready reads_ready[RAFT_PENDING_READS_MAX];
    size_t reads_ready_count;
    uint64_t reads_failed[RAFT_PENDING_READS_MAX];
    size_t reads_failed_count;
    bool hard_state_reported;         /* the update carried the current hard state */
    raft_term_t reported_term;
    node_id_t reported_vote;
    /* Entries referenced by queued messages and the update (struct copies). */
    struct raft_entry *scratch;
    size_t scratch_count;
    size_t scratch_cap;
    bool update_taken;
    size_t update_apply_count;
    size_t update_messages_count;
    size_t update_reads_ready_count;
    size_t update_reads_failed_count;
    raft_index_t update_persist_last;
    bool update_install;

    /* Snapshots (snapshot.c). The current snapshot, which the leader sends: its bytes
     * are borrowed from the driver, or owned when this node installed them. */
    raft_index_t snapshot_index;
    raft_term_t snapshot_term;
    const uint8_t *snapshot_data;
    uint64_t snapshot_size_bytes;
    uint8_t *snapshot_data_owned;
    /* The configuration in effect as of snapshot_index, which config.c falls back to
     * when the log holds no config entry (raft_options' voters while there is no
     * snapshot), and its encoding, sent with the first chunk of the snapshot. */
    struct raft_config snapshot_config;
    uint8_t snapshot_config_bytes[RAFT_CONFIG_ENCODED_SIZE_MAX];
    uint32_t snapshot_config_len;
    struct snapshot_receive receive;
    struct raft_snapshot_install install; /* what update.snapshot_install points to */
};

#define RAFT_ASSERT(r, cond)                                                         \
    ASSERT_CTX(cond, "node %u term %llu role %s", (r)->opt.id,                       \
               (unsigned long long)(r)->term, raft_role_name((r)->role))

/* raft.c */
struct raft_message *raft_outbox_push(struct raft *r, uint8_t type, node_id_t to);
void raft_become_follower(struct raft *r, raft_term_t term, node_id_t leader);
void raft_reset_election_timer(struct raft *r);
void raft_set_term(struct raft *r, raft_term_t term);
void raft_release_messages(struct raft *r);
void raft_mark_persist_from(struct raft *r, raft_index_t index);
struct progress *raft_progress_of(struct raft *r, node_id_t id);
bool raft_mutant(const struct raft *r, enum raft_mutant m);

bool raft_leader_heard_recently(const struct raft *r);

/* election.c (§5.2, thesis §9.6) */
enum campaign {
    CAMPAIGN_PRE_VOTE,  /* a PreVote round first (thesis §9.6) */
    CAMPAIGN_ELECTION,  /* a real election */
    CAMPAIGN_TRANSFER,  /* a real election ordered by TimeoutNow (thesis §3.10) */
};
void election_start(struct raft *r, enum campaign kind);
void election_on_vote(struct raft *r, const struct raft_message *m);
void election_on_vote_reply(struct raft *r, const struct raft_message *m);
void election_become_leader(struct raft *r);

/* replication.c (§5.3, §5.4) */
void replication_send_append(struct raft *r, struct progress *p, bool heartbeat);
void replication_broadcast(struct raft *r, bool heartbeat);
void replication_send_heartbeats(struct raft *r);
void replication_on_append(struct raft *r, const struct raft_message *m);
void replication_on_append_reply(struct raft *r, const struct raft_message *m);
void replication_maybe_commit(struct raft *r);
void replication_send_pending_ack(struct raft *r);
void replication_maybe_lift_vote_barrier(struct raft *r);
void progress_probe(struct progress *p, raft_index_t next);

/* snapshot.c (§7) */
void snapshot_send(struct raft *r, struct progress *p);
void snapshot_on_heartbeat(struct raft *r, struct progress *p);
void snapshot_on_message(struct raft *r, const struct raft_message *m);
void snapshot_on_reply(struct raft *r, const struct raft_message *m);
void snapshot_fill_message(const struct raft *r, struct raft_message *m);
void snapshot_forget_covered(struct raft *r);
void snapshot_free(struct raft *r);
void snapshot_check_invariants(const struct raft *r);

/* read_index.c (thesis §6.4) */
void read_index_on_heartbeat_ack(struct raft *r);
void read_index_fail_all(struct raft *r);
void read_index_new_round(struct raft *r);
void read_index_start_pending_round(struct raft *r);

/* lease.c (thesis §6.4.1) */
void lease_round_started(struct raft *r);
bool lease_serve_read(struct raft *r, uint64_t request_id);

/* transfer.c (thesis §3.10) */
void transfer_maybe_send_timeout_now(struct raft *r);
void transfer_on_timeout_now(struct raft *r, const struct raft_message *m);
void transfer_tick(struct raft *r);
void transfer_reset(struct raft *r);

#endif
