/* The node: Raft, storage, links and kv on the libuv loop; see server.h for the driver
 * contract and the inter-node message tags. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "server/raft_codec.h"
#include "server/server.h"

#define FORWARD_TAG_RAFT 'R'
#define FORWARD_TAG_QUERY 'Q'
#define FORWARD_TAG_ANSWER 'A'
#define FORWARD_TAG_PROPOSE 'P'

uint64_t server_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t server_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* ---- pending requests ---- */

static struct pending *pending_add(struct server *s, enum pending_kind kind, struct request *req)
{
    if (s->pending_count + s->writes_count >= SERVER_PENDING_MAX) {
        return NULL;
    }
    if (s->pending_count == s->pending_cap) {
        size_t cap = s->pending_cap != 0 ? s->pending_cap * 2 : 256;
        struct pending *p = realloc(s->pending, cap * sizeof *p);
        if (p == NULL) {
            return NULL;
        }
        s->pending = p;
        s->pending_cap = cap;
    }
    struct pending *p = &s->pending[s->pending_count++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->req = req;
    p->started_ns = server_now_ns();
    p->deadline_ns = p->started_ns + (uint64_t)s->cfg.request_timeout_ms * 1000000ull;
    return p;
}

static struct pending *write_at(struct server *s, size_t i)
{
    return &s->writes[(s->writes_head + i) % s->writes_cap];
}

static int writes_grow(struct server *s)
{
    size_t cap = s->writes_cap != 0 ? s->writes_cap * 2 : 256;
    struct pending *w = malloc(cap * sizeof *w);
    if (w == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < s->writes_count; i++) {
        w[i] = *write_at(s, i);
    }
    free(s->writes);
    s->writes = w;
    s->writes_cap = cap;
    s->writes_head = 0;
    return 0;
}

/* A write at (index, term) for req, at the back of the ring; NULL when full. */
static struct pending *write_add(struct server *s, struct request *req, raft_index_t index,
                                 raft_term_t term)
{
    if (s->writes_count + s->pending_count >= SERVER_PENDING_MAX ||
        (s->writes_count == s->writes_cap && writes_grow(s) != 0)) {
        return NULL;
    }
    if (s->writes_count == 0) {
        s->writes_in_order = true;
    } else if (write_at(s, s->writes_count - 1)->index >= index) {
        s->writes_in_order = false;
    }
    struct pending *p = write_at(s, s->writes_count++);
    memset(p, 0, sizeof *p);
    p->kind = PENDING_WRITE;
    p->req = req;
    p->started_ns = server_now_ns();
    p->deadline_ns = p->started_ns + (uint64_t)s->cfg.request_timeout_ms * 1000000ull;
    p->index = index;
    p->term = term;
    return p;
}

/* Drops the holes at the front of the ring. */
static void writes_trim(struct server *s)
{
    while (s->writes_count > 0 && s->writes[s->writes_head].req == NULL) {
        s->writes_head = (s->writes_head + 1) % s->writes_cap;
        s->writes_count--;
    }
}

/* Removes pending[i] (the last one moves into its place). */
static void pending_remove(struct server *s, size_t i)
{
    cmd_copy_free(s->pending[i].cmd);
    s->pending[i] = s->pending[--s->pending_count];
}

bool server_leader_address(const struct server *s, char *out, size_t cap)
{
    node_id_t leader = raft_leader(s->raft);
    const struct server_peer *p = server_config_peer(&s->cfg, leader);
    if (leader == 0 || p == NULL) {
        return false;
    }
    snprintf(out, cap, "%s (node %u)", p->host, leader);
    return true;
}

/* ---- outgoing link traffic ---- */

static void on_link_timer(uv_timer_t *t);

static void flush_datagrams(struct server *s)
{
    uint64_t now = server_now_ns();
    for (;;) {
        buf_reset(&s->datagram);
        uint32_t to = 0;
        int rc = link_table_next_datagram(s->links, now, &s->datagram, &to);
        if (rc != 1) {
            break;
        }
        for (uint32_t i = 0; i < s->cfg.peers_count; i++) {
            if (s->cfg.peers[i].id == to) {
                net_udp_send(&s->udp, &s->peer_addr[i], s->datagram.data, s->datagram.len);
            }
        }
    }
    uint64_t next = link_table_next_timeout_ns(s->links);
    if (next != UINT64_MAX && !s->stopping) {
        uint64_t wait_ms = next > now ? (next - now + 999999) / 1000000 : 0;
        uv_timer_start(&s->link_timer, on_link_timer, wait_ms, 0);
    }
}

static void link_send_msg(struct server *s, uint32_t to, const struct buf *msg)
{
    if (msg->failed || link_table_send(s->links, server_now_ns(), to, msg->data, msg->len) != 0) {
        s->metrics.bad_link_messages++;
    }
}

static void send_answer(struct server *s, uint32_t peer, uint64_t id, const struct kv_reply *r)
{
    buf_reset(&s->msg);
    buf_put_u8(&s->msg, FORWARD_TAG_ANSWER);
    buf_put_u64(&s->msg, id);
    buf_put(&s->msg, r->bytes.data, r->bytes.len);
    link_send_msg(s, peer, &s->msg);
}

void request_complete(struct server *s, struct request *req, const struct kv_reply *reply)
{
    if (req->remote_peer != 0) {
        send_answer(s, req->remote_peer, req->remote_id, reply);
        request_free(req);
        return;
    }
    if (req->registration) {
        sessions_registered(s, req, reply);
        return;
    }
    if (req->conn == NULL) {
        request_free(req); /* the client went away */
        return;
    }
    if (req->seq != 0 && sessions_final(s, req, reply)) {
        return;
    }
    if (req->entry.cap > req->reply.bytes.cap) {
        /* The entry is no longer needed: its memory holds the reply. */
        struct buf tmp = req->reply.bytes;
        req->reply.bytes = req->entry;
        req->entry = tmp;
    }
    kv_reply_reset(&req->reply);
    kv_reply_append(&req->reply, reply);
    req->done = true;
    /* Written at the end of server_process: a pipelined batch leaves in one write. */
    clients_mark_for_flush(s, req->conn);
}

void request_complete_error(struct server *s, struct request *req, const char *text)
{
    struct kv_reply r;
    kv_reply_init(&r);
    kv_reply_error(&r, text);
    request_complete(s, req, &r);
    kv_reply_free(&r);
}

/* ---- executing commands ---- */

static void forward_command(struct server *s, struct request *req, int argc,
                            const uint8_t *const *argv, const size_t *lens, bool is_write)
{
    struct pending *p = pending_add(s, PENDING_FORWARD, req);
    if (p == NULL) {
        request_complete_error(s, req, "TRYAGAIN too many requests in flight");
        return;
    }
    p->id = ++s->next_id;
    p->is_write = is_write;
    p->target = raft_leader(s->raft);
    buf_reset(&s->msg);
    buf_put_u8(&s->msg, FORWARD_TAG_QUERY);
    buf_put_u64(&s->msg, p->id);
    buf_put_u32(&s->msg, (uint32_t)argc);
    for (int i = 0; i < argc; i++) {
        buf_put_u32(&s->msg, (uint32_t)lens[i]);
        buf_put(&s->msg, argv[i], lens[i]);
    }
    s->metrics.forwards_sent++;
    link_send_msg(s, raft_leader(s->raft), &s->msg);
}

void server_forward(struct server *s, struct request *req, int argc, const uint8_t *const *argv,
                    const size_t *lens, bool is_write)
{
    forward_command(s, req, argc, argv, lens, is_write);
}

static void start_write(struct server *s, struct request *req, const struct kv_argv *cmd)
{
    buf_reset(&s->scratch);
    kv_reply_reset(&s->reply);
    if (kv_prepare(kv_config_of(s->kv), server_wall_ms(), NULL, cmd, &s->scratch, &s->reply) != 0) {
        request_complete(s, req, &s->reply);
        return;
    }
    server_propose(s, req, &s->scratch);
}

void server_propose(struct server *s, struct request *req, const struct buf *entry)
{
    raft_index_t index = 0;
    int rc = raft_propose(s->raft, server_now_ns(), entry->data, entry->len, &index);
    if (rc != 0) {
        s->metrics.proposals_failed++;
        request_complete_error(s, req, rc == ERR_NOT_LEADER      ? "TRYAGAIN not leader"
                                       : rc == ERR_TRANSFERRING ? "TRYAGAIN leadership transfer in progress"
                                                                : "ERR proposal refused");
        return;
    }
    s->metrics.proposals++;
    if (write_add(s, req, index, raft_term(s->raft)) == NULL) {
        /* Already in the log: its outcome is unknown to the client from here on. */
        request_complete_error(s, req, "TIMEOUT outcome unknown: too many writes in flight");
    }
}

/* Waits (a forward with no target) for the next tick to send req again. */
static void park(struct server *s, struct request *req)
{
    struct pending *p = pending_add(s, PENDING_FORWARD, req);
    if (p == NULL) {
        sessions_give_up(s, req);
        return;
    }
    p->is_write = true;
    p->deadline_ns = req->deadline_ns;
}

static void propose_session_entry(struct server *s, struct request *req)
{
    raft_index_t index = 0;
    int rc = raft_propose(s->raft, server_now_ns(), req->entry.data, req->entry.len, &index);
    if (rc == ERR_NOT_LEADER || rc == ERR_TRANSFERRING) {
        park(s, req); /* not appended: sent again once a leader is known */
        return;
    }
    if (rc != 0) {
        s->metrics.proposals_failed++;
        if (req->attempts == 1) {
            req->seq = 0;
            request_complete_error(s, req, "ERR proposal refused");
        } else {
            sessions_give_up(s, req);
        }
        return;
    }
    s->metrics.proposals++;
    struct pending *p = write_add(s, req, index, raft_term(s->raft));
    if (p == NULL) {
        park(s, req); /* in the log already; a retry is answered from the session cache */
        return;
    }
    p->deadline_ns = req->deadline_ns;
}

static void resubmit_forwards(struct server *s, uint64_t now);

void server_submit(struct server *s, struct request *req)
{
    if (s->draining_updates) {
        /* A registration applied releases its held writes: Raft takes no proposal while
         * its update is being processed, so they go out right after (server_process). */
        park(s, req);
        s->parked_while_draining = true;
        return;
    }
    node_id_t leader = raft_leader(s->raft);
    bool leading = raft_role(s->raft) == RAFT_LEADER;
    if (!leading && (leader == 0 || leader == s->cfg.id)) {
        if (req->attempts == 0) {
            sessions_give_up(s, req); /* never sent: "-TRYAGAIN no leader", as before */
        } else {
            park(s, req);
        }
        return;
    }
    if (req->attempts++ > 0) {
        s->metrics.session_resubmits++;
    }
    if (leading) {
        propose_session_entry(s, req);
        return;
    }
    struct pending *p = pending_add(s, PENDING_FORWARD, req);
    if (p == NULL) {
        sessions_give_up(s, req);
        return;
    }
    p->id = ++s->next_id;
    p->is_write = true;
    p->target = leader;
    p->term = raft_term(s->raft);
    p->deadline_ns = req->deadline_ns;
    buf_reset(&s->msg);
    buf_put_u8(&s->msg, FORWARD_TAG_PROPOSE);
    buf_put_u64(&s->msg, p->id);
    buf_put(&s->msg, req->entry.data, req->entry.len);
    s->metrics.forwards_sent++;
    link_send_msg(s, leader, &s->msg);
}

static void issue_read(struct server *s, struct pending *p)
{
    /* Fresh time for every read: a lease is judged by the clock now, never a cached one. */
    uint64_t now = server_now_ns();
    s->metrics.lease_reads += raft_lease_holds(s->raft, now);
    int rc = raft_read_index(s->raft, now, p->id);
    p->issued = rc == 0;
}

static void start_read(struct server *s, struct request *req, int argc, const uint8_t *const *argv,
                       const size_t *lens)
{
    struct cmd_copy *copy = cmd_copy_new(argc, argv, lens);
    struct pending *p = copy != NULL ? pending_add(s, PENDING_READ, req) : NULL;
    if (p == NULL) {
        cmd_copy_free(copy);
        request_complete_error(s, req, "TRYAGAIN too many requests in flight");
        return;
    }
    p->cmd = copy;
    p->id = ++s->next_id;
    s->metrics.reads++;
    issue_read(s, p); /* ERR_BUSY (no entry of this term committed yet): retried at ticks */
}

void server_execute(struct server *s, struct request *req, int argc, const uint8_t *const *argv,
                    const size_t *lens)
{
    s->metrics.commands++;
    if (members_command(s, req, argc, argv, lens)) {
        return; /* CHORUS admin commands, or a removed node's refusal (members.c) */
    }
    const struct kv_command_info *info = kv_command_lookup(argv[0], lens[0]);
    if (info == NULL) {
        request_complete_error(s, req, "ERR unknown command");
        return;
    }
    if (info->write && req->conn != NULL && req->remote_peer == 0) {
        struct kv_argv cmd = {.argc = argc, .argv = argv, .argv_len = lens};
        sessions_write(s, req, &cmd); /* exactly once: see sessions.c */
        return;
    }
    if (raft_role(s->raft) != RAFT_LEADER) {
        node_id_t leader = raft_leader(s->raft);
        if (leader == 0 || leader == s->cfg.id) {
            request_complete_error(s, req, "TRYAGAIN no leader");
        } else if (req->remote_peer != 0) {
            request_complete_error(s, req, "TRYAGAIN not leader");
        } else {
            forward_command(s, req, argc, argv, lens, info->write);
        }
        return;
    }
    struct kv_argv cmd = {.argc = argc, .argv = argv, .argv_len = lens};
    if (info->write) {
        start_write(s, req, &cmd);
    } else {
        start_read(s, req, argc, argv, lens);
    }
}

/* ---- incoming link traffic ---- */

static void on_query(struct server *s, uint32_t from, struct buf_reader *r)
{
    uint64_t id = buf_get_u64(r);
    uint32_t argc = buf_get_u32(r);
    if (r->failed || argc == 0 || argc > SERVER_FORWARD_ARGS_MAX) {
        s->metrics.bad_link_messages++;
        return;
    }
    const uint8_t *argv[SERVER_FORWARD_ARGS_MAX];
    size_t lens[SERVER_FORWARD_ARGS_MAX];
    for (uint32_t i = 0; i < argc; i++) {
        lens[i] = buf_get_u32(r);
        argv[i] = buf_get_bytes(r, lens[i]);
        if (r->failed) {
            s->metrics.bad_link_messages++;
            return;
        }
    }
    struct request *req = request_new();
    if (req == NULL) {
        return; /* the follower times out */
    }
    req->remote_peer = from;
    req->remote_id = id;
    s->metrics.forwards_served++;
    server_execute(s, req, (int)argc, argv, lens);
}

/* A session write a follower prepared: proposed exactly as sent (kv re-validates it at
 * apply, like every entry). */
static void on_propose(struct server *s, uint32_t from, struct buf_reader *r)
{
    uint64_t id = buf_get_u64(r);
    size_t len = buf_reader_left(r);
    const uint8_t *bytes = buf_get_bytes(r, len);
    if (r->failed || len == 0) {
        s->metrics.bad_link_messages++;
        return;
    }
    struct request *req = request_new();
    if (req == NULL) {
        return; /* the follower sends it again */
    }
    req->remote_peer = from;
    req->remote_id = id;
    s->metrics.forwards_served++;
    if (raft_role(s->raft) != RAFT_LEADER || members_removed(s)) {
        request_complete_error(s, req, "TRYAGAIN not leader");
        return;
    }
    struct buf entry = {.data = (uint8_t *)bytes, .len = len, .cap = len};
    server_propose(s, req, &entry);
}

static void on_answer(struct server *s, struct buf_reader *r)
{
    uint64_t id = buf_get_u64(r);
    size_t len = buf_reader_left(r);
    const uint8_t *bytes = buf_get_bytes(r, len);
    for (size_t i = 0; i < s->pending_count; i++) {
        struct pending *p = &s->pending[i];
        if (p->kind != PENDING_FORWARD || p->id != id) {
            continue;
        }
        struct request *req = p->req;
        pending_remove(s, i);
        kv_reply_reset(&s->reply);
        if (r->failed || kv_reply_set_bytes(&s->reply, bytes, len) != 0) {
            s->metrics.bad_link_messages++;
            request_complete_error(s, req, "TIMEOUT outcome unknown: bad answer from the leader");
        } else if (request_resubmits(req) && sessions_retriable(&s->reply)) {
            park(s, req); /* not applied there, or unknown: sent again at the next tick */
        } else {
            request_complete(s, req, &s->reply);
        }
        return;
    }
}

static void on_raft_message(struct server *s, uint32_t from, const uint8_t *data, size_t len)
{
    struct raft_codec_decoded d;
    if (raft_codec_decode(data, len, &d) != 0) {
        s->metrics.bad_raft_messages++;
        return;
    }
    if (d.msg.from == from && d.msg.to == s->cfg.id) {
        raft_receive(s->raft, server_now_ns(), &d.msg);
    } else {
        s->metrics.bad_raft_messages++;
    }
    raft_codec_free(&d);
}

static void deliver_messages(struct server *s)
{
    struct link_delivery d;
    uint32_t from = 0;
    while (link_table_next_delivery(s->links, &d, &from)) {
        if (d.len > 0 && d.data[0] == FORWARD_TAG_RAFT) {
            on_raft_message(s, from, d.data + 1, d.len - 1);
        } else if (d.len > 0) {
            struct buf_reader r = buf_reader_make(d.data + 1, d.len - 1);
            if (d.data[0] == FORWARD_TAG_QUERY) {
                on_query(s, from, &r);
            } else if (d.data[0] == FORWARD_TAG_PROPOSE) {
                on_propose(s, from, &r);
            } else if (d.data[0] == FORWARD_TAG_ANSWER) {
                on_answer(s, &r);
            } else {
                s->metrics.bad_link_messages++;
            }
        }
        link_delivery_free(&d);
    }
}

static void on_datagram(void *ctx, const struct sockaddr_in *from, const uint8_t *data, size_t len)
{
    /* For links the frame names its sender and the link checks it (and the AEAD tag);
     * the address matters only to answer Admin calls. */
    struct server *s = ctx;
    if (admin_rpc_on_datagram(&s->admin_rpc, from, data, len)) {
        return; /* an Admin call from chorus-cli (admin_rpc.h) */
    }
    uint32_t peer = 0;
    link_table_on_datagram(s->links, server_now_ns(), data, len, &peer);
    deliver_messages(s);
}

/* ---- applying and serving ---- */

static void observe_commit_latency(struct server *s, uint64_t started_ns)
{
    static const uint64_t bounds_us[] = SERVER_LATENCY_BUCKETS_US;
    uint64_t us = (server_now_ns() - started_ns) / 1000;
    size_t b = 0;
    while (b < SERVER_LATENCY_BUCKETS_COUNT && us > bounds_us[b]) {
        b++;
    }
    s->metrics.commit_latency_buckets[b]++;
    s->metrics.commit_latency_us_sum += us;
    s->metrics.commit_latency_count++;
}

static void apply_entry(struct server *s, const struct raft_entry *e)
{
    kv_reply_reset(&s->reply);
    bool applied = false;
    if (e->type == RAFT_ENTRY_NORMAL) {
        applied = kv_apply(s->kv, e->index, e->data, e->data_len, &s->reply) == 0;
    }
    for (size_t i = 0; i < s->writes_count; i++) {
        struct pending *p = write_at(s, i);
        if (s->writes_in_order && p->req != NULL && p->index > e->index) {
            break; /* in order, the writer of this entry can only be in front */
        }
        if (p->req == NULL || p->index != e->index) {
            continue;
        }
        struct request *req = p->req;
        bool same = e->type == RAFT_ENTRY_NORMAL && e->term == p->term && applied;
        uint64_t started_ns = p->started_ns;
        p->req = NULL;
        if (same) {
            observe_commit_latency(s, started_ns);
            request_complete(s, req, &s->reply);
        } else if (request_resubmits(req)) {
            s->metrics.lost_writes++;
            park(s, req); /* lost here; sent again at the next tick (the ring may move) */
        } else {
            /* Another leader's entry took the index: ours was never applied. */
            s->metrics.lost_writes++;
            request_complete_error(s, req, "TRYAGAIN write lost to a leadership change, not applied");
        }
    }
    writes_trim(s);
}

static void serve_read(struct server *s, size_t i)
{
    struct pending *p = &s->pending[i];
    struct kv_argv cmd = {.argc = p->cmd->argc, .argv = (const uint8_t *const *)p->cmd->argv,
                          .argv_len = p->cmd->lens};
    kv_reply_reset(&s->reply);
    kv_read(s->kv, server_wall_ms(), &cmd, &s->reply);
    struct request *req = p->req;
    pending_remove(s, i);
    request_complete(s, req, &s->reply);
}

static void settle_reads(struct server *s, const struct raft_update *u)
{
    for (size_t i = 0; i < s->pending_count; i++) {
        struct pending *p = &s->pending[i];
        if (p->kind != PENDING_READ) {
            continue;
        }
        for (size_t k = 0; k < u->reads_ready_count; k++) {
            if (u->reads_ready[k].request_id == p->id) {
                p->read_index = MAX(u->reads_ready[k].read_index, 1);
            }
        }
        for (size_t k = 0; k < u->reads_failed_count; k++) {
            if (u->reads_failed[k] == p->id) {
                struct request *req = p->req;
                pending_remove(s, i--);
                request_complete_error(s, req, "TRYAGAIN leadership lost before the read");
                break;
            }
        }
    }
}

static void serve_ready_reads(struct server *s)
{
    raft_index_t applied = raft_applied_index(s->raft);
    for (size_t i = 0; i < s->pending_count; i++) {
        struct pending *p = &s->pending[i];
        if (p->kind == PENDING_READ && p->read_index != 0 && applied >= p->read_index) {
            serve_read(s, i--);
        }
    }
}

/* A follower with an idle disk worker writes and syncs on the loop thread (it acks only
 * after the sync anyway); Raft hears of it after raft_update_done. Everything else, and
 * any write behind queued work, goes through the worker in order. */
static int persist_entries(struct server *s, const struct raft_update *u)
{
    if (raft_role(s->raft) != RAFT_LEADER && !u->hard_state_changed &&
        u->persist_entries_count > 0) {
        const struct raft_entry *last = &u->persist_entries[u->persist_entries_count - 1];
        bool written = false;
        int rc = disk_worker_write_now(&s->disk, u->persist_from_index, u->persist_entries,
                                       u->persist_entries_count, &written);
        if (written) {
            if (rc == 0) {
                s->persisted_now_index = last->index;
                s->persisted_now_term = last->term;
            }
            return rc;
        }
    }
    return disk_worker_write(&s->disk, u->persist_from_index, u->persist_entries,
                             u->persist_entries_count, leader_sync_may_defer(s));
}

/* Queues the update's durable writes; Raft hears of them once the worker synced them. */
static void persist(struct server *s, const struct raft_update *u)
{
    int rc = 0;
    if (u->hard_state_changed) {
        rc = disk_worker_save_hard_state(&s->disk, u->term, u->vote);
    }
    if (rc == 0 && u->persist_from_index != 0) {
        rc = persist_entries(s, u);
    }
    if (rc != 0) {
        LOG_AT(&s->logger, LOG_ERROR, "cannot queue a durable write: %s", err_str(rc));
    }
}

static void on_disk_done(void *ctx, const struct disk_job *job)
{
    struct server *s = ctx;
    uint64_t now = server_now_ns();
    if (job->kind == DISK_JOB_HARD_STATE) {
        raft_persisted_hard_state(s->raft, now, job->term, job->vote);
    } else if (job->kind == DISK_JOB_SNAPSHOT) {
        server_snapshot_done(s, job, now);
    } else if (job->kind == DISK_JOB_ENTRIES && job->entries_count > 0) {
        const struct raft_entry *last = &job->entries[job->entries_count - 1];
        raft_persisted_entries(s->raft, now, last->index, last->term);
    }
}

static void send_raft_messages(struct server *s, const struct raft_update *u)
{
    for (size_t i = 0; i < u->messages_count; i++) {
        buf_reset(&s->msg);
        buf_put_u8(&s->msg, FORWARD_TAG_RAFT);
        if (raft_codec_encode(&u->messages[i], &s->msg) == 0) {
            link_send_msg(s, u->messages[i].to, &s->msg);
        }
    }
}

void server_process(struct server *s)
{
    while (raft_has_update(s->raft)) {
        struct raft_update u;
        raft_get_update(s->raft, &u);
        s->draining_updates = true;
        /* Messages first (Raft allows any order). A leader sends them at once: a
         * follower's round trip is the longer path to commit and should not wait behind
         * our hand-off to the disk. A follower's replies wait for the end of the turn,
         * so one that syncs on the loop thread sends its immediate reply and its
         * durable acknowledgement in one datagram. */
        send_raft_messages(s, &u);
        if (raft_role(s->raft) == RAFT_LEADER) {
            flush_datagrams(s);
        }
        persist(s, &u);
        for (size_t i = 0; i < u.apply_entries_count; i++) {
            apply_entry(s, &u.apply_entries[i]);
        }
        if (u.snapshot_install != NULL) {
            server_snapshot_install(s, u.snapshot_install);
        }
        settle_reads(s, &u);
        s->draining_updates = false;
        raft_update_done(s->raft);
        if (s->persisted_now_index != 0) {
            raft_persisted_entries(s->raft, server_now_ns(), s->persisted_now_index,
                                   s->persisted_now_term);
            s->persisted_now_index = 0;
        }
        if (s->parked_while_draining) {
            s->parked_while_draining = false;
            resubmit_forwards(s, server_now_ns());
        }
    }
    raft_index_t snapshot_index;
    if (server_snapshot_take(s, false, &snapshot_index) == 0) {
        LOG_AT(&s->logger, LOG_DEBUG, "snapshot at %llu", (unsigned long long)snapshot_index);
    }
    serve_ready_reads(s);
    clients_flush_marked(s);
    if (s->vote_barrier_saved && raft_vote_barrier(s->raft) == 0) {
        /* A leader repaired our damaged log: persist the lift (a lost lift only means
         * one more repair after a restart, so no need to wait for it). */
        if (disk_worker_lift_vote_barrier(&s->disk) == 0) {
            s->vote_barrier_saved = false;
            LOG_AT(&s->logger, LOG_INFO, "log repaired by the leader: voting again");
        }
    }
    members_sync(s);
    leader_sync_watch(s, server_now_ns());
    flush_datagrams(s);
}

/* ---- timers ---- */

static void expire_writes(struct server *s, uint64_t now)
{
    for (size_t i = 0; i < s->writes_count; i++) {
        struct pending *p = write_at(s, i);
        if (p->req == NULL || now < p->deadline_ns) {
            continue;
        }
        struct request *req = p->req;
        p->req = NULL;
        if (request_resubmits(req)) {
            sessions_give_up(s, req);
            continue;
        }
        s->metrics.timeouts++;
        request_complete_error(s, req, "TIMEOUT outcome unknown: the write may or may not have been applied");
    }
    writes_trim(s);
}

/* Session writes whose outcome this node can no longer learn as leader (it stepped down
 * or a new term began) are sent again to whoever leads now; kv answers a duplicate from
 * the session cache. */
static void resubmit_orphaned_writes(struct server *s)
{
    bool leading = raft_role(s->raft) == RAFT_LEADER;
    raft_term_t term = raft_term(s->raft);
    for (size_t i = 0; i < s->writes_count; i++) {
        struct pending *p = write_at(s, i);
        if (p->req != NULL && request_resubmits(p->req) && (!leading || p->term != term)) {
            struct request *req = p->req;
            p->req = NULL;
            park(s, req);
        }
    }
    writes_trim(s);
}

/* A parked session write, or one forwarded to a node that no longer leads, is sent to
 * the leader now when one is known (or given up at its deadline). */
static bool resubmit_due(struct server *s, const struct pending *p, uint64_t now)
{
    if (p->kind != PENDING_FORWARD || !request_resubmits(p->req)) {
        return false;
    }
    node_id_t leader = raft_leader(s->raft);
    bool known = raft_role(s->raft) == RAFT_LEADER || (leader != 0 && leader != s->cfg.id);
    /* A new term with the same leader: it may have restarted and lost the forward. */
    bool moved = p->target == 0 || p->target != leader || p->term != raft_term(s->raft);
    return now >= p->deadline_ns || (moved && known);
}

/* Due first, then by connection and seq (a registration, seq 0, before its writes). */
static int resubmit_order(const void *a, const void *b)
{
    const struct pending *x = a, *y = b;
    if (x->resubmit_due != y->resubmit_due) {
        return x->resubmit_due ? -1 : 1;
    }
    if (!x->resubmit_due) {
        return 0;
    }
    if (x->req->conn != y->req->conn) {
        return (uintptr_t)x->req->conn < (uintptr_t)y->req->conn ? -1 : 1;
    }
    return x->req->seq < y->req->seq ? -1 : x->req->seq > y->req->seq;
}

/* Sends the due ones again in each connection's seq order, so that pipelined writes
 * re-submitted after a leadership change still apply in the order they were sent. */
static void resubmit_forwards(struct server *s, uint64_t now)
{
    size_t due = 0;
    for (size_t i = 0; i < s->pending_count; i++) {
        s->pending[i].resubmit_due = resubmit_due(s, &s->pending[i], now);
        due += s->pending[i].resubmit_due;
    }
    if (due == 0) {
        return;
    }
    qsort(s->pending, s->pending_count, sizeof *s->pending, resubmit_order);
    /* Submitting appends to s->pending (and may move it); the due prefix stays put. */
    for (size_t i = 0; i < due; i++) {
        struct request *req = s->pending[i].req;
        if (now >= req->deadline_ns) {
            sessions_give_up(s, req);
        } else {
            server_submit(s, req);
        }
    }
    memmove(s->pending, s->pending + due, (s->pending_count - due) * sizeof *s->pending);
    s->pending_count -= due;
}

static void expire_pending(struct server *s, uint64_t now)
{
    expire_writes(s, now);
    resubmit_orphaned_writes(s);
    resubmit_forwards(s, now);
    for (size_t i = 0; i < s->pending_count; i++) {
        struct pending *p = &s->pending[i];
        if (p->kind == PENDING_FORWARD && request_resubmits(p->req)) {
            continue; /* resubmit_forwards answers these */
        }
        if (p->kind == PENDING_READ && !p->issued && raft_role(s->raft) == RAFT_LEADER) {
            issue_read(s, p);
        }
        if (p->kind == PENDING_READ && !p->issued && raft_role(s->raft) != RAFT_LEADER) {
            struct request *req = p->req;
            pending_remove(s, i--);
            request_complete_error(s, req, "TRYAGAIN leadership lost before the read");
            continue;
        }
        /* A forward to a node that no longer leads will not be answered in time. */
        bool abandoned = p->kind == PENDING_FORWARD && raft_leader(s->raft) != p->target;
        if (now < p->deadline_ns && !abandoned) {
            continue;
        }
        struct request *req = p->req;
        bool unknown = p->kind == PENDING_FORWARD && p->is_write;
        pending_remove(s, i--);
        s->metrics.timeouts++;
        request_complete_error(s, req, unknown ? "TIMEOUT outcome unknown: the write may or may not have been applied"
                                               : "TRYAGAIN read timed out");
    }
}

static void on_tick(uv_timer_t *t)
{
    struct server *s = t->data;
    uint64_t now = server_now_ns();
    struct disk_stats ds;
    disk_worker_stats(&s->disk, &ds);
    if (ds.failed != 0 && !s->disk_failure_logged) {
        s->disk_failure_logged = true;
        LOG_AT(&s->logger, LOG_ERROR, "durable write failed: %s; this node no longer acknowledges",
               err_str(ds.failed));
    }
    raft_tick(s->raft, now);
    expire_pending(s, now);
    server_process(s);
    handoff_tick(s, now);
}

static void on_link_timer(uv_timer_t *t)
{
    struct server *s = t->data;
    link_table_tick(s->links, server_now_ns());
    deliver_messages(s);
    server_process(s);
}

static void on_check(uv_check_t *c)
{
    server_process(c->data);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct server *s = sig->data;
    LOG_AT(&s->logger, LOG_INFO, "signal %d: shutting down", signum);
    handoff_begin(s); /* a leader hands over first; a second signal stops at once */
}

/* ---- lifecycle ---- */

int server_listen_tcp(struct server *s, uv_tcp_t *h, uint16_t port, int backlog,
                      uv_connection_cb on_connection, const char *what)
{
    struct sockaddr_in addr;
    uv_ip4_addr(s->cfg.bind, port, &addr);
    uv_tcp_init(s->loop, h);
    h->data = s;
    int rc = uv_tcp_bind(h, (const struct sockaddr *)&addr, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)h, backlog, on_connection);
    }
    if (rc != 0) {
        LOG_AT(&s->logger, LOG_ERROR, "%s %u: %s", what, port, uv_strerror(rc));
    }
    return rc;
}

