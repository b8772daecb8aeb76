/* Internal state of the simulator, shared by its files; see sim.h. */
#ifndef CHORUS_SIM_IMPL_H
#define CHORUS_SIM_IMPL_H

#include "base/buf.h"
#include "base/hashmap.h"
#include "base/log.h"
#include "base/prng.h"
#include "sim/sim.h"
#include "log/log.h"
#include "sim/disk_sim.h"
#include "sim/lincheck.h"
#include "sim/sim_sm.h"

#define SIM_MS 1000000ull
#define SIM_SEC 1000000000ull
#define SIM_TICK_NS (5 * SIM_MS)
#define SIM_SETTLE_NS (2 * SIM_SEC)
#define SIM_ARGV_MAX 8
#define SIM_VALUE_MAX 48
#define SIM_ELECTION_TIMEOUT_NS (150 * SIM_MS)
#define SIM_SEGMENT_SIZE_BYTES (16 * 1024) /* small, so compaction removes segments */
#define SIM_PREALLOCATE_BYTES 4096 /* several zero fills per segment, each crash-tested */

enum sim_event_type {
    EV_NODE_TICK = 1,
    EV_NET_DELIVER,    /* a Raft message arrives at a node */
    EV_DISK_DONE,      /* a node's oldest pending disk write completes */
    EV_CLIENT_REQUEST, /* a client request arrives at a node */
    EV_CLIENT_REPLY,   /* a node's reply arrives at a client */
    EV_CLIENT_WAKE,    /* a client's think time or retry timer */
    EV_FAULT,          /* the fault schedule acts */
    EV_RESTART,        /* a crashed node comes back */
    EV_RESUME,         /* a paused node resumes */
    EV_MEMBERSHIP,     /* the membership workload asks the leader for a change */
};

/* A client request or reply in flight. */
struct sim_request {
    uint32_t client;
    uint64_t client_id;   /* session id; 0 for the registration itself */
    uint64_t seq;
    uint64_t attempt;     /* replies to older attempts are ignored */
    bool is_read;
    int argc;
    uint8_t argv[SIM_ARGV_MAX][SIM_VALUE_MAX];
    size_t argv_len[SIM_ARGV_MAX];
};

enum sim_reply_kind { REPLY_RESULT = 0, REPLY_REDIRECT, REPLY_RETRY };

struct sim_reply {
    uint32_t client;
    uint64_t seq;
    uint64_t attempt;
    enum sim_reply_kind kind;
    node_id_t leader_hint;
    struct sm_reply result;
};

struct sim_event {
    uint64_t at_ns;
    uint64_t order;        /* tie-breaker: insertion order */
    uint8_t type;
    uint32_t node;         /* index 0..nodes_count-1, or client index for client events */
    uint64_t generation;   /* node incarnation the event belongs to (stale after crash) */
    union {
        struct raft_message *msg; /* EV_NET_DELIVER: owned deep copy */
        struct sim_request *request;
        struct sim_reply *reply;
        uint64_t value;
    } u;
};

/* One pending disk operation of a node, completed in order by EV_DISK_DONE: a save of
 * term and vote (done at completion, atomically, by the log), or an fdatasync covering
 * every entry appended so far (appends go to the simulated disk's volatile cache at
 * once). A crash before completion loses the operation, and the simulated disk keeps
 * none, all or a torn prefix of the unsynced bytes. */
struct disk_op {
    bool is_hard_state;
    /* Or the installation of a snapshot received from the leader (sim_snapshot.c): its
     * bytes stay borrowed from Raft until raft_persisted_snapshot. */
    const struct raft_snapshot_install *install;
    raft_term_t term;
    node_id_t vote;
    uint64_t done_at_ns;
    struct disk_op *next;
};

struct pending_write {
    uint64_t client_id;
    uint64_t seq;
    uint32_t client;
    uint64_t attempt;
    raft_index_t index;  /* (index, term) names the proposal: if the entry applied at */
    raft_term_t term;    /* index has another term, the proposal was lost */
    bool during_transfer; /* accepted while a leadership transfer was under way */
};

struct pending_read {
    uint64_t request_id;
    struct sim_request *request; /* owned */
    raft_index_t read_index;     /* 0 until confirmed */
};

