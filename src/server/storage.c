/* storage: the server's durable Raft state through src/log (the segmented WAL) on
 * src/io/disk_posix.c. This file only adapts: it wraps the POSIX disk so that fsync can
 * be switched off (`fsync never`) and timed for /metrics, turns Raft's "replace from
 * index i" into log_truncate_suffix + log_append, saves snapshots and compacts behind
 * them, and reads the recovered snapshot and log back for raft_boot. Formats and
 * recovery rules are the log's (docs/log.md). */
#include "server/storage.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "io/disk_posix.h"

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the wrapped disk: every call forwards to the POSIX disk ---- */

static int w_open(void *ctx, const char *name, unsigned flags, struct disk_file **out)
{
    struct storage *s = ctx;
    return s->posix.file_open(s->posix.ctx, name, flags, out);
}

static void w_close(void *ctx, struct disk_file *f)
{
    struct storage *s = ctx;
    s->posix.file_close(s->posix.ctx, f);
}

static int w_write(void *ctx, struct disk_file *f, const void *data, size_t len, uint64_t off)
{
    struct storage *s = ctx;
    return s->posix.file_write(s->posix.ctx, f, data, len, off);
}

static int w_read(void *ctx, struct disk_file *f, void *data, size_t len, uint64_t off,
                  size_t *read_out)
{
    struct storage *s = ctx;
    return s->posix.file_read(s->posix.ctx, f, data, len, off, read_out);
}

static int w_size(void *ctx, struct disk_file *f, uint64_t *size_out)
{
    struct storage *s = ctx;
    return s->posix.file_size(s->posix.ctx, f, size_out);
}

static int w_sync(void *ctx, struct disk_file *f)
{
    struct storage *s = ctx;
    if (!s->fsync) {
        return 0;
    }
    uint64_t start = mono_ns();
    int rc = s->posix.file_sync(s->posix.ctx, f);
    uint64_t took = mono_ns() - start;
    s->fsyncs_count++;
    s->fsync_ns_total += took;
    s->fsync_ns_max = MAX(s->fsync_ns_max, took);
    return rc;
}

static int w_truncate(void *ctx, struct disk_file *f, uint64_t size)
{
    struct storage *s = ctx;
    return s->posix.file_truncate(s->posix.ctx, f, size);
}

static int w_rename(void *ctx, const char *from, const char *to)
{
    struct storage *s = ctx;
    return s->posix.rename(s->posix.ctx, from, to);
}

static int w_remove(void *ctx, const char *name)
{
    struct storage *s = ctx;
    return s->posix.remove(s->posix.ctx, name);
}

static int w_list(void *ctx, disk_list_fn fn, void *arg)
{
    struct storage *s = ctx;
    return s->posix.list(s->posix.ctx, fn, arg);
}

static int w_sync_dir(void *ctx)
{
    struct storage *s = ctx;
    return s->fsync ? s->posix.sync_dir(s->posix.ctx) : 0;
}

static void wrap_disk(struct storage *s)
{
    s->disk = (struct disk){.ctx = s, .file_open = w_open, .file_close = w_close,
                            .file_write = w_write, .file_read = w_read, .file_size = w_size,
                            .file_sync = w_sync, .file_truncate = w_truncate,
                            .rename = w_rename, .remove = w_remove, .list = w_list,
                            .sync_dir = w_sync_dir};
}

/* ---- recovery ---- */

