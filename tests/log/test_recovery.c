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
        off += log_fmt_record_size(payload_fill(i, 1, scratch));
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
    /* Keep the synced part and 5 bytes of record 11 (magic, version, type, the length's
     * first byte): a write cut by a crash. */
    struct disk_file *f = NULL;
    CHECK_EQ(t.disk->file_open(t.disk->ctx, "log-0000000000000001", 0, &f), 0);
    CHECK_EQ(t.disk->file_truncate(t.disk->ctx, f, record_offset(NULL, 11) + 5), 0);
    CHECK_EQ(t.disk->file_sync(t.disk->ctx, f), 0);
    t.disk->file_close(t.disk->ctx, f);
    struct log_recovery rep;
    l = open_ok(t.disk, SEG, &rep);
    CHECK(rep.torn_tail);
    CHECK_EQ(rep.torn_bytes, 5);
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
    uint8_t inner[LOG_RECORD_HEADER_SIZE + 4 + 1];
    struct log_record_header h = {1, 4, 1, 9, crc32c("abcd", 4)};
    log_fmt_record_header_encode(inner, &h);
    memcpy(inner + LOG_RECORD_HEADER_SIZE, "abcd", 4);
    inner[LOG_RECORD_HEADER_SIZE + 4] = LOG_RECORD_END_MARK;
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