struct sim_node {
    uint32_t slot;
    node_id_t id;
    bool up;                   /* false while crashed */
    bool paused;
    uint64_t generation;       /* bumps at every crash */
    int64_t clock_offset_ns;
    int32_t drift_ppm;
    struct raft *raft;
    struct sm *sm;
    struct logger logger;
    /* Storage: the simulated disk survives crashes; the log is reopened (recovered) at
     * every start. The checkers read the terms the node has synced (or, after a
     * restart, recovered): synced_terms[i - 1] for index i. */
    struct disk_sim *disk;
    struct log *log;
    raft_term_t recovered_term;
    node_id_t recovered_vote;
    raft_term_t *synced_terms;
    size_t synced_count;
    size_t synced_cap;
    bool sync_queued;          /* an fdatasync op is pending in the queue */
    bool disk_faulty;          /* injected disk faults are armed until the heal */
    bool bit_flipped;          /* a latent bit flip awaits this node's recovery */
    raft_index_t barrier_durable; /* mirror of the vote barrier saved in the node's log
                                   * (read by checkers while the node is down) */
    /* Snapshots (sim_snapshot.c): the bytes of the latest snapshot Raft borrows, a buffer
     * to build the next one in, and an install waiting for the disk. */
    struct buf snapshot;
    struct buf snapshot_next;
    uint8_t snapshot_config[RAFT_CONFIG_ENCODED_SIZE_MAX]; /* recovered with it (boot) */
    bool install_pending;
    raft_index_t synced_snapshot_index; /* checkers: durable state covers up to here */
    raft_term_t synced_snapshot_term;   /* and the term of its last entry */
    /* Pending disk writes, FIFO. */
    struct disk_op *disk_head;
    struct disk_op *disk_tail;
    uint64_t disk_busy_until_ns;
    /* Requests waiting for commit or read confirmation. */
    struct pending_write writes[256];
    size_t writes_count;
    struct pending_read reads[256];
    size_t reads_count;
    uint64_t next_read_id;
    /* Chained hashes of the node's log for the log-matching check. */
    uint64_t *chain;
    size_t chain_cap;
    raft_index_t chain_last;
    uint8_t crash_trap;        /* crash right after the next granted vote (1), append
                                * acknowledgement (2) or snapshot chunk (3) leaves, or
                                * a snapshot install is handed to the disk (4); 0: none */
    bool crash_now;
    /* Promises that left the node and must survive its crashes (Figure 2: persist
     * before responding): the last granted vote and the highest acknowledged entry. */
    raft_term_t promised_vote_term;
    node_id_t promised_vote;
    raft_index_t promised_match;
    raft_term_t promised_match_term;
    struct raft_config durable_config; /* of the synced log; kept across a crash */
    raft_index_t last_commit_checked;
    enum raft_role last_role;
    raft_term_t last_term;
    /* Messages delivered while paused wait here. */
    struct sim_event *held;
    size_t held_count;
    size_t held_cap;
};

enum op_state { OP_IDLE = 0, OP_REGISTERING, OP_RUNNING };

struct sim_client {
    uint32_t index;
    uint64_t client_id;      /* 0 until registered */
    uint64_t seq;
    uint64_t attempt;
    enum op_state state;
    struct sim_request req;  /* the operation in progress */
    uint32_t history_op;     /* lincheck id of the operation in progress */
    bool op_has_history;
    uint64_t invoked_at_ns;
    node_id_t target;        /* node the client believes leads */
    uint64_t timeout_at_ns;
    uint32_t ops_done;
    uint64_t wake_token;     /* only the latest timer counts */
};

struct applied_command {
    uint64_t client_id; /* 0: a no-op, a registration or a sessionless command */
    uint64_t seq;
};

struct sim_heap {
    struct sim_event *items;
    size_t count;
    size_t cap;
};

struct sim_world {
    struct sim_config cfg;
    struct sim_result *result;
    struct prng prng;
    uint64_t now_ns;
    uint64_t order;
    struct sim_heap heap;
    uint64_t digest;
    bool failed;
    struct sim_node nodes[SIM_NODES_MAX];
    struct sim_client clients[SIM_CLIENTS_MAX];
    uint32_t ops_invoked;
    uint32_t ops_finished;
    bool healed;
    /* Network. */
    bool blocked[SIM_NODES_MAX][SIM_NODES_MAX]; /* [from][to] */
    uint32_t loss_per_million;
    uint32_t dup_per_million;
    uint64_t delay_ns_max;
    /* Raft tunables drawn from the seed, the same for every node of a run. */
    uint32_t entries_per_message_max;
    uint32_t inflight_messages_max;
    enum raft_read_mode read_mode;
    uint64_t clock_drift_bound_ns;    /* the lease's allowance for this run's drift bound */
    /* The leadership transfer under way (sim_transfer.c): its target, 0 when none. */
    node_id_t transfer_target;
    raft_term_t transfer_term;
    /* A removed leader's hand-over under way (sim_membership.c): its target, 0 when none. */
    node_id_t handover_target;
    raft_term_t handover_term;
    /* Snapshot policy drawn from the seed: every node snapshots every so many applied
     * entries, keeps some trailing entries in memory, and sends in small chunks. */
    raft_index_t snapshot_every_entries;
    raft_index_t snapshot_trailing_entries;
    uint32_t snapshot_chunk_bytes_max;
    uint32_t snapshot_chunks_inflight_max;
    /* Membership (sim_membership.c). */
    bool membership;                  /* the workload runs: spares exist, changes happen */
    struct raft_config initial_config;
    raft_index_t membership_applied_index; /* highest config entry applied */
    /* Checkers. */
    struct hashmap leaders_by_term;   /* term -> node id */
    struct hashmap chain_by_index_term; /* (index, term) -> chained hash */
    struct hashmap reply_by_session;  /* (client id, seq) -> (index, reply hash) */
    struct hashmap acked_writes;      /* (client id, seq) of every acknowledged write */
    uint64_t *applied_chain;          /* index -> chained hash of the committed entry */
    raft_term_t *commit_term;         /* index -> lowest term whose leader committed it */
    size_t commit_term_cap;
    size_t applied_cap;
    raft_index_t applied_max;
    struct applied_command *applied_cmd; /* index -> the session command applied there */
    struct hashmap digest_by_snapshot; /* snapshot index -> state digest */
    struct lincheck_history *history;
    struct buf scratch;
};

