/* Scripted scenarios against the Raft core: each test drives nodes by hand, delivering
 * exactly the messages it chooses and reporting durability when it chooses, and asserts
 * one rule of the algorithm. The simulator covers the same rules under random faults. */
#include <stdlib.h>

#include "base/errors.h"
#include "harness.h"
#include "raft/raft.h"

#define MS 1000000ull

struct cluster {
    struct raft *nodes[5];
    uint32_t count;
    uint64_t now;
    struct raft_message out[64]; /* messages collected from the last drain of a node */
    size_t out_count;
    struct raft_entry out_entries[64][8];
};

static struct raft *make_node(node_id_t id, uint32_t count, const struct raft_boot *boot)
{
    node_id_t voters[5] = {1, 2, 3, 4, 5};
    struct raft_options o;
    raft_options_default(&o, id, voters, count);
    o.election_timeout_ns_min = 100 * MS;
    o.heartbeat_interval_ns = 20 * MS;
    o.prng_seed = id * 7919;
    struct raft_boot empty = {0};
    return raft_create(&o, boot != NULL ? boot : &empty, 0);
}

static void cluster_init(struct cluster *c, uint32_t count)
{
    memset(c, 0, sizeof *c);
    c->count = count;
    for (uint32_t i = 0; i < count; i++) {
        c->nodes[i] = make_node(i + 1, count, NULL);
    }
}

static void cluster_free(struct cluster *c)
{
    for (uint32_t i = 0; i < c->count; i++) {
        raft_destroy(c->nodes[i]);
    }
}

/* Takes node's update; reports persistence immediately when `sync` is set; keeps its
 * messages in c->out (entries copied shallowly, valid until the node changes). */
static void drain(struct cluster *c, struct raft *r, bool sync)
{
    c->out_count = 0;
    while (raft_has_update(r)) {
        struct raft_update u;
        raft_get_update(r, &u);
        raft_term_t term = u.term;
        node_id_t vote = u.vote;
        bool hs = u.hard_state_changed;
        raft_index_t last = 0;
        raft_term_t last_term = 0;
        if (u.persist_entries_count > 0) {
            last = u.persist_entries[u.persist_entries_count - 1].index;
            last_term = u.persist_entries[u.persist_entries_count - 1].term;
        }
        for (size_t i = 0; i < u.messages_count && c->out_count < 64; i++) {
            struct raft_message *m = &c->out[c->out_count];
            *m = u.messages[i];
            CHECK(m->entries_count <= 8);
            for (uint32_t k = 0; k < m->entries_count; k++) {
                c->out_entries[c->out_count][k] = m->entries[k];
            }
            m->entries = c->out_entries[c->out_count];
            c->out_count++;
        }
        raft_update_done(r);
        if (sync && hs) {
            raft_persisted_hard_state(r, c->now, term, vote);
        }
        if (sync && last != 0) {
            raft_persisted_entries(r, c->now, last, last_term);
        }
    }
}

static struct raft_message *find_msg(struct cluster *c, uint8_t type, node_id_t to)
{
    for (size_t i = 0; i < c->out_count; i++) {
        if (c->out[i].type == type && c->out[i].to == to) {
            return &c->out[i];
        }
    }
    return NULL;
}

/* One round trip from node 1: its messages (synced) to every peer, their answers
 * (synced) back. */
static void round_trip_from_node1(struct cluster *c)
{
    drain(c, c->nodes[0], true);
    struct raft_message batch[64];
    size_t n = c->out_count;
    memcpy(batch, c->out, n * sizeof *batch);
    for (size_t i = 0; i < n; i++) {
        struct raft *peer = c->nodes[batch[i].to - 1];
        raft_receive(peer, c->now, &batch[i]);
        drain(c, peer, true);
        for (size_t k = 0; k < c->out_count; k++) {
            raft_receive(c->nodes[0], c->now, &c->out[k]);
        }
    }
}

/* Runs node 1 into leadership of a healthy cluster, delivering everything. */
static void elect_node1(struct cluster *c)
{
    for (int round = 0; round < 200 && raft_role(c->nodes[0]) != RAFT_LEADER; round++) {
        c->now += 5 * MS;
        raft_tick(c->nodes[0], c->now);
        round_trip_from_node1(c);
    }
}

