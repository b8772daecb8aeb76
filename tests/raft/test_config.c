/* Membership in the Raft core (src/raft/config.c): the configuration payload and its
 * validation, joint quorums, and scripted changes on a small cluster whose network
 * delivers everything at once (or nothing, to a cut-off node): learners catch up but
 * never disrupt, a lagging learner is refused promotion, a voter change passes through
 * C_old,new to C_new, one change at a time, a removed leader steps down, and a node's
 * configuration follows its log on boot and on truncation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "harness.h"
#include "raft/raft.h"

#define MS 1000000ull
#define NODES_MAX 5

struct net {
    struct raft *nodes[NODES_MAX];
    uint32_t count;
    bool cut[NODES_MAX + 1]; /* by id: messages to and from it are lost */
    uint64_t now;
};

static void net_init(struct net *n, uint32_t count, uint32_t voters_count)
{
    memset(n, 0, sizeof *n);
    n->count = count;
    node_id_t voters[NODES_MAX] = {1, 2, 3, 4, 5};
    for (uint32_t i = 0; i < count; i++) {
        struct raft_options o;
        raft_options_default(&o, i + 1, voters, voters_count);
        o.election_timeout_ns_min = 100 * MS;
        o.heartbeat_interval_ns = 20 * MS;
        o.prng_seed = (i + 1) * 7919;
        o.promote_lag_entries_max = 8;
        for (uint32_t v = 0; v < voters_count; v++) {
            char address[16];
            snprintf(address, sizeof address, "node-%u", voters[v]);
            CHECK_EQ(raft_options_set_address(&o, voters[v], (const uint8_t *)address,
                                              strlen(address)),
                     0);
        }
        struct raft_boot empty = {0};
        n->nodes[i] = raft_create(&o, &empty, 0);
        CHECK(n->nodes[i] != NULL);
    }
}

static void net_free(struct net *n)
{
    for (uint32_t i = 0; i < n->count; i++) {
        raft_destroy(n->nodes[i]);
    }
}

/* Hands every node's effects over: messages are delivered at once (the receiver copies
 * them), writes are durable at once. Repeats until no node has anything left. */
static void net_settle(struct net *n)
{
    for (int round = 0; round < 1000; round++) {
        bool any = false;
        for (uint32_t i = 0; i < n->count; i++) {
            struct raft *r = n->nodes[i];
            if (!raft_has_update(r)) {
                continue;
            }
            any = true;
            struct raft_update u;
            raft_get_update(r, &u);
            for (size_t k = 0; k < u.messages_count; k++) {
                const struct raft_message *m = &u.messages[k];
                if (m->to >= 1 && m->to <= n->count && !n->cut[m->to] && !n->cut[m->from]) {
                    raft_receive(n->nodes[m->to - 1], n->now, m);
                }
            }
            raft_term_t term = u.term;
            node_id_t vote = u.vote;
            raft_index_t last = 0;
            raft_term_t last_term = 0;
            if (u.persist_entries_count > 0) {
                last = u.persist_entries[u.persist_entries_count - 1].index;
                last_term = u.persist_entries[u.persist_entries_count - 1].term;
            }
            raft_update_done(r);
            raft_persisted_hard_state(r, n->now, term, vote);
            if (last != 0) {
                raft_persisted_entries(r, n->now, last, last_term);
            }
        }
        if (!any) {
            return;
        }
    }
}

static void net_run(struct net *n, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += 5) {
        n->now += 5 * MS;
        for (uint32_t i = 0; i < n->count; i++) {
            raft_tick(n->nodes[i], n->now);
        }
        net_settle(n);
    }
}

static struct raft *net_leader(struct net *n)
{
    for (uint32_t i = 0; i < n->count; i++) {
        if (!n->cut[i + 1] && raft_role(n->nodes[i]) == RAFT_LEADER) {
            return n->nodes[i];
        }
    }
    return NULL;
}

