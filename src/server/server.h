/* The chorus-server process: one node on one libuv loop thread.
 *
 * node.c drives the Raft core exactly as src/sim/sim_node.c does (the reference
 * driver): hard state and entries are made durable (storage.c) before raft_persisted_*
 * is reported, messages go out through the link layer over one UDP socket, committed
 * entries are applied to kv in order, ReadIndex reads are served once applied_index
 * reaches their read_index, and a client's write is answered when the entry at its
 * (index, term) is applied (another term's entry at that index means it was lost).
 * Updates are drained in a uv_check handle after every loop iteration, so every command
 * that arrived in one iteration shares one write and one fdatasync (group commit).
 *
 * Link messages between nodes start with a tag byte:
 *   'R' chorus.RaftMessage (raft_codec.c)
 *   'Q' u64 forward id, u32 argc, argc x (u32 len, bytes): a command a follower forwards
 *   'P' u64 forward id, an encoded kv entry: a session write a follower prepared itself
 *       (with its connection's client id, seq and session_ack), proposed as is
 *   'A' u64 forward id, one kv_reply value: the leader's answer to a 'Q' or 'P'
 * (integers little-endian).
 *
 * clients.c is the RESP front end (pipelined connections, replies in request order),
 * sessions.c puts each connection's writes on a kv client session (exactly once across
 * leadership changes), commands.c the commands the server answers itself, admin.c the
 * HTTP port. */
#ifndef CHORUS_SERVER_SERVER_H
#define CHORUS_SERVER_SERVER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "base/buf.h"
#include "base/log.h"
#include "io/net_udp.h"
#include "kv/kv.h"
#include "link/link_table.h"
#include "raft/raft.h"
#include "resp/request.h"
#include "server/admin_rpc.h"
#include "server/config.h"
#include "server/disk_worker.h"
#include "server/storage.h"

#define SERVER_TICK_MS 10
#define SERVER_PENDING_MAX 65536          /* writes, reads and forwards in flight */
#define SERVER_CONNECTIONS_MAX 10000
#define SERVER_MULTI_QUEUE_MAX 1024
#define SERVER_FORWARD_ARGS_MAX 1024
#define SERVER_OUTPUT_BYTES_MAX (256u << 20) /* a client that reads nothing is closed */
#define SERVER_CLIENT_NAME_BYTES_MAX 128
/* Answered requests kept for reuse (clients.c), and the largest buffer one may keep. */
#define SERVER_SPARE_REQUESTS_MAX 1024
#define SERVER_SPARE_REQUEST_BYTES_MAX 4096

struct conn;

/* A copy of one command's arguments, in one allocation (cmd_copy_new; owned). */
struct cmd_copy {
    int argc;
    uint8_t **argv;
    size_t *lens;
};

/* A command waiting for its answer. It belongs to a connection's reply queue (conn set),
 * to a follower that forwarded it (remote_peer set), or to nobody once its connection
 * closed (orphan: freed when it completes). */
struct request {
    struct conn *conn;
    struct request *next;       /* the connection's queue, in arrival order */
    uint32_t remote_peer;       /* forwarded from this follower, 0 when local */
    uint64_t remote_id;
    bool done;
    bool close_after;           /* QUIT */
    struct kv_reply reply;      /* valid once done */
    /* A write on its connection's client session (sessions.c): seq is its sequence number
     * (0: sessionless), registration marks the connection's CHORUS.REGISTER (answered to
     * sessions.c, never to the client). entry holds the encoded command so that an unknown
     * outcome is re-submitted byte for byte until deadline_ns; its memory becomes the
     * reply's at completion, so a session write costs no extra allocation. held: the
     * command, copied, while the connection's session is being registered. */
    uint64_t seq;
    bool registration;
    uint32_t attempts;          /* times entry was proposed or forwarded */
    uint64_t deadline_ns;
    struct buf entry;
    struct cmd_copy *held;
};

/* Whether a command word (name, len bytes, not NUL-terminated) is want, ignoring case,
 * as Redis compares command and option names. */
