/* Unit tests of the log on the simulated disk: round trips, segment rolling, truncation,
 * compaction, term/vote, snapshots, and the error paths (sticky EIO, clean ENOSPC,
 * corruption reported rather than skipped). */
#include "log_test_util.h"

#define SEG_SMALL 256

TEST(appended_entries_read_back_after_reopen)
{
    struct tdisk t;
    tdisk_init(&t, 1, NULL);
    struct log *l = open_ok(t.disk, 0, NULL);
    CHECK_EQ(log_last_index(l), 0);
    CHECK_EQ(append_range(l, 1, 100, 3), 0);
    uint64_t durable = 0;
    CHECK_EQ(log_sync(l, &durable), 0);
    CHECK_EQ(durable, 100);
    log_close(l);
    struct log_recovery rep;
    l = open_ok(t.disk, 0, &rep);
    CHECK(!rep.corrupt && !rep.torn_tail);
    CHECK_EQ(rep.first_index, 1);
    CHECK_EQ(rep.last_index, 100);
    for (uint64_t i = 1; i <= 100; i++) {
        CHECK(entry_is(l, i, 3));
    }
    CHECK_EQ(log_term_at(l, 50), 3);
    log_close(l);
    tdisk_free(&t);
}

TEST(append_rejects_a_gap_in_indices)
{
    struct tdisk t;
    tdisk_init(&t, 1, NULL);
    struct log *l = open_ok(t.disk, 0, NULL);
    CHECK_EQ(append_range(l, 2, 3, 1), ERR_INVALID);
    CHECK_EQ(append_range(l, 1, 3, 1), 0);
    CHECK_EQ(append_range(l, 5, 5, 1), ERR_INVALID);
    CHECK_EQ(log_last_index(l), 3);
    log_close(l);
    tdisk_free(&t);
}

