/* One simulated node: the driver half of the Raft update protocol, exactly as the server
 * will do it, against a simulated disk and network.
 *
 * Storage: the real write-ahead log (src/log) on a simulated disk (disk_sim.c) that
 * survives crashes. Appends reach the disk's volatile cache at once; an fdatasync (one
 * for everything appended since the last: group commit) and term/vote saves complete in
 * order at disk-completion events. A crash loses pending operations, and the disk keeps
 * none, all or a torn prefix of unsynced bytes; the restarted node recovers through
 * log_open. The state machine is volatile and rebuilt from the snapshot and the log
 * after a restart; snapshots are taken, installed and recovered in sim_snapshot.c. */
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "log/format.h"
#include "sim/sim_impl.h"

/* ---- network ---- */

static struct raft_message *message_copy(const struct raft_message *m)
{
    size_t bytes = sizeof *m + m->entries_count * sizeof(struct raft_entry) + m->data_len +
                   m->config_len;
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
    if (m->data_len != 0) {
        memcpy(data, m->data, m->data_len); /* a snapshot chunk */
        c->data = data;
        data += m->data_len;
    }
    if (m->config_len != 0) {
        memcpy(data, m->config, m->config_len); /* the snapshot's configuration */
        c->config = data;
    }
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

/* ---- storage: the real log (src/log) on the simulated disk (disk_sim.c) ---- */

static void synced_set(struct sim_node *n, raft_index_t index, raft_term_t term)
{
    if (index > n->synced_cap) {
        n->synced_cap = MAX(index, n->synced_cap * 2);
        n->synced_terms = realloc(n->synced_terms, n->synced_cap * sizeof *n->synced_terms);
        ASSERT(n->synced_terms != NULL);
    }
    n->synced_terms[index - 1] = term;
}

/* Refreshes the checkers' view of what the log holds durably, up to durable_index (at
 * least the snapshot's index, whose term the log knows). Entries compacted behind the
 * snapshot read as term 0; synced_snapshot_index covers them. */
void node_synced_refresh(struct sim_node *n, raft_index_t durable_index)
{
    durable_index = MAX(durable_index, n->synced_snapshot_index);
    for (raft_index_t i = 1; i <= durable_index; i++) {
        synced_set(n, i, log_term_at(n->log, i));
    }
    n->synced_count = durable_index;
}

void node_disk_enqueue(struct sim_world *w, struct sim_node *n, struct disk_op *op)
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

static void disk_enqueue_new(struct sim_world *w, struct sim_node *n, bool hard_state,
                             raft_term_t term, node_id_t vote)
{
    struct disk_op *op = calloc(1, sizeof *op);
    ASSERT(op != NULL);
    op->is_hard_state = hard_state;
    op->term = term;
    op->vote = vote;
    node_disk_enqueue(w, n, op);
}

/* A failed disk write is sticky (STYLE.md rule 12): the node stops, as the server does,
 * and comes back through recovery. */
void node_fail_stop(struct sim_world *w, struct sim_node *n, const char *what, int rc)
{
    sim_trace(w, "\"ev\":\"disk_failure\",\"node\":%u,\"op\":\"%s\",\"error\":\"%s\"", n->id,
              what, err_name(rc));
    n->crash_now = true;
}

/* Writes the update's entries to the log's volatile cache (a conflict first truncates)
 * and queues one fdatasync for them: group commit. */
static void persist_entries(struct sim_world *w, struct sim_node *n, const struct raft_update *u)
{
    if (u->persist_from_index <= log_last_index(n->log)) {
        int rc = log_truncate_suffix(n->log, u->persist_from_index);
        if (rc != 0) {
            node_fail_stop(w, n, "truncate", rc);
            return;
        }
        n->synced_count = MIN(n->synced_count, u->persist_from_index - 1);
    }
    for (size_t i = 0; i < u->persist_entries_count; i++) {
        const struct raft_entry *e = &u->persist_entries[i];
        struct log_record rec = {e->term, e->index, e->type, e->data, e->data_len};
        int rc = log_append(n->log, &rec, 1);
        if (rc != 0) {
            node_fail_stop(w, n, "append", rc);
            return;
        }
    }
    if (!n->sync_queued && u->persist_entries_count > 0) {
        n->sync_queued = true;
        disk_enqueue_new(w, n, false, 0, 0);
    }
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
    if (op->install != NULL) {
        sim_snapshot_install_done(w, n, op);
    } else if (op->is_hard_state) {
        int rc = log_set_term_vote(n->log, op->term, op->vote);
        if (rc != 0) {
            node_fail_stop(w, n, "set_term_vote", rc);
        } else {
            raft_persisted_hard_state(n->raft, now, op->term, op->vote);
        }
    } else {
        n->sync_queued = false;
        uint64_t durable = 0;
        int rc = log_sync(n->log, &durable);
        if (rc != 0) {
            node_fail_stop(w, n, "sync", rc);
        } else if (durable > 0) {
            node_synced_refresh(n, durable);
            raft_persisted_entries(n->raft, now, durable, log_term_at(n->log, durable));
        }
    }
    free(op);
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
    pw->during_transfer = raft_transfer_target(n->raft) != 0;
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
        w->result->lease_reads_served += raft_lease_holds(n->raft, sim_node_now(w, n));
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
    membership_on_apply(w, e);
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
        if (!same && pw->during_transfer) {
            /* A transfer must refuse proposals, not accept them and lose them. */
            sim_fail(w, "transfer_lost_write", "node %u accepted (client %llu, seq %llu) at "
                     "index %llu during a leadership transfer and lost it", n->id,
                     (unsigned long long)pw->client_id, (unsigned long long)pw->seq,
                     (unsigned long long)pw->index);
        }
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
            disk_enqueue_new(w, n, true, u.term, u.vote);
        }
        if (u.persist_from_index != 0) {
            persist_entries(w, n, &u);
            check_log_changed(w, n, u.persist_from_index);
        }
        if (u.snapshot_install != NULL) {
            sim_snapshot_queue_install(w, n, u.snapshot_install);
            n->crash_now |= n->crash_trap == 4;
        }
        for (size_t i = 0; i < u.messages_count; i++) {
            const struct raft_message *m = &u.messages[i];
            net_send(w, m);
            check_promise_sent(w, n, m);
            bool vote = m->type == RAFT_MSG_VOTE_REPLY && m->granted && !m->pre_vote;
            bool ack = m->type == RAFT_MSG_APPEND_REPLY && m->success;
            bool chunk = m->type == RAFT_MSG_SNAPSHOT;
            n->crash_now |= (n->crash_trap == 1 && vote) || (n->crash_trap == 2 && ack) ||
                            (n->crash_trap == 3 && chunk);
        }
        for (size_t i = 0; i < u.apply_entries_count; i++) {
            apply_entry(w, n, &u.apply_entries[i]);
        }
        reads_settle(w, n, &u);
        raft_update_done(n->raft);
        sim_snapshot_maybe_take(w, n);
    }
    serve_ready_reads(w, n);
    if (n->barrier_durable != 0 && raft_vote_barrier(n->raft) == 0 && !n->crash_now) {
        /* Repaired: persist the lift, as the server does (a lost lift would only mean
         * one more repair after a restart). */
        int rc = log_set_vote_barrier(n->log, 0);
        if (rc != 0) {
            node_fail_stop(w, n, "lift_vote_barrier", rc);
        } else {
            sim_trace(w, "\"ev\":\"barrier_lifted\",\"node\":%u", n->id);
            n->barrier_durable = 0;
        }
    }
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