TEST(single_node_elects_itself_and_commits_after_sync)
{
    struct cluster c;
    cluster_init(&c, 1);
    struct raft *r = c.nodes[0];
    c.now = 500 * MS;
    raft_tick(r, c.now);
    CHECK_EQ(raft_role(r), RAFT_LEADER);
    CHECK_EQ(raft_term(r), 1);
    raft_index_t idx;
    CHECK_EQ(raft_propose(r, c.now, (const uint8_t *)"x", 1, &idx), 0);
    CHECK_EQ(idx, 2); /* after the term's no-op */
    drain(&c, r, false);
    CHECK_EQ(raft_commit_index(r), 0); /* nothing synced, nothing committed */
    raft_persisted_entries(r, c.now, 2, 1);
    CHECK_EQ(raft_commit_index(r), 2);
    cluster_free(&c);
}

TEST(candidate_holds_vote_requests_until_its_vote_is_durable)
{
    struct cluster c;
    cluster_init(&c, 3);
    struct raft *r = c.nodes[0];
    c.now = 500 * MS;
    raft_tick(r, c.now); /* pre-vote round: no term change, messages flow at once */
    drain(&c, r, false);
    CHECK(find_msg(&c, RAFT_MSG_VOTE, 2) != NULL);
    CHECK(find_msg(&c, RAFT_MSG_VOTE, 2)->pre_vote);
    struct raft_message grant = {.type = RAFT_MSG_VOTE_REPLY, .from = 2, .to = 1, .term = 1,
                                 .pre_vote = true, .granted = true};
    raft_receive(r, c.now, &grant);
    CHECK_EQ(raft_role(r), RAFT_CANDIDATE);
    CHECK_EQ(raft_term(r), 1);
    drain(&c, r, false); /* the vote for itself is not durable yet */
    CHECK(find_msg(&c, RAFT_MSG_VOTE, 2) == NULL);
    raft_persisted_hard_state(r, c.now, 1, 1);
    drain(&c, r, false);
    struct raft_message *req = find_msg(&c, RAFT_MSG_VOTE, 2);
    CHECK(req != NULL && !req->pre_vote && req->term == 1);
    cluster_free(&c);
}

TEST(voter_rejects_candidate_with_stale_log)
{
    node_id_t voters[3] = {1, 2, 3};
    struct raft_entry e = {.term = 2, .index = 1};
    struct raft_boot boot = {.term = 2, .first_index = 1, .entries = &e, .entries_count = 1};
    struct raft_options o;
    raft_options_default(&o, 2, voters, 3);
    struct raft *r = raft_create(&o, &boot, 0);
    struct raft_message req = {.type = RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 3,
                               .last_log_index = 5, .last_log_term = 1};
    raft_receive(r, 1000 * MS, &req);
    CHECK_EQ(raft_term(r), 3);
    CHECK_EQ(raft_vote(r), 0);
    struct raft_message ok = req;
    ok.from = 3;
    ok.last_log_index = 1;
    ok.last_log_term = 2;
    raft_receive(r, 1000 * MS, &ok);
    CHECK_EQ(raft_vote(r), 3);
    raft_destroy(r);
}

TEST(follower_rejects_append_with_stale_term)
{
    struct cluster c;
    cluster_init(&c, 3);
    struct raft *f = c.nodes[1];
    struct raft_message hb = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 5};
    raft_receive(f, MS, &hb);
    CHECK_EQ(raft_term(f), 5);
    CHECK_EQ(raft_leader(f), 1);
    drain(&c, f, true);
    struct raft_message stale = {.type = RAFT_MSG_APPEND, .from = 3, .to = 2, .term = 4};
    raft_receive(f, 2 * MS, &stale);
    drain(&c, f, true);
    struct raft_message *reply = find_msg(&c, RAFT_MSG_APPEND_REPLY, 3);
    CHECK(reply != NULL && !reply->success && reply->term == 5);
    CHECK_EQ(raft_leader(f), 1);
    cluster_free(&c);
}

