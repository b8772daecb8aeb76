/* Recovery rules, one at a time: a torn tail is cut and reported; a bad record with
 * valid ones after it is corruption, reported with its index range, never skipped, and
 * repaired by truncation; damaged metadata and snapshots are reported, not believed;
 * recovery never fails on garbage files. */
#include "log_test_util.h"

#include "base/crc32c.h"
#include "log/format.h"

#define SEG 4096

static uint64_t record_offset(struct log *l, uint64_t index)
{
    /* Records in a fresh single segment follow the header back to back. */
    uint64_t off = LOG_SEGMENT_HEADER_SIZE;
    uint8_t scratch[64];
    (void)l;
    for (uint64_t i = 1; i < index; i++) {
        off += LOG_RECORD_HEADER_SIZE + payload_fill(i, 1, scratch);
    }
    return off;
}

static void write_ten_synced(struct tdisk *t)
{
    struct log *l = open_ok(t->disk, SEG, NULL);
    CHECK_EQ(append_range(l, 1, 10, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
}

TEST(torn_tail_is_cut_and_reported)
{
    struct tdisk t;
    tdisk_init(&t, 1, NULL);
    struct log *l = open_ok(t.disk, SEG, NULL);
    CHECK_EQ(append_range(l, 1, 10, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    CHECK_EQ(append_range(l, 11, 11, 1), 0);
    log_close(l);
    /* Keep the synced part and 7 bytes of record 11: a write cut by a crash. */
    struct disk_file *f = NULL;
    CHECK_EQ(t.disk->file_open(t.disk->ctx, "log-0000000000000001", 0, &f), 0);
    CHECK_EQ(t.disk->file_truncate(t.disk->ctx, f, record_offset(NULL, 11) + 7), 0);
    CHECK_EQ(t.disk->file_sync(t.disk->ctx, f), 0);
    t.disk->file_close(t.disk->ctx, f);
    struct log_recovery rep;
    l = open_ok(t.disk, SEG, &rep);
    CHECK(rep.torn_tail);
    CHECK_EQ(rep.torn_bytes, 7);
    CHECK(!rep.corrupt);
    CHECK_EQ(rep.last_index, 10);
    CHECK_EQ(append_range(l, 11, 12, 2), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    l = open_ok(t.disk, SEG, &rep);
    CHECK(!rep.torn_tail && !rep.corrupt);
    CHECK(entry_is(l, 12, 2));
    log_close(l);
    tdisk_free(&t);
}

TEST(midlog_bad_checksum_is_reported_with_its_range_not_skipped)
{
    struct tdisk t;
    tdisk_init(&t, 2, NULL);
    write_ten_synced(&t);
    /* A latent bit flip in the payload of entry 4. */
    CHECK_EQ(disk_sim_flip_bit(t.sim, "log-0000000000000001",
                               (record_offset(NULL, 4) + LOG_RECORD_HEADER_SIZE + 2) * 8),
             0);
    struct log_recovery rep;
    struct log *l = open_ok(t.disk, SEG, &rep);
    CHECK(rep.corrupt);
    CHECK(!rep.torn_tail);
    CHECK_EQ(rep.corrupt_from_index, 4);
    CHECK_EQ(rep.corrupt_to_index, 10);
    CHECK_EQ(rep.last_index, 3);
    uint64_t from = 0;
    CHECK(log_damaged(l, &from));
    CHECK_EQ(from, 4);
    CHECK(entry_is(l, 3, 1));
    /* No writes on a log that cannot vouch for its tail... */
    CHECK_EQ(append_range(l, 4, 4, 1), ERR_CORRUPT);
    /* ...until the driver cuts the damage off and refills from the leader. */
    CHECK_EQ(log_truncate_suffix(l, 4), 0);
    CHECK(!log_damaged(l, NULL));
    CHECK_EQ(append_range(l, 4, 10, 2), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    l = open_ok(t.disk, SEG, &rep);
    CHECK(!rep.corrupt);
    CHECK_EQ(rep.last_index, 10);
    CHECK(entry_is(l, 3, 1));
    CHECK(entry_is(l, 4, 2));
    log_close(l);
    tdisk_free(&t);
}

TEST(bad_last_record_is_corruption_not_a_torn_tail)
{
    struct tdisk t;
    tdisk_init(&t, 3, NULL);
    write_ten_synced(&t);
    CHECK_EQ(disk_sim_flip_bit(t.sim, "log-0000000000000001", (record_offset(NULL, 10) + 9) * 8), 0);
    struct log_recovery rep;
    struct log *l = open_ok(t.disk, SEG, &rep);
    CHECK(rep.corrupt);
    CHECK_EQ(rep.corrupt_from_index, 10);
    CHECK_EQ(rep.last_index, 9);
    log_close(l);
    tdisk_free(&t);
}

TEST(corruption_in_an_earlier_segment_is_reported_across_segments)
{
    struct tdisk t;
    tdisk_init(&t, 4, NULL);
    struct log *l = open_ok(t.disk, 256, NULL);
    CHECK_EQ(append_range(l, 1, 30, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    /* The first segment's header is damaged: nothing from index 1 on can be vouched for. */
    CHECK_EQ(disk_sim_flip_bit(t.sim, "log-0000000000000001", 12 * 8), 0);
    struct log_recovery rep;
    l = open_ok(t.disk, 256, &rep);
    CHECK(rep.corrupt);
    CHECK_EQ(rep.corrupt_from_index, 1);
    CHECK_EQ(rep.corrupt_to_index, 30);
    CHECK_EQ(log_last_index(l), 0);
    CHECK_EQ(log_truncate_suffix(l, 1), 0);
    CHECK_EQ(append_range(l, 1, 3, 5), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    l = open_ok(t.disk, 256, &rep);
    CHECK(!rep.corrupt);
    CHECK_EQ(rep.last_index, 3);
    CHECK_EQ(rep.segments_count, 1);
    log_close(l);
    tdisk_free(&t);
}

TEST(damaged_metadata_is_reported_not_believed)
{
    struct tdisk t;
    tdisk_init(&t, 5, NULL);
    struct log *l = open_ok(t.disk, SEG, NULL);
    CHECK_EQ(log_set_term_vote(l, 5, 2), 0);
    log_close(l);
    CHECK_EQ(disk_sim_flip_bit(t.sim, "meta", 9 * 8), 0);
    struct log_recovery rep;
    l = open_ok(t.disk, SEG, &rep);
    CHECK(rep.meta_corrupt);
    CHECK_EQ(rep.term, 0);
    log_close(l);
    tdisk_free(&t);
}

TEST(damaged_snapshot_is_reported_and_refuses_to_load)
{
    struct tdisk t;
    tdisk_init(&t, 6, NULL);
    struct log *l = open_ok(t.disk, SEG, NULL);
    uint8_t data[100];
    memset(data, 7, sizeof data);
    CHECK_EQ(append_range(l, 1, 5, 1), 0);
    CHECK_EQ(log_snapshot_save(l, 5, 1, data, 4, data, sizeof data), 0);
    log_close(l);
    CHECK_EQ(disk_sim_flip_bit(t.sim, "snapshot", (LOG_SNAPSHOT_HEADER_SIZE + 50) * 8), 0);
    struct log_recovery rep;
    struct log_snapshot snap;
    l = open_ok(t.disk, SEG, &rep);
    CHECK(rep.snapshot_corrupt);
    CHECK(!rep.snapshot_present);
    CHECK_EQ(log_snapshot_load(l, &snap), ERR_CORRUPT);
    log_close(l);
    tdisk_free(&t);
}

TEST(garbage_files_never_crash_recovery)
{
    struct tdisk t;
    tdisk_init(&t, 7, NULL);
    struct prng p;
    prng_seed(&p, 99);
    uint8_t junk[600];
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof junk; i++) {
            junk[i] = (uint8_t)prng_next(&p);
        }
        size_t len = (size_t)prng_below(&p, sizeof junk);
        const char *names[] = {"meta", "snapshot", "log-0000000000000001", "log-0000000000000003"};
        CHECK_EQ(disk_sim_put_file(t.sim, names[round % 4], junk, len), 0);
        struct log_recovery rep;
        struct log *l = NULL;
        struct log_config cfg = {SEG, LOG_MUTANT_NONE};
        CHECK_EQ(log_open(&l, t.disk, &cfg, &rep), 0);
        log_check_invariants(l);
        log_close(l);
    }
    tdisk_free(&t);
}

TEST(record_lookalike_inside_a_torn_payload_is_still_a_torn_tail)
{
    struct tdisk t;
    tdisk_init(&t, 8, NULL);
    struct log *l = open_ok(t.disk, SEG, NULL);
    CHECK_EQ(append_range(l, 1, 3, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    /* A client value that is itself a well-formed record. */
    uint8_t inner[LOG_RECORD_HEADER_SIZE + 4];
    struct log_record_header h = {1, 4, 1, 9, crc32c("abcd", 4)};
    log_fmt_record_header_encode(inner, &h);
    memcpy(inner + LOG_RECORD_HEADER_SIZE, "abcd", 4);
    uint8_t payload[200];
    memset(payload, 'z', sizeof payload);
    memcpy(payload + 10, inner, sizeof inner);
    struct log_record r = {1, 4, 1, payload, sizeof payload};
    CHECK_EQ(log_append(l, &r, 1), 0);
    log_close(l);
    /* The crash keeps the value's lookalike record but not the end of entry 4. */
    struct disk_file *f = NULL;
    CHECK_EQ(t.disk->file_open(t.disk->ctx, "log-0000000000000001", 0, &f), 0);
    CHECK_EQ(t.disk->file_truncate(t.disk->ctx, f,
                                   record_offset(NULL, 4) + LOG_RECORD_HEADER_SIZE + 10 + sizeof inner + 5),
             0);
    t.disk->file_close(t.disk->ctx, f);
    struct log_recovery rep;
    l = open_ok(t.disk, SEG, &rep);
    CHECK(rep.torn_tail);
    CHECK(!rep.corrupt);
    CHECK_EQ(rep.last_index, 3);
    log_close(l);
    tdisk_free(&t);
}