static inline bool server_word_is(const uint8_t *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp((const char *)name, want, len) == 0;
}

/* True when req's unknown outcomes are retried: a session write or registration whose
 * connection is still open (an orphan's outcome is of no use to anybody). */
static inline bool request_resubmits(const struct request *req)
{
    return (req->seq != 0 || req->registration) && req->conn != NULL && req->remote_peer == 0;
}

enum pending_kind { PENDING_WRITE = 1, PENDING_READ, PENDING_FORWARD };

struct pending {
    enum pending_kind kind;
    struct request *req;
    uint64_t deadline_ns;
    uint64_t started_ns;        /* for the commit latency histogram */
    raft_index_t index;         /* WRITE: the proposal's (index, term) */
    raft_term_t term;           /* also a session FORWARD's: the term it was sent in */
    uint64_t id;                /* READ: read request id; FORWARD: forward id */
    raft_index_t read_index;    /* READ: 0 until confirmed */
    bool issued;                /* READ: raft_read_index accepted it */
    bool is_write;              /* FORWARD: the command was a write */
    node_id_t target;           /* FORWARD: the leader it was sent to (0: parked) */
    bool resubmit_due;          /* FORWARD: scratch for resubmit_forwards */
    struct cmd_copy *cmd;       /* READ: the command to run when ready */
};

/* Upper bounds of the commit latency histogram buckets (a last bucket is +Inf). */
#define SERVER_LATENCY_BUCKETS_US {250, 500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 1000000}
#define SERVER_LATENCY_BUCKETS_COUNT 11

struct server_metrics {
    uint64_t commit_latency_buckets[SERVER_LATENCY_BUCKETS_COUNT + 1]; /* not cumulative */
    uint64_t commit_latency_us_sum;
    uint64_t commit_latency_count;
    uint64_t commands;
    uint64_t proposals;
    uint64_t proposals_failed;
    uint64_t reads;
    uint64_t forwards_sent;
    uint64_t forwards_served;
    uint64_t timeouts;
    uint64_t lost_writes;
    uint64_t connections_accepted;
    uint64_t protocol_errors;
    uint64_t bad_raft_messages;
    uint64_t bad_link_messages;
    uint64_t lease_reads;       /* reads served from the leader's lease, without a round */
    uint64_t sessions_registered; /* connections' CHORUS.REGISTER answered with an id */
    uint64_t session_resubmits;   /* session writes sent again after an unknown outcome */
    uint64_t session_unknown;     /* session writes answered "outcome unknown" at the end */
    uint64_t leader_syncs_forced; /* a commit waited on the leader's deferred sync */
};

