/* storage: the server's durable Raft state on real files, a stop-gap until src/log (the
 * segmented WAL) lands on main. Kept deliberately small: one append-only file and one
 * metadata file in the data directory.
 *
 * raft.meta (replaced atomically: write raft.meta.tmp, fsync, rename, fsync the dir):
 *   u32 magic 'CHM1', u32 version 1, u64 term, u32 vote, u32 crc32c of the 20 bytes before.
 * raft.wal: a sequence of records, each
 *   u32 magic 'CHW1', u32 crc32c of everything after this field, u32 data_len,
 *   u64 term, u64 index, u8 type, data_len bytes.
 * Integers little-endian. Record k holds index k + 1 (the log starts at index 1; there
 * are no snapshots yet). Recovery reads records in order and stops at the first one
 * that is short, has a bad magic, a bad CRC or a wrong index: that is a torn tail
 * (written but never synced), and the file is truncated there. Replacing entries from
 * index i (a follower's conflict) truncates the file at record i and appends.
 *
 * A failed write or fsync is sticky (STYLE.md rule 12): every later call fails and the
 * server stops acknowledging. Depends on base and POSIX; used only by the loop thread. */
#ifndef CHORUS_SERVER_STORAGE_H
#define CHORUS_SERVER_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "raft/raft.h"

#define STORAGE_RECORD_HEADER_BYTES 29
#define STORAGE_ENTRY_BYTES_MAX (64u << 20)

struct storage {
    int dir_fd;
    int wal_fd;
    bool fsync;                /* false: skip fdatasync (fsync never) */
    int failed;                /* sticky error code, 0 while healthy */
    uint64_t *offsets;         /* offsets[i]: file offset of index i + 1; [count] = end */
    size_t count;              /* entries in the file: indexes 1..count */
    size_t cap;
    struct buf scratch;
    /* For /metrics. */
    uint64_t fsyncs_count;
    uint64_t fsync_ns_total;
    uint64_t fsync_ns_max;
    uint64_t truncated_tail_bytes; /* torn tail dropped at the last open */
};

/* What the file held at open: entries (owned by the caller; free with
 * storage_recovered_free). */
struct storage_recovered {
    raft_term_t term;
    node_id_t vote;
    struct raft_entry *entries;
    size_t entries_count;
};

/* Opens (creating) dir's files and recovers them into *rec. 0 or a negative error. */
int storage_open(struct storage *s, const char *dir, bool fsync, struct storage_recovered *rec);
void storage_recovered_free(struct storage_recovered *rec);
void storage_close(struct storage *s);

/* Makes (term, vote) durable before returning. */
int storage_save_hard_state(struct storage *s, raft_term_t term, node_id_t vote);
/* Replaces everything from from_index on with entries (borrowed), without syncing. */
int storage_write(struct storage *s, raft_index_t from_index, const struct raft_entry *entries,
                  size_t count);
/* One fdatasync for everything written since the last one (group commit). */
int storage_sync(struct storage *s);
/* storage_write then storage_sync. */
int storage_append(struct storage *s, raft_index_t from_index, const struct raft_entry *entries,
                   size_t count);

#endif
