/* Scripted scenarios for snapshots and InstallSnapshot (src/raft/snapshot.c): every
 * message is crafted or chosen by the test, and durability is reported when the test
 * says. The simulator covers the same rules under random faults and crashes. */
#include <stdlib.h>

#include "base/errors.h"
#include "harness.h"
#include "raft/raft.h"

#define MS 1000000ull
#define SNAPSHOT_BYTES 1000
#define CHUNK_BYTES 300
#define CHUNKS_INFLIGHT 2

static uint8_t snapshot_data[SNAPSHOT_BYTES];
/* The configuration that comes with the snapshots of these tests: voters 1, 2, 3 and a
 * learner 4 with an address, which raft_options (voters 1, 2, 3) does not know. */
static uint8_t snapshot_config[RAFT_CONFIG_ENCODED_SIZE_MAX];
static uint32_t snapshot_config_len;

static void make_snapshot_config(void)
{
    struct raft_config c = {.voters = {1, 2, 3}, .voters_count = 3, .learners = {4},
                            .learners_count = 1};
    CHECK_EQ(raft_config_set_address(&c, 4, (const uint8_t *)"n4:7004", 7), 0);
    snapshot_config_len = (uint32_t)raft_config_encode(&c, snapshot_config);
}

static struct raft *make(node_id_t id, const struct raft_boot *boot)
{
    node_id_t voters[3] = {1, 2, 3};
    struct raft_options o;
    raft_options_default(&o, id, voters, 3);
    o.election_timeout_ns_min = 100 * MS;
    o.heartbeat_interval_ns = 20 * MS;
    o.snapshot_chunk_bytes_max = CHUNK_BYTES;
    o.snapshot_chunks_inflight_max = CHUNKS_INFLIGHT;
    for (size_t i = 0; i < SNAPSHOT_BYTES; i++) {
        snapshot_data[i] = (uint8_t)(i * 7 + 1);
    }
    make_snapshot_config();
    struct raft_boot empty = {0};
    return raft_create(&o, boot != NULL ? boot : &empty, 0);
}

/* What one drained update held that these tests look at. */
struct drained {
    struct raft_message msgs[32];
    uint8_t chunk_data[32][CHUNK_BYTES];
    uint8_t config[32][RAFT_CONFIG_ENCODED_SIZE_MAX];
    size_t count;
    bool install;
    struct raft_snapshot_install installed;
};

static void drain(struct raft *r, struct drained *d, uint64_t now)
{
    memset(d, 0, sizeof *d);
    while (raft_has_update(r)) {
        struct raft_update u;
        raft_get_update(r, &u);
        for (size_t i = 0; i < u.messages_count && d->count < 32; i++) {
            struct raft_message *m = &d->msgs[d->count];
            *m = u.messages[i];
            m->entries_count = 0;
            m->entries = NULL;
            CHECK(m->data_len <= CHUNK_BYTES);
            if (m->data_len != 0) {
                memcpy(d->chunk_data[d->count], m->data, m->data_len);
                m->data = d->chunk_data[d->count];
            }
            CHECK(m->config_len <= RAFT_CONFIG_ENCODED_SIZE_MAX);
            if (m->config_len != 0) {
                memcpy(d->config[d->count], m->config, m->config_len);
                m->config = d->config[d->count];
            }
            d->count++;
        }
        if (u.snapshot_install != NULL) {
            d->install = true;
            d->installed = *u.snapshot_install;
        }
        raft_update_done(r);
        if (u.hard_state_changed) {
            raft_persisted_hard_state(r, now, u.term, u.vote);
        }
        if (u.persist_entries_count > 0) {
            const struct raft_entry *last = &u.persist_entries[u.persist_entries_count - 1];
            raft_persisted_entries(r, now, last->index, last->term);
        }
    }
}

static size_t count_type(const struct drained *d, uint8_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < d->count; i++) {
        n += d->msgs[i].type == type;
    }
    return n;
}