struct server {
    struct server_config cfg;
    struct logger logger;
    uv_loop_t *loop;
    struct raft *raft;
    struct kv_store *kv;
    struct storage storage;    /* owned by the disk worker thread while it runs */
    struct disk_worker disk;
    bool disk_failure_logged;
    bool vote_barrier_saved;   /* storage holds a vote barrier Raft has not lifted yet */
    struct link_table *links;
    struct net_udp udp;
    struct admin_rpc admin_rpc; /* the Admin service on the cluster port */
    struct sockaddr_in peer_addr[SERVER_PEERS_COUNT_MAX];
    uv_timer_t tick_timer;
    uv_timer_t link_timer;
    /* Deferred leader sync (leader_sync.c): the index whose commit waits on our own
     * sync and since when; the commit index at the last two health checks. */
    uv_timer_t leader_sync_timer;
    raft_index_t leader_sync_waiting_index;
    uint64_t leader_sync_waiting_since_ns;
    raft_index_t leader_sync_commit_mark;
    raft_index_t leader_sync_commit_mark_previous;
    uint64_t leader_sync_mark_ns;
    uv_check_t check;
    uv_tcp_t resp_listener;
    uv_tcp_t admin_listener;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    bool stopping;
    uint64_t handoff_deadline_ns; /* SIGTERM on a leader: stop by then (0: not stopping) */
    struct pending *pending;   /* reads and forwards: an unordered array */
    size_t pending_count;
    size_t pending_cap;
    /* Writes: a ring in proposal order, which is index order within a term, so applying
     * an entry finds its writer at the front. A timed-out write stays as a hole (req
     * NULL) until it reaches the front. writes_in_order is false once a write went in
     * below the last one (a new term reused indexes); until the ring empties, apply
     * then searches it all. */
    struct pending *writes;
    size_t writes_head;
    size_t writes_count;
    size_t writes_cap;
    bool writes_in_order;
    uint64_t next_id;
    uint64_t next_client_id;
    bool draining_updates;      /* between raft_get_update and raft_update_done */
    raft_index_t persisted_now_index; /* synced on the loop thread, for Raft after the update */
    raft_term_t persisted_now_term;
    bool parked_while_draining; /* server_submit parked a request meanwhile */
    uint32_t connections_count;
    struct conn *conns;        /* every open RESP connection (clients.c) */
    struct conn *flush_list;   /* connections with replies completed since the last flush */
    struct request *spare_requests; /* owned: answered requests kept for reuse, linked by
                                       next, with their buffers (clients.c) */
    size_t spare_requests_count;
    struct buf scratch;        /* entry encoding */
    struct buf msg;            /* link message encoding */
    struct buf datagram;
    struct kv_reply reply;     /* apply and read results */
    struct server_metrics metrics;
    uint64_t started_ns;
    /* Snapshots (snapshots.c): the bytes Raft borrows to send, the next one being saved
     * (borrowed by the disk worker until done), and what is in flight. */
    struct buf snapshot;
    struct buf snapshot_saving;
    uint8_t snapshot_saving_config[RAFT_CONFIG_ENCODED_SIZE_MAX]; /* Raft's, as of it */
    bool snapshot_in_flight;
    bool install_in_flight;
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;
    /* Membership (members.c): the peer set follows the configuration in effect. */
    bool member_seen;                 /* this node was a voter or learner at some point */
    bool member_removed;              /* ...and the configuration in effect leaves it out */
    raft_index_t members_config_index; /* the configuration members_sync last followed */
    bool members_config_committed;
};

/* Clocks: monotonic for Raft and links, wall clock (ms) for kv's expiry times. */
uint64_t server_now_ns(void);
uint64_t server_wall_ms(void);

/* node.c */
int server_start(struct server *s, uv_loop_t *loop, const struct server_config *cfg);
void server_stop(struct server *s);      /* closes handles; the loop then ends */
void server_destroy(struct server *s);   /* after the loop ended */
void server_process(struct server *s);   /* drains Raft updates */
/* Runs a key-value command for req: proposes it, reads it through ReadIndex, or forwards
 * it to the leader. req completes later (or at once on an error). argv borrowed. */
void server_execute(struct server *s, struct request *req, int argc, const uint8_t *const *argv,
                    const size_t *lens);
/* Sends req's command to the leader and relays its answer (a follower's forward). */
void server_forward(struct server *s, struct request *req, int argc, const uint8_t *const *argv,
                    const size_t *lens, bool is_write);
/* Proposes an already encoded entry for req (EXEC). */
void server_propose(struct server *s, struct request *req, const struct buf *entry);
/* Sends req->entry (a session write or registration) to be proposed: here when this node
 * leads, to the leader ('P') otherwise. With no leader known a first attempt answers
 * "-TRYAGAIN no leader" and a retry waits for one (parked) until req->deadline_ns. */
void server_submit(struct server *s, struct request *req);
/* "127.0.0.1:7001"-style RESP address of the leader into out; false when none known. */
bool server_leader_address(const struct server *s, char *out, size_t cap);

/* leader_sync.c: the leader's deferred fsync. */
#define SERVER_LEADER_HEALTH_MS 100   /* how often followers' progress is checked */
void leader_sync_on_timer(uv_timer_t *t); /* the grace timer (s->leader_sync_timer) */
/* Whether this node's entry writes may defer their sync now. */
bool leader_sync_may_defer(const struct server *s);
/* After each update: syncs now when a commit has waited on our own copy too long. */
void leader_sync_watch(struct server *s, uint64_t now_ns);