TEST(follower_reports_conflict_term_and_its_first_index)
{
    node_id_t voters[3] = {1, 2, 3};
    struct raft_entry es[4] = {{.term = 1, .index = 1}, {.term = 2, .index = 2},
                               {.term = 2, .index = 3}, {.term = 2, .index = 4}};
    struct raft_boot boot = {.term = 2, .first_index = 1, .entries = es, .entries_count = 4};
    struct raft_options o;
    raft_options_default(&o, 2, voters, 3);
    struct raft *r = raft_create(&o, &boot, 0);
    struct raft_message app = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 3,
                               .prev_log_index = 4, .prev_log_term = 3};
    raft_receive(r, MS, &app);
    struct cluster c;
    memset(&c, 0, sizeof c);
    drain(&c, r, true);
    struct raft_message *reply = find_msg(&c, RAFT_MSG_APPEND_REPLY, 1);
    CHECK(reply != NULL && !reply->success);
    CHECK_EQ(reply->conflict_term, 2);
    CHECK_EQ(reply->conflict_index, 2);
    raft_destroy(r);
}

TEST(follower_acknowledges_only_synced_entries)
{
    struct cluster c;
    cluster_init(&c, 3);
    struct raft *f = c.nodes[1];
    struct raft_entry e = {.term = 1, .index = 1, .data_len = 1, .data = (uint8_t *)"a"};
    struct raft_message app = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1,
                               .entries = &e, .entries_count = 1, .commit_index = 0};
    raft_receive(f, MS, &app);
    raft_persisted_hard_state(f, MS, 1, 0);
    drain(&c, f, false);
    struct raft_message *reply = find_msg(&c, RAFT_MSG_APPEND_REPLY, 1);
    CHECK(reply != NULL && reply->success);
    CHECK_EQ(reply->match_index, 0); /* not synced yet */
    raft_persisted_entries(f, 2 * MS, 1, 1);
    drain(&c, f, false);
    reply = find_msg(&c, RAFT_MSG_APPEND_REPLY, 1);
    CHECK(reply != NULL && reply->success);
    CHECK_EQ(reply->match_index, 1);
    cluster_free(&c);
}

TEST(leader_does_not_commit_earlier_term_entry_by_counting)
{
    /* Figure 8: the leader of term 3 holds an entry of term 2 replicated on a majority.
     * It must not commit it until an entry of term 3 is replicated. */
    node_id_t voters[3] = {1, 2, 3};
    struct raft_entry es[2] = {{.term = 1, .index = 1}, {.term = 2, .index = 2}};
    struct raft_boot boot = {.term = 2, .first_index = 1, .entries = es, .entries_count = 2};
    struct raft_options o;
    raft_options_default(&o, 1, voters, 3);
    o.pre_vote = false;
    struct raft *r = raft_create(&o, &boot, 0);
    struct cluster c;
    memset(&c, 0, sizeof c);
    raft_tick(r, 1000 * MS);
    drain(&c, r, true);
    CHECK_EQ(raft_role(r), RAFT_CANDIDATE);
    struct raft_message v = {.type = RAFT_MSG_VOTE_REPLY, .from = 2, .to = 1, .term = 3,
                             .granted = true};
    raft_receive(r, 1000 * MS, &v);
    CHECK_EQ(raft_role(r), RAFT_LEADER);
    drain(&c, r, false); /* the no-op (index 3, term 3) is not synced */
    struct raft_message ack = {.type = RAFT_MSG_APPEND_REPLY, .from = 2, .to = 1, .term = 3,
                               .success = true, .match_index = 2, .prev_log_index = 2};
    raft_receive(r, 1001 * MS, &ack);
    raft_persisted_entries(r, 1001 * MS, 2, 2);
    CHECK_EQ(raft_commit_index(r), 0); /* index 2 is on a majority but of term 2 */
    raft_persisted_entries(r, 1002 * MS, 3, 3);
    ack.match_index = 3;
    ack.prev_log_index = 3;
    raft_receive(r, 1002 * MS, &ack);
    CHECK_EQ(raft_commit_index(r), 3);
    raft_destroy(r);
}

