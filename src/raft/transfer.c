/* Leadership transfer (Raft thesis §3.10): the leader hands its role to a chosen voter,
 * for a planned shutdown or to move load, without waiting for an election timeout.
 *
 *   1. raft_transfer_leadership: the leader stops accepting proposals (they are refused
 *      with ERR_TRANSFERRING, never appended, so none can be accepted and then lost in
 *      the hand-over) and keeps replicating to the target;
 *   2. once the target has synced the leader's whole log, the leader sends TimeoutNow
 *      and forfeits its read lease (see lease.c);
 *   3. the target starts a real election at once, skipping PreVote, and marks its vote
 *      requests `transfer` so that voters waive leader stickiness for it: they heard
 *      from the old leader moments ago, and that leader asked for this election.
 * The transfer ends when the leader steps down (normally to the target's higher term),
 * or is abandoned after one minimum election timeout, after which proposals are
 * accepted again. A leader removed from the configuration starts one by itself once
 * C_new commits, to the most caught-up voter of C_new (config.c), and steps down when it
 * ends either way. Pure: see raft.h. */
#include "base/errors.h"
#include "raft/raft_impl.h"

void transfer_reset(struct raft *r)
{
    r->transfer_target = 0;
    r->transfer_deadline_ns = 0;
    r->timeout_now_sent = false;
}

int raft_transfer_leadership(struct raft *r, uint64_t now_ns, node_id_t target)
{
    if (now_ns > r->now_ns) {
        r->now_ns = now_ns;
    }
    if (r->role != RAFT_LEADER) {
        return ERR_NOT_LEADER;
    }
    if (target == r->opt.id) {
        return ERR_INVALID;
    }
    if (!config_counts(r, target)) {
        return ERR_NOT_FOUND; /* not a voter of the configuration in effect */
    }
    if (r->transfer_target != 0) {
        return r->transfer_target == target ? 0 : ERR_BUSY;
    }
    LOGI(r->opt.logger, "transferring leadership to %u", target);
    r->transfer_target = target;
    r->transfer_deadline_ns = r->now_ns + r->opt.election_timeout_ns_min;
    r->timeout_now_sent = false;
    transfer_maybe_send_timeout_now(r);
    if (!r->timeout_now_sent) {
        replication_send_append(r, raft_progress_of(r, target), false);
    }
    raft_release_messages(r);
    return 0;
}

node_id_t raft_transfer_target(const struct raft *r) { return r->transfer_target; }

node_id_t raft_most_up_to_date_follower(const struct raft *r)
{
    if (r->role != RAFT_LEADER) {
        return 0;
    }
    node_id_t best = 0;
    raft_index_t best_match = 0;
    for (size_t i = 0; i < r->members_count; i++) {
        const struct progress *p = &r->progress[i];
        if (p->id != r->opt.id && config_counts(r, p->id) &&
            (best == 0 || p->match_index > best_match)) {
            best = p->id;
            best_match = p->match_index;
        }
    }
    return best;
}

/* Sends TimeoutNow once the target holds, synced, everything the leader has: it then
 * wins the election (its log is at least as up to date as any voter's). */
void transfer_maybe_send_timeout_now(struct raft *r)
{
    if (r->role != RAFT_LEADER || r->transfer_target == 0 || r->timeout_now_sent) {
        return;
    }
    const struct progress *p = raft_progress_of(r, r->transfer_target);
    if (p == NULL || !config_counts(r, r->transfer_target)) {
        /* A membership change removed the target (or made it a learner): abandon. */
        LOGI(r->opt.logger, "transfer to %u abandoned: no longer a voter", r->transfer_target);
        r->transfer_target = 0;
        return;
    }
    if (p->match_index < raft_log_last_index(&r->log)) {
        return;
    }
    /* The lease ends before the message can leave: its election waives stickiness. */
    r->lease_forfeited = true;
    r->timeout_now_sent = true;
    raft_outbox_push(r, RAFT_MSG_TIMEOUT_NOW, r->transfer_target);
    LOGI(r->opt.logger, "TimeoutNow to %u", r->transfer_target);
}

void transfer_on_timeout_now(struct raft *r, const struct raft_message *m)
{
    /* Only the leader of our current term sends it; one from an earlier term is stale.
     * A damaged log cannot campaign (see struct raft_boot). */
    if (m->term != r->term || r->role == RAFT_LEADER || r->vote_barrier_index != 0) {
        return;
    }
    LOGI(r->opt.logger, "TimeoutNow from %u: campaigning", m->from);
    election_start(r, CAMPAIGN_TRANSFER);
}

/* A transfer that has not completed within an election timeout is abandoned: the
 * target is unreachable or slow, and the cluster needs its leader to take writes. */
void transfer_tick(struct raft *r)
{
    if (r->transfer_target != 0 && r->now_ns >= r->transfer_deadline_ns) {
        LOGI(r->opt.logger, "transfer to %u abandoned", r->transfer_target);
        transfer_reset(r);
    }
}
