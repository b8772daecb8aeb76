/* The log on real files (src/io/disk_posix.c) in a fresh directory under /tmp: round
 * trip with segment rolls, term/vote, snapshot, compaction and reopen; a torn tail made
 * by cutting the file is recovered the same way as on the simulated disk. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/disk_posix.h"
#include "log_test_util.h"

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    char path[512];
    if (d == NULL) {
        return;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* A POSIX disk on a fresh directory; dir must hold a mkdtemp template. */
static void temp_disk(char *dir, struct disk *d)
{
    CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ(disk_posix_open(d, dir), 0);
}

static void temp_disk_free(char *dir, struct disk *d)
{
    disk_posix_close(d);
    remove_tree(dir);
}

TEST(log_round_trips_on_real_files)
{
    char dir[] = "/tmp/chorus-log-test-XXXXXX";
    struct disk d;
    temp_disk(dir, &d);
    struct log *l = open_ok(&d, 512, NULL);
    CHECK_EQ(log_set_term_vote(l, 4, 2), 0);
    CHECK_EQ(append_range(l, 1, 200, 4), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    CHECK(log_segments_count(l) > 10);
    const uint8_t cfg[] = {1, 2}, data[] = {3, 4, 5};
    CHECK_EQ(log_snapshot_save(l, 100, 4, cfg, sizeof cfg, data, sizeof data), 0);
    CHECK_EQ(log_compact(l, 100), 0);
    CHECK_EQ(log_truncate_suffix(l, 150), 0);
    CHECK_EQ(append_range(l, 150, 160, 5), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    struct log_recovery rep;
    l = open_ok(&d, 512, &rep);
    CHECK(!rep.corrupt && !rep.torn_tail);
    CHECK_EQ(rep.term, 4);
    CHECK_EQ(rep.vote, 2);
    CHECK_EQ(rep.snapshot_index, 100);
    CHECK(rep.first_index > 1 && rep.first_index <= 101);
    CHECK_EQ(rep.last_index, 160);
    CHECK(entry_is(l, 149, 4));
    CHECK(entry_is(l, 150, 5));
    struct log_snapshot snap;
    CHECK_EQ(log_snapshot_load(l, &snap), 0);
    CHECK_EQ(snap.data_len, 3);
    CHECK_EQ(snap.data[2], 5);
    log_snapshot_free(&snap);
    log_close(l);
    temp_disk_free(dir, &d);
}

TEST(torn_tail_on_real_files_is_cut)
{
    char dir[] = "/tmp/chorus-log-test-XXXXXX";
    struct disk d;
    temp_disk(dir, &d);
    struct log *l = open_ok(&d, 0, NULL);
    CHECK_EQ(append_range(l, 1, 5, 1), 0);
    CHECK_EQ(log_sync(l, NULL), 0);
    log_close(l);
    char path[512];
    snprintf(path, sizeof path, "%s/log-0000000000000001", dir);
    /* The data ends at the last nonzero byte; zero-filled room follows it. */
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    long end = 0, at = 0;
    for (int c; (c = fgetc(f)) != EOF; at++) {
        end = c != 0 ? at + 1 : end;
    }
    CHECK(at > end);
    CHECK_EQ(fseek(f, end, SEEK_SET), 0);
    fwrite("\x52\x4c\x02\x01\xff", 1, 5, f); /* the start of a record header */
    fclose(f);
    struct log_recovery rep;
    l = open_ok(&d, 0, &rep);
    CHECK(rep.torn_tail);
    CHECK_EQ(rep.torn_bytes, 5);
    CHECK_EQ(rep.last_index, 5);
    log_close(l);
    temp_disk_free(dir, &d);
}

TEST(missing_file_is_not_found)
{
    char dir[] = "/tmp/chorus-log-test-XXXXXX";
    struct disk d;
    struct disk_file *f = NULL;
    temp_disk(dir, &d);
    CHECK_EQ(d.file_open(d.ctx, "nope", 0, &f), ERR_NOT_FOUND);
    CHECK_EQ(d.remove(d.ctx, "nope"), ERR_NOT_FOUND);
    CHECK_EQ(d.file_open(d.ctx, "../escape", DISK_OPEN_CREATE, &f), ERR_INVALID);
    temp_disk_free(dir, &d);
}
