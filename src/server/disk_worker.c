/* disk_worker: the thread that makes Raft state durable; see disk_worker.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Before uv.h: sys/param.h defines MIN/MAX only when they are not defined yet. */
#include "base/assertions.h"
#include "base/errors.h"
#include "server/disk_worker.h"

static void job_free(struct disk_job *j)
{
    free(j->entries); /* the entries' data live in the same block */
    free(j);
}

/* A job with room for entries_count entries followed by data_bytes of their data, in
 * one block. */
static struct disk_job *job_alloc(size_t entries_count, size_t data_bytes)
{
    struct disk_job *j = calloc(1, sizeof *j);
    if (j != NULL && entries_count > 0) {
        j->entries = malloc(entries_count * sizeof *j->entries + data_bytes);
        if (j->entries == NULL) {
            free(j);
            return NULL;
        }
    }
    return j;
}

static void enqueue(struct disk_worker *w, struct disk_job *j)
{
    pthread_mutex_lock(&w->lock);
    ASSERT(w->queued < DISK_WORKER_JOBS_MAX);
    if (w->todo_tail != NULL) {
        w->todo_tail->next = j;
    } else {
        w->todo_head = j;
    }
    w->todo_tail = j;
    w->queued++;
    /* Wake the worker only if it sleeps, and after unlocking, so it does not wake only
     * to block on the lock we hold: one futex call per batch instead of three. */
    bool wake = w->idle;
    w->idle = false;
    pthread_mutex_unlock(&w->lock);
    if (wake) {
        pthread_cond_signal(&w->wake);
    }
}

int disk_worker_save_hard_state(struct disk_worker *w, raft_term_t term, node_id_t vote)
{
    struct disk_job *j = job_alloc(0, 0);
    if (j == NULL) {
        return ERR_NOMEM;
    }
    j->kind = DISK_JOB_HARD_STATE;
    j->term = term;
    j->vote = vote;
    enqueue(w, j);
    return 0;
}

int disk_worker_lift_vote_barrier(struct disk_worker *w)
{
    struct disk_job *j = job_alloc(0, 0);
    if (j == NULL) {
        return ERR_NOMEM;
    }
    j->kind = DISK_JOB_LIFT_VOTE_BARRIER;
    enqueue(w, j);
    return 0;
}

int disk_worker_write(struct disk_worker *w, raft_index_t from_index,
                      const struct raft_entry *entries, size_t count, bool defer_sync)
{
    size_t data_bytes = 0;
    for (size_t i = 0; i < count; i++) {
        data_bytes += entries[i].data_len;
    }
    struct disk_job *j = job_alloc(count, data_bytes);
    if (j == NULL) {
        return ERR_NOMEM;
    }
    j->from_index = from_index;
    uint8_t *data = count > 0 ? (uint8_t *)(j->entries + count) : NULL;
    for (size_t i = 0; i < count; i++) {
        j->entries[i] = entries[i];
        j->entries[i].data = NULL;
        if (entries[i].data_len > 0) {
            j->entries[i].data = data;
            memcpy(data, entries[i].data, entries[i].data_len);
            data += entries[i].data_len;
        }
    }
    j->entries_count = count;
    j->defer_sync = defer_sync && w->sync_delay_ns > 0;
    enqueue(w, j);
    return 0;
}

/* The storage's own counters into the stats /metrics reads (lock held). */
static void copy_storage_stats(struct disk_worker *w)
{
    w->stats.fsyncs_count = w->storage->fsyncs_count;
    w->stats.fsync_ns_total = w->storage->fsync_ns_total;
    w->stats.fsync_ns_max = w->storage->fsync_ns_max;
    w->stats.failed = w->storage->failed;
}

int disk_worker_write_now(struct disk_worker *w, raft_index_t from_index,
                          const struct raft_entry *entries, size_t count, bool *written)
{
    *written = false;
    pthread_mutex_lock(&w->lock);
    /* Idle with nothing queued: the worker sleeps in wait_for_work, owns no job and no
     * deferred write, and only this (the loop) thread could wake it. */
    bool free_now = w->idle && w->queued == 0;
    pthread_mutex_unlock(&w->lock);
    if (!free_now) {
        return 0;
    }
    int rc = storage_write(w->storage, from_index, entries, count);
    if (rc == 0) {
        rc = storage_sync(w->storage);
    }
    pthread_mutex_lock(&w->lock);
    w->stats.jobs++;
    w->stats.batches++;
    copy_storage_stats(w);
    pthread_mutex_unlock(&w->lock);
    *written = true;
    return rc;
}