/* Opens (recovers) the node's log and reads it back as Raft's boot state. entries are
 * owned by the caller. Returns false when the node cannot start now. */
static bool node_recover(struct sim_world *w, struct sim_node *n, struct raft_boot *boot,
                         struct raft_entry **entries_out)
{
    if (n->disk == NULL) {
        buf_init(&n->snapshot, 0);
        buf_init(&n->snapshot_next, 0);
        struct disk_sim_config disk_cfg = {0};
        n->disk = disk_sim_create(&w->prng, &disk_cfg);
        ASSERT(n->disk != NULL);
    }
    struct log_config cfg = {.segment_size_bytes = SIM_SEGMENT_SIZE_BYTES,
                             .mutant = w->cfg.log_mutant,
                             .preallocate_bytes = SIM_PREALLOCATE_BYTES};
    struct log_recovery report;
    n->log = NULL;
    int rc = log_open(&n->log, disk_sim_disk(n->disk), &cfg, &report);
    if (rc != 0 && n->disk_faulty) {
        /* An injected fault hit recovery itself: the node stays down and tries later. */
        sim_trace(w, "\"ev\":\"recovery_failed\",\"node\":%u,\"error\":\"%s\"", n->id,
                  err_name(rc));
        n->log = NULL;
        struct sim_event ev = {.generation = n->generation};
        sim_schedule(w, w->now_ns + 200 * SIM_MS, EV_RESTART, n->slot, &ev);
        return false;
    }
    /* The barrier must outlive further restarts: a clean-looking recovery of a cut log
     * is still missing what it may have acknowledged (seed 331 of the bitrot menu), so it
     * lives in the log's metadata, saved before the cut, exactly as the server does. */
    raft_index_t barrier = rc == 0 ? report.vote_barrier : 0;
    if (rc == 0 && report.snapshot_corrupt && n->bit_flipped) {
        raft_index_t had = 0;
        rc = sim_snapshot_discard_damaged(w, n, &report, &had);
        barrier = MAX(barrier, had);
        if (rc == 0 && barrier != 0) {
            rc = log_set_vote_barrier(n->log, barrier);
        }
        if (rc != 0 && n->disk_faulty) {
            /* An injected fault hit the discard: still damaged; try again later. */
            if (n->log != NULL) {
                log_close(n->log);
                n->log = NULL;
            }
            struct sim_event ev = {.generation = n->generation};
            sim_schedule(w, w->now_ns + 200 * SIM_MS, EV_RESTART, n->slot, &ev);
            return false;
        }
    }
    if (rc == 0 && report.corrupt && !report.meta_corrupt && n->bit_flipped) {
        /* Latent damage (our own bit flip): cut the log before it, as the server does, and
         * refuse to vote until a leader has repaired us past what we may have had. */
        barrier = MAX(barrier, MAX(report.corrupt_from_index, report.corrupt_to_index));
        rc = log_set_vote_barrier(n->log, barrier);
        rc = rc != 0 ? rc : log_truncate_suffix(n->log, report.corrupt_from_index);
        sim_trace(w, "\"ev\":\"repair\",\"node\":%u,\"from\":%llu,\"barrier\":%llu", n->id,
                  (unsigned long long)report.corrupt_from_index, (unsigned long long)barrier);
        report.corrupt = false;
        if (n->promised_match >= report.corrupt_from_index) {
            n->promised_match = 0; /* the disk lost it; the barrier keeps Raft safe */
        }
        if (rc != 0) {
            log_close(n->log);
            n->log = NULL;
            if (n->disk_faulty) {
                /* An injected fault hit the repair: still damaged; try again later. */
                struct sim_event ev = {.generation = n->generation};
                sim_schedule(w, w->now_ns + 200 * SIM_MS, EV_RESTART, n->slot, &ev);
                return false;
            }
        }
    }
    n->bit_flipped = false;
    if (rc == 0) {
        ASSERT(barrier >= n->barrier_durable); /* the disk kept what it was told */
        n->barrier_durable = barrier;
    }
    if (rc != 0 || report.corrupt || report.meta_corrupt) {
        /* Apart from our bit flips the disk never corrupts: this is a bug in the log. */
        sim_fail(w, "log_recovery", "node %u: log_open %s, corrupt %d from %llu", n->id,
                 err_name(rc), rc == 0 && report.corrupt,
                 (unsigned long long)(rc == 0 ? report.corrupt_from_index : 0));
        if (n->log != NULL) {
            log_close(n->log);
        }
        n->log = NULL;
        return false;
    }
    *boot = (struct raft_boot){0};
    if (!sim_snapshot_recover(w, n, &report, boot)) {
        log_close(n->log);
        n->log = NULL;
        return false;
    }
    /* Entries at or before the snapshot are in it; Raft starts right after. */
    uint64_t first = MAX(log_first_index(n->log), boot->snapshot_index + 1);
    uint64_t last = log_last_index(n->log);
    size_t count = last >= first ? (size_t)(last - first + 1) : 0;
    struct raft_entry *entries = calloc(count + 1, sizeof *entries);
    ASSERT(entries != NULL);
    struct buf data;
    buf_init(&data, 0);
    for (size_t i = 0; i < count; i++) {
        struct log_record rec;
        ASSERT(log_read(n->log, first + i, &rec, &data) == 0);
        entries[i] = (struct raft_entry){rec.term, rec.index, rec.type, rec.len, NULL};
        if (rec.len != 0) {
            entries[i].data = malloc(rec.len);
            ASSERT(entries[i].data != NULL);
            memcpy(entries[i].data, rec.data, rec.len);
        }
    }
    buf_free(&data);
    n->recovered_term = log_term(n->log);
    n->recovered_vote = (node_id_t)log_vote(n->log);
    node_synced_refresh(n, last);
    boot->term = n->recovered_term;
    boot->vote = n->recovered_vote;
    boot->first_index = first;
    boot->base_term = first > 1 ? log_term_at(n->log, first - 1) : 0;
    boot->entries = entries;
    boot->entries_count = count;
    boot->vote_barrier_index = barrier;
    *entries_out = entries;
    return true;
}