static int open_links(struct server *s)
{
    struct link_config lc;
    link_config_defaults(&lc);
    lc.cluster_id = 1;
    lc.local_id = s->cfg.id;
    lc.local_incarnation = server_wall_ms() * 1000000ull + (server_now_ns() % 1000000ull);
    lc.sealed = s->cfg.sealed;
    memcpy(lc.key, s->cfg.cluster_key, sizeof lc.key);
    int rc = link_table_create(&lc, SERVER_PEERS_COUNT_MAX, &s->links);
    for (uint32_t i = 0; rc == 0 && i < s->cfg.peers_count; i++) {
        const struct server_peer *p = &s->cfg.peers[i];
        uv_ip4_addr(p->host, p->port, &s->peer_addr[i]);
        if (p->id != s->cfg.id) {
            rc = link_table_add_peer(s->links, p->id);
        }
    }
    return rc;
}

static int boot_raft(struct server *s)
{
    struct storage_recovered rec;
    int rc = storage_open(&s->storage, s->cfg.dir, s->cfg.fsync_always, &rec);
    if (rc != 0) {
        LOG_AT(&s->logger, LOG_ERROR, "cannot open the data directory %s: %s", s->cfg.dir, err_str(rc));
        storage_recovered_free(&rec);
        return rc;
    }
    /* A joining node (members.c) boots outside its configuration: a spare. */
    node_id_t voters[SERVER_PEERS_COUNT_MAX];
    uint32_t voters_count = 0;
    for (uint32_t i = 0; i < s->cfg.peers_count; i++) {
        if (!s->cfg.join || s->cfg.peers[i].id != s->cfg.id) {
            voters[voters_count++] = s->cfg.peers[i].id;
        }
    }
    struct raft_options opt;
    raft_options_default(&opt, s->cfg.id, voters, voters_count);
    /* Every member's address travels in the configuration (members.c); a joining node's
     * own is no voter's, so setting it is refused (ERR_NOT_FOUND) and ignored. */
    for (uint32_t i = 0; i < s->cfg.peers_count; i++) {
        const struct server_peer *p = &s->cfg.peers[i];
        char address[SERVER_HOST_BYTES_MAX + 8];
        int len = snprintf(address, sizeof address, "%s:%u", p->host, p->port);
        raft_options_set_address(&opt, p->id, (const uint8_t *)address, (size_t)len);
    }
    opt.election_timeout_ns_min = (uint64_t)s->cfg.election_timeout_ms * 1000000ull;
    opt.heartbeat_interval_ns = (uint64_t)s->cfg.heartbeat_ms * 1000000ull;
    opt.prng_seed = server_now_ns() ^ ((uint64_t)s->cfg.id << 32);
    opt.logger = &s->logger;
    opt.read_mode = s->cfg.lease_reads ? RAFT_READ_LEASE : RAFT_READ_INDEX;
    opt.clock_drift_bound_ns = (uint64_t)s->cfg.clock_drift_bound_ms * 1000000ull;
    struct raft_boot boot = {.term = rec.term, .vote = rec.vote, .first_index = 1,
                             .entries = rec.entries, .entries_count = rec.entries_count,
                             .vote_barrier_index = rec.vote_barrier_index};
    rc = server_snapshot_boot(s, &rec.snapshot, &boot);
    if (rc != 0) {
        storage_recovered_free(&rec);
        return rc;
    }
    if (s->storage.snapshot_discarded) {
        LOG_AT(&s->logger, LOG_WARN,
               "the snapshot file failed its checks: dropped it and the log after it (term and "
               "vote kept); the leader will send a snapshot again");
    }
    s->vote_barrier_saved = rec.vote_barrier_index != 0;
    if (s->vote_barrier_saved) {
        LOG_AT(&s->logger, LOG_WARN,
               "the log was damaged and cut back: this node will not vote or campaign until "
               "a leader has repaired it past index %llu",
               (unsigned long long)rec.vote_barrier_index);
    }
    LOG_AT(&s->logger, LOG_INFO, "recovered term %llu vote %u, snapshot %llu and %zu entries "
           "(%llu torn bytes dropped)", (unsigned long long)rec.term, rec.vote,
           (unsigned long long)boot.snapshot_index, rec.entries_count,
           (unsigned long long)s->storage.truncated_tail_bytes);
    s->raft = raft_create(&opt, &boot, server_now_ns());
    storage_recovered_free(&rec);
    s->kv = kv_create(NULL);
    if (s->raft == NULL || s->kv == NULL) {
        return ERR_NOMEM;
    }
    return server_snapshot_load_state(s);
}