TEST(segments_roll_at_the_configured_size_and_survive_reopen)
{
    struct tdisk t;
    tdisk_init(&t, 2, NULL);
    struct log *l = open_ok(t.disk, SEG_SMALL, NULL);
    CHECK_EQ(append_range(l, 1, 60, 2), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    CHECK(log_segments_count(l) > 5);
    uint32_t segs = log_segments_count(l);
    log_check_invariants(l);
    log_close(l);
    struct log_recovery rep;
    l = open_ok(t.disk, SEG_SMALL, &rep);
    CHECK_EQ(rep.segments_count, segs);
    CHECK_EQ(rep.last_index, 60);
    for (uint64_t i = 1; i <= 60; i++) {
        CHECK(entry_is(l, i, 2));
    }
    log_close(l);
    tdisk_free(&t);
}

TEST(truncate_suffix_replaces_conflicting_entries_durably)
{
    struct tdisk t;
    tdisk_init(&t, 3, NULL);
    struct log *l = open_ok(t.disk, SEG_SMALL, NULL);
    CHECK_EQ(append_range(l, 1, 40, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    CHECK_EQ(log_truncate_suffix(l, 41), 0);
    CHECK_EQ(log_truncate_suffix(l, 20), 0);
    CHECK_EQ(log_last_index(l), 19);
    CHECK_EQ(log_durable_index(l), 19);
    CHECK_EQ(append_range(l, 20, 30, 2), 0);
    log_check_invariants(l);
    /* The truncation is durable even though the new entries were never synced. */
    disk_sim_crash(t.sim, DISK_SIM_CRASH_LOSE_UNSYNCED);
    log_close(l);
    struct log_recovery rep;
    l = open_ok(t.disk, SEG_SMALL, &rep);
    /* Sealing a full segment may have synced some new entries; none of the old ones
     * beyond 19 may come back. */
    CHECK(rep.last_index >= 19 && rep.last_index <= 30);
    CHECK(entry_is(l, 19, 1));
    for (uint64_t i = 20; i <= rep.last_index; i++) {
        CHECK(entry_is(l, i, 2));
    }
    CHECK_EQ(log_truncate_suffix(l, 20), 0);
    CHECK_EQ(append_range(l, 20, 30, 2), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    l = open_ok(t.disk, SEG_SMALL, &rep);
    CHECK_EQ(rep.last_index, 30);
    CHECK(entry_is(l, 19, 1));
    CHECK(entry_is(l, 20, 2));
    CHECK(entry_is(l, 30, 2));
    CHECK_EQ(log_truncate_suffix(l, 1), 0);
    CHECK_EQ(log_last_index(l), 0);
    log_close(l);
    tdisk_free(&t);
}

TEST(compaction_deletes_segments_covered_by_the_snapshot_only)
{
    struct tdisk t;
    tdisk_init(&t, 4, NULL);
    struct log *l = open_ok(t.disk, SEG_SMALL, NULL);
    CHECK_EQ(append_range(l, 1, 60, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    CHECK_EQ(log_compact(l, 30), ERR_INVALID); /* no snapshot covers it yet */
    const uint8_t cfg[] = {1, 2, 3}, data[] = {9, 8, 7, 6};
    CHECK_EQ(log_snapshot_save(l, 30, 1, cfg, sizeof cfg, data, sizeof data), 0);
    uint32_t segs = log_segments_count(l);
    CHECK_EQ(log_compact(l, 30), 0);
    CHECK(log_segments_count(l) < segs);
    CHECK(log_first_index(l) <= 31);
    CHECK(log_first_index(l) > 1);
    log_check_invariants(l);
    log_close(l);
    struct log_recovery rep;
    l = open_ok(t.disk, SEG_SMALL, &rep);
    CHECK(rep.snapshot_present);
    CHECK_EQ(rep.snapshot_index, 30);
    CHECK_EQ(rep.first_index, log_first_index(l));
    CHECK(rep.first_index <= 31);
    CHECK_EQ(rep.last_index, 60);
    CHECK(entry_is(l, 31, 1));
    struct log_snapshot snap;
    CHECK_EQ(log_snapshot_load(l, &snap), 0);
    CHECK_EQ(snap.meta.index, 30);
    CHECK_EQ(snap.config_len, 3);
    CHECK_EQ(snap.data_len, 4);
    CHECK_EQ(snap.data[3], 6);
    log_snapshot_free(&snap);
    /* Compacting past the end empties the log; the next append follows the snapshot. */
    CHECK_EQ(log_snapshot_save(l, 100, 4, cfg, sizeof cfg, data, sizeof data), 0);
    CHECK_EQ(log_compact(l, 100), 0);
    CHECK_EQ(log_last_index(l), 100);
    CHECK_EQ(log_segments_count(l), 0);
    CHECK_EQ(log_term_at(l, 100), 4);
    CHECK_EQ(append_range(l, 101, 105, 4), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    l = open_ok(t.disk, SEG_SMALL, &rep);
    CHECK_EQ(rep.first_index, 101);
    CHECK_EQ(rep.last_index, 105);
    CHECK(entry_is(l, 105, 4));
    log_close(l);
    tdisk_free(&t);
}

TEST(term_vote_and_vote_barrier_survive_reopen)
{
    struct tdisk t;
    tdisk_init(&t, 5, NULL);
    struct log *l = open_ok(t.disk, 0, NULL);
    CHECK_EQ(log_set_term_vote(l, 7, 3), 0);
    CHECK_EQ(log_set_vote_barrier(l, 40), 0);
    CHECK_EQ(log_set_term_vote(l, 8, 0), 0); /* keeps the barrier */
    disk_sim_crash(t.sim, DISK_SIM_CRASH_LOSE_UNSYNCED);
    log_close(l);
    struct log_recovery rep;
    l = open_ok(t.disk, 0, &rep);
    CHECK_EQ(rep.term, 8);
    CHECK_EQ(rep.vote, 0);
    CHECK_EQ(rep.vote_barrier, 40);
    CHECK_EQ(log_term(l), 8);
    CHECK_EQ(log_set_vote_barrier(l, 0), 0); /* keeps term and vote */
    disk_sim_crash(t.sim, DISK_SIM_CRASH_LOSE_UNSYNCED);
    log_close(l);
    l = open_ok(t.disk, 0, &rep);
    CHECK_EQ(rep.term, 8);
    CHECK_EQ(rep.vote_barrier, 0);
    CHECK_EQ(log_vote_barrier(l), 0);
    log_close(l);
    tdisk_free(&t);
}

TEST(failed_fsync_is_sticky)
{
    struct tdisk t;
    tdisk_init(&t, 6, NULL);
    struct log *l = open_ok(t.disk, 0, NULL);
    CHECK_EQ(append_range(l, 1, 10, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    CHECK_EQ(append_range(l, 11, 20, 1), 0);
    disk_sim_fail_syncs(t.sim, 1);
    CHECK_EQ(log_sync(l, NULL), ERR_IO);
    CHECK_EQ(log_durable_index(l), 10);
    /* The next sync would succeed on the disk, but the log must not believe it. */
    CHECK_EQ(log_sync(l, NULL), ERR_IO);
    CHECK_EQ(append_range(l, 21, 21, 1), ERR_IO);
    CHECK_EQ(log_set_term_vote(l, 2, 1), ERR_IO);
    CHECK_EQ(log_truncate_suffix(l, 5), ERR_IO);
    CHECK_EQ(log_failed(l), ERR_IO);
    CHECK_EQ(log_durable_index(l), 10);
    log_close(l);
    /* A restart re-reads the disk and starts healthy. */
    struct log_recovery rep;
    l = open_ok(t.disk, 0, &rep);
    CHECK_EQ(log_failed(l), 0);
    CHECK(rep.last_index >= 10);
    log_close(l);
    tdisk_free(&t);
}

TEST(failed_directory_fsync_is_sticky)
{
    struct tdisk t;
    tdisk_init(&t, 7, NULL);
    struct log *l = open_ok(t.disk, 0, NULL);
    disk_sim_fail_syncs(t.sim, 1);
    CHECK_EQ(log_set_term_vote(l, 2, 1), ERR_IO);
    CHECK_EQ(log_term(l), 0);
    CHECK_EQ(append_range(l, 1, 1, 1), ERR_IO);
    log_close(l);
    tdisk_free(&t);
}

TEST(disk_full_gives_a_clean_error_and_loses_nothing_synced)
{
    struct tdisk t;
    tdisk_init(&t, 8, NULL);
    struct log *l = open_ok(t.disk, SEG_SMALL, NULL);
    CHECK_EQ(append_range(l, 1, 20, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    disk_sim_set_capacity(t.sim, disk_sim_used_bytes(t.sim) + 300);
    uint64_t next = 21;
    int rc = 0;
    while ((rc = append_range(l, next, next, 1)) == 0) {
        next++;
    }
    CHECK_EQ(rc, ERR_NOSPACE);
    CHECK_EQ(log_failed(l), 0);
    CHECK_EQ(log_last_index(l), next - 1);
    log_check_invariants(l);
    CHECK_EQ(log_sync(l, NULL), 0);
    CHECK_EQ(log_durable_index(l), next - 1);
    /* Space comes back: the log carries on where it stopped. */
    disk_sim_set_capacity(t.sim, 0);
    CHECK_EQ(append_range(l, next, next + 5, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    disk_sim_crash(t.sim, DISK_SIM_CRASH_LOSE_UNSYNCED);
    log_close(l);
    struct log_recovery rep;
    l = open_ok(t.disk, SEG_SMALL, &rep);
    CHECK(!rep.corrupt);
    CHECK_EQ(rep.last_index, next + 5);
    for (uint64_t i = 1; i <= next + 5; i++) {
        CHECK(entry_is(l, i, 1));
    }
    log_close(l);
    tdisk_free(&t);
}

TEST(disk_full_on_snapshot_and_meta_leaves_old_state)
{
    struct tdisk t;
    tdisk_init(&t, 9, NULL);
    struct log *l = open_ok(t.disk, 0, NULL);
    CHECK_EQ(log_set_term_vote(l, 3, 1), 0);
    disk_sim_set_capacity(t.sim, disk_sim_used_bytes(t.sim) + 40);
    uint8_t data[100] = {0};
    CHECK_EQ(log_snapshot_save(l, 5, 1, data, 10, data, sizeof data), ERR_NOSPACE);
    CHECK_EQ(log_snapshot_meta(l).index, 0);
    CHECK_EQ(log_failed(l), 0);
    log_close(l);
    struct log_recovery rep;
    l = open_ok(t.disk, 0, &rep);
    CHECK(!rep.snapshot_present && !rep.snapshot_corrupt);
    CHECK_EQ(rep.term, 3);
    log_close(l);
    tdisk_free(&t);
}
