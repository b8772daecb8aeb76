/* One simulated node: the driver half of the Raft update protocol, exactly as the server
 * will do it, against a simulated disk and network.
 *
 * Storage model: durable state (term, vote, entries) survives crashes; every write is a
 * pending disk operation that becomes durable, in order, when its completion event fires.
 * A crash discards every pending operation, which is the loss of unsynced writes. The
 * state machine is volatile and rebuilt from the log after a restart. */
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "sim/sim_impl.h"

/* ---- network ---- */

static struct raft_message *message_copy(const struct raft_message *m)
{
    size_t bytes = sizeof *m + m->entries_count * sizeof(struct raft_entry);
    for (uint32_t i = 0; i < m->entries_count; i++) {
        bytes += m->entries[i].data_len;
    }
    uint8_t *mem = malloc(bytes);
    ASSERT(mem != NULL);
    struct raft_message *c = (struct raft_message *)mem;
    *c = *m;
    struct raft_entry *entries = (struct raft_entry *)(mem + sizeof *m);
    uint8_t *data = (uint8_t *)(entries + m->entries_count);
    for (uint32_t i = 0; i < m->entries_count; i++) {
        entries[i] = m->entries[i];
        if (m->entries[i].data_len != 0) {
            memcpy(data, m->entries[i].data, m->entries[i].data_len);
            entries[i].data = data;
            data += m->entries[i].data_len;
        }
    }
    c->entries = m->entries_count != 0 ? entries : NULL;
    return c;
}

void net_free_message(struct raft_message *m) { free(m); }

static uint64_t net_delay(struct sim_world *w)
{
    uint64_t d = prng_range(&w->prng, 50, 500) * 1000; /* 50-500 us */
    if ((w->cfg.faults & SIM_FAULT_NET) && !w->healed && w->delay_ns_max > 2 * SIM_MS &&
        prng_chance(&w->prng, 100000)) {
        d += prng_below(&w->prng, w->delay_ns_max); /* a delay spike reorders */
    }
    return d;
}

void net_send(struct sim_world *w, const struct raft_message *m)
{
    uint32_t from = m->from - 1, to = m->to - 1;
    ASSERT(to < w->cfg.nodes_count);
    if (w->blocked[from][to] || prng_chance(&w->prng, w->loss_per_million)) {
        sim_trace(w, "\"ev\":\"drop\",\"from\":%u,\"to\":%u,\"type\":%u", m->from, m->to, m->type);
        return;
    }
    int copies = prng_chance(&w->prng, w->dup_per_million) ? 2 : 1;
    for (int i = 0; i < copies; i++) {
        struct sim_event ev = {.generation = w->nodes[to].generation};
        ev.u.msg = message_copy(m);
        sim_schedule(w, w->now_ns + net_delay(w), EV_NET_DELIVER, to, &ev);
    }
}

/* ---- storage ---- */

static void durable_truncate(struct sim_node *n, raft_index_t from_index)
{
    while (n->durable_count >= from_index && n->durable_count > 0) {
        free(n->durable_entries[--n->durable_count].data);
    }
}

static void durable_append(struct sim_node *n, const struct raft_entry *e)
{
    ASSERT(e->index == n->durable_count + 1);
    if (n->durable_count == n->durable_cap) {
        n->durable_cap = n->durable_cap != 0 ? n->durable_cap * 2 : 256;
        n->durable_entries = realloc(n->durable_entries, n->durable_cap * sizeof *n->durable_entries);
        ASSERT(n->durable_entries != NULL);
    }
    struct raft_entry *d = &n->durable_entries[n->durable_count++];
    *d = *e; /* takes ownership of e->data */
}

static void disk_enqueue(struct sim_world *w, struct sim_node *n, struct disk_op *op)
{
    uint64_t latency = prng_range(&w->prng, 20, 400) * 1000; /* 20-400 us */
    if ((w->cfg.faults & SIM_FAULT_CRASH) && !w->healed && prng_chance(&w->prng, 20000)) {
        latency += prng_range(&w->prng, 5, 50) * SIM_MS; /* a slow fsync */
    }
    op->done_at_ns = MAX(w->now_ns, n->disk_busy_until_ns) + latency;
    n->disk_busy_until_ns = op->done_at_ns;
    if (n->disk_tail != NULL) {
        n->disk_tail->next = op;
    } else {
        n->disk_head = op;
    }
    n->disk_tail = op;
    struct sim_event ev = {.generation = n->generation};
    sim_schedule(w, op->done_at_ns, EV_DISK_DONE, n->slot, &ev);
}

static void disk_op_free(struct disk_op *op)
{
    for (size_t i = 0; i < op->entries_count; i++) {
        free(op->entries[i].data);
    }
    free(op->entries);
    free(op);
}