static int start_handles(struct server *s)
{
    int rc = net_udp_open(&s->udp, s->loop, s->cfg.bind, s->cfg.cluster_port, on_datagram, s);
    if (rc != 0) {
        LOG_AT(&s->logger, LOG_ERROR, "cluster-port %u: %s", s->cfg.cluster_port, uv_strerror(rc));
        return ERR_IO;
    }
    uv_timer_init(s->loop, &s->tick_timer);
    s->tick_timer.data = s;
    uv_timer_start(&s->tick_timer, on_tick, SERVER_TICK_MS, SERVER_TICK_MS);
    uv_timer_init(s->loop, &s->link_timer);
    s->link_timer.data = s;
    uv_timer_init(s->loop, &s->leader_sync_timer);
    s->leader_sync_timer.data = s;
    uv_check_init(s->loop, &s->check);
    s->check.data = s;
    uv_check_start(&s->check, on_check);
    uv_signal_init(s->loop, &s->sigterm);
    uv_signal_init(s->loop, &s->sigint);
    s->sigterm.data = s->sigint.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    if (clients_listen(s) != 0 || (s->cfg.admin_port != 0 && admin_listen(s) != 0)) {
        return ERR_IO;
    }
    return 0;
}

int server_start(struct server *s, uv_loop_t *loop, const struct server_config *cfg)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->loop = loop;
    loop->data = s;
    s->started_ns = server_now_ns();
    char prefix[16];
    snprintf(prefix, sizeof prefix, "n%u", cfg->id);
    logger_init(&s->logger, cfg->log_level, prefix);
    buf_init(&s->scratch, 0);
    buf_init(&s->msg, 0);
    buf_init(&s->datagram, 0);
    buf_init(&s->snapshot, 0);
    buf_init(&s->snapshot_saving, 0);
    kv_reply_init(&s->reply);
    int rc = boot_raft(s);
    if (rc == 0) {
        rc = disk_worker_start(&s->disk, loop, &s->storage,
                               (uint64_t)s->cfg.leader_sync_delay_ms * 1000000ull, on_disk_done, s);
    }
    if (rc == 0) {
        rc = open_links(s);
    }
    if (rc == 0) {
        rc = admin_rpc_init(&s->admin_rpc, s);
    }
    if (rc == 0) {
        rc = start_handles(s);
    }
    if (rc == 0) {
        LOG_AT(&s->logger, LOG_INFO, "node %u serving RESP on %s:%u, cluster on udp %u, admin on %u",
               cfg->id, cfg->bind, cfg->port, cfg->cluster_port, cfg->admin_port);
    }
    return rc;
}