/* What a node recovers with a snapshot at 10 (term 1), its configuration, and nothing
 * after it. */
static struct raft_boot snapshot_boot(void)
{
    make_snapshot_config();
    return (struct raft_boot){.term = 1, .first_index = 11, .base_term = 1,
                              .snapshot_index = 10, .snapshot_term = 1,
                              .snapshot_data = snapshot_data,
                              .snapshot_size_bytes = SNAPSHOT_BYTES,
                              .snapshot_config = snapshot_config,
                              .snapshot_config_len = snapshot_config_len};
}

/* Node 1 boots with the snapshot and wins term 2 with node 3's votes. */
static struct raft *leader_with_snapshot(uint64_t *now)
{
    struct raft_boot boot = snapshot_boot();
    struct raft *r = make(1, &boot);
    struct drained d;
    *now = 1000 * MS;
    raft_tick(r, *now); /* PreVote */
    struct raft_message pre = {.type = RAFT_MSG_VOTE_REPLY, .from = 3, .to = 1, .term = 2,
                               .pre_vote = true, .granted = true};
    raft_receive(r, *now, &pre);
    drain(r, &d, *now);
    struct raft_message vote = {.type = RAFT_MSG_VOTE_REPLY, .from = 3, .to = 1, .term = 2,
                                .granted = true};
    raft_receive(r, *now, &vote);
    CHECK_EQ(raft_role(r), RAFT_LEADER);
    drain(r, &d, *now);
    return r;
}

/* Node 2, with an empty log, rejects the leader's probe: it needs the snapshot. d gets
 * what the leader sends next. */
static struct raft *leader_starting_transfer(uint64_t *now, struct drained *d)
{
    struct raft *leader = leader_with_snapshot(now);
    struct raft_message rej = {.type = RAFT_MSG_APPEND_REPLY, .from = 2, .to = 1, .term = 2,
                               .success = false, .prev_log_index = 10, .conflict_index = 1};
    raft_receive(leader, *now, &rej);
    drain(leader, d, *now);
    return leader;
}

TEST(leader_sends_compacted_prefix_as_bounded_chunks)
{
    uint64_t now;
    struct drained d;
    struct raft *r = leader_starting_transfer(&now, &d);
    CHECK_EQ(raft_snapshots_sending(r), 1);
    /* No more than the in-flight bound before any acknowledgement. */
    CHECK_EQ(count_type(&d, RAFT_MSG_SNAPSHOT), CHUNKS_INFLIGHT);
    uint64_t offset = 0;
    for (size_t i = 0; i < d.count; i++) {
        const struct raft_message *m = &d.msgs[i];
        if (m->type != RAFT_MSG_SNAPSHOT) {
            continue;
        }
        CHECK_EQ(m->to, 2);
        CHECK_EQ(m->snapshot_index, 10);
        CHECK_EQ(m->snapshot_term, 1);
        CHECK_EQ(m->snapshot_size_bytes, SNAPSHOT_BYTES);
        CHECK_EQ(m->offset, offset);
        CHECK_EQ(m->data_len, CHUNK_BYTES);
        CHECK(memcmp(m->data, snapshot_data + offset, m->data_len) == 0);
        CHECK(!m->done);
        /* The configuration as of the snapshot rides on the first chunk only. */
        CHECK_EQ(m->config_len, offset == 0 ? snapshot_config_len : 0);
        CHECK(offset != 0 || memcmp(m->config, snapshot_config, snapshot_config_len) == 0);
        offset += m->data_len;
    }
    /* An acknowledgement of the first chunk opens the window by one chunk. */
    struct raft_message ack = {.type = RAFT_MSG_SNAPSHOT_REPLY, .from = 2, .to = 1, .term = 2,
                               .snapshot_index = 10, .snapshot_term = 1, .offset = CHUNK_BYTES};
    raft_receive(r, now, &ack);
    drain(r, &d, now);
    CHECK_EQ(count_type(&d, RAFT_MSG_SNAPSHOT), 1);
    CHECK_EQ(d.msgs[0].offset, 2 * CHUNK_BYTES);
    raft_destroy(r);
}