TEST(zero_filled_room_ends_the_data_without_a_report)
{
    struct tdisk t;
    tdisk_init(&t, 9, NULL);
    write_ten_synced(&t);
    /* The room reaches the segment size (the default room is larger than SEG). */
    uint64_t size = 0;
    CHECK_EQ(disk_sim_file_size(t.sim, "log-0000000000000001", &size), 0);
    CHECK_EQ(size, SEG);
    struct log_recovery rep;
    struct log *l = open_ok(t.disk, SEG, &rep);
    CHECK(!rep.torn_tail && !rep.corrupt);
    CHECK_EQ(rep.last_index, 10);
    CHECK_EQ(append_range(l, 11, 12, 2), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    CHECK_EQ(disk_sim_file_size(t.sim, "log-0000000000000001", &size), 0);
    CHECK_EQ(size, SEG);
    l = open_ok(t.disk, SEG, &rep);
    CHECK(!rep.torn_tail && !rep.corrupt);
    CHECK(entry_is(l, 10, 1));
    CHECK(entry_is(l, 12, 2));
    log_close(l);
    tdisk_free(&t);
}

TEST(room_is_filled_ahead_in_steps_and_never_past_the_segment)
{
    struct tdisk t;
    tdisk_init(&t, 10, NULL);
    struct log *l = NULL;
    struct log_recovery rep;
    struct log_config cfg = {.segment_size_bytes = SEG, .preallocate_bytes = 1024};
    CHECK_EQ(log_open(&l, t.disk, &cfg, &rep), 0);
    uint64_t size = 0, last_size = 0;
    for (uint64_t i = 1; log_segments_count(l) <= 1; i++) {
        last_size = size;
        CHECK_EQ(append_range(l, i, i, 1), 0);
        CHECK_EQ(disk_sim_file_size(t.sim, "log-0000000000000001", &size), 0);
        /* At least half a room ahead of the data, grown a room at a time. */
        CHECK(size == SEG || size >= record_offset(NULL, i + 1) + 512);
        CHECK(size <= SEG);
        CHECK(size == last_size || size < record_offset(NULL, i + 1) + 512 + 1024);
    }
    CHECK_EQ(last_size, SEG);
    log_close(l);
    tdisk_free(&t);
}

/* Zeroes name's bytes [from, to): what a crash leaves of writes into zero-filled room. */
static void zero_range(struct tdisk *t, const char *name, uint64_t from, uint64_t to)
{
    static const uint8_t zeros[4096];
    struct disk_file *f = NULL;
    CHECK(to - from <= sizeof zeros);
    CHECK_EQ(t->disk->file_open(t->disk->ctx, name, 0, &f), 0);
    CHECK_EQ(t->disk->file_write(t->disk->ctx, f, zeros, to - from, from), 0);
    CHECK_EQ(t->disk->file_sync(t->disk->ctx, f), 0);
    t->disk->file_close(t->disk->ctx, f);
}

TEST(torn_record_inside_zero_filled_room_is_a_torn_tail)
{
    struct tdisk t;
    tdisk_init(&t, 11, NULL);
    struct log *l = open_ok(t.disk, SEG, NULL);
    CHECK_EQ(append_range(l, 1, 11, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    /* The crash kept the header and 3 payload bytes of record 11; zeros follow. */
    zero_range(&t, "log-0000000000000001", record_offset(NULL, 11) + LOG_RECORD_HEADER_SIZE + 3,
               record_offset(NULL, 12));
    struct log_recovery rep;
    l = open_ok(t.disk, SEG, &rep);
    CHECK(rep.torn_tail);
    CHECK(!rep.corrupt);
    CHECK_EQ(rep.torn_bytes, LOG_RECORD_HEADER_SIZE + 3);
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

TEST(rotted_last_record_ending_in_zeros_is_corruption_not_a_torn_tail)
{
    struct tdisk t;
    tdisk_init(&t, 12, NULL);
    struct log *l = open_ok(t.disk, SEG, NULL);
    CHECK_EQ(append_range(l, 1, 3, 1), 0);
    const uint8_t value[8] = {'v'}; /* ends in seven zero bytes */
    struct log_record r = {1, 4, 1, value, sizeof value};
    CHECK_EQ(log_append(l, &r, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    /* Without its end byte this record would look like a torn write of its first bytes. */
    CHECK_EQ(disk_sim_flip_bit(t.sim, "log-0000000000000001",
                               (record_offset(NULL, 4) + LOG_RECORD_HEADER_SIZE) * 8 + 1),
             0);
    struct log_recovery rep;
    l = open_ok(t.disk, SEG, &rep);
    CHECK(rep.corrupt);
    CHECK(!rep.torn_tail);
    CHECK_EQ(rep.corrupt_from_index, 4);
    CHECK_EQ(rep.last_index, 3);
    log_close(l);
    tdisk_free(&t);
}

TEST(flip_in_zero_filled_room_is_corruption_and_repairable)
{
    struct tdisk t;
    tdisk_init(&t, 13, NULL);
    write_ten_synced(&t);
    /* One bit set where the next header would start: not the start of a header. */
    CHECK_EQ(disk_sim_flip_bit(t.sim, "log-0000000000000001", record_offset(NULL, 11) * 8 + 3), 0);
    struct log_recovery rep;
    struct log *l = open_ok(t.disk, SEG, &rep);
    CHECK(rep.corrupt);
    CHECK(!rep.torn_tail);
    CHECK_EQ(rep.corrupt_from_index, 11);
    CHECK_EQ(rep.last_index, 10);
    CHECK_EQ(log_truncate_suffix(l, 11), 0);
    CHECK_EQ(append_range(l, 11, 12, 2), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    l = open_ok(t.disk, SEG, &rep);
    CHECK(!rep.torn_tail && !rep.corrupt);
    CHECK(entry_is(l, 10, 1));
    CHECK(entry_is(l, 12, 2));
    log_close(l);
    tdisk_free(&t);
}

TEST(metadata_of_another_format_version_is_refused_untouched)
{
    struct tdisk t;
    tdisk_init(&t, 14, NULL);
    write_ten_synced(&t);
    struct log *l = open_ok(t.disk, SEG, NULL);
    CHECK_EQ(log_set_term_vote(l, 3, 2), 0);
    log_close(l);
    /* A meta file as version 1 wrote it: the same bytes with version 1 and its checksum. */
    uint8_t meta[LOG_META_SIZE];
    struct log_meta m = {3, 2, 0};
    log_fmt_meta_encode(meta, &m);
    le_store_u16(meta + 4, 1);
    le_store_u32(meta + LOG_META_SIZE - 4, crc32c(meta, LOG_META_SIZE - 4));
    CHECK_EQ(disk_sim_put_file(t.sim, LOG_META_NAME, meta, sizeof meta), 0);
    struct log_config cfg = {.segment_size_bytes = SEG};
    struct log_recovery rep;
    CHECK_EQ(log_open(&l, t.disk, &cfg, &rep), ERR_VERSION);
    uint64_t size = 0;
    CHECK_EQ(disk_sim_file_size(t.sim, "log-0000000000000001", &size), 0);
    CHECK_EQ(size, SEG);
    tdisk_free(&t);
}
