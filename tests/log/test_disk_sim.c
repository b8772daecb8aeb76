/* The simulated disk keeps its promises, and breaks exactly the ones a real disk may:
 * unsynced bytes and unsynced directory changes are lost (wholly or torn) at a crash,
 * synced ones never; ENOSPC writes nothing; a failed fsync leaves data unsynced; old
 * handles die with the crash; the same seed gives the same crash. */
#include "log_test_util.h"

static struct disk_file *open_file(struct tdisk *t, const char *name, unsigned flags)
{
    struct disk_file *f = NULL;
    CHECK_EQ(t->disk->file_open(t->disk->ctx, name, flags, &f), 0);
    return f;
}

static uint64_t size_of(struct tdisk *t, const char *name)
{
    uint64_t size = 0;
    return disk_sim_file_size(t->sim, name, &size) == 0 ? size : UINT64_MAX;
}

TEST(unsynced_bytes_are_lost_and_synced_bytes_kept)
{
    struct tdisk t;
    tdisk_init(&t, 1, NULL);
    struct disk_file *f = open_file(&t, "a", DISK_OPEN_CREATE);
    CHECK_EQ(t.disk->sync_dir(t.disk->ctx), 0);
    CHECK_EQ(t.disk->file_write(t.disk->ctx, f, "0123456789", 10, 0), 0);
    CHECK_EQ(t.disk->file_sync(t.disk->ctx, f), 0);
    CHECK_EQ(t.disk->file_write(t.disk->ctx, f, "abcdef", 6, 10), 0);
    t.disk->file_close(t.disk->ctx, f);
    disk_sim_crash(t.sim, DISK_SIM_CRASH_LOSE_UNSYNCED);
    CHECK_EQ(size_of(&t, "a"), 10);
    tdisk_free(&t);
}

TEST(power_cut_tears_a_write_at_the_chosen_byte)
{
    struct tdisk t;
    tdisk_init(&t, 2, NULL);
    struct disk_file *f = open_file(&t, "a", DISK_OPEN_CREATE);
    CHECK_EQ(t.disk->sync_dir(t.disk->ctx), 0);
    disk_sim_halt_at(t.sim, disk_sim_ops_count(t.sim) + 1, 4);
    CHECK_EQ(t.disk->file_write(t.disk->ctx, f, "abcdefgh", 8, 0), ERR_IO);
    CHECK(disk_sim_halted(t.sim));
    CHECK_EQ(t.disk->file_sync(t.disk->ctx, f), ERR_IO);
    t.disk->file_close(t.disk->ctx, f);
    disk_sim_crash(t.sim, DISK_SIM_CRASH_KEEP_ALL);
    CHECK_EQ(size_of(&t, "a"), 4);
    tdisk_free(&t);
}

TEST(directory_changes_need_a_directory_fsync)
{
    struct tdisk t;
    tdisk_init(&t, 3, NULL);
    CHECK_EQ(disk_sim_put_file(t.sim, "old", "x", 1), 0);
    struct disk_file *f = open_file(&t, "new", DISK_OPEN_CREATE);
    CHECK_EQ(t.disk->file_write(t.disk->ctx, f, "yy", 2, 0), 0);
    CHECK_EQ(t.disk->file_sync(t.disk->ctx, f), 0);
    t.disk->file_close(t.disk->ctx, f);
    CHECK_EQ(t.disk->rename(t.disk->ctx, "new", "old"), 0);
    disk_sim_crash(t.sim, DISK_SIM_CRASH_LOSE_UNSYNCED);
    CHECK_EQ(size_of(&t, "old"), 1); /* the rename was never made durable */
    CHECK_EQ(size_of(&t, "new"), UINT64_MAX);
    f = open_file(&t, "new", DISK_OPEN_CREATE);
    CHECK_EQ(t.disk->file_write(t.disk->ctx, f, "yy", 2, 0), 0);
    CHECK_EQ(t.disk->file_sync(t.disk->ctx, f), 0);
    t.disk->file_close(t.disk->ctx, f);
    CHECK_EQ(t.disk->rename(t.disk->ctx, "new", "old"), 0);
    CHECK_EQ(t.disk->sync_dir(t.disk->ctx), 0);
    disk_sim_crash(t.sim, DISK_SIM_CRASH_LOSE_UNSYNCED);
    CHECK_EQ(size_of(&t, "old"), 2);
    tdisk_free(&t);
}

TEST(disk_full_writes_nothing)
{
    struct disk_sim_config cfg = {16, 0, 0};
    struct tdisk t;
    tdisk_init(&t, 4, &cfg);
    struct disk_file *f = open_file(&t, "a", DISK_OPEN_CREATE);
    CHECK_EQ(t.disk->file_write(t.disk->ctx, f, "0123456789", 10, 0), 0);
    CHECK_EQ(t.disk->file_write(t.disk->ctx, f, "0123456789", 10, 10), ERR_NOSPACE);
    CHECK_EQ(size_of(&t, "a"), 10);
    t.disk->file_close(t.disk->ctx, f);
    tdisk_free(&t);
}

TEST(failed_fsync_leaves_data_unsynced)
{
    struct tdisk t;
    tdisk_init(&t, 5, NULL);
    struct disk_file *f = open_file(&t, "a", DISK_OPEN_CREATE);
    CHECK_EQ(t.disk->sync_dir(t.disk->ctx), 0);
    CHECK_EQ(t.disk->file_write(t.disk->ctx, f, "abc", 3, 0), 0);
    disk_sim_fail_syncs(t.sim, 1);
    CHECK_EQ(t.disk->file_sync(t.disk->ctx, f), ERR_IO);
    disk_sim_crash(t.sim, DISK_SIM_CRASH_LOSE_UNSYNCED);
    CHECK_EQ(size_of(&t, "a"), 0);
    /* The handle opened before the crash is dead. */
    CHECK_EQ(t.disk->file_write(t.disk->ctx, f, "abc", 3, 0), ERR_IO);
    t.disk->file_close(t.disk->ctx, f);
    tdisk_free(&t);
}

static uint64_t random_crash_size(uint64_t seed)
{
    struct tdisk t;
    tdisk_init(&t, seed, NULL);
    struct disk_file *f = open_file(&t, "a", DISK_OPEN_CREATE);
    CHECK_EQ(t.disk->sync_dir(t.disk->ctx), 0);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(t.disk->file_write(t.disk->ctx, f, "0123456789", 10, (uint64_t)i * 10), 0);
    }
    t.disk->file_close(t.disk->ctx, f);
    disk_sim_crash(t.sim, DISK_SIM_CRASH_RANDOM);
    uint64_t size = size_of(&t, "a");
    tdisk_free(&t);
    return size;
}

TEST(random_crash_is_reproducible_from_the_seed_and_tears_anywhere)
{
    bool seen_torn = false;
    for (uint64_t seed = 1; seed <= 50; seed++) {
        uint64_t size = random_crash_size(seed);
        CHECK_EQ(size, random_crash_size(seed));
        CHECK(size <= 100);
        seen_torn = seen_torn || size % 10 != 0;
    }
    CHECK(seen_torn);
}
