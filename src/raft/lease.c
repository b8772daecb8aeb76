/* Lease reads (Raft thesis §6.4.1): a leader that a quorum acknowledged recently serves
 * reads from its own state, without a heartbeat round per read.
 *
 * Why it is safe: a follower that accepted an append from the leader refuses to vote
 * for anyone else for election_timeout_ns_min after it received it (leader stickiness,
 * raft_leader_heard_recently), so no new leader can be elected until that long after a
 * quorum last heard from this one. The lease starts when the leader SENT the newest
 * heartbeat round a quorum acknowledged (earlier than any follower received it) and
 * lasts election_timeout_ns_min minus clock_drift_bound_ns, measured on the leader's
 * clock: the allowance covers a leader clock that runs slow against a follower's that
 * runs fast. It is correct only while clocks drift within that bound.
 *
 * The lease ends at once when the leader steps down (it is derived from the role), and
 * when it sends TimeoutNow: the transfer's vote requests make voters waive stickiness,
 * so a new leader may be elected at any moment after that. A TimeoutNow can arrive long
 * after it was sent, so the lease is forfeited for the rest of the term, even if the
 * transfer is abandoned. Pure: see raft.h. */
#include "raft/raft_impl.h"

void lease_round_started(struct raft *r)
{
    size_t slot = r->heartbeat_context % RAFT_LEASE_ROUNDS;
    r->round_context[slot] = r->heartbeat_context;
    r->round_sent_ns[slot] = r->now_ns;
}

static raft_index_t acked_round_of(const void *ctx, node_id_t id)
{
    struct raft *r = (struct raft *)ctx;
    if (id == r->opt.id) {
        return r->heartbeat_context; /* the leader counts itself for every round */
    }
    const struct progress *p = raft_progress_of(r, id);
    return p != NULL ? p->heartbeat_acked_context : 0;
}

/* The newest round a quorum of the configuration in effect (both majorities while joint)
 * acknowledged: the same order statistic as a commit index. */
static uint64_t quorum_acked_round(const struct raft *r)
{
    return config_committed_index(r, acked_round_of, r);
}

static uint64_t lease_duration_ns(const struct raft *r)
{
    if (raft_mutant(r, RAFT_MUTANT_LEASE_WITHOUT_DRIFT_ALLOWANCE)) {
        return r->opt.election_timeout_ns_min;
    }
    return r->opt.election_timeout_ns_min - r->opt.clock_drift_bound_ns;
}

bool raft_lease_holds(const struct raft *r, uint64_t now_ns)
{
    if (r->role != RAFT_LEADER || r->opt.read_mode != RAFT_READ_LEASE) {
        return false;
    }
    if (r->lease_forfeited && !raft_mutant(r, RAFT_MUTANT_LEASE_KEPT_AFTER_TIMEOUT_NOW)) {
        return false;
    }
    uint64_t round = quorum_acked_round(r);
    size_t slot = round % RAFT_LEASE_ROUNDS;
    if (round == 0 || r->round_context[slot] != round) {
        return false; /* never acknowledged, or too old to remember */
    }
    return now_ns < r->round_sent_ns[slot] + lease_duration_ns(r);
}

/* Serves the read at the commit index when the lease holds and the commit index is
 * known to be current (an entry of this term is committed). */
bool lease_serve_read(struct raft *r, uint64_t request_id)
{
    if (r->commit_index < r->first_index_of_term || !raft_lease_holds(r, r->now_ns)) {
        return false;
    }
    struct raft_read_ready *ready = &r->reads_ready[r->reads_ready_count++];
    ready->request_id = request_id;
    ready->read_index = r->commit_index;
    return true;
}