static int read_entries(struct storage *s, struct storage_recovered *rec)
{
    uint64_t after = rec->snapshot.meta.index + 1;
    uint64_t first = log_first_index(s->log), last = log_last_index(s->log);
    if (first > after) {
        return ERR_CORRUPT; /* entries between the snapshot and the log are missing */
    }
    first = after; /* what the snapshot covers is not read back */
    if (last < first) {
        return 0;
    }
    rec->entries = calloc(last - first + 1, sizeof *rec->entries);
    if (rec->entries == NULL) {
        return ERR_NOMEM;
    }
    for (uint64_t i = first; i <= last; i++) {
        struct log_record r;
        int rc = log_read(s->log, i, &r, &s->scratch);
        if (rc != 0) {
            return rc;
        }
        struct raft_entry *e = &rec->entries[rec->entries_count];
        *e = (struct raft_entry){.term = r.term, .index = r.index, .type = r.type,
                                 .data_len = r.len};
        if (r.len > 0) {
            e->data = malloc(r.len);
            if (e->data == NULL) {
                return ERR_NOMEM;
            }
            memcpy(e->data, r.data, r.len);
        }
        rec->entries_count++;
    }
    return 0;
}

/* The snapshot failed its checks: the state it held is gone, and the entries after it
 * are useless without it. What it covered is unknown (a damaged file's header is not
 * believed), so votes are barred until this node holds a current leader's whole log
 * (STORAGE_BARRIER_UNKNOWN; Raft clamps the barrier to the leader's last index). Save that
 * first, then drop snapshot and entries and reopen an empty log that the leader refills
 * with InstallSnapshot. Term and vote stay. The simulator's driver does the same
 * (src/sim/sim_snapshot.c). */
static int discard_damaged_snapshot(struct storage *s, struct storage_recovered *rec)
{
    rec->vote_barrier_index = MAX(rec->vote_barrier_index, STORAGE_BARRIER_UNKNOWN);
    int rc = log_set_vote_barrier(s->log, rec->vote_barrier_index);
    if (rc != 0) {
        return rc;
    }
    log_close(s->log);
    s->log = NULL;
    rc = log_discard_entries_and_snapshot(&s->disk);
    struct log_config lc = {0};
    rc = rc != 0 ? rc : log_open(&s->log, &s->disk, &lc, &s->report);
    if (rc == 0 && (s->report.snapshot_present || s->report.corrupt || s->report.meta_corrupt)) {
        rc = ERR_CORRUPT; /* cannot happen: the files are gone and meta was just written */
    }
    s->snapshot_discarded = rc == 0;
    return rc;
}

int storage_open(struct storage *s, const char *dir, bool fsync, struct storage_recovered *rec)
{
    memset(s, 0, sizeof *s);
    memset(rec, 0, sizeof *rec);
    s->fsync = fsync;
    buf_init(&s->scratch, 0);
    int rc = disk_posix_open(&s->posix, dir);
    if (rc != 0) {
        return rc;
    }
    s->posix_open = true;
    wrap_disk(s);
    struct log_config lc = {0}; /* default segment size */
    rc = log_open(&s->log, &s->disk, &lc, &s->report);
    if (rc != 0) {
        return rc;
    }
    if (s->report.meta_corrupt) {
        return ERR_CORRUPT; /* term and vote unknown: voting again could break safety */
    }
    s->truncated_tail_bytes = s->report.torn_bytes;
    rec->vote_barrier_index = log_vote_barrier(s->log);
    if (s->report.corrupt) {
        /* Entries from corrupt_from_index on may have been acknowledged and are about to
         * go: save the barrier first, so that no restart, even one that finds a clean but
         * shorter log, lets this node vote before a leader has repaired it. Then cut the
         * damage; the leader re-sends what follows (see docs/server.md). */
        raft_index_t barrier = MAX(s->report.corrupt_from_index, s->report.corrupt_to_index);
        rec->vote_barrier_index = MAX(rec->vote_barrier_index, barrier);
        rc = log_set_vote_barrier(s->log, rec->vote_barrier_index);
        rc = rc != 0 ? rc : log_truncate_suffix(s->log, s->report.corrupt_from_index);
        if (rc != 0) {
            return rc;
        }
    }
    rec->term = log_term(s->log);
    rec->vote = (node_id_t)log_vote(s->log);
    if (s->report.snapshot_corrupt) {
        rc = discard_damaged_snapshot(s, rec);
        if (rc != 0) {
            return rc;
        }
    }
    if (s->report.snapshot_present) {
        rc = log_snapshot_load(s->log, &rec->snapshot);
        if (rc != 0) {
            return rc;
        }
    }
    return read_entries(s, rec);
}