/* A cluster of count nodes, the first voters_count of them voters, with a leader. */
static struct raft *net_start(struct net *n, uint32_t count, uint32_t voters_count)
{
    net_init(n, count, voters_count);
    net_run(n, 1000);
    struct raft *leader = net_leader(n);
    CHECK(leader != NULL);
    return leader;
}

static void propose_n(struct net *n, struct raft *leader, int count)
{
    for (int i = 0; i < count; i++) {
        raft_index_t index;
        CHECK_EQ(raft_propose(leader, n->now, (const uint8_t *)"x", 1, &index), 0);
    }
    net_settle(n);
}

static bool set_has(const node_id_t *ids, uint32_t count, node_id_t id)
{
    for (uint32_t i = 0; i < count; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

TEST(config_payload_round_trips_and_rejects_malformed_input)
{
    struct raft_config c = {.voters = {1, 2, 4}, .voters_count = 3, .voters_old = {1, 2, 3},
                            .voters_old_count = 3, .learners = {5}, .learners_count = 1};
    uint8_t buf[RAFT_CONFIG_ENCODED_SIZE_MAX];
    size_t len = raft_config_encode(&c, buf);
    CHECK_EQ(len, 4 + 7 * 4 + 5); /* five members, each with an empty address */
    struct raft_config d;
    CHECK_EQ(raft_config_decode(buf, len, &d), 0);
    CHECK(memcmp(&c, &d, sizeof c) == 0);
    CHECK_EQ(raft_config_decode(buf, len - 1, &d), ERR_MALFORMED);
    CHECK_EQ(raft_config_decode(buf, 3, &d), ERR_MALFORMED);
    buf[0] = 9;
    CHECK_EQ(raft_config_decode(buf, len, &d), ERR_VERSION);
    struct raft_config bad[] = {
        {.voters_count = 0},                                               /* no voters */
        {.voters = {1, 1}, .voters_count = 2},                             /* twice */
        {.voters = {1, 0}, .voters_count = 2},                             /* id 0 */
        {.voters = {1, 2}, .voters_count = 2, .learners = {2}, .learners_count = 1},
        {.voters = {1}, .voters_count = 1, .voters_old = {3}, .voters_old_count = 1,
         .learners = {3}, .learners_count = 1},                            /* old voter */
    };
    for (size_t i = 0; i < ARRAY_COUNT(bad); i++) {
        len = raft_config_encode(&bad[i], buf);
        CHECK_EQ(raft_config_decode(buf, len, &d), ERR_MALFORMED);
    }
}

static bool address_is(const struct raft_config *c, node_id_t id, const char *want)
{
    size_t len;
    const uint8_t *a = raft_config_address(c, id, &len);
    return a != NULL && len == strlen(want) && memcmp(a, want, len) == 0;
}

static int set_address(struct raft_config *c, node_id_t id, const char *address)
{
    return raft_config_set_address(c, id, (const uint8_t *)address, strlen(address));
}

TEST(config_v2_round_trips_member_addresses)
{
    struct raft_config c = {.voters = {1, 2, 4}, .voters_count = 3, .voters_old = {1, 2, 3},
                            .voters_old_count = 3, .learners = {5}, .learners_count = 1};
    char longest[RAFT_MEMBER_ADDRESS_BYTES_MAX + 1];
    memset(longest, 'a', RAFT_MEMBER_ADDRESS_BYTES_MAX);
    longest[RAFT_MEMBER_ADDRESS_BYTES_MAX] = 0;
    CHECK_EQ(set_address(&c, 2, "10.0.0.2:7002"), 0);
    CHECK_EQ(set_address(&c, 3, "old-voter:1"), 0); /* a C_old voter only */
    CHECK_EQ(set_address(&c, 5, longest), 0);
    CHECK_EQ(set_address(&c, 6, "x"), ERR_NOT_FOUND);
    uint8_t buf[RAFT_CONFIG_ENCODED_SIZE_MAX];
    size_t len = raft_config_encode(&c, buf);
    CHECK_EQ(buf[0], 2);
    CHECK_EQ(len, 4 + 7 * 4 + 5 + 13 + 11 + RAFT_MEMBER_ADDRESS_BYTES_MAX);
    struct raft_config d;
    CHECK_EQ(raft_config_decode(buf, len, &d), 0);
    CHECK(address_is(&d, 2, "10.0.0.2:7002"));
    CHECK(address_is(&d, 3, "old-voter:1"));
    CHECK(address_is(&d, 5, longest));
    CHECK(address_is(&d, 1, "") && address_is(&d, 4, ""));
    size_t none_len = 9;
    CHECK(raft_config_address(&d, 6, &none_len) == NULL && none_len == 0);
    CHECK_EQ(raft_config_encode(&d, buf + 0), len); /* canonical: the same bytes again */
    /* Clearing an address removes it; the largest configuration fits the named bound. */
    CHECK_EQ(set_address(&d, 2, ""), 0);
    CHECK(address_is(&d, 2, ""));
    struct raft_config big = {.voters_count = RAFT_NODES_COUNT_MAX};
    for (uint32_t i = 0; i < RAFT_NODES_COUNT_MAX; i++) {
        big.voters[i] = i + 1;
        CHECK_EQ(set_address(&big, i + 1, longest), 0);
    }
    CHECK_EQ(raft_config_encode(&big, buf), RAFT_CONFIG_ENCODED_SIZE_MAX - 2 * RAFT_NODES_COUNT_MAX * 4);
}

TEST(config_v1_payload_decodes_with_empty_addresses)
{
    /* Version 1, as written before addresses: voters {1, 2}, learner {3}. */
    const uint8_t v1[] = {1, 2, 0, 1, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0};
    struct raft_config c;
    CHECK_EQ(raft_config_decode(v1, sizeof v1, &c), 0);
    CHECK_EQ(c.voters_count, 2);
    CHECK_EQ(c.learners_count, 1);
    CHECK_EQ(c.addresses_count, 0);
    CHECK(address_is(&c, 1, "") && address_is(&c, 3, ""));
    uint8_t longer[sizeof v1 + 1];
    memcpy(longer, v1, sizeof v1);
    longer[sizeof v1] = 0; /* an address byte has no place in version 1 */
    CHECK_EQ(raft_config_decode(longer, sizeof longer, &c), ERR_MALFORMED);
}

TEST(config_rejects_a_too_long_address_and_malformed_address_lengths)
{
    struct raft_config c = {.voters = {1, 2}, .voters_count = 2};
    char too_long[RAFT_MEMBER_ADDRESS_BYTES_MAX + 2];
    memset(too_long, 'b', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = 0;
    CHECK_EQ(set_address(&c, 1, too_long), ERR_TOO_LARGE);
    CHECK_EQ(set_address(&c, 1, "ab"), 0);
    uint8_t buf[RAFT_CONFIG_ENCODED_SIZE_MAX + 1];
    size_t len = raft_config_encode(&c, buf); /* ids, then [2 'a' 'b'] [0] */
    CHECK_EQ(len, 4 + 8 + 3 + 1);
    struct raft_config d;
    CHECK_EQ(raft_config_decode(buf, len - 1, &d), ERR_MALFORMED); /* a member missing */
    CHECK_EQ(raft_config_decode(buf, 4 + 8 + 2, &d), ERR_MALFORMED); /* address cut short */
    buf[len] = 0;
    CHECK_EQ(raft_config_decode(buf, len + 1, &d), ERR_MALFORMED); /* trailing byte */
    buf[12] = 200; /* a length past the end */
    CHECK_EQ(raft_config_decode(buf, len, &d), ERR_MALFORMED);
    CHECK_EQ(d.voters_count, 0); /* nothing half-decoded is left behind */
    /* A length over the limit, with the bytes present, is refused too. */
    uint8_t over[4 + 4 + 1 + RAFT_MEMBER_ADDRESS_BYTES_MAX + 1] = {2, 1, 0, 0, 7, 0, 0, 0,
                                                                     RAFT_MEMBER_ADDRESS_BYTES_MAX + 1};
    CHECK_EQ(raft_config_decode(over, sizeof over, &d), ERR_MALFORMED);
    over[8] = RAFT_MEMBER_ADDRESS_BYTES_MAX;
    CHECK_EQ(raft_config_decode(over, sizeof over - 1, &d), 0);
}

static bool in_granted(const void *ctx, node_id_t id)
{
    const node_id_t *granted = ctx;
    return set_has(granted + 1, granted[0], id);
}

static raft_index_t match_by_id(const void *ctx, node_id_t id)
{
    const raft_index_t *match = ctx;
    return match[id];
}

TEST(joint_quorum_needs_a_majority_of_both_sets_and_learners_never_count)
{
    struct raft_config c = {.voters = {1, 4, 5}, .voters_count = 3, .voters_old = {1, 2, 3},
                            .voters_old_count = 3, .learners = {6, 7}, .learners_count = 2};
    node_id_t old_only[] = {3, 1, 2, 3};
    node_id_t new_only[] = {3, 1, 4, 5};
    node_id_t both[] = {3, 1, 2, 4};
    node_id_t with_learners[] = {4, 1, 2, 6, 7};
    CHECK(!raft_config_has_quorum(&c, in_granted, old_only));
    CHECK(!raft_config_has_quorum(&c, in_granted, new_only));
    CHECK(raft_config_has_quorum(&c, in_granted, both));
    CHECK(!raft_config_has_quorum(&c, in_granted, with_learners));
    /* Index 9 is on 1, 4, 5 (a C_new majority) but only on 1 of C_old: not committed. */
    raft_index_t match[8] = {0, 9, 3, 2, 9, 9, 20, 20};
    CHECK_EQ(raft_config_committed_index(&c, match_by_id, match), 3);
    c.voters_old_count = 0;
    CHECK_EQ(raft_config_committed_index(&c, match_by_id, match), 9);
}

TEST(learner_catches_up_never_campaigns_and_is_promoted_only_when_caught_up)
{
    struct net n;
    struct raft *leader = net_start(&n, 4, 3); /* node 4 is a spare */
    CHECK(raft_leader(n.nodes[3]) == 0); /* a spare is no one's follower */
    n.cut[4] = true;
    raft_index_t index;
    struct raft_change add = {RAFT_CHANGE_ADD_LEARNER, 4};
    CHECK_EQ(raft_change_membership(leader, n.now, &add, 1, &index), 0);
    CHECK(raft_config_is_learner(raft_configuration(leader), 4)); /* in effect at append */
    net_settle(&n);
    propose_n(&n, leader, 20);
    struct raft_change promote = {RAFT_CHANGE_PROMOTE, 4};
    CHECK_EQ(raft_change_membership(leader, n.now, &promote, 1, &index), ERR_NOT_CAUGHT_UP);
    n.cut[4] = false;
    net_run(&n, 200);
    CHECK_EQ(raft_last_index(n.nodes[3]), raft_last_index(leader));
    CHECK(raft_config_is_learner(raft_configuration(n.nodes[3]), 4));
    /* Cut off from the voters for long, a learner only ever pre-votes: it never raises
     * its term, so it never disrupts anyone. */
    raft_term_t term = raft_term(n.nodes[3]);
    for (uint32_t i = 0; i < 3; i++) {
        n.cut[i + 1] = true;
    }
    net_run(&n, 2000);
    CHECK(raft_role(n.nodes[3]) != RAFT_CANDIDATE && raft_role(n.nodes[3]) != RAFT_LEADER);
    CHECK_EQ(raft_term(n.nodes[3]), term);
    for (uint32_t i = 0; i < 3; i++) {
        n.cut[i + 1] = false;
    }
    net_run(&n, 1000);
    leader = net_leader(&n);
    CHECK(leader != NULL && raft_id(leader) != 4);
    CHECK_EQ(raft_change_membership(leader, n.now, &promote, 1, &index), 0);
    net_run(&n, 500);
    for (uint32_t i = 0; i < 4; i++) {
        const struct raft_config *c = raft_configuration(n.nodes[i]);
        CHECK(!raft_config_is_joint(c));
        CHECK_EQ(c->voters_count, 4);
        CHECK_EQ(c->learners_count, 0);
    }
    net_free(&n);
}

TEST(voter_change_goes_through_joint_config_one_change_at_a_time)
{
    struct net n;
    struct raft *leader = net_start(&n, 5, 3);
    raft_index_t index;
    struct raft_change add[2] = {{RAFT_CHANGE_ADD_LEARNER, 4}, {RAFT_CHANGE_ADD_LEARNER, 5}};
    CHECK_EQ(raft_change_membership(leader, n.now, add, 2, &index), 0);
    CHECK(!raft_config_is_joint(raft_configuration(leader))); /* learners: one step */
    CHECK_EQ(raft_change_membership(leader, n.now, add, 1, &index), ERR_BUSY);
    net_run(&n, 200);
    CHECK_EQ(raft_change_membership(leader, n.now, add, 1, &index), ERR_INVALID); /* member */
    node_id_t removed = raft_id(leader) == 1 ? 2 : 1;
    struct raft_change swap[2] = {{RAFT_CHANGE_PROMOTE, 4}, {RAFT_CHANGE_REMOVE, removed}};
    CHECK_EQ(raft_change_membership(leader, n.now, swap, 2, &index), 0);
    const struct raft_config *c = raft_configuration(leader);
    CHECK(raft_config_is_joint(c));
    CHECK(set_has(c->voters_old, c->voters_old_count, removed));
    CHECK(!set_has(c->voters, c->voters_count, removed));
    CHECK(set_has(c->voters, c->voters_count, 4));
    CHECK_EQ(raft_change_membership(leader, n.now, add + 1, 1, &index), ERR_BUSY);
    raft_index_t joint_index = index;
    net_run(&n, 300);
    c = raft_configuration(leader);
    CHECK(!raft_config_is_joint(c));
    CHECK(raft_configuration_index(leader) > joint_index); /* the leader appended C_new */
    CHECK(raft_commit_index(leader) >= raft_configuration_index(leader));
    CHECK(!raft_config_is_voter(c, removed));
    struct raft_change none_left[3] = {{RAFT_CHANGE_REMOVE, c->voters[0]},
                                       {RAFT_CHANGE_REMOVE, c->voters[1]},
                                       {RAFT_CHANGE_REMOVE, c->voters[2]}};
    CHECK_EQ(raft_change_membership(leader, n.now, none_left, 3, &index), ERR_INVALID);
    CHECK_EQ(raft_change_membership(n.nodes[removed - 1], n.now, add, 1, &index), ERR_NOT_LEADER);
    net_free(&n);
}

TEST(removed_leader_steps_down_once_c_new_commits_and_the_rest_elect_a_leader)
{
    struct net n;
    struct raft *leader = net_start(&n, 3, 3);
    node_id_t old_id = raft_id(leader);
    raft_index_t index;
    struct raft_change remove = {RAFT_CHANGE_REMOVE, old_id};
    CHECK_EQ(raft_change_membership(leader, n.now, &remove, 1, &index), 0);
    net_run(&n, 2000);
    CHECK(raft_role(leader) != RAFT_LEADER);
    struct raft *next = net_leader(&n);
    CHECK(next != NULL && raft_id(next) != old_id);
    CHECK(!raft_config_is_voter(raft_configuration(next), old_id));
    CHECK_EQ(raft_configuration(next)->voters_count, 2);
    net_free(&n);
}

TEST(member_address_follows_a_node_through_promotion_and_joint_and_leaves_with_it)
{
    struct net n;
    struct raft *leader = net_start(&n, 4, 3);
    for (uint32_t i = 0; i < 4; i++) { /* the initial voters' addresses, from raft_options */
        CHECK(address_is(raft_configuration(n.nodes[i]), 2, "node-2"));
    }
    raft_index_t index;
    char too_long[RAFT_MEMBER_ADDRESS_BYTES_MAX + 1] = {0};
    struct raft_change add = {.type = RAFT_CHANGE_ADD_LEARNER, .id = 4,
                              .address = (const uint8_t *)too_long, .address_len = sizeof too_long};
    CHECK_EQ(raft_change_membership(leader, n.now, &add, 1, &index), ERR_TOO_LARGE);
    add.address = (const uint8_t *)"10.0.0.4:7004";
    add.address_len = 13;
    CHECK_EQ(raft_change_membership(leader, n.now, &add, 1, &index), 0);
    net_run(&n, 300);
    node_id_t removed = raft_id(leader) == 1 ? 2 : 1;
    struct raft_change swap[2] = {{.type = RAFT_CHANGE_PROMOTE, .id = 4},
                                  {.type = RAFT_CHANGE_REMOVE, .id = removed}};
    CHECK_EQ(raft_change_membership(leader, n.now, swap, 2, &index), 0);
    const struct raft_config *c = raft_configuration(leader);
    CHECK(raft_config_is_joint(c));
    CHECK(address_is(c, 4, "10.0.0.4:7004"));
    char removed_address[16];
    snprintf(removed_address, sizeof removed_address, "node-%u", removed);
    CHECK(address_is(c, removed, removed_address)); /* still a C_old voter */
    net_run(&n, 300);
    for (uint32_t i = 0; i < 4; i++) {
        if (i + 1 == removed) {
            continue;
        }
        c = raft_configuration(n.nodes[i]);
        CHECK(!raft_config_is_joint(c) && raft_config_is_voter(c, 4));
        CHECK(address_is(c, 4, "10.0.0.4:7004"));
        CHECK(address_is(c, 3, "node-3"));
        size_t len;
        CHECK(raft_config_address(c, removed, &len) == NULL);
        CHECK_EQ(c->addresses_count, 3);
    }
    net_free(&n);
}

TEST(config_follows_the_log_on_boot_and_reverts_when_truncated)
{
    struct raft_config c = {.voters = {1, 2, 3, 4}, .voters_count = 4};
    uint8_t payload[RAFT_CONFIG_ENCODED_SIZE_MAX];
    struct raft_entry entries[2] = {
        {.term = 1, .index = 1, .type = RAFT_ENTRY_NOOP},
        {.term = 1, .index = 2, .type = RAFT_ENTRY_CONFIG, .data = payload},
    };
    entries[1].data_len = (uint32_t)raft_config_encode(&c, payload);
    struct raft_boot boot = {.term = 1, .entries = entries, .entries_count = 2, .first_index = 1};
    node_id_t voters[3] = {1, 2, 3};
    struct raft_options o;
    raft_options_default(&o, 2, voters, 3);
    struct raft *r = raft_create(&o, &boot, 0);
    CHECK(r != NULL);
    CHECK_EQ(raft_configuration_index(r), 2);
    CHECK_EQ(raft_configuration(r)->voters_count, 4);
    /* A leader of term 2 whose log differs at index 2 replaces the config entry. */
    struct raft_entry replacement = {.term = 2, .index = 2, .type = RAFT_ENTRY_NOOP};
    struct raft_message m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 2,
                             .prev_log_index = 1, .prev_log_term = 1, .entries = &replacement,
                             .entries_count = 1};
    raft_receive(r, 1, &m);
    CHECK_EQ(raft_term_at(r, 2), 2);
    CHECK_EQ(raft_configuration_index(r), 0);
    CHECK_EQ(raft_configuration(r)->voters_count, 3);
    raft_destroy(r);
}