TEST(followers_commit_without_the_leaders_sync_and_say_when_they_cannot)
{
    /* Thesis §10.2.1: a majority of followers may commit an entry the leader has not
     * synced; raft_commit_waiting_on_self names the index only the leader's sync can
     * commit. */
    struct cluster c;
    cluster_init(&c, 3);
    elect_node1(&c);
    struct raft *l = c.nodes[0];
    CHECK_EQ(raft_role(l), RAFT_LEADER);
    for (int round = 0; round < 3; round++) { /* the term's no-op, synced everywhere */
        round_trip_from_node1(&c);
    }
    raft_index_t base = raft_commit_index(l);
    CHECK(base >= 1);
    CHECK_EQ(raft_commit_waiting_on_self(l), 0);
    raft_index_t idx = 0;
    CHECK_EQ(raft_propose(l, c.now, (const uint8_t *)"x", 1, &idx), 0);
    drain(&c, l, false); /* the leader does not sync */
    struct raft_message appends[2];
    size_t n = 0;
    for (size_t i = 0; i < c.out_count; i++) {
        if (c.out[i].type == RAFT_MSG_APPEND && c.out[i].entries_count > 0 && n < 2) {
            appends[n++] = c.out[i];
        }
    }
    CHECK_EQ(n, 2);
    CHECK_EQ(raft_commit_waiting_on_self(l), 0); /* no follower holds it yet */
    struct raft_message acks[2];
    for (size_t i = 0; i < 2; i++) {
        struct raft *f = c.nodes[appends[i].to - 1];
        raft_receive(f, c.now, &appends[i]);
        drain(&c, f, true);
        struct raft_message *ack = NULL; /* the last: the one sent once synced */
        for (size_t k = 0; k < c.out_count; k++) {
            if (c.out[k].type == RAFT_MSG_APPEND_REPLY) {
                ack = &c.out[k];
            }
        }
        CHECK(ack != NULL && ack->match_index == idx);
        acks[i] = *ack;
    }
    raft_receive(l, c.now, &acks[0]);
    CHECK_EQ(raft_commit_index(l), base);          /* one follower and an unsynced leader */
    CHECK_EQ(raft_commit_waiting_on_self(l), idx); /* the leader's sync alone would do */
    raft_receive(l, c.now, &acks[1]);
    CHECK_EQ(raft_commit_index(l), idx); /* both followers: committed, leader unsynced */
    CHECK(raft_persisted_index(l) < idx);
    CHECK_EQ(raft_commit_waiting_on_self(l), 0);
    cluster_free(&c);
}

TEST(leader_steps_down_without_quorum_contact)
{
    struct cluster c;
    cluster_init(&c, 3);
    elect_node1(&c);
    struct raft *l = c.nodes[0];
    CHECK_EQ(raft_role(l), RAFT_LEADER);
    /* No replies at all for two election timeouts. */
    for (int i = 0; i < 100; i++) {
        c.now += 5 * MS;
        raft_tick(l, c.now);
        drain(&c, l, true);
    }
    CHECK(raft_role(l) != RAFT_LEADER);
    cluster_free(&c);
}

TEST(follower_with_live_leader_ignores_vote_requests)
{
    struct cluster c;
    cluster_init(&c, 3);
    struct raft *f = c.nodes[1];
    struct raft_message hb = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1};
    raft_receive(f, 10 * MS, &hb);
    struct raft_message req = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 2};
    raft_receive(f, 20 * MS, &req);
    CHECK_EQ(raft_term(f), 1); /* leader stickiness: no term bump */
    CHECK_EQ(raft_vote(f), 0);
    cluster_free(&c);
}

TEST(read_index_waits_for_a_quorum_heartbeat_round)
{
    struct cluster c;
    cluster_init(&c, 3);
    elect_node1(&c);
    struct raft *l = c.nodes[0];
    CHECK_EQ(raft_role(l), RAFT_LEADER);
    /* Let the no-op commit. */
    for (int i = 0; i < 10; i++) {
        c.now += 5 * MS;
        raft_tick(l, c.now);
        drain(&c, l, true);
        struct raft_message batch[64];
        size_t n = c.out_count;
        memcpy(batch, c.out, n * sizeof *batch);
        for (size_t k = 0; k < n; k++) {
            raft_receive(c.nodes[batch[k].to - 1], c.now, &batch[k]);
            drain(&c, c.nodes[batch[k].to - 1], true);
            for (size_t j = 0; j < c.out_count; j++) {
                raft_receive(l, c.now, &c.out[j]);
            }
        }
    }
    CHECK(raft_commit_index(l) >= 1);
    CHECK_EQ(raft_read_index(l, c.now, 77), 0);
    struct raft_update u;
    raft_get_update(l, &u);
    CHECK_EQ(u.reads_ready_count, 0); /* not confirmed yet */
    uint64_t ctx = 0;
    for (size_t i = 0; i < u.messages_count; i++) {
        ctx = u.messages[i].context;
    }
    raft_update_done(l);
    struct raft_message ack = {.type = RAFT_MSG_APPEND_REPLY, .from = 2, .to = 1,
                               .term = raft_term(l), .success = true, .context = ctx};
    raft_receive(l, c.now, &ack);
    raft_get_update(l, &u);
    CHECK_EQ(u.reads_ready_count, 1);
    CHECK(u.reads_ready[0].request_id == 77);
    raft_update_done(l);
    CHECK_EQ(raft_read_index(c.nodes[1], c.now, 1), ERR_NOT_LEADER);
    cluster_free(&c);
}

