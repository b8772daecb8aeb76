/* Leader election: randomized timeouts and RequestVote (Raft §5.2, §5.4.1), PreVote
 * (thesis §9.6), leader stickiness (thesis §9.6, waived only for a campaign ordered by
 * TimeoutNow, §3.10) and the transition to leader (§5.3, §8: a new leader commits a
 * no-op of its own term). */
#include <string.h>

#include "raft/raft_impl.h"

static void count_self_vote(struct raft *r)
{
    memset(r->votes_granted, 0, sizeof r->votes_granted);
    memset(r->votes_answered, 0, sizeof r->votes_answered);
    size_t self = raft_member_slot(r, r->opt.id);
    if (self != SIZE_MAX) {
        r->votes_granted[self] = true;
        r->votes_answered[self] = true;
    }
}

static bool vote_granted(const void *ctx, node_id_t id)
{
    const struct raft *r = ctx;
    size_t slot = raft_member_slot(r, id);
    return slot != SIZE_MAX && r->votes_granted[slot];
}

/* Starts a PreVote round or a real election: a candidate increments its term and votes
 * for itself; the vote requests leave only after that vote is durable. */
void election_start(struct raft *r, enum campaign kind)
{
    bool pre_vote = kind == CAMPAIGN_PRE_VOTE;
    raft_reset_election_timer(r);
    if (pre_vote) {
        r->role = RAFT_PRE_CANDIDATE;
    } else {
        raft_set_term(r, r->term + 1);
        r->vote = r->opt.id;
        r->role = RAFT_CANDIDATE;
    }
    r->leader = 0;
    count_self_vote(r);
    LOGD(r->opt.logger, "%s for term %llu", pre_vote ? "pre-vote" : "election",
         (unsigned long long)(r->term + (pre_vote ? 1 : 0)));
    if (config_has_quorum(r, vote_granted, r)) {
        if (pre_vote) {
            election_start(r, CAMPAIGN_ELECTION);
        } else {
            election_become_leader(r);
        }
        return;
    }
    for (size_t i = 0; i < r->members_count; i++) {
        node_id_t peer = r->members[i];
        if (peer == r->opt.id || !config_counts(r, peer)) {
            continue;
        }
        struct raft_message *m = raft_outbox_push(r, RAFT_MSG_VOTE, peer);
        if (m == NULL) {
            continue;
        }
        m->term = pre_vote ? r->term + 1 : r->term;
        m->pre_vote = pre_vote;
        m->transfer = kind == CAMPAIGN_TRANSFER;
        m->last_log_index = raft_log_last_index(&r->log);
        m->last_log_term = raft_log_last_term(&r->log);
    }
}

/* §5.4.1: the candidate's log is at least as up-to-date as ours. */
static bool log_up_to_date(const struct raft *r, raft_term_t last_term, raft_index_t last_index)
{
    if (raft_mutant(r, RAFT_MUTANT_VOTE_WITHOUT_LOG_CHECK)) {
        return true;
    }
    raft_term_t our_term = raft_log_last_term(&r->log);
    if (last_term != our_term) {
        return last_term > our_term;
    }
    return last_index >= raft_log_last_index(&r->log);
}

void election_on_vote(struct raft *r, const struct raft_message *m)
{
    bool grant = false;
    if (r->vote_barrier_index != 0) {
        grant = false; /* a damaged log cannot vouch for what it acknowledged */
    } else if (m->pre_vote) {
        /* Grant a PreVote when a real vote could be granted: the term would be newer
         * and no leader has been heard from within the minimum election timeout. */
        grant = m->term > r->term && !raft_leader_heard_recently(r) &&
                log_up_to_date(r, m->last_log_term, m->last_log_index);
    } else if (m->term == r->term) {
        /* Stickiness holds within a term too: a vote must not help elect a new leader
         * while a leader's lease may rest on our recent acknowledgement (lease.c). */
        bool sticky = r->vote != m->from && !m->transfer && raft_leader_heard_recently(r);
        grant = (r->vote == 0 || r->vote == m->from) && !sticky &&
                log_up_to_date(r, m->last_log_term, m->last_log_index);
        if (grant) {
            r->vote = m->from;
            raft_reset_election_timer(r);
        }
    }
    struct raft_message *reply = raft_outbox_push(r, RAFT_MSG_VOTE_REPLY, m->from);
    if (reply == NULL) {
        return;
    }
    reply->pre_vote = m->pre_vote;
    reply->granted = grant;
    /* A granted PreVote answers in the requested term so the requester counts it. */
    reply->term = m->pre_vote && grant ? m->term : r->term;
}

void election_on_vote_reply(struct raft *r, const struct raft_message *m)
{
    bool pre = r->role == RAFT_PRE_CANDIDATE;
    if (!(pre || r->role == RAFT_CANDIDATE) || m->pre_vote != pre) {
        return;
    }
    if (pre && !m->granted && m->term > r->term) {
        /* Someone is ahead of us: follow that term (§5.1), without a leader yet. */
        raft_become_follower(r, m->term, 0);
        return;
    }
    raft_term_t expect = pre ? r->term + 1 : r->term;
    if (m->term != expect) {
        return;
    }
    size_t slot = raft_member_slot(r, m->from);
    if (slot == SIZE_MAX) {
        return; /* not a member of our configuration */
    }
    r->votes_answered[slot] = true;
    r->votes_granted[slot] = m->granted;
    if (!config_has_quorum(r, vote_granted, r)) {
        return;
    }
    if (pre) {
        election_start(r, CAMPAIGN_ELECTION);
    } else {
        election_become_leader(r);
    }
}

void election_become_leader(struct raft *r)
{
    RAFT_ASSERT(r, r->role == RAFT_CANDIDATE);
    r->role = RAFT_LEADER;
    r->leader = r->opt.id;
    LOGI(r->opt.logger, "leader for term %llu", (unsigned long long)r->term);
    raft_index_t last = raft_log_last_index(&r->log);
    for (size_t i = 0; i < r->members_count; i++) {
        struct progress *p = &r->progress[i];
        memset(p, 0, sizeof *p);
        p->id = r->members[i];
        p->next_index = last + 1;
        p->state = PROGRESS_PROBE;
        p->recently_active = true;
    }
    r->check_quorum_deadline_ns = r->now_ns + r->opt.election_timeout_ns_min;
    r->lease_forfeited = false;
    transfer_reset(r);
    r->hand_over_started = false;
    r->heartbeat_deadline_ns = r->now_ns + r->opt.heartbeat_interval_ns;
    /* §8: a no-op in the new term lets the leader learn and advance its commit index. */
    struct raft_entry noop = {.term = r->term, .index = last + 1, .type = RAFT_ENTRY_NOOP};
    if (raft_log_append_copy(&r->log, &noop) == 0) {
        raft_mark_persist_from(r, noop.index);
        r->first_index_of_term = noop.index;
    }
    replication_broadcast(r, false);
}