/* handoff.c: leadership transfer on request (CHORUS TRANSFER) and before a shutdown. */
#define SERVER_HANDOFF_MS_MAX 2000
/* A shutdown: a leader first transfers to its most up-to-date follower and stops once it
 * has stepped down, or after SERVER_HANDOFF_MS_MAX; others (or a second call) stop now. */
void handoff_begin(struct server *s);
void handoff_tick(struct server *s, uint64_t now_ns);
/* CHORUS LEADER; false when argv is not a CHORUS admin command. */
bool handoff_command(struct server *s, int argc, const uint8_t *const *argv, const size_t *lens,
                     struct kv_reply *r);
/* Appends the lease and transfer metrics (Prometheus text) to out. */
void handoff_metrics(struct server *s, struct buf *out);

/* Binds h to cfg.bind:port and listens; logs and returns the libuv error on failure. */
int server_listen_tcp(struct server *s, uv_tcp_t *h, uint16_t port, int backlog,
                      uv_connection_cb on_connection, const char *what);

/* clients.c */
int clients_listen(struct server *s);
/* Writes every finished reply at the head of c's queue and starts sending. */
void clients_flush(struct server *s, struct conn *c);
/* Defers that to clients_flush_marked, which server_process calls once per loop
 * iteration, so the replies of a pipelined batch leave in one write. */
void clients_mark_for_flush(struct server *s, struct conn *c);
void clients_flush_marked(struct server *s);
/* Closes every connection; their unanswered requests become orphans. */
void clients_close_all(struct server *s);
/* Completes req with reply (copied); its connection is flushed at the end of the
 * iteration's server_process, a forward answered at once. */
void request_complete(struct server *s, struct request *req, const struct kv_reply *reply);
void request_complete_error(struct server *s, struct request *req, const char *text);
struct request *request_new(void);
void request_free(struct request *req);
/* Frees the spare requests (server_destroy). */
void clients_free_spares(struct server *s);
struct cmd_copy *cmd_copy_new(int argc, const uint8_t *const *argv, const size_t *lens);
void cmd_copy_free(struct cmd_copy *c);

/* The connection's info and its queue of owed replies (oldest first, linked by next). */
struct conn_info *clients_conn_info(struct conn *c);
struct request *clients_queue_head(struct conn *c);

/* sessions.c: exactly-once writes for RESP connections (docs/server.md "Client sessions").
 * sessions_write starts req's write (req on a connection): prepared with the session's
 * (client_id, seq, session_ack) and submitted, or held while the session is registered.
 * sessions_exec_client fills client for an EXEC when the session is ready (req gets the
 * seq), else starts a registration and returns false (the EXEC then runs sessionless).
 * sessions_registered takes the registration's reply (reg is freed). sessions_final
 * rewrites a session write's -SESSIONEXPIRED or -EVICTED reply (true: req completed).
 * sessions_retriable: the reply is an error of the kinds that mean "not applied here or
 * unknown" (TRYAGAIN, TIMEOUT), for which a session write is sent again. */
void sessions_write(struct server *s, struct request *req, const struct kv_argv *cmd);
bool sessions_exec_client(struct server *s, struct request *req, struct kv_client *client);
void sessions_registered(struct server *s, struct request *reg, const struct kv_reply *reply);
bool sessions_final(struct server *s, struct request *req, const struct kv_reply *reply);
bool sessions_retriable(const struct kv_reply *reply);
/* The error text for a session write given up on: unknown, unless never sent. */
void sessions_give_up(struct server *s, struct request *req);

/* commands.c: answers a command the server handles itself into reply; false when the
 * command is not one of them. */
struct conn_info {
    uint64_t id;
    char name[SERVER_CLIENT_NAME_BYTES_MAX];
    int proto;
    bool close_after;
    bool stale_reads;  /* READONLY: reads are served from this node's applied state */
    /* The connection's client session (sessions.c). */
    uint64_t client_id;            /* 0: none registered yet */
    uint64_t next_seq;             /* the last seq handed out */
    uint64_t session_used_ms;      /* wall clock of the session's last write */
    struct request *registering;   /* the CHORUS.REGISTER in flight, or NULL */
};
bool commands_local(struct server *s, struct conn_info *ci, int argc, const uint8_t *const *argv,
                    const size_t *lens, struct kv_reply *reply);