TEST(leader_resumes_a_transfer_from_the_offset_the_follower_holds)
{
    uint64_t now;
    struct drained d;
    struct raft *r = leader_starting_transfer(&now, &d);
    /* Both chunks are lost; a heartbeat interval without progress resumes with one
     * chunk from the acknowledged offset (0), whose reply says where the follower is. */
    for (int i = 0; i < 2; i++) {
        now += 25 * MS;
        raft_tick(r, now);
        drain(r, &d, now);
    }
    size_t resent = 0;
    for (size_t i = 0; i < d.count; i++) {
        if (d.msgs[i].type == RAFT_MSG_SNAPSHOT) {
            CHECK_EQ(d.msgs[i].offset, 0);
            resent++;
        }
    }
    CHECK_EQ(resent, 1);
    /* The follower, restarted meanwhile, holds nothing; then it holds 600 bytes. */
    struct raft_message have = {.type = RAFT_MSG_SNAPSHOT_REPLY, .from = 2, .to = 1, .term = 2,
                                .snapshot_index = 10, .snapshot_term = 1, .offset = 600};
    raft_receive(r, now, &have);
    drain(r, &d, now);
    CHECK_EQ(count_type(&d, RAFT_MSG_SNAPSHOT), 2);
    CHECK_EQ(d.msgs[0].offset, 600);
    CHECK_EQ(d.msgs[1].offset, 900);
    CHECK_EQ(d.msgs[1].data_len, 100);
    CHECK(d.msgs[1].done);
    /* Installed: replication resumes right after the snapshot. */
    struct raft_message done = {.type = RAFT_MSG_SNAPSHOT_REPLY, .from = 2, .to = 1, .term = 2,
                                .snapshot_index = 10, .snapshot_term = 1, .done = true,
                                .success = true, .match_index = 10};
    raft_receive(r, now, &done);
    drain(r, &d, now);
    CHECK_EQ(raft_snapshots_sending(r), 0);
    CHECK_EQ(count_type(&d, RAFT_MSG_APPEND), 1);
    CHECK_EQ(d.msgs[0].prev_log_index, 10);
    CHECK_EQ(d.msgs[0].prev_log_term, 1);
    raft_destroy(r);
}

static struct raft_message chunk(uint64_t offset, uint32_t len, raft_term_t snapshot_term)
{
    return (struct raft_message){.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 2,
                                 .snapshot_index = 10, .snapshot_term = snapshot_term,
                                 .snapshot_size_bytes = SNAPSHOT_BYTES, .offset = offset,
                                 .data = snapshot_data + offset, .data_len = len,
                                 .done = offset + len == SNAPSHOT_BYTES,
                                 .config = offset == 0 ? snapshot_config : NULL,
                                 .config_len = offset == 0 ? snapshot_config_len : 0};
}

/* Delivers the whole snapshot to r in chunks, a duplicate and a gap included. */
static void deliver_snapshot(struct raft *r, struct drained *d, uint64_t now,
                             raft_term_t snapshot_term)
{
    struct raft_message c0 = chunk(0, 400, snapshot_term), gap = chunk(700, 300, snapshot_term);
    struct raft_message dup = chunk(200, 400, snapshot_term), rest = chunk(600, 400, snapshot_term);
    raft_receive(r, now, &c0);
    raft_receive(r, now, &gap); /* after a gap: ignored */
    raft_receive(r, now, &c0);  /* a duplicate: harmless */
    raft_receive(r, now, &dup); /* overlaps: extends to 600 */
    drain(r, d, now);
    CHECK(!d->install);
    CHECK_EQ(d->msgs[d->count - 1].offset, 600);
    raft_receive(r, now, &rest);
    drain(r, d, now);
}

