/* The server's storage over src/log: what was appended comes back after reopening, a torn
 * tail is cut, replacing from an index truncates, term/vote survive, snapshots are saved
 * and recovered, and a damaged log keeps its vote barrier across restarts until Raft
 * lifts it. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errors.h"
#include "harness.h"
#include "server/storage.h"

static void temp_dir(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/chorus-storage-XXXXXX");
    CHECK(mkdtemp(out) != NULL);
}

static void remove_dir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
}

/* The path of the log's first segment file ("log-...") in dir. */
static void segment_path(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    out[0] = '\0';
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strncmp(e->d_name, "log-", 4) == 0) {
            snprintf(out, cap, "%.63s/%.40s", dir, e->d_name);
        }
    }
    closedir(d);
    CHECK(out[0] != '\0');
}

/* Damages a file: at >= 0 overwrites the byte there; at < 0 zeroes the last -at bytes of
 * data (what precedes the zero-filled room), as a crash mid-write would. */
static void damage(const char *path, long at)
{
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    if (at >= 0) {
        CHECK_EQ(pwrite(fd, "X", 1, at), 1);
    } else {
        /* A crash that kept all but the last -at bytes written: zeros in their place. */
        uint8_t b = 0;
        off_t end = lseek(fd, 0, SEEK_END);
        while (end > 0 && pread(fd, &b, 1, end - 1) == 1 && b == 0) {
            end--;
        }
        CHECK(end + at >= 0);
        static const uint8_t zeros[64];
        CHECK((size_t)-at <= sizeof zeros);
        CHECK_EQ(pwrite(fd, zeros, (size_t)-at, end + at), -at);
    }
    close(fd);
}

/* Closes s and opens dir again (fsync off), recovering into rec. */
static void reopen(struct storage *s, const char *dir, struct storage_recovered *rec)
{
    storage_close(s);
    CHECK_EQ(storage_open(s, dir, false, rec), 0);
}

static void finish(struct storage *s, struct storage_recovered *rec, const char *dir)
{
    storage_recovered_free(rec);
    storage_close(s);
    remove_dir(dir);
}

static void append_n(struct storage *s, raft_index_t from, size_t n, raft_term_t term)
{
    struct raft_entry e[8];
    uint8_t data[8][4];
    for (size_t i = 0; i < n; i++) {
        memset(data[i], (int)(from + i), sizeof data[i]);
        e[i] = (struct raft_entry){.term = term, .index = from + i, .data_len = 4, .data = data[i]};
    }
    CHECK_EQ(storage_append(s, from, e, n), 0);
}

TEST(storage_recovers_entries_and_hard_state_after_reopen)
{
    char dir[64];
    temp_dir(dir, sizeof dir);
    struct storage s;
    struct storage_recovered rec;
    CHECK_EQ(storage_open(&s, dir, true, &rec), 0);
    CHECK_EQ(rec.entries_count, 0);
    append_n(&s, 1, 5, 2);
    CHECK_EQ(storage_save_hard_state(&s, 3, 2), 0);
    storage_close(&s);
    CHECK_EQ(storage_open(&s, dir, true, &rec), 0);
    CHECK_EQ(rec.term, 3);
    CHECK_EQ(rec.vote, 2);
    CHECK_EQ(rec.entries_count, 5);
    CHECK_EQ(rec.entries[4].index, 5);
    CHECK_EQ(rec.entries[4].term, 2);
    CHECK_EQ(rec.entries[4].data[0], 5);
    finish(&s, &rec, dir);
}

TEST(storage_replacing_from_an_index_drops_the_old_suffix)
{
    char dir[64];
    temp_dir(dir, sizeof dir);
    struct storage s;
    struct storage_recovered rec;
    CHECK_EQ(storage_open(&s, dir, false, &rec), 0);
    append_n(&s, 1, 6, 1);
    append_n(&s, 3, 2, 4);
    reopen(&s, dir, &rec);
    CHECK_EQ(rec.entries_count, 4);
    CHECK_EQ(rec.entries[2].term, 4);
    CHECK_EQ(rec.entries[3].term, 4);
    finish(&s, &rec, dir);
}

TEST(storage_cuts_a_torn_tail_and_keeps_the_valid_prefix)
{
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    struct storage s;
    struct storage_recovered rec;
    CHECK_EQ(storage_open(&s, dir, false, &rec), 0);
    append_n(&s, 1, 3, 1);
    storage_close(&s);
    segment_path(dir, path, sizeof path);
    damage(path, -2); /* the last record loses its end */
    reopen(&s, dir, &rec);
    CHECK_EQ(rec.entries_count, 2);
    CHECK(s.truncated_tail_bytes > 0);
    storage_recovered_free(&rec);
    append_n(&s, 3, 1, 2); /* appends continue at the cut */
    reopen(&s, dir, &rec);
    CHECK_EQ(rec.entries_count, 3);
    CHECK_EQ(rec.entries[2].term, 2);
    finish(&s, &rec, dir);
}

TEST(storage_refuses_a_corrupt_metadata_file)
{
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    struct storage s;
    struct storage_recovered rec;
    CHECK_EQ(storage_open(&s, dir, false, &rec), 0);
    CHECK_EQ(storage_save_hard_state(&s, 7, 1), 0);
    storage_close(&s);
    snprintf(path, sizeof path, "%s/meta", dir);
    damage(path, 9);
    CHECK(storage_open(&s, dir, false, &rec) != 0);
    finish(&s, &rec, dir);
}

