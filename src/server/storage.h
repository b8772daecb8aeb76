/* storage: the server's durable Raft state (term, vote, entries) in src/log's
 * segmented WAL on real files (src/io/disk_posix.c), behind the small interface the
 * disk worker needs. Formats and recovery rules are the log's (src/log/log.h,
 * docs/log.md): a torn tail is cut; damage in the middle is cut from the first bad
 * index (the leader sends the rest again); a damaged term/vote file refuses to start.
 * A failed write or fsync is sticky (STYLE.md rule 12): every later call fails and the
 * server stops acknowledging. Used by one thread at a time (the disk worker after
 * start-up). Snapshots: the log keeps the latest one and the entries after it; a
 * damaged snapshot file refuses to start (see docs/server.md). */
#ifndef CHORUS_SERVER_STORAGE_H
#define CHORUS_SERVER_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "log/disk.h"
#include "log/log.h"
#include "raft/raft.h"

/* A vote barrier for a node that cannot tell what it held: lifted only once it holds a
 * current leader's whole log. */
#define STORAGE_BARRIER_UNKNOWN (UINT64_MAX / 2)

struct storage {
    struct disk posix;         /* the real disk */
    bool posix_open;
    struct disk disk;          /* posix wrapped: fsync switchable and timed */
    struct log *log;
    struct log_recovery report; /* what log_open found */
    bool fsync;                /* false: skip fdatasync (fsync never) */
    int failed;                /* sticky error code, 0 while healthy */
    struct log_record *records; /* append staging, records_cap long */
    size_t records_cap;
    struct buf scratch;
    /* For /metrics. */
    uint64_t fsyncs_count;
    uint64_t fsync_ns_total;
    uint64_t fsync_ns_max;
    uint64_t truncated_tail_bytes; /* torn tail dropped at the last open */
    bool snapshot_discarded;       /* the last open dropped a damaged snapshot */
};

/* What the file held at open: entries (owned by the caller; free with
 * storage_recovered_free). */
struct storage_recovered {
    raft_term_t term;
    node_id_t vote;
    /* Nonzero when the log was cut back over corruption (now or at an earlier start that
     * a leader has not yet repaired): Raft's raft_boot.vote_barrier_index. */
    raft_index_t vote_barrier_index;
    struct log_snapshot snapshot; /* meta.index 0: none; entries start after it */
    struct raft_entry *entries;
    size_t entries_count;
};

/* Opens (creating) dir's files and recovers them into *rec. 0 or a negative error. */
int storage_open(struct storage *s, const char *dir, bool fsync, struct storage_recovered *rec);
void storage_recovered_free(struct storage_recovered *rec);
void storage_close(struct storage *s);

/* Makes (term, vote) durable before returning. */
int storage_save_hard_state(struct storage *s, raft_term_t term, node_id_t vote);
/* Makes "the vote barrier is lifted" durable (Raft repaired the log). */
int storage_lift_vote_barrier(struct storage *s);
/* Replaces everything from from_index on with entries (borrowed), without syncing. */
int storage_write(struct storage *s, raft_index_t from_index, const struct raft_entry *entries,
                  size_t count);
/* One fdatasync for everything written since the last one (group commit). */
int storage_sync(struct storage *s);
/* Saves a snapshot of the state machine as of index (data borrowed), with Raft's
 * configuration as of index (config, borrowed; raft_snapshot_config_encode or
 * snapshot_install.config), durably and compacts the log behind it. install (a snapshot
 * from the leader): unless log_tail_matches, the whole log is dropped first, so the next
 * entry is index + 1 (docs/log.md). */
int storage_save_snapshot(struct storage *s, raft_index_t index, raft_term_t term,
                          const uint8_t *config, uint32_t config_len, const uint8_t *data,
                          uint64_t size_bytes, bool install, bool log_tail_matches);
/* storage_write then storage_sync. */
int storage_append(struct storage *s, raft_index_t from_index, const struct raft_entry *entries,
                   size_t count);

#endif