TEST(damaged_node_refuses_votes_until_repaired_past_its_barrier)
{
    node_id_t voters[3] = {1, 2, 3};
    struct raft_entry e = {.term = 1, .index = 1};
    struct raft_boot boot = {.term = 1, .first_index = 1, .entries = &e, .entries_count = 1,
                             .vote_barrier_index = 3};
    struct raft_options o;
    raft_options_default(&o, 2, voters, 3);
    struct raft *r = raft_create(&o, &boot, 0);
    raft_tick(r, 5000 * MS); /* long past any election timeout: no campaign */
    CHECK_EQ(raft_role(r), RAFT_FOLLOWER);
    struct raft_message req = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 2,
                               .last_log_index = 1, .last_log_term = 1};
    raft_receive(r, 5000 * MS, &req);
    CHECK_EQ(raft_vote(r), 0);
    struct raft_entry more[2] = {{.term = 2, .index = 2}, {.term = 2, .index = 3}};
    struct raft_message app = {.type = RAFT_MSG_APPEND, .from = 3, .to = 2, .term = 2,
                               .prev_log_index = 1, .prev_log_term = 1, .entries = more,
                               .entries_count = 2};
    raft_receive(r, 5001 * MS, &app);
    raft_persisted_entries(r, 5002 * MS, 3, 2);
    struct raft_message req3 = {.type = RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 3,
                                .last_log_index = 3, .last_log_term = 2};
    raft_receive(r, 9000 * MS, &req3);
    CHECK_EQ(raft_vote(r), 1);
    raft_destroy(r);
}

/* ---- leadership transfer (thesis §3.10) and lease reads (thesis §6.4.1) ---- */

/* Delivers the messages of the last drain (which then may be overwritten). */
static void deliver_out(struct cluster *c)
{
    struct raft_message batch[64];
    struct raft_entry entries[64][8];
    size_t n = c->out_count;
    memcpy(batch, c->out, n * sizeof *batch);
    memcpy(entries, c->out_entries, sizeof entries);
    for (size_t k = 0; k < n; k++) {
        batch[k].entries = entries[k];
        raft_receive(c->nodes[batch[k].to - 1], c->now, &batch[k]);
    }
}

/* Delivers every message among the nodes, syncing at once, until none is left. */
static void pump(struct cluster *c)
{
    for (int round = 0; round < 50; round++) {
        bool any = false;
        for (uint32_t i = 0; i < c->count; i++) {
            drain(c, c->nodes[i], true);
            any |= c->out_count > 0;
            deliver_out(c);
        }
        if (!any) {
            return;
        }
    }
}

/* A three-node cluster (five with `count`) led by node 1 with its no-op committed. */
static void leader_with_commit(struct cluster *c, uint32_t count)
{
    cluster_init(c, count);
    elect_node1(c);
    CHECK_EQ(raft_role(c->nodes[0]), RAFT_LEADER);
    pump(c);
    CHECK(raft_commit_index(c->nodes[0]) >= 1);
}

static void tick_all(struct cluster *c, uint64_t by_ns)
{
    c->now += by_ns;
    for (uint32_t i = 0; i < c->count; i++) {
        raft_tick(c->nodes[i], c->now);
    }
}