void storage_recovered_free(struct storage_recovered *rec)
{
    for (size_t i = 0; i < rec->entries_count; i++) {
        free(rec->entries[i].data);
    }
    free(rec->entries);
    log_snapshot_free(&rec->snapshot);
    memset(rec, 0, sizeof *rec);
}

void storage_close(struct storage *s)
{
    if (s->log != NULL) {
        if (s->failed == 0) {
            log_sync(s->log, NULL);
        }
        log_close(s->log);
        s->log = NULL;
    }
    if (s->posix_open) {
        disk_posix_close(&s->posix);
        s->posix_open = false;
    }
    free(s->records);
    s->records = NULL;
    s->records_cap = 0;
    buf_free(&s->scratch);
}

/* ---- writes ---- */

static int fail(struct storage *s, int rc)
{
    if (rc != 0 && s->failed == 0) {
        s->failed = rc;
    }
    return rc;
}

int storage_save_hard_state(struct storage *s, raft_term_t term, node_id_t vote)
{
    if (s->failed != 0) {
        return s->failed;
    }
    return fail(s, log_set_term_vote(s->log, term, vote));
}

int storage_lift_vote_barrier(struct storage *s)
{
    if (s->failed != 0) {
        return s->failed;
    }
    return fail(s, log_set_vote_barrier(s->log, 0));
}

static int records_reserve(struct storage *s, size_t count)
{
    if (count <= s->records_cap) {
        return 0;
    }
    struct log_record *r = realloc(s->records, count * sizeof *r);
    if (r == NULL) {
        return ERR_NOMEM;
    }
    s->records = r;
    s->records_cap = count;
    return 0;
}

int storage_write(struct storage *s, raft_index_t from_index, const struct raft_entry *entries,
                  size_t count)
{
    if (s->failed != 0) {
        return s->failed;
    }
    ASSERT(from_index >= 1 && from_index <= log_last_index(s->log) + 1);
    int rc = 0;
    if (from_index <= log_last_index(s->log)) {
        rc = log_truncate_suffix(s->log, from_index);
    }
    if (rc == 0 && count > 0) {
        rc = records_reserve(s, count);
    }
    if (rc != 0 || count == 0) {
        return fail(s, rc);
    }
    for (size_t i = 0; i < count; i++) {
        ASSERT(entries[i].index == from_index + i);
        s->records[i] = (struct log_record){.term = entries[i].term, .index = entries[i].index,
                                            .type = entries[i].type, .data = entries[i].data,
                                            .len = entries[i].data_len};
    }
    return fail(s, log_append(s->log, s->records, count));
}

int storage_sync(struct storage *s)
{
    if (s->failed != 0) {
        return s->failed;
    }
    return fail(s, log_sync(s->log, NULL));
}

int storage_save_snapshot(struct storage *s, raft_index_t index, raft_term_t term,
                          const uint8_t *config, uint32_t config_len, const uint8_t *data,
                          uint64_t size_bytes, bool install, bool log_tail_matches)
{
    if (s->failed != 0) {
        return s->failed;
    }
    int rc = log_snapshot_save(s->log, index, term, config, config_len, data, size_bytes);
    if (rc == 0 && install && !log_tail_matches) {
        rc = log_truncate_suffix(s->log, log_first_index(s->log));
    }
    if (rc == 0) {
        rc = log_compact(s->log, index);
    }
    return fail(s, rc);
}

int storage_append(struct storage *s, raft_index_t from_index, const struct raft_entry *entries,
                   size_t count)
{
    int rc = storage_write(s, from_index, entries, count);
    return rc != 0 ? rc : storage_sync(s);
}