void node_start(struct sim_world *w, struct sim_node *n)
{
    struct raft_options opt;
    raft_options_default(&opt, n->id, w->initial_config.voters, w->initial_config.voters_count);
    opt.election_timeout_ns_min = SIM_ELECTION_TIMEOUT_NS;
    opt.heartbeat_interval_ns = 30 * SIM_MS;
    opt.prng_seed = prng_next(&w->prng);
    opt.entries_per_message_max = w->entries_per_message_max;
    opt.inflight_messages_max = w->inflight_messages_max;
    opt.snapshot_chunk_bytes_max = w->snapshot_chunk_bytes_max;
    opt.snapshot_chunks_inflight_max = w->snapshot_chunks_inflight_max;
    opt.snapshot_trailing_entries = w->snapshot_trailing_entries;
    opt.mutant = w->cfg.mutant;
    opt.read_mode = w->read_mode;
    opt.clock_drift_bound_ns = w->clock_drift_bound_ns;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "n%u", n->id);
    logger_init(&n->logger, w->cfg.verbose ? LOG_DEBUG : LOG_ERROR, prefix);
    opt.logger = &n->logger;
    struct raft_boot boot;
    struct raft_entry *entries = NULL;
    if (!node_recover(w, n, &boot, &entries)) {
        return;
    }
    check_promises_kept(w, n);
    n->raft = raft_create(&opt, &boot, sim_node_now(w, n));
    ASSERT(n->raft != NULL);
    for (size_t i = 0; i < boot.entries_count; i++) {
        free(entries[i].data);
    }
    free(entries);
    n->sm = sm_create(w->cfg.mutant_apply_twice);
    ASSERT(n->sm != NULL);
    sim_snapshot_load_state(w, n);
    n->up = true;
    n->paused = false;
    n->crash_trap = 0;
    n->crash_now = false;
    n->last_commit_checked = 0;
    n->last_role = RAFT_FOLLOWER;
    n->last_term = boot.term;
    n->chain_last = 0;
    check_log_changed(w, n, 1);
    sim_trace(w, "\"ev\":\"start\",\"node\":%u,\"term\":%llu,\"log\":%zu", n->id,
              (unsigned long long)boot.term, boot.entries_count);
    struct sim_event ev = {.generation = n->generation};
    sim_schedule(w, w->now_ns + prng_below(&w->prng, SIM_TICK_NS), EV_NODE_TICK, n->slot, &ev);
}