static void persist_entries(struct sim_world *w, struct sim_node *n, const struct raft_update *u)
{
    struct disk_op *op = calloc(1, sizeof *op);
    ASSERT(op != NULL);
    op->from_index = u->persist_from_index;
    op->entries_count = u->persist_entries_count;
    if (op->entries_count > 0) {
        op->entries = calloc(op->entries_count, sizeof *op->entries);
        ASSERT(op->entries != NULL);
    }
    for (size_t i = 0; i < op->entries_count; i++) {
        const struct raft_entry *e = &u->persist_entries[i];
        op->entries[i] = *e;
        op->entries[i].data = NULL;
        if (e->data_len != 0) {
            op->entries[i].data = malloc(e->data_len);
            ASSERT(op->entries[i].data != NULL);
            memcpy(op->entries[i].data, e->data, e->data_len);
        }
    }
    disk_enqueue(w, n, op);
}

void node_disk_done(struct sim_world *w, struct sim_node *n)
{
    struct disk_op *op = n->disk_head;
    ASSERT(op != NULL && op->done_at_ns <= w->now_ns);
    n->disk_head = op->next;
    if (n->disk_head == NULL) {
        n->disk_tail = NULL;
    }
    uint64_t now = sim_node_now(w, n);
    if (op->is_hard_state) {
        n->durable_term = op->term;
        n->durable_vote = op->vote;
        raft_persisted_hard_state(n->raft, now, op->term, op->vote);
    } else {
        durable_truncate(n, op->from_index);
        for (size_t i = 0; i < op->entries_count; i++) {
            durable_append(n, &op->entries[i]);
            op->entries[i].data = NULL;
        }
        if (op->entries_count > 0) {
            const struct raft_entry *last = &n->durable_entries[n->durable_count - 1];
            raft_persisted_entries(n->raft, now, last->index, last->term);
        }
    }
    disk_op_free(op);
    sim_node_process(w, n);
}

/* ---- client requests ---- */

void node_send_reply(struct sim_world *w, struct sim_node *n, const struct sim_request *req,
                     enum sim_reply_kind kind, const struct sm_reply *result)
{
    if (prng_chance(&w->prng, w->loss_per_million)) {
        return; /* the client will time out and retry */
    }
    struct sim_reply *r = calloc(1, sizeof *r);
    ASSERT(r != NULL);
    r->client = req->client;
    r->seq = req->seq;
    r->attempt = req->attempt;
    r->kind = kind;
    r->leader_hint = n->raft != NULL ? raft_leader(n->raft) : 0;
    if (result != NULL) {
        r->result = *result;
    }
    struct sim_event ev = {0};
    ev.u.reply = r;
    sim_schedule(w, w->now_ns + net_delay(w), EV_CLIENT_REPLY, req->client, &ev);
}

static void serve_read(struct sim_world *w, struct sim_node *n, const struct sim_request *req)
{
    struct sm_reply result;
    const uint8_t *argv[SIM_ARGV_MAX];
    for (int i = 0; i < req->argc; i++) {
        argv[i] = req->argv[i];
    }
    sm_read(n->sm, sim_node_now(w, n) / SIM_MS, req->argc, argv, req->argv_len, &result);
    node_send_reply(w, n, req, REPLY_RESULT, &result);
}

static void start_write(struct sim_world *w, struct sim_node *n, struct sim_request *req)
{
    if (n->writes_count == ARRAY_COUNT(n->writes)) {
        node_send_reply(w, n, req, REPLY_RETRY, NULL);
        return;
    }
    const uint8_t *argv[SIM_ARGV_MAX];
    for (int i = 0; i < req->argc; i++) {
        argv[i] = req->argv[i];
    }
    struct sm_reply err;
    buf_reset(&w->scratch);
    uint64_t now_ms = sim_node_now(w, n) / SIM_MS;
    if (sm_prepare(n->sm, now_ms, req->client_id, req->seq, req->argc, argv, req->argv_len,
                   &w->scratch, &err) != 0) {
        node_send_reply(w, n, req, REPLY_RESULT, &err);
        return;
    }
    raft_index_t index;
    if (raft_propose(n->raft, sim_node_now(w, n), w->scratch.data, w->scratch.len, &index) != 0) {
        node_send_reply(w, n, req, REPLY_REDIRECT, NULL);
        return;
    }
    struct pending_write *pw = &n->writes[n->writes_count++];
    pw->client_id = req->client_id;
    pw->seq = req->seq;
    pw->client = req->client;
    pw->attempt = req->attempt;
    pw->index = index;
    pw->term = raft_term(n->raft);
}

