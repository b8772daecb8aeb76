/* The simulator's membership workload (issue 4) and the configurations the checkers
 * judge by. With SIM_FAULT_MEMBERSHIP and four or more nodes, a run starts with 3 to
 * nodes-1 voters (drawn from the seed) and the other nodes as spares outside the cluster;
 * while faults run, the current leader is asked again and again to add a spare as a
 * learner, promote a learner, remove a voter (the leader among them), replace a voter by
 * a learner in one change (two voters change at once: the joint phase is what makes that
 * safe), remove a learner, and so re-add removed nodes later. The voters never drop
 * below three, so a damaged node and a crashed one cannot both block a quorum for good.
 *
 * The checkers use each node's own configuration: the latest config entry in the log it
 * would present, or its snapshot's configuration (raft_configuration for the in-memory
 * log, raft_configuration_at its synced index for the durable one). */
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "sim/sim_impl.h"

#define MEMBERSHIP_VOTERS_MIN 3

void membership_init(struct sim_world *w)
{
    uint32_t n = w->cfg.nodes_count;
    w->membership = (w->cfg.faults & SIM_FAULT_MEMBERSHIP) && n > MEMBERSHIP_VOTERS_MIN;
    uint32_t voters = w->membership ? (uint32_t)prng_range(&w->prng, MEMBERSHIP_VOTERS_MIN, n - 1)
                                    : n;
    memset(&w->initial_config, 0, sizeof w->initial_config);
    for (uint32_t i = 0; i < voters; i++) {
        w->initial_config.voters[i] = i + 1;
    }
    w->initial_config.voters_count = voters;
    for (uint32_t i = 0; i < n; i++) {
        w->nodes[i].durable_config = w->initial_config;
    }
}

uint32_t membership_voters_min(const struct sim_world *w)
{
    return w->membership ? MEMBERSHIP_VOTERS_MIN : w->cfg.nodes_count;
}

void membership_on_crash(struct sim_node *n)
{
    raft_configuration_at(n->raft, n->synced_count, &n->durable_config);
}

void membership_on_apply(struct sim_world *w, const struct raft_entry *e)
{
    struct raft_config c;
    if (e->type != RAFT_ENTRY_CONFIG || e->index <= w->membership_applied_index ||
        raft_config_decode(e->data, e->data_len, &c) != 0) {
        return;
    }
    w->membership_applied_index = e->index;
    if (!raft_config_is_joint(&c)) {
        w->result->membership_completed++;
    }
}

static node_id_t pick(struct sim_world *w, const node_id_t *ids, uint32_t count)
{
    return ids[prng_below(&w->prng, count)];
}

static struct raft_change change(enum raft_change_type type, node_id_t id)
{
    return (struct raft_change){.type = (uint8_t)type, .id = id};
}

/* Fills changes with one feasible change drawn at random; returns how many (0: none). */
static size_t plan_change(struct sim_world *w, const struct raft_config *c,
                          struct raft_change *changes)
{
    node_id_t spares[SIM_NODES_MAX];
    uint32_t spares_count = 0;
    for (uint32_t i = 0; i < w->cfg.nodes_count; i++) {
        node_id_t id = w->nodes[i].id;
        if (!raft_config_is_voter(c, id) && !raft_config_is_learner(c, id)) {
            spares[spares_count++] = id;
        }
    }
    bool can_remove_voter = c->voters_count > MEMBERSHIP_VOTERS_MIN;
    for (int attempt = 0; attempt < 8; attempt++) {
        switch (prng_below(&w->prng, 6)) {
        case 0:
            if (spares_count == 0) {
                break;
            }
            changes[0] = change(RAFT_CHANGE_ADD_LEARNER, pick(w, spares, spares_count));
            return 1;
        case 1:
            if (c->learners_count == 0) {
                break;
            }
            changes[0] = change(RAFT_CHANGE_PROMOTE, pick(w, c->learners, c->learners_count));
            return 1;
        case 2:
            if (!can_remove_voter) {
                break;
            }
            changes[0] = change(RAFT_CHANGE_REMOVE, pick(w, c->voters, c->voters_count));
            return 1;
        case 3: /* replace a voter by a learner: two voters change at once */
            if (c->learners_count == 0) {
                break;
            }
            changes[0] = change(RAFT_CHANGE_PROMOTE, pick(w, c->learners, c->learners_count));
            changes[1] = change(RAFT_CHANGE_REMOVE, pick(w, c->voters, c->voters_count));
            return 2;
        case 4:
            if (c->learners_count == 0) {
                break;
            }
            changes[0] = change(RAFT_CHANGE_REMOVE, pick(w, c->learners, c->learners_count));
            return 1;
        default: /* two voters at once: promote two learners, or remove two voters */
            if (c->learners_count >= 2) {
                changes[0] = change(RAFT_CHANGE_PROMOTE, c->learners[0]);
                changes[1] = change(RAFT_CHANGE_PROMOTE, c->learners[1]);
                return 2;
            }
            if (c->voters_count >= MEMBERSHIP_VOTERS_MIN + 2) {
                changes[0] = change(RAFT_CHANGE_REMOVE, c->voters[0]);
                changes[1] = change(RAFT_CHANGE_REMOVE, c->voters[1]);
                return 2;
            }
            break;
        }
    }
    return 0;
}

static struct sim_node *current_leader(struct sim_world *w)
{
    struct sim_node *leader = NULL;
    for (uint32_t i = 0; i < w->cfg.nodes_count; i++) {
        struct sim_node *n = &w->nodes[i];
        if (n->up && !n->paused && raft_role(n->raft) == RAFT_LEADER &&
            (leader == NULL || raft_term(n->raft) > raft_term(leader->raft))) {
            leader = n;
        }
    }
    return leader;
}

void membership_step(struct sim_world *w)
{
    struct sim_node *leader = current_leader(w);
    struct raft_change changes[2];
    size_t count = leader != NULL ? plan_change(w, raft_configuration(leader->raft), changes) : 0;
    if (count > 0) {
        bool removes_leader = false;
        for (size_t i = 0; i < count; i++) {
            removes_leader |= changes[i].type == RAFT_CHANGE_REMOVE && changes[i].id == leader->id;
        }
        raft_index_t index = 0;
        int rc = raft_change_membership(leader->raft, sim_node_now(w, leader), changes, count,
                                        &index);
        w->result->membership_attempted++;
        w->result->membership_accepted += rc == 0;
        w->result->membership_leader_removals += rc == 0 && removes_leader;
        sim_trace(w, "\"ev\":\"membership\",\"leader\":%u,\"change\":%u,\"id\":%u,\"changes\":%zu,"
                  "\"rc\":\"%s\",\"index\":%llu", leader->id, changes[0].type, changes[0].id,
                  count, err_name(rc), (unsigned long long)index);
        sim_node_process(w, leader);
        check_after_step(w, leader);
    }
    if (!w->healed) {
        uint64_t next = w->now_ns + prng_range(&w->prng, 100, 700) * SIM_MS;
        sim_schedule(w, MIN(next, w->cfg.faults_duration_ns), EV_MEMBERSHIP, 0, NULL);
    }
}