static void close_handle(uv_handle_t *h)
{
    if (h->loop != NULL && !uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

void server_stop(struct server *s)
{
    if (s->stopping) {
        return;
    }
    s->stopping = true;
    clients_close_all(s);
    close_handle((uv_handle_t *)&s->tick_timer);
    close_handle((uv_handle_t *)&s->link_timer);
    close_handle((uv_handle_t *)&s->leader_sync_timer);
    close_handle((uv_handle_t *)&s->check);
    close_handle((uv_handle_t *)&s->sigterm);
    close_handle((uv_handle_t *)&s->sigint);
    close_handle((uv_handle_t *)&s->resp_listener);
    close_handle((uv_handle_t *)&s->admin_listener);
    net_udp_close(&s->udp);
    disk_worker_stop(&s->disk);
}

void server_destroy(struct server *s)
{
    for (size_t i = 0; i < s->pending_count; i++) {
        cmd_copy_free(s->pending[i].cmd);
        request_free(s->pending[i].req);
    }
    free(s->pending);
    for (size_t i = 0; i < s->writes_count; i++) {
        request_free(write_at(s, i)->req);
    }
    free(s->writes);
    clients_free_spares(s);
    storage_close(&s->storage);
    link_table_destroy(s->links);
    admin_rpc_free(&s->admin_rpc);
    if (s->raft != NULL) {
        raft_destroy(s->raft);
    }
    if (s->kv != NULL) {
        kv_destroy(s->kv);
    }
    buf_free(&s->scratch);
    buf_free(&s->msg);
    buf_free(&s->datagram);
    buf_free(&s->snapshot);
    buf_free(&s->snapshot_saving);
    kv_reply_free(&s->reply);
}