TEST(transfer_hands_leadership_to_the_target_and_refuses_proposals_meanwhile)
{
    struct cluster c;
    leader_with_commit(&c, 3);
    struct raft *l = c.nodes[0];
    raft_term_t term = raft_term(l);
    CHECK_EQ(raft_transfer_leadership(l, c.now, 2), 0);
    CHECK_EQ(raft_transfer_target(l), 2);
    raft_index_t idx = 0;
    CHECK_EQ(raft_propose(l, c.now, (const uint8_t *)"x", 1, &idx), ERR_TRANSFERRING);
    CHECK_EQ(raft_last_index(l), raft_commit_index(l)); /* nothing was appended */
    drain(&c, l, true);
    struct raft_message *tn = find_msg(&c, RAFT_MSG_TIMEOUT_NOW, 2);
    CHECK(tn != NULL && tn->term == term);
    struct raft_message timeout_now = *tn;
    raft_receive(c.nodes[1], c.now, &timeout_now);
    CHECK_EQ(raft_role(c.nodes[1]), RAFT_CANDIDATE); /* at once, without PreVote */
    CHECK_EQ(raft_term(c.nodes[1]), term + 1);
    drain(&c, c.nodes[1], true);
    struct raft_message *req = find_msg(&c, RAFT_MSG_VOTE, 3);
    CHECK(req != NULL && req->transfer && !req->pre_vote);
    deliver_out(&c);
    pump(&c); /* node 3 heard from node 1 just now, yet votes: the flag waives stickiness */
    CHECK_EQ(raft_role(c.nodes[1]), RAFT_LEADER);
    CHECK(raft_role(l) != RAFT_LEADER);
    CHECK_EQ(raft_transfer_target(l), 0);
    CHECK_EQ(raft_propose(c.nodes[1], c.now, (const uint8_t *)"y", 1, &idx), 0);
    cluster_free(&c);
}

TEST(transfer_rejects_followers_self_strangers_and_a_second_target)
{
    struct cluster c;
    leader_with_commit(&c, 3);
    struct raft *l = c.nodes[0];
    CHECK_EQ(raft_transfer_leadership(c.nodes[1], c.now, 3), ERR_NOT_LEADER);
    CHECK_EQ(raft_transfer_leadership(l, c.now, 1), ERR_INVALID);
    CHECK_EQ(raft_transfer_leadership(l, c.now, 9), ERR_NOT_FOUND);
    CHECK_EQ(raft_transfer_target(l), 0);
    CHECK_EQ(raft_transfer_leadership(l, c.now, 3), 0);
    CHECK_EQ(raft_transfer_leadership(l, c.now, 3), 0); /* the same transfer: no error */
    CHECK_EQ(raft_transfer_leadership(l, c.now, 2), ERR_BUSY);
    cluster_free(&c);
}

TEST(transfer_waits_for_the_target_to_catch_up_and_is_abandoned_after_a_timeout)
{
    struct cluster c;
    leader_with_commit(&c, 3);
    struct raft *l = c.nodes[0];
    raft_index_t idx;
    /* Node 3 misses an entry: no TimeoutNow until it has it synced. */
    CHECK_EQ(raft_propose(l, c.now, (const uint8_t *)"x", 1, &idx), 0);
    drain(&c, l, true);
    struct raft_message *app = find_msg(&c, RAFT_MSG_APPEND, 3);
    CHECK(app != NULL && app->entries_count >= 1);
    struct raft_message append = *app; /* held back: node 3 lags */
    struct raft_entry entries[8];
    memcpy(entries, app->entries, app->entries_count * sizeof *entries);
    append.entries = entries;
    CHECK_EQ(raft_transfer_leadership(l, c.now, 3), 0);
    drain(&c, l, true);
    CHECK(find_msg(&c, RAFT_MSG_TIMEOUT_NOW, 3) == NULL);
    raft_receive(c.nodes[2], c.now, &append);
    drain(&c, c.nodes[2], true);
    deliver_out(&c); /* the acknowledgement once synced tells the leader it caught up */
    drain(&c, l, true);
    CHECK(find_msg(&c, RAFT_MSG_TIMEOUT_NOW, 3) != NULL); /* caught up: sent now */
    /* The TimeoutNow is lost: after an election timeout the leader takes writes again. */
    for (int i = 0; i < 25 && raft_transfer_target(l) != 0; i++) {
        c.now += 5 * MS;
        raft_tick(l, c.now);
        drain(&c, l, true);
    }
    CHECK_EQ(raft_transfer_target(l), 0);
    CHECK_EQ(raft_role(l), RAFT_LEADER);
    CHECK_EQ(raft_propose(l, c.now, (const uint8_t *)"z", 1, &idx), 0);
    cluster_free(&c);
}

