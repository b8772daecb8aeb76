/* Leadership transfers in the simulated workload: now and then the fault schedule tells
 * the current leader to hand over to a random other node (which may be down, cut off or
 * behind), as an operator would before maintenance. The run's summary counts the
 * transfers begun and those whose target became the next leader; the checkers judge
 * the rest (no acknowledged write lost, linearizable reads, even with leases). */
#include "sim/sim_impl.h"

static struct sim_node *find_leader(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->cfg.nodes_count; i++) {
        struct sim_node *n = &w->nodes[i];
        if (n->up && !n->paused && raft_role(n->raft) == RAFT_LEADER) {
            return n;
        }
    }
    return NULL;
}

void transfer_start_random(struct sim_world *w)
{
    struct sim_node *leader = find_leader(w);
    if (leader == NULL || w->cfg.nodes_count < 2) {
        return;
    }
    node_id_t target = (node_id_t)prng_range(&w->prng, 1, w->cfg.nodes_count - 1);
    target += target >= leader->id; /* any node but the leader */
    int rc = raft_transfer_leadership(leader->raft, sim_node_now(w, leader), target);
    sim_trace(w, "\"ev\":\"transfer\",\"from\":%u,\"to\":%u,\"rc\":%d", leader->id, target, rc);
    if (rc != 0) {
        return; /* another transfer is under way */
    }
    w->result->transfers++;
    w->transfer_target = target;
    w->transfer_term = raft_term(leader->raft);
    sim_node_process(w, leader);
}

/* Lease safety (thesis §6.4.1): when a node becomes leader, no other node may still
 * hold a read lease, on its own clock: it could serve reads that miss the new leader's
 * writes. The linearizability checker catches that only when a client happens to read
 * there in the window; this catches the overlap itself. */
void check_no_lease_overlap(struct sim_world *w, struct sim_node *n)
{
    for (uint32_t i = 0; i < w->cfg.nodes_count; i++) {
        struct sim_node *o = &w->nodes[i];
        if (o != n && o->up && raft_lease_holds(o->raft, sim_node_now(w, o))) {
            sim_fail(w, "lease_safety", "node %u leads term %llu while node %u holds a lease "
                     "of term %llu", n->id, (unsigned long long)raft_term(n->raft), o->id,
                     (unsigned long long)raft_term(o->raft));
            return;
        }
    }
}

/* The first leader of a later term decides the transfer: its target or someone else. */
void transfer_on_new_leader(struct sim_world *w, struct sim_node *n)
{
    if (w->transfer_target == 0 || raft_term(n->raft) <= w->transfer_term) {
        return;
    }
    if (n->id == w->transfer_target) {
        w->result->transfers_succeeded++;
    }
    w->transfer_target = 0;
}