TEST(storage_recovers_a_snapshot_and_only_the_entries_after_it)
{
    char dir[64];
    temp_dir(dir, sizeof dir);
    struct storage s;
    struct storage_recovered rec;
    CHECK_EQ(storage_open(&s, dir, false, &rec), 0);
    append_n(&s, 1, 8, 1);
    const uint8_t state[] = "the keyspace as of 5";
    const uint8_t config[] = "Raft's configuration as of 5";
    CHECK_EQ(storage_save_snapshot(&s, 5, 1, config, sizeof config, state, sizeof state, false, false), 0);
    reopen(&s, dir, &rec);
    CHECK_EQ(rec.snapshot.meta.index, 5);
    CHECK_EQ(rec.snapshot.meta.term, 1);
    CHECK_EQ(rec.snapshot.data_len, sizeof state);
    CHECK(memcmp(rec.snapshot.data, state, sizeof state) == 0);
    CHECK_EQ(rec.snapshot.config_len, sizeof config);
    CHECK(memcmp(rec.snapshot.config, config, sizeof config) == 0);
    CHECK_EQ(rec.entries_count, 3); /* 6..8; what the snapshot covers is not read back */
    CHECK_EQ(rec.entries[0].index, 6);
    storage_recovered_free(&rec);
    append_n(&s, 9, 1, 2);
    reopen(&s, dir, &rec);
    CHECK_EQ(rec.entries_count, 4);
    finish(&s, &rec, dir);
}

TEST(storage_installing_a_conflicting_snapshot_drops_the_whole_log_and_a_damaged_one_is_dropped)
{
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    struct storage s;
    struct storage_recovered rec;
    CHECK_EQ(storage_open(&s, dir, false, &rec), 0);
    append_n(&s, 1, 4, 1);
    const uint8_t state[] = "the leader's keyspace as of 10";
    CHECK_EQ(storage_save_snapshot(&s, 10, 3, NULL, 0, state, sizeof state, true, false), 0);
    append_n(&s, 11, 2, 3); /* the leader's entries continue right after it */
    reopen(&s, dir, &rec);
    CHECK_EQ(rec.snapshot.meta.index, 10);
    CHECK_EQ(rec.entries_count, 2);
    CHECK_EQ(rec.entries[0].index, 11);
    storage_recovered_free(&rec);
    CHECK_EQ(storage_save_hard_state(&s, 4, 2), 0);
    storage_close(&s);
    snprintf(path, sizeof path, "%s/snapshot", dir);
    damage(path, 60); /* in the data: the body's checksum fails */
    /* The state it held is gone: snapshot and entries are dropped, term and vote kept,
     * and votes are barred until a leader has refilled it with its whole log. */
    CHECK_EQ(storage_open(&s, dir, false, &rec), 0);
    CHECK(s.snapshot_discarded);
    CHECK_EQ(rec.snapshot.meta.index, 0);
    CHECK_EQ(rec.entries_count, 0);
    CHECK_EQ(rec.vote_barrier_index, STORAGE_BARRIER_UNKNOWN);
    CHECK_EQ(rec.term, 4);
    CHECK_EQ(rec.vote, 2);
    storage_recovered_free(&rec);
    reopen(&s, dir, &rec); /* the barrier outlives a restart of the now empty log */
    CHECK(!s.snapshot_discarded);
    CHECK_EQ(rec.vote_barrier_index, STORAGE_BARRIER_UNKNOWN);
    CHECK_EQ(rec.entries_count, 0);
    finish(&s, &rec, dir);
}

/* A bit flip in the middle of the log: the damage is cut, and the node remembers, across
 * restarts, that it must not vote until a leader has repaired it past the last index it
 * may have had; the lift is durable too, and term and vote are never disturbed. */
TEST(storage_remembers_the_vote_barrier_of_a_damaged_log_until_lifted)
{
    char dir[64], path[128];
    temp_dir(dir, sizeof dir);
    struct storage s;
    struct storage_recovered rec;
    CHECK_EQ(storage_open(&s, dir, false, &rec), 0);
    CHECK_EQ(rec.vote_barrier_index, 0);
    append_n(&s, 1, 6, 1);
    CHECK_EQ(storage_save_hard_state(&s, 2, 1), 0);
    storage_close(&s);
    segment_path(dir, path, sizeof path);
    /* Segment header (32), entry 1 (32 + 4 + end byte), entry 2's header (32): its first
     * payload byte. */
    damage(path, 32 + 37 + 32);
    CHECK_EQ(storage_open(&s, dir, false, &rec), 0);
    CHECK_EQ(rec.entries_count, 1);
    CHECK_EQ(rec.vote_barrier_index, 6);
    CHECK_EQ(rec.term, 2);
    CHECK_EQ(rec.vote, 1);
    storage_recovered_free(&rec);
    reopen(&s, dir, &rec); /* a clean but shorter log: the barrier must still be there */
    CHECK_EQ(rec.entries_count, 1);
    CHECK_EQ(rec.vote_barrier_index, 6);
    storage_recovered_free(&rec);
    CHECK_EQ(storage_lift_vote_barrier(&s), 0);
    reopen(&s, dir, &rec);
    CHECK_EQ(rec.vote_barrier_index, 0);
    CHECK_EQ(rec.term, 2);
    CHECK_EQ(rec.vote, 1);
    finish(&s, &rec, dir);
}