TEST(follower_acknowledges_an_installed_snapshot_only_once_durable)
{
    struct raft *r = make(2, NULL);
    struct drained d;
    deliver_snapshot(r, &d, 10 * MS, 1);
    CHECK(d.install);
    CHECK_EQ(d.installed.index, 10);
    CHECK_EQ(d.installed.size_bytes, SNAPSHOT_BYTES);
    CHECK(memcmp(d.installed.data, snapshot_data, SNAPSHOT_BYTES) == 0);
    CHECK(!d.installed.log_tail_matches);
    for (size_t i = 0; i < d.count; i++) {
        CHECK(!d.msgs[i].done); /* not durable yet */
    }
    raft_tick(r, 5000 * MS); /* installing: no campaign */
    CHECK_EQ(raft_role(r), RAFT_FOLLOWER);
    raft_persisted_snapshot(r, 5000 * MS, 10, 1);
    drain(r, &d, 5000 * MS);
    CHECK_EQ(count_type(&d, RAFT_MSG_SNAPSHOT_REPLY), 1);
    CHECK(d.msgs[0].done && d.msgs[0].success);
    CHECK_EQ(d.msgs[0].match_index, 10);
    CHECK_EQ(raft_commit_index(r), 10);
    CHECK_EQ(raft_applied_index(r), 10);
    CHECK_EQ(raft_first_index(r), 11);
    CHECK_EQ(raft_last_index(r), 10);
    CHECK_EQ(raft_snapshot_index(r), 10);
    raft_destroy(r);
}

/* Node 2 with entries 1..12, all of term 1. */
static struct raft *follower_with_log(void)
{
    struct raft_entry e[12];
    for (size_t i = 0; i < 12; i++) {
        e[i] = (struct raft_entry){.term = 1, .index = i + 1};
    }
    struct raft_boot boot = {.term = 1, .first_index = 1, .entries = e, .entries_count = 12};
    return make(2, &boot);
}

/* Node 2 (entries 1..12 of term 1) installs the snapshot at 10 of snapshot_term. */
static void check_install(raft_term_t snapshot_term, bool tail_matches, raft_index_t last_after)
{
    struct raft *r = follower_with_log();
    struct drained d;
    deliver_snapshot(r, &d, 10 * MS, snapshot_term);
    CHECK(d.install);
    CHECK_EQ(d.installed.log_tail_matches, tail_matches);
    raft_persisted_snapshot(r, 10 * MS, 10, snapshot_term);
    CHECK_EQ(raft_first_index(r), 11);
    CHECK_EQ(raft_last_index(r), last_after);
    CHECK_EQ(raft_term_at(r, 10), snapshot_term);
    raft_destroy(r);
}

TEST(installing_keeps_a_matching_log_tail)
{
    check_install(1, true, 12);
}

TEST(installing_drops_a_conflicting_log_tail)
{
    /* Our entry 10 is of term 1, the snapshot's of term 2: the whole log goes. */
    check_install(2, false, 10);
}

/* A commit index that runs ahead of the applied index while a snapshot is being installed
 * is not work for the driver: nothing may be applied until the install is durable, so
 * raft_has_update must say no. When it said yes, the server's `while (raft_has_update)`
 * loop spun forever on empty updates and never got back to its event loop to hear that
 * the snapshot was saved. A follower restarted behind a compacted leader hit this when an
 * append that raised its commit index and the snapshot arrived in one turn of the loop. */
