/* Log replication: AppendEntries and its reply (Raft §5.3), fast conflict backtracking
 * (§5.3, "the follower can include the term of the conflicting entry and the first index
 * it stores for that term"), per-follower probe/replicate flow control with a bound on
 * appends in flight (thesis §10.2), and commitment by counting replicas only for entries
 * of the leader's current term (§5.4.2). The leader counts itself only for entries its
 * driver has synced (thesis §10.2.1). A follower that needs entries the leader compacted
 * away gets the snapshot instead (snapshot.c); an append reaching below a follower's
 * own snapshot matches there, since everything up to it is committed. */
#include <string.h>

#include "raft/raft_impl.h"

static size_t count_entries(const struct raft *r, raft_index_t from)
{
    raft_index_t last = raft_log_last_index(&r->log);
    size_t n = 0, bytes = 0;
    for (raft_index_t i = from; i <= last && n < r->opt.entries_per_message_max; i++) {
        uint32_t len = raft_log_get(&r->log, i)->data_len;
        if (n > 0 && bytes + len > r->opt.bytes_per_message_max) {
            break;
        }
        bytes += len;
        n++;
    }
    return n;
}

static void inflight_push(struct progress *p, raft_index_t last)
{
    uint32_t slot = (p->inflight_head + p->inflight_count) % RAFT_INFLIGHT_MAX;
    p->inflight_last[slot] = last;
    p->inflight_count++;
}

static void inflight_ack(struct progress *p, raft_index_t match)
{
    while (p->inflight_count > 0 && p->inflight_last[p->inflight_head] <= match) {
        p->inflight_head = (p->inflight_head + 1) % RAFT_INFLIGHT_MAX;
        p->inflight_count--;
    }
}

void progress_probe(struct progress *p, raft_index_t next)
{
    p->state = PROGRESS_PROBE;
    p->next_index = next;
    p->probe_sent = false;
    p->inflight_count = 0;
    p->inflight_head = 0;
}

static void send_heartbeat(struct raft *r, struct progress *p)
{
    struct raft_message *m = raft_outbox_push(r, RAFT_MSG_APPEND, p->id);
    if (m == NULL) {
        return;
    }
    /* A heartbeat checks only what the follower is known to hold, so it never fails;
     * index 0 (term 0) when that is behind our snapshot and its term is gone. */
    bool known = p->match_index + 1 >= r->log.first_index;
    m->prev_log_index = known ? p->match_index : 0;
    m->prev_log_term = known ? raft_log_term_at(&r->log, p->match_index) : 0;
    m->commit_index = r->commit_index;
    m->context = r->heartbeat_context;
    m->last_log_index = raft_log_last_index(&r->log);
}

void replication_send_append(struct raft *r, struct progress *p, bool heartbeat)
{
    if (heartbeat) {
        send_heartbeat(r, p);
        return;
    }
    if (p->state == PROGRESS_SNAPSHOT || p->next_index < r->log.first_index) {
        snapshot_send(r, p); /* the entries it needs are compacted away */
        return;
    }
    uint32_t inflight_max = MIN(r->opt.inflight_messages_max, RAFT_INFLIGHT_MAX);
    if ((p->state == PROGRESS_PROBE && p->probe_sent) ||
        (p->state == PROGRESS_REPLICATE && p->inflight_count >= inflight_max)) {
        return;
    }
    size_t n = count_entries(r, p->next_index);
    if (n == 0 && p->state == PROGRESS_REPLICATE) {
        return;
    }
    struct raft_message *m = raft_outbox_push(r, RAFT_MSG_APPEND, p->id);
    if (m == NULL) {
        return;
    }
    m->prev_log_index = p->next_index - 1;
    m->prev_log_term = raft_log_term_at(&r->log, m->prev_log_index);
    m->commit_index = r->commit_index;
    m->context = r->heartbeat_context;
    m->last_log_index = raft_log_last_index(&r->log);
    m->entries_count = (uint32_t)n;
    if (p->state == PROGRESS_PROBE) {
        p->probe_sent = true;
    } else {
        p->next_index += n;
        inflight_push(p, p->next_index - 1);
    }
}

void replication_send_heartbeats(struct raft *r)
{
    for (size_t i = 0; i < r->members_count; i++) {
        if (r->progress[i].id != r->opt.id) {
            send_heartbeat(r, &r->progress[i]);
        }
    }
}