TEST(stale_timeout_now_from_an_earlier_term_is_ignored)
{
    struct cluster c;
    cluster_init(&c, 3);
    struct raft *f = c.nodes[1];
    struct raft_message hb = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 4};
    raft_receive(f, 10 * MS, &hb);
    struct raft_message tn = {.type = RAFT_MSG_TIMEOUT_NOW, .from = 3, .to = 2, .term = 3};
    raft_receive(f, 11 * MS, &tn);
    CHECK_EQ(raft_role(f), RAFT_FOLLOWER);
    CHECK_EQ(raft_term(f), 4);
    cluster_free(&c);
}

TEST(restarted_voter_waits_an_election_timeout_before_voting)
{
    node_id_t voters[3] = {1, 2, 3};
    struct raft_options o;
    raft_options_default(&o, 2, voters, 3);
    struct raft_boot boot = {.term = 1};
    struct raft *r = raft_create(&o, &boot, 1000 * MS);
    struct raft_message req = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 2};
    raft_receive(r, 1001 * MS, &req);
    CHECK_EQ(raft_vote(r), 0); /* it may have acknowledged a leader holding a lease */
    raft_receive(r, 1000 * MS + o.election_timeout_ns_min, &req);
    CHECK_EQ(raft_vote(r), 3);
    raft_destroy(r);
}

static struct raft *make_lease_node(node_id_t id, uint32_t count)
{
    node_id_t voters[5] = {1, 2, 3, 4, 5};
    struct raft_options o;
    raft_options_default(&o, id, voters, count);
    o.election_timeout_ns_min = 100 * MS;
    o.heartbeat_interval_ns = 20 * MS;
    o.prng_seed = id * 7919;
    o.read_mode = RAFT_READ_LEASE;
    o.clock_drift_bound_ns = 10 * MS;
    struct raft_boot empty = {0};
    return raft_create(&o, &empty, 0);
}

static void lease_cluster(struct cluster *c)
{
    memset(c, 0, sizeof *c);
    c->count = 3;
    for (uint32_t i = 0; i < 3; i++) {
        c->nodes[i] = make_lease_node(i + 1, 3);
    }
    elect_node1(c);
    CHECK_EQ(raft_role(c->nodes[0]), RAFT_LEADER);
    pump(c);
    CHECK(raft_commit_index(c->nodes[0]) >= 1);
}

/* True when a read asked now is answered in the very next update (no round). */
static bool read_answered_at_once(struct cluster *c, uint64_t request_id)
{
    struct raft *l = c->nodes[0];
    CHECK_EQ(raft_read_index(l, c->now, request_id), 0);
    struct raft_update u;
    raft_get_update(l, &u);
    bool ready = u.reads_ready_count == 1 && u.reads_ready[0].request_id == request_id;
    raft_update_done(l);
    return ready;
}

TEST(lease_read_is_served_without_a_round_until_the_lease_runs_out)
{
    struct cluster c;
    lease_cluster(&c);
    struct raft *l = c.nodes[0];
    /* A heartbeat round sent now and acknowledged renews the lease from now. */
    tick_all(&c, 20 * MS);
    uint64_t sent = c.now;
    pump(&c);
    CHECK(raft_lease_holds(l, c.now));
    CHECK(read_answered_at_once(&c, 1));
    /* The lease lasts the election timeout minus the drift bound, from the send time. */
    CHECK(raft_lease_holds(l, sent + 89 * MS));
    CHECK(!raft_lease_holds(l, sent + 90 * MS));
    c.now = sent + 90 * MS;
    CHECK(!read_answered_at_once(&c, 2)); /* falls back to a ReadIndex round */
    cluster_free(&c);
}

