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
    struct raft_boot empty = {0};
    return raft_create(&o, boot != NULL ? boot : &empty, 0);
}

/* What one drained update held that these tests look at. */
struct drained {
    struct raft_message msgs[32];
    uint8_t chunk_data[32][CHUNK_BYTES];
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

/* Node 1 boots with a snapshot at 10 (term 1) and nothing after it, and wins term 2
 * with node 3's votes. */
static struct raft *leader_with_snapshot(uint64_t *now)
{
    struct raft_boot boot = {.term = 1, .first_index = 11, .base_term = 1,
                             .snapshot_index = 10, .snapshot_term = 1,
                             .snapshot_data = snapshot_data,
                             .snapshot_size_bytes = SNAPSHOT_BYTES};
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
                                 .done = offset + len == SNAPSHOT_BYTES};
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