void replication_broadcast(struct raft *r, bool heartbeat)
{
    for (size_t i = 0; i < r->members_count; i++) {
        struct progress *p = &r->progress[i];
        if (p->id == r->opt.id) {
            continue;
        }
        if (heartbeat && p->state == PROGRESS_REPLICATE && p->inflight_count > 0 &&
            p->match_index == p->match_at_last_heartbeat) {
            /* Nothing acknowledged for a whole heartbeat: appends were lost. */
            progress_probe(p, p->match_index + 1);
        }
        if (heartbeat && p->state == PROGRESS_SNAPSHOT) {
            snapshot_on_heartbeat(r, p);
        }
        if (heartbeat) {
            p->match_at_last_heartbeat = p->match_index;
            if (p->state == PROGRESS_PROBE) {
                p->probe_sent = false; /* re-probe once per heartbeat interval */
                replication_send_append(r, p, false);
                continue;
            }
        }
        replication_send_append(r, p, heartbeat);
        /* A pipelining follower may get several appends at once, up to the bound. */
        while (!heartbeat && p->state == PROGRESS_REPLICATE &&
               p->next_index <= raft_log_last_index(&r->log) &&
               p->inflight_count < MIN(r->opt.inflight_messages_max, RAFT_INFLIGHT_MAX)) {
            replication_send_append(r, p, false);
        }
    }
}

static void reply_append(struct raft *r, const struct raft_message *m, bool success,
                         raft_index_t match)
{
    struct raft_message *reply = raft_outbox_push(r, RAFT_MSG_APPEND_REPLY, m->from);
    if (reply == NULL) {
        return;
    }
    reply->success = success;
    reply->match_index = match;
    reply->prev_log_index = m->prev_log_index;
    reply->last_log_index =
        success ? MAX(m->prev_log_index + m->entries_count, r->log.first_index - 1) : 0;
    reply->context = m->context;
    if (!success) {
        reply->log_lost = r->vote_barrier_index != 0;
        raft_index_t last = raft_log_last_index(&r->log);
        if (m->prev_log_index > last) {
            reply->conflict_index = last + 1;
        } else {
            raft_term_t t = raft_log_term_at(&r->log, m->prev_log_index);
            raft_index_t first = m->prev_log_index;
            while (first > r->log.first_index && raft_log_term_at(&r->log, first - 1) == t) {
                first--;
            }
            reply->conflict_term = t;
            reply->conflict_index = first;
        }
    }
}

/* Appends the entries not already present, truncating at the first conflict (§5.3
 * receiver rule 3). Returns false when out of memory (the leader will resend). */
static bool append_new_entries(struct raft *r, const struct raft_message *m)
{
    for (uint32_t i = 0; i < m->entries_count; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index < r->log.first_index) {
            continue; /* covered by our snapshot: committed, so it matches */
        }
        raft_term_t have = raft_log_term_at(&r->log, e->index);
        if (have == e->term && e->index <= raft_log_last_index(&r->log)) {
            continue;
        }
        if (e->index <= raft_log_last_index(&r->log)) {
            RAFT_ASSERT(r, e->index > r->commit_index); /* committed entries never change */
            raft_log_truncate_from(&r->log, e->index);
            r->persisted_index = MIN(r->persisted_index, e->index - 1);
            config_on_truncate(r, e->index);
        }
        if (raft_log_append_copy(&r->log, e) != 0) {
            return false;
        }
        raft_mark_persist_from(r, e->index);
        config_on_append(r, e);
    }
    return true;
}