void disk_worker_sync_now(struct disk_worker *w)
{
    pthread_mutex_lock(&w->lock);
    w->sync_requested = true;
    bool wake = w->idle;
    w->idle = false;
    pthread_mutex_unlock(&w->lock);
    if (wake) {
        pthread_cond_signal(&w->wake);
    }
}

int disk_worker_save_snapshot(struct disk_worker *w, raft_index_t index, raft_term_t term,
                              const uint8_t *config, uint32_t config_len, const uint8_t *data,
                              uint64_t size_bytes, bool install, bool log_tail_matches)
{
    struct disk_job *j = job_alloc(0, 0);
    if (j == NULL) {
        return ERR_NOMEM;
    }
    j->kind = DISK_JOB_SNAPSHOT;
    j->snapshot_install = install;
    j->log_tail_matches = log_tail_matches;
    j->snapshot_index = index;
    j->snapshot_term = term;
    j->snapshot_config = config;
    j->snapshot_config_len = config_len;
    j->snapshot_data = data;
    j->snapshot_size_bytes = size_bytes;
    enqueue(w, j);
    return 0;
}

static uint64_t monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Runs one batch (owned list) in order, without syncing. True when the batch may wait
 * for a later sync: it holds only entry writes that asked for that, all written. */
static bool run_batch(struct disk_worker *w, struct disk_job *batch)
{
    bool deferrable = true;
    for (struct disk_job *j = batch; j != NULL; j = j->next) {
        switch (j->kind) {
        case DISK_JOB_HARD_STATE:
            j->result = storage_save_hard_state(w->storage, j->term, j->vote);
            break;
        case DISK_JOB_LIFT_VOTE_BARRIER:
            j->result = storage_lift_vote_barrier(w->storage);
            break;
        case DISK_JOB_SNAPSHOT:
            j->result = storage_save_snapshot(w->storage, j->snapshot_index, j->snapshot_term,
                                              j->snapshot_config, j->snapshot_config_len,
                                              j->snapshot_data, j->snapshot_size_bytes,
                                              j->snapshot_install, j->log_tail_matches);
            break;
        case DISK_JOB_ENTRIES:
            j->result = storage_write(w->storage, j->from_index, j->entries, j->entries_count);
            break;
        }
        deferrable &= j->kind == DISK_JOB_ENTRIES && j->defer_sync && j->result == 0;
    }
    return deferrable;
}

/* One fdatasync for every entry write in the list (group commit). */
static void sync_entries(struct disk_worker *w, struct disk_job *list)
{
    bool wrote = false;
    for (struct disk_job *j = list; j != NULL; j = j->next) {
        wrote |= j->kind == DISK_JOB_ENTRIES;
    }
    int sync_rc = wrote ? storage_sync(w->storage) : 0;
    for (struct disk_job *j = list; j != NULL; j = j->next) {
        if (j->kind == DISK_JOB_ENTRIES && j->result == 0) {
            j->result = sync_rc;
        }
    }
}

/* Waits (lock held) until there is work: jobs, a stop, a sync request, or the deadline
 * of the writes waiting for their sync. */
static void wait_for_work(struct disk_worker *w)
{
    while (w->todo_head == NULL && !w->stop && !w->sync_requested) {
        w->idle = true;
        if (w->deferred_head == NULL) {
            pthread_cond_wait(&w->wake, &w->lock);
            continue;
        }
        uint64_t due_ns = w->deferred_since_ns + w->sync_delay_ns;
        if (monotonic_ns() >= due_ns) {
            break;
        }
        struct timespec until = {.tv_sec = (time_t)(due_ns / 1000000000ull),
                                 .tv_nsec = (long)(due_ns % 1000000000ull)};
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
    }
    w->idle = false;
}