void node_client_request(struct sim_world *w, struct sim_node *n, struct sim_request *req)
{
    if (req->is_read && raft_mutant_local_reads(n->raft)) {
        serve_read(w, n, req); /* known-wrong: no leadership check */
        free(req);
        return;
    }
    if (raft_role(n->raft) != RAFT_LEADER) {
        node_send_reply(w, n, req, REPLY_REDIRECT, NULL);
        free(req);
        return;
    }
    if (!req->is_read) {
        start_write(w, n, req);
        free(req);
    } else if (n->reads_count == ARRAY_COUNT(n->reads) ||
               raft_read_index(n->raft, sim_node_now(w, n), ++n->next_read_id) != 0) {
        node_send_reply(w, n, req, REPLY_RETRY, NULL);
        free(req);
    } else {
        struct pending_read *pr = &n->reads[n->reads_count++];
        pr->request_id = n->next_read_id;
        pr->request = req;
        pr->read_index = 0;
    }
    sim_node_process(w, n);
}

/* ---- the update protocol ---- */

static void apply_entry(struct sim_world *w, struct sim_node *n, const struct raft_entry *e)
{
    check_applied(w, n, e);
    struct sm_reply result;
    struct sm_applied info = {0};
    if (e->type == RAFT_ENTRY_NORMAL) {
        sm_apply(n->sm, e->index, e->data, e->data_len, &result, &info);
        check_session_reply(w, n, e->index, info.client_id, info.seq, &result);
    }
    for (size_t i = 0; i < n->writes_count; i++) {
        struct pending_write *pw = &n->writes[i];
        if (pw->index != e->index) {
            continue;
        }
        struct sim_request req = {.client = pw->client, .seq = pw->seq, .attempt = pw->attempt};
        bool same = e->type == RAFT_ENTRY_NORMAL && e->term == pw->term;
        ASSERT(!same || (info.client_id == pw->client_id && info.seq == pw->seq));
        /* Another command took that index: ours was lost, the client retries safely. */
        node_send_reply(w, n, &req, same ? REPLY_RESULT : REPLY_RETRY, same ? &result : NULL);
        n->writes[i--] = n->writes[--n->writes_count];
    }
}

static void serve_ready_reads(struct sim_world *w, struct sim_node *n)
{
    for (size_t i = 0; i < n->reads_count; i++) {
        struct pending_read *pr = &n->reads[i];
        if (pr->read_index != 0 && raft_applied_index(n->raft) >= pr->read_index) {
            serve_read(w, n, pr->request);
            free(pr->request);
            n->reads[i--] = n->reads[--n->reads_count];
        }
    }
}

static void reads_settle(struct sim_world *w, struct sim_node *n, const struct raft_update *u)
{
    for (size_t k = 0; k < u->reads_ready_count; k++) {
        for (size_t i = 0; i < n->reads_count; i++) {
            if (n->reads[i].request_id == u->reads_ready[k].request_id) {
                n->reads[i].read_index = MAX(u->reads_ready[k].read_index, 1);
            }
        }
    }
    for (size_t k = 0; k < u->reads_failed_count; k++) {
        for (size_t i = 0; i < n->reads_count; i++) {
            if (n->reads[i].request_id == u->reads_failed[k]) {
                node_send_reply(w, n, n->reads[i].request, REPLY_RETRY, NULL);
                free(n->reads[i].request);
                n->reads[i--] = n->reads[--n->reads_count];
            }
        }
    }
}

void sim_node_process(struct sim_world *w, struct sim_node *n)
{
    while (raft_has_update(n->raft)) {
        struct raft_update u;
        raft_get_update(n->raft, &u);
        if (u.hard_state_changed) {
            struct disk_op *op = calloc(1, sizeof *op);
            ASSERT(op != NULL);
            op->is_hard_state = true;
            op->term = u.term;
            op->vote = u.vote;
            disk_enqueue(w, n, op);
        }
        if (u.persist_from_index != 0) {
            persist_entries(w, n, &u);
            check_log_changed(w, n, u.persist_from_index);
        }
        for (size_t i = 0; i < u.messages_count; i++) {
            const struct raft_message *m = &u.messages[i];
            net_send(w, m);
            check_promise_sent(w, n, m);
            bool vote = m->type == RAFT_MSG_VOTE_REPLY && m->granted && !m->pre_vote;
            bool ack = m->type == RAFT_MSG_APPEND_REPLY && m->success;
            n->crash_now |= (n->crash_trap == 1 && vote) || (n->crash_trap == 2 && ack);
        }
        for (size_t i = 0; i < u.apply_entries_count; i++) {
            apply_entry(w, n, &u.apply_entries[i]);
        }
        reads_settle(w, n, &u);
        raft_update_done(n->raft);
    }
    serve_ready_reads(w, n);
    if (n->crash_now) {
        /* The trap: crash the instant a promise left, before later writes are durable. */
        n->crash_now = false;
        n->crash_trap = 0;
        node_crash(w, n);
        w->result->crashes++;
        struct sim_event ev = {.generation = n->generation};
        sim_schedule(w, w->now_ns + prng_range(&w->prng, 1, 300) * SIM_MS, EV_RESTART, n->slot, &ev);
    }
}