static void node_drop_volatile(struct sim_node *n)
{
    while (n->disk_head != NULL) {
        struct disk_op *op = n->disk_head;
        n->disk_head = op->next;
        free(op);
    }
    n->disk_tail = NULL;
    n->disk_busy_until_ns = 0;
    n->sync_queued = false;
    n->install_pending = false;
    if (n->log != NULL) {
        log_close(n->log);
        n->log = NULL;
    }
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

struct segment_pick {
    struct sim_world *w;
    char name[DISK_NAME_SIZE_MAX];
    uint32_t seen;
};

static int pick_segment(void *arg, const char *name)
{
    struct segment_pick *p = arg;
    uint64_t first;
    bool damageable = log_fmt_segment_name_parse(name, &first) || strcmp(name, LOG_SNAPSHOT_NAME) == 0;
    if (damageable && prng_below(&p->w->prng, ++p->seen) == 0) {
        snprintf(p->name, sizeof p->name, "%s", name); /* reservoir sampling */
    }
    return 0;
}

/* Latent media error: one bit of one segment file or of the snapshot flips while the
 * node is down. */
static void flip_segment_bit(struct sim_world *w, struct sim_node *n)
{
    struct segment_pick pick = {.w = w};
    struct disk *d = disk_sim_disk(n->disk);
    uint64_t size = 0;
    if (d->list(d->ctx, pick_segment, &pick) != 0 || pick.seen == 0 ||
        disk_sim_file_size(n->disk, pick.name, &size) != 0 || size == 0) {
        return;
    }
    uint64_t bit = prng_below(&w->prng, size * 8);
    if (disk_sim_flip_bit(n->disk, pick.name, bit) == 0) {
        n->bit_flipped = true;
        sim_trace(w, "\"ev\":\"bit_flip\",\"node\":%u,\"file\":\"%s\",\"bit\":%llu", n->id,
                  pick.name, (unsigned long long)bit);
    }
}

static uint32_t raft_quorum_of(uint32_t nodes) { return nodes / 2 + 1; }

static uint32_t damaged_nodes(const struct sim_world *w)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < w->cfg.nodes_count; i++) {
        const struct sim_node *m = &w->nodes[i];
        count += m->bit_flipped || m->barrier_durable != 0;
    }
    return count;
}