TEST(commit_ahead_of_applied_while_installing_is_no_update)
{
    struct raft *r = follower_with_log();
    struct raft_message hb = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 2,
                              .prev_log_index = 12, .prev_log_term = 1, .commit_index = 5};
    raft_receive(r, 10 * MS, &hb); /* commit 5, applied 0, and no update taken yet */
    struct raft_message c0 = chunk(0, 400, 1), c1 = chunk(400, 300, 1), c2 = chunk(700, 300, 1);
    raft_receive(r, 10 * MS, &c0);
    raft_receive(r, 10 * MS, &c1);
    raft_receive(r, 10 * MS, &c2);
    bool installed = false;
    int updates = 0;
    while (raft_has_update(r) && updates < 100) {
        struct raft_update u;
        raft_get_update(r, &u);
        CHECK_EQ(u.apply_entries_count, 0); /* nothing is applied while installing */
        installed = installed || u.snapshot_install != NULL;
        raft_update_done(r);
        if (u.hard_state_changed) {
            raft_persisted_hard_state(r, 10 * MS, u.term, u.vote);
        }
        updates++;
    }
    CHECK(installed);
    CHECK(!raft_has_update(r));
    raft_persisted_snapshot(r, 20 * MS, 10, 1);
    struct drained d;
    drain(r, &d, 20 * MS);
    CHECK_EQ(raft_applied_index(r), 10);
    CHECK_EQ(count_type(&d, RAFT_MSG_SNAPSHOT_REPLY), 1);
    raft_destroy(r);
}

TEST(snapshot_at_or_below_the_commit_index_is_acknowledged_without_installing)
{
    struct raft *r = follower_with_log();
    /* An append from the leader commits up to 12. */
    struct raft_message hb = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 2,
                              .prev_log_index = 12, .prev_log_term = 1, .commit_index = 12};
    raft_receive(r, 10 * MS, &hb);
    CHECK_EQ(raft_commit_index(r), 12);
    struct drained d;
    drain(r, &d, 10 * MS);
    struct raft_message c0 = chunk(0, 300, 1);
    raft_receive(r, 10 * MS, &c0);
    drain(r, &d, 10 * MS);
    CHECK(!d.install);
    CHECK_EQ(count_type(&d, RAFT_MSG_SNAPSHOT_REPLY), 1);
    CHECK(d.msgs[0].done && d.msgs[0].success);
    CHECK_EQ(d.msgs[0].match_index, 10);
    CHECK_EQ(raft_last_index(r), 12); /* nothing went backwards */
    CHECK_EQ(raft_snapshot_index(r), 0);
    raft_destroy(r);
}

TEST(snapshot_taken_compacts_the_log_behind_it)
{
    uint64_t now;
    struct raft *r = leader_with_snapshot(&now);
    raft_persisted_entries(r, now, 11, 2); /* the no-op */
    raft_index_t idx = 0;
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(raft_propose(r, now, (const uint8_t *)"x", 1, &idx), 0);
    }
    struct drained d;
    drain(r, &d, now);
    CHECK_EQ(raft_snapshot_taken(r, now, 12, snapshot_data, 10), ERR_INVALID); /* unapplied */
    struct raft_message ok = {.type = RAFT_MSG_APPEND_REPLY, .from = 3, .to = 1, .term = 2,
                              .success = true, .match_index = 16, .last_log_index = 16};
    raft_receive(r, now, &ok);
    drain(r, &d, now);
    CHECK_EQ(raft_applied_index(r), 16);
    CHECK_EQ(raft_snapshot_taken(r, now, 14, snapshot_data, 10), 0);
    CHECK_EQ(raft_first_index(r), 15);
    CHECK_EQ(raft_term_at(r, 14), 2);
    CHECK_EQ(raft_snapshot_taken(r, now, 13, snapshot_data, 10), ERR_INVALID); /* older */
    raft_destroy(r);
}

static bool address_is(const struct raft_config *c, node_id_t id, const char *want)
{
    size_t len;
    const uint8_t *a = raft_config_address(c, id, &len);
    return a != NULL && len == strlen(want) && memcmp(a, want, len) == 0;
}