/* ---- lifecycle ---- */

void node_start(struct sim_world *w, struct sim_node *n)
{
    node_id_t voters[SIM_NODES_MAX];
    for (uint32_t i = 0; i < w->cfg.nodes_count; i++) {
        voters[i] = i + 1;
    }
    struct raft_options opt;
    raft_options_default(&opt, n->id, voters, w->cfg.nodes_count);
    opt.election_timeout_ns_min = 150 * SIM_MS;
    opt.heartbeat_interval_ns = 30 * SIM_MS;
    opt.prng_seed = prng_next(&w->prng);
    opt.entries_per_message_max = w->entries_per_message_max;
    opt.inflight_messages_max = w->inflight_messages_max;
    opt.mutant = w->cfg.mutant;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "n%u", n->id);
    logger_init(&n->logger, w->cfg.verbose ? LOG_DEBUG : LOG_ERROR, prefix);
    opt.logger = &n->logger;
    struct raft_boot boot = {
        .term = n->durable_term,
        .vote = n->durable_vote,
        .first_index = 1,
        .entries = n->durable_entries,
        .entries_count = n->durable_count,
    };
    check_promises_kept(w, n);
    n->raft = raft_create(&opt, &boot, sim_node_now(w, n));
    ASSERT(n->raft != NULL);
    n->sm = sm_create(w->cfg.mutant_apply_twice);
    ASSERT(n->sm != NULL);
    n->up = true;
    n->paused = false;
    n->crash_trap = 0;
    n->crash_now = false;
    n->last_commit_checked = 0;
    n->last_role = RAFT_FOLLOWER;
    n->last_term = n->durable_term;
    n->chain_last = 0;
    check_log_changed(w, n, 1);
    sim_trace(w, "\"ev\":\"start\",\"node\":%u,\"term\":%llu,\"log\":%zu", n->id,
              (unsigned long long)n->durable_term, n->durable_count);
    struct sim_event ev = {.generation = n->generation};
    sim_schedule(w, w->now_ns + prng_below(&w->prng, SIM_TICK_NS), EV_NODE_TICK, n->slot, &ev);
}

static void node_drop_volatile(struct sim_node *n)
{
    while (n->disk_head != NULL) {
        struct disk_op *op = n->disk_head;
        n->disk_head = op->next;
        disk_op_free(op);
    }
    n->disk_tail = NULL;
    n->disk_busy_until_ns = 0;
    for (size_t i = 0; i < n->reads_count; i++) {
        free(n->reads[i].request);
    }
    n->reads_count = 0;
    n->writes_count = 0;
    for (size_t i = 0; i < n->held_count; i++) {
        struct sim_event *ev = &n->held[i];
        if (ev->type == EV_NET_DELIVER) {
            net_free_message(ev->u.msg);
        } else if (ev->type == EV_CLIENT_REQUEST) {
            free(ev->u.request);
        }
    }
    n->held_count = 0;
    raft_destroy(n->raft);
    n->raft = NULL;
    sm_destroy(n->sm);
    n->sm = NULL;
}

void node_crash(struct sim_world *w, struct sim_node *n)
{
    sim_trace(w, "\"ev\":\"crash\",\"node\":%u,\"pending_disk\":%s", n->id,
              n->disk_head != NULL ? "true" : "false");
    node_drop_volatile(n);
    n->up = false;
    n->paused = false;
    n->generation++;
}

void node_free(struct sim_node *n)
{
    if (n->raft != NULL) {
        node_drop_volatile(n);
    }
    durable_truncate(n, 1);
    free(n->durable_entries);
    free(n->chain);
    free(n->held);
}

void node_tick(struct sim_world *w, struct sim_node *n)
{
    raft_tick(n->raft, sim_node_now(w, n));
    sim_node_process(w, n);
    struct sim_event ev = {.generation = n->generation};
    sim_schedule(w, w->now_ns + SIM_TICK_NS, EV_NODE_TICK, n->slot, &ev);
}

void node_deliver(struct sim_world *w, struct sim_node *n, const struct raft_message *m)
{
    if (w->blocked[m->from - 1][m->to - 1]) {
        return; /* a partition that formed while the message was in flight */
    }
    raft_receive(n->raft, sim_node_now(w, n), m);
    sim_node_process(w, n);
}