void replication_on_append(struct raft *r, const struct raft_message *m)
{
    if (m->term < r->term) {
        reply_append(r, m, false, 0); /* tells a stale leader about the newer term */
        return;
    }
    if (r->role != RAFT_FOLLOWER || r->leader != m->from) {
        raft_become_follower(r, m->term, m->from);
    }
    r->leader_contact_ns = r->now_ns;
    raft_reset_election_timer(r);
    if (r->receive.installing) {
        return; /* the log is about to be replaced; the leader will resend */
    }
    raft_index_t last = raft_log_last_index(&r->log);
    bool below_base = m->prev_log_index + 1 < r->log.first_index;
    if (m->prev_log_index > last ||
        (!below_base && raft_log_term_at(&r->log, m->prev_log_index) != m->prev_log_term)) {
        reply_append(r, m, false, 0);
        return;
    }
    if (!append_new_entries(r, m)) {
        return;
    }
    /* Everything up to our base is committed, hence matches the leader's log. */
    raft_index_t new_last = MAX(m->prev_log_index + m->entries_count, r->log.first_index - 1);
    if (raft_mutant(r, RAFT_MUTANT_TRUNCATE_ON_STALE_APPEND) &&
        raft_log_last_index(&r->log) > new_last && new_last >= r->commit_index) {
        raft_log_truncate_from(&r->log, new_last + 1);
        r->persisted_index = MIN(r->persisted_index, new_last);
        config_on_truncate(r, new_last + 1);
        raft_mark_persist_from(r, new_last + 1);
    }
    if (m->commit_index > r->commit_index) {
        r->commit_index = MAX(r->commit_index, MIN(m->commit_index, new_last));
    }
    r->verified_index = MAX(r->verified_index, new_last);
    snapshot_forget_covered(r);
    if (r->vote_barrier_index != 0 && m->last_log_index != 0) {
        /* Holding this leader's whole log is enough: it has every committed entry. */
        r->vote_barrier_index = MIN(r->vote_barrier_index, m->last_log_index);
    }
    replication_maybe_lift_vote_barrier(r);
    /* Acknowledge only what is synced; the rest is acknowledged once the driver reports
     * it durable (replication_send_pending_ack) or by the reply to a later heartbeat. */
    reply_append(r, m, true, MIN(r->verified_index, r->persisted_index));
    if (new_last > r->persisted_index) {
        r->pending_ack_index = MAX(r->pending_ack_term == r->term ? r->pending_ack_index : 0,
                                   new_last);
        r->pending_ack_to = m->from;
        r->pending_ack_term = r->term;
    }
}

/* A damaged node votes again once a leader's entries cover, synced, what it had. */
void replication_maybe_lift_vote_barrier(struct raft *r)
{
    if (r->vote_barrier_index != 0 && r->verified_index >= r->vote_barrier_index &&
        r->persisted_index >= r->vote_barrier_index) {
        LOGI(r->opt.logger, "repaired past index %llu; voting again",
             (unsigned long long)r->vote_barrier_index);
        r->vote_barrier_index = 0;
    }
}

void replication_send_pending_ack(struct raft *r)
{
    if (r->pending_ack_index == 0 || r->pending_ack_term != r->term ||
        r->role != RAFT_FOLLOWER || r->leader != r->pending_ack_to) {
        r->pending_ack_index = 0;
        return;
    }
    struct raft_message *reply = raft_outbox_push(r, RAFT_MSG_APPEND_REPLY, r->pending_ack_to);
    if (reply == NULL) {
        return;
    }
    reply->success = true;
    reply->match_index = MIN(r->verified_index, r->persisted_index);
    reply->prev_log_index = reply->match_index;
    reply->last_log_index = r->verified_index;
    if (r->persisted_index >= r->pending_ack_index) {
        r->pending_ack_index = 0;
    }
}

/* The next index to try after a rejection, from the follower's conflict hint. */
static raft_index_t backtrack(const struct raft *r, const struct raft_message *m)
{
    raft_index_t next = m->conflict_index;
    if (m->conflict_term != 0) {
        for (raft_index_t i = MIN(m->prev_log_index, raft_log_last_index(&r->log));
             i >= r->log.first_index; i--) {
            raft_term_t t = raft_log_term_at(&r->log, i);
            if (t == m->conflict_term) {
                next = i + 1;
                break;
            }
            if (t < m->conflict_term) {
                break;
            }
        }
    }
    return MIN(next, m->prev_log_index); /* always move back past the failed prev */
}

/* A damaged follower says its log ends below the match index we hold for it: it lost
 * entries it had acknowledged. Everything it still holds below that point was synced and
 * matched ours before the damage (the damage only cuts a log short, and in this term it
 * appends only from us), so its match index drops to there and replication resumes by
 * probing from the follower's end. Without this the leader would treat the rejection as
 * stale forever and the follower would wait for another leader to repair it. A reordered
 * older rejection can lower the match index too; the next acknowledgement raises it
 * again, and a lower match index never makes a commit less safe. */
static void forget_lost_entries(struct raft *r, struct progress *p, const struct raft_message *m)
{
    LOGI(r->opt.logger, "node %u lost entries from %llu (we had it at %llu); resending",
         (unsigned)p->id, (unsigned long long)m->conflict_index,
         (unsigned long long)p->match_index);
    p->match_index = m->conflict_index - 1;
    p->match_at_last_heartbeat = p->match_index;
    progress_probe(p, m->conflict_index);
    replication_send_append(r, p, false);
}