TEST(installed_snapshot_brings_its_configuration_with_it)
{
    struct raft *r = make(2, NULL);
    CHECK(!raft_config_is_learner(raft_configuration(r), 4));
    struct drained d;
    deliver_snapshot(r, &d, 10 * MS, 1);
    CHECK(d.install);
    /* The driver saves the configuration with the snapshot, byte for byte. */
    CHECK_EQ(d.installed.config_len, snapshot_config_len);
    CHECK(memcmp(d.installed.config, snapshot_config, snapshot_config_len) == 0);
    CHECK(!raft_config_is_learner(raft_configuration(r), 4)); /* not before it is durable */
    raft_persisted_snapshot(r, 5000 * MS, 10, 1);
    const struct raft_config *c = raft_configuration(r);
    CHECK(raft_config_is_learner(c, 4));
    CHECK(address_is(c, 4, "n4:7004"));
    CHECK_EQ(raft_configuration_index(r), 10);
    uint8_t out[RAFT_CONFIG_ENCODED_SIZE_MAX];
    CHECK_EQ(raft_snapshot_config_encode(r, 10, out), snapshot_config_len);
    CHECK(memcmp(out, snapshot_config, snapshot_config_len) == 0);
    raft_destroy(r);
}

TEST(a_kept_log_tail_with_a_later_config_entry_overrides_the_snapshot_configuration)
{
    /* Node 2's entry 12 is a config entry with five voters; the snapshot at 10 matches
     * its log, so the tail and its configuration stay. */
    struct raft_config five = {.voters = {1, 2, 3, 4, 5}, .voters_count = 5};
    uint8_t payload[RAFT_CONFIG_ENCODED_SIZE_MAX];
    struct raft_entry e[12];
    for (size_t i = 0; i < 12; i++) {
        e[i] = (struct raft_entry){.term = 1, .index = i + 1};
    }
    e[11].type = RAFT_ENTRY_CONFIG;
    e[11].data = payload;
    e[11].data_len = (uint32_t)raft_config_encode(&five, payload);
    struct raft_boot boot = {.term = 1, .first_index = 1, .entries = e, .entries_count = 12};
    struct raft *r = make(2, &boot);
    struct drained d;
    deliver_snapshot(r, &d, 10 * MS, 1);
    CHECK(d.install && d.installed.log_tail_matches);
    raft_persisted_snapshot(r, 10 * MS, 10, 1);
    CHECK_EQ(raft_configuration_index(r), 12);
    CHECK_EQ(raft_configuration(r)->voters_count, 5);
    /* A leader of term 2 replaces entry 12: the snapshot's configuration, not the
     * voters of raft_options, takes over again. */
    struct raft_entry replacement = {.term = 2, .index = 12, .type = RAFT_ENTRY_NOOP};
    struct raft_message m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 2,
                             .prev_log_index = 11, .prev_log_term = 1, .entries = &replacement,
                             .entries_count = 1};
    raft_receive(r, 11 * MS, &m);
    CHECK_EQ(raft_term_at(r, 12), 2);
    CHECK_EQ(raft_configuration_index(r), 10);
    CHECK(raft_config_is_learner(raft_configuration(r), 4));
    struct raft_config at;
    CHECK_EQ(raft_configuration_at(r, 3, &at), 10); /* before the snapshot: its config */
    CHECK(raft_config_is_learner(&at, 4));
    raft_destroy(r);
}

TEST(a_first_chunk_without_a_valid_configuration_is_refused)
{
    struct raft *r = make(2, NULL);
    struct drained d;
    struct raft_message c0 = chunk(0, 400, 1);
    c0.config = NULL;
    c0.config_len = 0;
    raft_receive(r, 10 * MS, &c0);
    drain(r, &d, 10 * MS);
    CHECK_EQ(count_type(&d, RAFT_MSG_SNAPSHOT_REPLY), 1);
    CHECK_EQ(d.msgs[0].offset, 0); /* start over */
    CHECK(!raft_snapshot_receiving(r));
    uint8_t bad[4] = {2, 0, 0, 0}; /* no voters */
    c0.config = bad;
    c0.config_len = sizeof bad;
    raft_receive(r, 10 * MS, &c0);
    drain(r, &d, 10 * MS);
    CHECK(!raft_snapshot_receiving(r));
    raft_destroy(r);
}