void node_crash(struct sim_world *w, struct sim_node *n)
{
    sim_trace(w, "\"ev\":\"crash\",\"node\":%u,\"pending_disk\":%s", n->id,
              n->disk_head != NULL ? "true" : "false");
    w->result->crashes_mid_snapshot_send += raft_snapshots_sending(n->raft) > 0;
    w->result->crashes_mid_snapshot_receive += raft_snapshot_receiving(n->raft) && !n->install_pending;
    w->result->crashes_mid_snapshot_install += n->install_pending;
    membership_on_crash(n);
    node_drop_volatile(n);
    disk_sim_crash(n->disk, DISK_SIM_CRASH_RANDOM); /* unsynced bytes: none, all or torn */
    if ((w->cfg.faults & SIM_FAULT_BITROT) && !w->healed && prng_chance(&w->prng, 150000) &&
        damaged_nodes(w) + 1 < raft_quorum_of(membership_voters_min(w))) {
        /* A damaged majority cannot be both safe and available: damage stays a minority. */
        flip_segment_bit(w, n);
    }
    n->up = false;
    n->paused = false;
    n->generation++;
}

void node_free(struct sim_node *n)
{
    if (n->raft != NULL) {
        node_drop_volatile(n);
    }
    disk_sim_destroy(n->disk);
    buf_free(&n->snapshot);
    buf_free(&n->snapshot_next);
    free(n->synced_terms);
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
