/* disk_worker: one thread that owns struct storage after start-up and performs the
 * node's durable writes off the loop thread, in the order they were queued.
 *
 * The loop queues jobs (a term/vote save, entries to write from an index (copied), the
 * lift of a vote barrier, or a snapshot to save and compact behind, whose bytes stay
 * borrowed until completion).
 * The worker takes everything queued at once, runs the jobs in order and issues ONE
 * fdatasync for all the entries of the batch (group commit), then posts completions
 * back and wakes the loop with uv_async; the loop reports them to Raft with
 * raft_persisted_hard_state / raft_persisted_entries. A failed write or sync is sticky
 * (storage.h): nothing more completes, so the node stops acknowledging.
 * Deferred sync (the leader's, thesis §10.2.1; server/leader_sync.c): an entry write
 * queued with defer_sync is written at once, but its fdatasync, and so its completion,
 * may wait up to sync_delay_ns for later writes to share it; any other job, a write
 * without defer_sync, disk_worker_sync_now or stop syncs everything waiting at once.
 * Raft then hears of the leader's own copy later, which is safe: it counts only synced
 * entries.
 * Queue length is bounded by DISK_WORKER_JOBS_MAX (the loop asserts it never passes it:
 * Raft bounds its own unsynced entries). */
#ifndef CHORUS_SERVER_DISK_WORKER_H
#define CHORUS_SERVER_DISK_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <uv.h>

#include "raft/raft.h"
#include "server/storage.h"

#define DISK_WORKER_JOBS_MAX 100000

enum disk_job_kind {
    DISK_JOB_ENTRIES = 0,      /* write entries from from_index (synced with the batch) */
    DISK_JOB_HARD_STATE,       /* save (term, vote) */
    DISK_JOB_LIFT_VOTE_BARRIER, /* save "repaired": see storage_lift_vote_barrier */
    DISK_JOB_SNAPSHOT          /* save a snapshot and compact the log behind it */
};

struct disk_job {
    enum disk_job_kind kind;
    raft_term_t term;
    node_id_t vote;
    raft_index_t from_index;
    struct raft_entry *entries; /* owned copies */
    size_t entries_count;
    bool defer_sync;            /* DISK_JOB_ENTRIES: the sync may wait (see above) */
    /* DISK_JOB_SNAPSHOT: a snapshot as of snapshot_index, taken here or installed from
     * the leader. */
    bool snapshot_install;
    bool log_tail_matches;
    raft_index_t snapshot_index;
    raft_term_t snapshot_term;
    const uint8_t *snapshot_config; /* Raft's configuration as of snapshot_index; */
    uint32_t snapshot_config_len;   /* borrowed, like the data */
    const uint8_t *snapshot_data; /* borrowed until the completion callback returns */
    uint64_t snapshot_size_bytes;
    int result;                 /* set by the worker */
    struct disk_job *next;
};

/* Statistics copied out under the lock, for /metrics. */
struct disk_stats {
    uint64_t fsyncs_count;
    uint64_t fsync_ns_total;
    uint64_t fsync_ns_max;
    uint64_t batches;
    uint64_t jobs;
    uint64_t deferred_syncs; /* syncs of deferred writes at their deadline */
    int failed;
};

typedef void (*disk_done_fn)(void *ctx, const struct disk_job *job);

struct disk_worker {
    struct storage *storage;   /* owned by the worker thread between start and stop */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct disk_job *todo_head, *todo_tail;
    struct disk_job *done_head, *done_tail;
    size_t queued;
    bool sync_requested;       /* disk_worker_sync_now: sync the deferred writes */
    uint64_t sync_delay_ns;    /* how long a deferred write may wait; 0: never */
    /* Owned by the worker thread: writes done whose sync was deferred, in order. */
    struct disk_job *deferred_head, *deferred_tail;
    uint64_t deferred_since_ns;    /* when the first of them was written */
    uint64_t deferred_syncs_count; /* syncs of deferred writes at their deadline */
    bool idle;                 /* the worker waits for jobs: enqueue must signal */
    bool stop;
    bool started;
    uv_async_t async;
    disk_done_fn on_done;
    void *ctx;
    struct disk_stats stats;
};

int disk_worker_start(struct disk_worker *w, uv_loop_t *loop, struct storage *storage,
                      uint64_t sync_delay_ns, disk_done_fn on_done, void *ctx);
/* Queue a job: entries (borrowed) are copied. 0 or ERR_NOMEM. */
int disk_worker_save_hard_state(struct disk_worker *w, raft_term_t term, node_id_t vote);
int disk_worker_lift_vote_barrier(struct disk_worker *w);
int disk_worker_write(struct disk_worker *w, raft_index_t from_index,
                      const struct raft_entry *entries, size_t count, bool defer_sync);
/* Writes and syncs entries (borrowed) on the calling (loop) thread when the worker is
 * idle with nothing queued, so nothing can be reordered: *written tells whether it did
 * (then the result is the write's or the sync's), otherwise the caller queues the write.
 * Saves the two thread hand-offs of a queued write, at the price of blocking the loop
 * for one fdatasync: what a follower, whose acknowledgement waits on it anyway, wants. */
int disk_worker_write_now(struct disk_worker *w, raft_index_t from_index,
                          const struct raft_entry *entries, size_t count, bool *written);
/* Syncs the deferred writes now (a commit waits on them). */
void disk_worker_sync_now(struct disk_worker *w);
/* Finishes queued jobs, joins the thread and closes the async handle. */
/* Queue a snapshot save (storage_save_snapshot); config and data stay borrowed until
 * done. */
int disk_worker_save_snapshot(struct disk_worker *w, raft_index_t index, raft_term_t term,
                              const uint8_t *config, uint32_t config_len, const uint8_t *data,
                              uint64_t size_bytes, bool install, bool log_tail_matches);
void disk_worker_stop(struct disk_worker *w);
void disk_worker_stats(struct disk_worker *w, struct disk_stats *out);

#endif