void commands_info_text(struct server *s, struct buf *out);

/* snapshots.c. take: a snapshot now if force or snapshot-entries were applied since the
 * last (0 with its index, ERR_BUSY while one is saved or installed, ERR_NOT_FOUND when
 * there is nothing new); install: queue the update's snapshot_install; done: a snapshot
 * job completed. boot fills raft_boot from the recovered snapshot (copied into
 * s->snapshot); load_state loads the keyspace from it once kv exists. */
int server_snapshot_take(struct server *s, bool force, raft_index_t *index_out);
void server_snapshot_install(struct server *s, const struct raft_snapshot_install *in);
void server_snapshot_done(struct server *s, const struct disk_job *job, uint64_t now);
int server_snapshot_boot(struct server *s, const struct log_snapshot *snap, struct raft_boot *boot);
int server_snapshot_load_state(struct server *s);
void server_snapshot_command(struct server *s, struct kv_reply *reply); /* CHORUS SNAPSHOT */
/* A snapshot now, for CHORUS SNAPSHOT and Admin.Snapshot: server_snapshot_take's codes,
 * with the text both show in why. */
int server_snapshot_now(struct server *s, raft_index_t *index, char *why, size_t cap);
void server_snapshot_info(const struct server *s, struct buf *out);     /* INFO's section */
void server_snapshot_metrics(const struct server *s, struct buf *out);  /* for /metrics */

/* admin.c */
int admin_listen(struct server *s);

/* members.c: leadership transfer and membership changes, one implementation for the
 * CHORUS commands and the Admin RPCs. Each returns 0 or an error code and writes into why
 * (cap bytes) the text both front ends show ("not the leader; node N leads at H:P" for
 * ERR_NOT_LEADER). index gets the config entry's index. address borrowed. */
int members_transfer(struct server *s, node_id_t target, char *why, size_t cap);
int members_add_learner(struct server *s, node_id_t id, const char *address, size_t address_len,
                        raft_index_t *index, char *why, size_t cap);
int members_promote(struct server *s, node_id_t id, raft_index_t *index, char *why, size_t cap);
/* Removing the leader itself starts a transfer and answers ERR_TRANSFERRING: retry at
 * the new leader. */
int members_remove(struct server *s, node_id_t id, raft_index_t *index, char *why, size_t cap);
/* CHORUS TRANSFER|ADDLEARNER|PROMOTE|REMOVE|MEMBERS (forwarded to the leader from a
 * follower), and the refusal of key-value commands on a removed node; false when argv
 * is none of these. argv borrowed. */
bool members_command(struct server *s, struct request *req, int argc, const uint8_t *const *argv,
                     const size_t *lens);
/* Makes the link table and cfg.peers follow the configuration in effect (cheap when
 * nothing changed); called after every drain of Raft updates. */
void members_sync(struct server *s);
bool members_removed(const struct server *s);
/* "leader", "voter", "learner", "leaving" (C_old only) or "none". */
const char *members_role_of(const struct server *s, node_id_t id);
void members_info(const struct server *s, struct buf *out); /* INFO's # Membership */
void members_metrics(const struct server *s, struct buf *out); /* for /metrics */
/* Every member of the configuration in effect (at most cap) into out, for Admin.Status
 * and CHORUS MEMBERS: id, address (written into addresses[i], which out[i] borrows),
 * role (static text) and the leader's match index. Returns the count. */
size_t members_describe(const struct server *s, Chorus__MemberInfo *out,
                        char (*addresses)[RAFT_MEMBER_ADDRESS_BYTES_MAX + 1], size_t cap);
node_id_t members_parse_id(const char *text, size_t len);   /* 0 when malformed */
int members_parse_address(const char *text, size_t len, struct server_peer *p);

#endif