TEST(reads_of_one_driver_turn_share_one_heartbeat_round)
{
    struct cluster c;
    leader_with_commit(&c, 3);
    struct raft *l = c.nodes[0];
    /* Three reads before the driver takes its update: one round, sent after all three. */
    for (uint64_t id = 1; id <= 3; id++) {
        CHECK_EQ(raft_read_index(l, c.now, id), 0);
    }
    struct raft_update u;
    raft_get_update(l, &u);
    CHECK_EQ(u.reads_ready_count, 0);
    CHECK_EQ(u.messages_count, 2); /* one heartbeat to each follower */
    uint64_t ctx = u.messages[0].context;
    CHECK_EQ(u.messages[1].context, ctx);
    raft_update_done(l);
    /* A read while that round is in flight waits for the next one. */
    CHECK_EQ(raft_read_index(l, c.now, 4), 0);
    CHECK(!raft_has_update(l));
    struct raft_message ack = {.type = RAFT_MSG_APPEND_REPLY, .from = 2, .to = 1,
                               .term = raft_term(l), .success = true, .context = ctx};
    raft_receive(l, c.now, &ack);
    raft_get_update(l, &u);
    CHECK_EQ(u.reads_ready_count, 3);
    CHECK(u.reads_ready[0].request_id == 1 && u.reads_ready[2].request_id == 3);
    CHECK_EQ(u.messages_count, 2); /* the next round, for read 4 */
    uint64_t next = u.messages[0].context;
    CHECK(next > ctx);
    raft_update_done(l);
    ack.context = next;
    raft_receive(l, c.now, &ack);
    raft_get_update(l, &u);
    CHECK_EQ(u.reads_ready_count, 1);
    CHECK(u.reads_ready[0].request_id == 4);
    raft_update_done(l);
    cluster_free(&c);
}

TEST(lease_ends_when_timeout_now_is_sent_and_when_the_leader_steps_down)
{
    struct cluster c;
    lease_cluster(&c);
    struct raft *l = c.nodes[0];
    tick_all(&c, 20 * MS);
    pump(&c);
    CHECK(raft_lease_holds(l, c.now));
    CHECK_EQ(raft_transfer_leadership(l, c.now, 2), 0);
    CHECK(!raft_lease_holds(l, c.now)); /* TimeoutNow is queued: the lease is gone */
    CHECK(!read_answered_at_once(&c, 1));
    cluster_free(&c);

    lease_cluster(&c);
    l = c.nodes[0];
    tick_all(&c, 20 * MS);
    pump(&c);
    CHECK(raft_lease_holds(l, c.now));
    struct raft_message newer = {.type = RAFT_MSG_APPEND, .from = 3, .to = 1,
                                 .term = raft_term(l) + 1};
    raft_receive(l, c.now, &newer);
    CHECK(!raft_lease_holds(l, c.now));
    cluster_free(&c);
}

TEST(lease_needs_a_quorum_acknowledgement)
{
    struct cluster c;
    lease_cluster(&c);
    struct raft *l = c.nodes[0];
    /* Rounds go out but nobody answers: the lease of the last answered round expires. */
    for (int i = 0; i < 24; i++) {
        c.now += 5 * MS;
        raft_tick(l, c.now);
        drain(&c, l, true);
    }
    CHECK_EQ(raft_role(l), RAFT_LEADER);
    CHECK(!raft_lease_holds(l, c.now));
    cluster_free(&c);
}

TEST(voter_waives_stickiness_for_a_transfer_vote_only)
{
    struct cluster c;
    cluster_init(&c, 3);
    struct raft *f = c.nodes[1];
    struct raft_entry e = {.term = 1, .index = 1};
    struct raft_message hb = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1,
                              .entries = &e, .entries_count = 1};
    raft_receive(f, 200 * MS, &hb);
    struct raft_message plain = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 2,
                                 .last_log_index = 1, .last_log_term = 1};
    raft_receive(f, 210 * MS, &plain);
    CHECK_EQ(raft_term(f), 1); /* a live leader: the plain request is ignored */
    /* A transfer vote moves the term even now; this one's log is behind, so no vote. */
    struct raft_message behind = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 2,
                                  .transfer = true};
    raft_receive(f, 220 * MS, &behind);
    CHECK_EQ(raft_term(f), 2);
    CHECK_EQ(raft_vote(f), 0);
    /* In that term a plain request still meets stickiness, and is granted once the
     * leader has been silent for an election timeout. */
    raft_receive(f, 230 * MS, &plain);
    CHECK_EQ(raft_vote(f), 0);
    raft_receive(f, 300 * MS, &plain);
    CHECK_EQ(raft_vote(f), 3);
    cluster_free(&c);
}