void replication_on_append_reply(struct raft *r, const struct raft_message *m)
{
    if (r->role != RAFT_LEADER || m->term != r->term) {
        return;
    }
    struct progress *p = raft_progress_of(r, m->from);
    if (p == NULL) {
        return; /* not a member of our configuration */
    }
    p->recently_active = true;
    if (m->context > p->heartbeat_acked_context) {
        p->heartbeat_acked_context = m->context;
        read_index_on_heartbeat_ack(r);
    }
    if (p->state == PROGRESS_SNAPSHOT) {
        /* Heartbeat replies during a transfer: only what is durable counts. */
        if (m->success && m->match_index > p->match_index && m->match_index < p->next_index) {
            p->match_index = m->match_index;
            replication_maybe_commit(r);
        }
        replication_send_append(r, p, false);
        return;
    }
    if (!m->success) {
        if (m->log_lost && m->conflict_term == 0 && m->conflict_index <= p->match_index &&
            !raft_mutant(r, RAFT_MUTANT_IGNORE_LOST_ENTRIES)) {
            forget_lost_entries(r, p, m);
            return;
        }
        if (m->prev_log_index < p->match_index + 1 || m->prev_log_index >= p->next_index) {
            return; /* stale: about an index already known good, or an older probe */
        }
        progress_probe(p, MAX(backtrack(r, m), p->match_index + 1));
        replication_send_append(r, p, false);
        return;
    }
    if (m->match_index > p->match_index) {
        p->match_index = m->match_index;
        inflight_ack(p, m->match_index);
        replication_maybe_commit(r);
        /* A commit may move the configuration on (C_new after C_old,new), which moves
         * progress slots, or make a removed leader step down. */
        p = raft_progress_of(r, m->from);
        if (r->role != RAFT_LEADER || p == NULL) {
            return;
        }
        transfer_maybe_send_timeout_now(r);
    }
    /* Success means the follower's log matches ours up to last_log_index, synced or
     * not: replicate from there (syncing is acknowledged separately, via match_index).
     * A reordered, older success may cover less than what is already known. */
    raft_index_t accepted = MAX(MAX(m->match_index, m->last_log_index), p->match_index);
    if (p->state == PROGRESS_PROBE) {
        if (accepted + 1 < p->next_index) {
            return; /* an older reply; the outstanding probe is still unanswered */
        }
        p->state = PROGRESS_REPLICATE;
        p->next_index = accepted + 1;
        p->inflight_count = 0;
        p->inflight_head = 0;
        p->probe_sent = false;
        if (accepted > p->match_index) {
            /* Accepted but not yet synced: in flight until acknowledged, so that a
             * follower that loses them in a crash is probed again (see broadcast). */
            inflight_push(p, accepted);
        }
    } else if (p->next_index <= accepted) {
        p->next_index = accepted + 1;
    }
    replication_send_append(r, p, false);
    while (p->state == PROGRESS_REPLICATE && p->next_index <= raft_log_last_index(&r->log) &&
           p->inflight_count < MIN(r->opt.inflight_messages_max, RAFT_INFLIGHT_MAX)) {
        replication_send_append(r, p, false);
    }
}

static raft_index_t match_of(const void *ctx, node_id_t id)
{
    struct raft *r = (struct raft *)ctx;
    return id == r->opt.id ? r->persisted_index : raft_progress_of(r, id)->match_index;
}

static raft_index_t match_if_synced(const void *ctx, node_id_t id)
{
    struct raft *r = (struct raft *)ctx;
    return id == r->opt.id ? raft_log_last_index(&r->log) : raft_progress_of(r, id)->match_index;
}

raft_index_t raft_commit_waiting_on_self(const struct raft *r)
{
    if (r->role != RAFT_LEADER || r->persisted_index >= raft_log_last_index(&r->log)) {
        return 0;
    }
    raft_index_t candidate = config_committed_index(r, match_if_synced, r);
    if (candidate <= r->commit_index || candidate <= r->persisted_index ||
        raft_log_term_at(&r->log, candidate) != r->term) {
        return 0;
    }
    return candidate;
}

/* §5.4.2: commit the highest index stored on a quorum whose entry is of this term. The
 * leader's own copy counts only once synced. */
void replication_maybe_commit(struct raft *r)
{
    raft_index_t candidate = config_committed_index(r, match_of, r);
    if (candidate <= r->commit_index) {
        return;
    }
    if (raft_log_term_at(&r->log, candidate) != r->term &&
        !raft_mutant(r, RAFT_MUTANT_COMMIT_OLD_TERM)) {
        return;
    }
    r->commit_index = candidate;
    read_index_on_heartbeat_ack(r); /* reads waiting for the term's first commit */
    config_on_commit(r);
}