/* Runs a batch taken off the queue (lock not held). Returns the jobs now complete, in
 * order, or NULL while the batch's writes wait for a later sync. */
static struct disk_job *run_taken(struct disk_worker *w, struct disk_job *batch, bool sync_now)
{
    bool deferrable = run_batch(w, batch);
    uint64_t now = monotonic_ns();
    if (deferrable && batch != NULL && !sync_now &&
        (w->deferred_head == NULL || now < w->deferred_since_ns + w->sync_delay_ns)) {
        if (w->deferred_head == NULL) {
            w->deferred_head = batch;
            w->deferred_since_ns = now;
        } else {
            w->deferred_tail->next = batch;
        }
        for (w->deferred_tail = batch; w->deferred_tail->next != NULL;) {
            w->deferred_tail = w->deferred_tail->next;
        }
        return NULL;
    }
    struct disk_job *all = batch;
    if (w->deferred_head != NULL) {
        w->deferred_tail->next = batch;
        all = w->deferred_head;
        w->deferred_head = w->deferred_tail = NULL;
        w->deferred_syncs_count += sync_now ? 0 : 1;
    }
    if (all != NULL) {
        sync_entries(w, all);
    }
    return all;
}

static void *worker_main(void *arg)
{
    struct disk_worker *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        wait_for_work(w);
        if (w->todo_head == NULL && w->stop && w->deferred_head == NULL) {
            break;
        }
        struct disk_job *batch = w->todo_head;
        w->todo_head = w->todo_tail = NULL;
        bool sync_now = w->sync_requested || w->stop;
        w->sync_requested = false;
        pthread_mutex_unlock(&w->lock);
        struct disk_job *done = run_taken(w, batch, sync_now);
        pthread_mutex_lock(&w->lock);
        if (done == NULL) {
            continue;
        }
        struct disk_job *last = done;
        for (struct disk_job *j = done; j != NULL; j = j->next) {
            w->stats.jobs++;
            last = j;
        }
        w->stats.batches++;
        copy_storage_stats(w);
        w->stats.deferred_syncs = w->deferred_syncs_count;
        if (w->done_tail != NULL) {
            w->done_tail->next = done;
        } else {
            w->done_head = done;
        }
        w->done_tail = last;
        pthread_mutex_unlock(&w->lock);
        uv_async_send(&w->async);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void on_async(uv_async_t *a)
{
    struct disk_worker *w = a->data;
    pthread_mutex_lock(&w->lock);
    struct disk_job *done = w->done_head;
    w->done_head = w->done_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    size_t finished = 0;
    for (struct disk_job *j = done; j != NULL; j = j->next) {
        finished++;
    }
    pthread_mutex_lock(&w->lock);
    w->queued -= finished;
    pthread_mutex_unlock(&w->lock);
    while (done != NULL) {
        struct disk_job *next = done->next;
        if (done->result == 0 && w->on_done != NULL) {
            w->on_done(w->ctx, done);
        }
        job_free(done);
        done = next;
    }
}

int disk_worker_start(struct disk_worker *w, uv_loop_t *loop, struct storage *storage,
                      uint64_t sync_delay_ns, disk_done_fn on_done, void *ctx)
{
    memset(w, 0, sizeof *w);
    w->storage = storage;
    w->sync_delay_ns = sync_delay_ns;
    w->on_done = on_done;
    w->ctx = ctx;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* deadlines are monotonic_ns */
    pthread_cond_init(&w->wake, &attr);
    pthread_condattr_destroy(&attr);
    int rc = uv_async_init(loop, &w->async, on_async);
    if (rc != 0) {
        return ERR_IO;
    }
    w->async.data = w;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        uv_close((uv_handle_t *)&w->async, NULL);
        return ERR_IO;
    }
    w->started = true;
    return 0;
}

void disk_worker_stop(struct disk_worker *w)
{
    if (!w->started) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    w->idle = false;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->started = false;
    w->on_done = NULL; /* completions after stop are only freed */
    on_async(&w->async);
    uv_close((uv_handle_t *)&w->async, NULL);
}

void disk_worker_stats(struct disk_worker *w, struct disk_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->stats;
    pthread_mutex_unlock(&w->lock);
}
