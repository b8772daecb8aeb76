/* ReadIndex (thesis §6.4): a linearizable read without a log entry. The leader records
 * its commit index (at least its term's no-op, so it knows every earlier commit), then
 * confirms it is still leader by a heartbeat round acknowledged by a quorum; the read may
 * be served once the state machine has applied up to that index.
 *
 * Batching: a read waits for the first round that starts after it. A new round starts
 * only when the driver takes its next update (raft_get_update), not at the first read,
 * so every read registered in one turn of the driver shares one round; the round's
 * heartbeats leave after all of them were registered, which is what makes it confirm
 * them. Reads that come while a round is in flight wait for the next one. */
#include "base/errors.h"
#include "raft/raft_impl.h"

/* Every heartbeat round gets a new number, echoed in the replies; the lease remembers
 * when each started. */
void read_index_new_round(struct raft *r)
{
    r->heartbeat_context++;
    lease_round_started(r);
}

static void start_round(struct raft *r)
{
    read_index_new_round(r);
    r->read_round_in_flight = true;
    replication_send_heartbeats(r);
}

int raft_read_index(struct raft *r, uint64_t now_ns, uint64_t request_id)
{
    if (now_ns > r->now_ns) {
        r->now_ns = now_ns;
    }
    if (r->role != RAFT_LEADER) {
        return ERR_NOT_LEADER;
    }
    size_t outstanding = r->reads_count + r->reads_ready_count + r->reads_failed_count;
    if (outstanding >= RAFT_PENDING_READS_MAX) {
        return ERR_BUSY;
    }
    if (lease_serve_read(r, request_id)) {
        return 0;
    }
    /* Batching: every read registered while a round is in flight waits for the next
     * round, which starts after it and so confirms leadership after the read began. */
    struct pending_read *pr = &r->reads[r->reads_count++];
    pr->request_id = request_id;
    pr->read_index = MAX(r->commit_index, r->first_index_of_term);
    pr->context = r->heartbeat_context + 1;
    if (!r->read_round_in_flight) {
        r->read_round_pending = true;
    }
    read_index_on_heartbeat_ack(r); /* a single-node cluster confirms at once */
    raft_release_messages(r);
    return 0;
}

struct round_ack {
    struct raft *r;
    uint64_t context;
};

static bool acked_round(const void *ctx, node_id_t id)
{
    const struct round_ack *a = ctx;
    return id == a->r->opt.id || raft_progress_of(a->r, id)->heartbeat_acked_context >= a->context;
}

static bool confirmed_by_quorum(struct raft *r, uint64_t context)
{
    struct round_ack a = {r, context};
    return config_has_quorum(r, acked_round, &a);
}

/* Releases, in order, every read whose heartbeat round a quorum acknowledged, once the
 * leader has committed an entry of its own term. */
void read_index_on_heartbeat_ack(struct raft *r)
{
    if (r->role != RAFT_LEADER || r->commit_index < r->first_index_of_term) {
        return;
    }
    size_t done = 0;
    while (done < r->reads_count && confirmed_by_quorum(r, r->reads[done].context)) {
        struct raft_read_ready *ready = &r->reads_ready[r->reads_ready_count++];
        ready->request_id = r->reads[done].request_id;
        ready->read_index = r->reads[done].read_index;
        done++;
    }
    for (size_t i = done; i < r->reads_count; i++) {
        r->reads[i - done] = r->reads[i];
    }
    r->reads_count -= done;
    if (r->read_round_in_flight && confirmed_by_quorum(r, r->heartbeat_context)) {
        r->read_round_in_flight = false;
    }
    if (r->reads_count > 0 && !r->read_round_in_flight) {
        r->read_round_pending = true;
    }
}

void read_index_start_pending_round(struct raft *r)
{
    if (!r->read_round_pending) {
        return;
    }
    r->read_round_pending = false;
    /* A heartbeat tick may have started a round since: it confirms the reads registered
     * before it, so a round is needed only for a read after it. */
    if (r->role == RAFT_LEADER && r->reads_count > 0 && !r->read_round_in_flight &&
        r->reads[r->reads_count - 1].context > r->heartbeat_context) {
        start_round(r);
        raft_release_messages(r);
    }
}

void read_index_fail_all(struct raft *r)
{
    for (size_t i = 0; i < r->reads_count; i++) {
        r->reads_failed[r->reads_failed_count++] = r->reads[i].request_id;
    }
    r->reads_count = 0;
    r->read_round_in_flight = false;
    r->read_round_pending = false;
}