/* sim.c */
void sim_schedule(struct sim_world *w, uint64_t at_ns, uint8_t type, uint32_t node,
                  struct sim_event *ev_template);
void sim_fail(struct sim_world *w, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sim_trace(struct sim_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_digest(struct sim_world *w, uint64_t a, uint64_t b);
uint64_t sim_node_now(const struct sim_world *w, const struct sim_node *n);

/* sim_node.c */
void node_start(struct sim_world *w, struct sim_node *n);
void node_crash(struct sim_world *w, struct sim_node *n);
void node_free(struct sim_node *n);
void node_tick(struct sim_world *w, struct sim_node *n);
void sim_node_process(struct sim_world *w, struct sim_node *n);
void node_deliver(struct sim_world *w, struct sim_node *n, const struct raft_message *m);
void node_disk_done(struct sim_world *w, struct sim_node *n);
void node_client_request(struct sim_world *w, struct sim_node *n, struct sim_request *req);
void node_send_reply(struct sim_world *w, struct sim_node *n, const struct sim_request *req,
                     enum sim_reply_kind kind, const struct sm_reply *result);
void net_send(struct sim_world *w, const struct raft_message *m);
void net_free_message(struct raft_message *m);
void node_disk_enqueue(struct sim_world *w, struct sim_node *n, struct disk_op *op);
/* The checkers' view of the durable log (synced_count, synced_terms): up to
 * durable_index, and at least up to the durable snapshot. */
void node_synced_refresh(struct sim_node *n, raft_index_t durable_index);
void node_fail_stop(struct sim_world *w, struct sim_node *n, const char *what, int rc);

/* sim_transfer.c */
void transfer_start_random(struct sim_world *w);
void transfer_on_new_leader(struct sim_world *w, struct sim_node *n);
void check_no_lease_overlap(struct sim_world *w, struct sim_node *n);

/* sim_client.c */
void client_start(struct sim_world *w, struct sim_client *c);
void client_wake(struct sim_world *w, struct sim_client *c, uint64_t token);
void client_reply(struct sim_world *w, struct sim_client *c, struct sim_reply *r);
void client_finish_run(struct sim_world *w);
bool clients_done(const struct sim_world *w);

/* sim_snapshot.c */
void sim_snapshot_maybe_take(struct sim_world *w, struct sim_node *n);
void sim_snapshot_queue_install(struct sim_world *w, struct sim_node *n,
                                const struct raft_snapshot_install *install);
void sim_snapshot_install_done(struct sim_world *w, struct sim_node *n, struct disk_op *op);
bool sim_snapshot_recover(struct sim_world *w, struct sim_node *n, const struct log_recovery *report,
                          struct raft_boot *boot);
void sim_snapshot_load_state(struct sim_world *w, struct sim_node *n);
int sim_snapshot_discard_damaged(struct sim_world *w, struct sim_node *n,
                                 struct log_recovery *report, raft_index_t *barrier_out);
/* sim_membership.c */
void membership_init(struct sim_world *w);
void membership_step(struct sim_world *w);
uint32_t membership_voters_min(const struct sim_world *w);
void membership_on_crash(struct sim_node *n);
void membership_on_apply(struct sim_world *w, const struct raft_entry *e);
/* Counts hand-overs: a leader outside its configuration's voters transferring
 * leadership (after every step), and whether its target led next (at a new leader). */
void membership_watch_handover(struct sim_world *w, struct sim_node *n);
void membership_on_new_leader(struct sim_world *w, struct sim_node *n);

/* sim_check.c */
void check_init(struct sim_world *w);
void check_free(struct sim_world *w);
void check_after_step(struct sim_world *w, struct sim_node *n);
void check_log_changed(struct sim_world *w, struct sim_node *n, raft_index_t from_index);
void check_applied(struct sim_world *w, struct sim_node *n, const struct raft_entry *e);
void check_final(struct sim_world *w);
void check_session_reply(struct sim_world *w, struct sim_node *n, raft_index_t index,
                         uint64_t client_id, uint64_t seq, const struct sm_reply *reply);
void check_acked_write(struct sim_world *w, uint64_t client_id, uint64_t seq);
void check_promise_sent(struct sim_world *w, struct sim_node *n, const struct raft_message *m);
void check_promises_kept(struct sim_world *w, struct sim_node *n);
void check_snapshot_state(struct sim_world *w, struct sim_node *n, raft_index_t index,
                          bool taken_here);
void check_snapshot_installed(struct sim_world *w, struct sim_node *n, raft_index_t index,
                              bool log_tail_kept);

#endif