TEST(boot_takes_the_snapshot_configuration_over_the_configured_voters)
{
    struct raft_boot boot = snapshot_boot();
    struct raft *r = make(2, &boot);
    CHECK(r != NULL);
    CHECK(raft_config_is_learner(raft_configuration(r), 4));
    CHECK_EQ(raft_configuration_index(r), 10);
    raft_destroy(r);
    /* A snapshot saved before configurations travelled with snapshots: the voters of
     * raft_options, as before. */
    boot.snapshot_config_len = 0;
    r = make(2, &boot);
    CHECK(!raft_config_is_learner(raft_configuration(r), 4));
    CHECK_EQ(raft_configuration(r)->voters_count, 3);
    raft_destroy(r);
    /* A configuration that does not decode is not papered over. */
    uint8_t bad[5] = {2, 1, 0, 0, 1};
    boot.snapshot_config = bad;
    boot.snapshot_config_len = sizeof bad;
    CHECK(make(2, &boot) == NULL);
}

TEST(snapshot_taken_keeps_the_configuration_as_of_its_index)
{
    uint64_t now;
    struct raft *r = leader_with_snapshot(&now);
    raft_persisted_entries(r, now, 11, 2); /* the no-op */
    struct raft_message ok = {.type = RAFT_MSG_APPEND_REPLY, .from = 3, .to = 1, .term = 2,
                              .success = true, .match_index = 11, .last_log_index = 11};
    raft_receive(r, now, &ok);
    struct drained d;
    drain(r, &d, now);
    /* Learner 5 joins at 12, then a plain entry at 13. */
    raft_index_t idx;
    struct raft_change add = {.type = RAFT_CHANGE_ADD_LEARNER, .id = 5,
                              .address = (const uint8_t *)"n5:7005", .address_len = 7};
    CHECK_EQ(raft_change_membership(r, now, &add, 1, &idx), 0);
    CHECK_EQ(idx, 12);
    CHECK_EQ(raft_propose(r, now, (const uint8_t *)"x", 1, &idx), 0);
    drain(r, &d, now);
    raft_persisted_entries(r, now, 13, 2);
    ok.match_index = ok.last_log_index = 13;
    raft_receive(r, now, &ok);
    drain(r, &d, now);
    CHECK_EQ(raft_applied_index(r), 13);
    uint8_t out[RAFT_CONFIG_ENCODED_SIZE_MAX];
    struct raft_config c;
    size_t len = raft_snapshot_config_encode(r, 11, out); /* before the change */
    CHECK_EQ(raft_config_decode(out, len, &c), 0);
    CHECK(!raft_config_is_learner(&c, 5) && raft_config_is_learner(&c, 4));
    len = raft_snapshot_config_encode(r, 13, out);
    CHECK_EQ(raft_config_decode(out, len, &c), 0);
    CHECK(raft_config_is_learner(&c, 5) && address_is(&c, 5, "n5:7005"));
    /* The entry that set it is compacted away: the snapshot's configuration carries it,
     * and so does the first chunk sent to a follower that needs the snapshot. */
    CHECK_EQ(raft_snapshot_taken(r, now, 13, snapshot_data, SNAPSHOT_BYTES), 0);
    CHECK_EQ(raft_first_index(r), 14);
    CHECK_EQ(raft_configuration_at(r, 13, &c), 12); /* still in effect since entry 12 */
    CHECK(raft_config_is_learner(&c, 5));
    struct raft_message rej = {.type = RAFT_MSG_APPEND_REPLY, .from = 2, .to = 1, .term = 2,
                               .success = false, .prev_log_index = 10, .conflict_index = 1};
    raft_receive(r, now, &rej);
    drain(r, &d, now);
    CHECK(count_type(&d, RAFT_MSG_SNAPSHOT) > 0);
    CHECK_EQ(d.msgs[0].offset, 0);
    CHECK_EQ(raft_config_decode(d.msgs[0].config, d.msgs[0].config_len, &c), 0);
    CHECK(raft_config_is_learner(&c, 5) && raft_config_is_learner(&c, 4));
    raft_destroy(r);
}
