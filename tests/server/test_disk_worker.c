/* The disk worker's ordering and deferred sync: a deferred write completes only once
 * synced (at its deadline, on request, or behind a write that may not wait), writes
 * complete in the order they were queued, a stop syncs what was deferred, and a write on
 * the caller's thread happens only when nothing is queued. Runs a real uv loop over a
 * temporary directory; no assertion depends on timing except "not before the deadline",
 * with a deadline far beyond the test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/errors.h"
#include "harness.h"
#include "server/disk_worker.h"

#define DONE_MAX 16
#define WAIT_MS_MAX 5000

struct fixture {
    char dir[64];
    uv_loop_t loop;
    struct storage storage;
    struct disk_worker worker;
    raft_index_t done[DONE_MAX]; /* last index of each completed entry write, in order */
    size_t done_count;
};

static void on_done(void *ctx, const struct disk_job *job)
{
    struct fixture *f = ctx;
    if (job->kind == DISK_JOB_ENTRIES && f->done_count < DONE_MAX) {
        f->done[f->done_count++] = job->entries[job->entries_count - 1].index;
    }
}

static void start(struct fixture *f, uint64_t sync_delay_ns)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/chorus-worker-XXXXXX");
    CHECK(mkdtemp(f->dir) != NULL);
    CHECK_EQ(uv_loop_init(&f->loop), 0);
    struct storage_recovered rec;
    CHECK_EQ(storage_open(&f->storage, f->dir, true, &rec), 0);
    storage_recovered_free(&rec);
    CHECK_EQ(disk_worker_start(&f->worker, &f->loop, &f->storage, sync_delay_ns, on_done, f), 0);
}

static void stop(struct fixture *f)
{
    disk_worker_stop(&f->worker);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    CHECK_EQ(uv_loop_close(&f->loop), 0);
    storage_close(&f->storage);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    CHECK_EQ(system(cmd), 0);
}

static void write_one(struct fixture *f, raft_index_t index, bool defer)
{
    uint8_t data[4] = {1, 2, 3, 4};
    struct raft_entry e = {.term = 1, .index = index, .data = data, .data_len = sizeof data};
    CHECK_EQ(disk_worker_write(&f->worker, index, &e, 1, defer), 0);
}

static void sleep_ms(long ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Runs the loop until `count` writes completed (bounded). */
static void wait_done(struct fixture *f, size_t count)
{
    for (int ms = 0; ms < WAIT_MS_MAX && f->done_count < count; ms++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        sleep_ms(1);
    }
    CHECK_EQ(f->done_count, count);
}

/* Lets the worker run for a while, handling whatever completes. */
static void idle_for(struct fixture *f, long ms)
{
    for (long i = 0; i < ms; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        sleep_ms(1);
    }
}

static uint64_t fsyncs(struct fixture *f)
{
    struct disk_stats st;
    disk_worker_stats(&f->worker, &st);
    return st.fsyncs_count;
}

TEST(deferred_writes_complete_only_once_synced_on_request)
{
    struct fixture f;
    start(&f, 3600ull * 1000000000ull); /* a deadline no test reaches */
    write_one(&f, 1, true);
    write_one(&f, 2, true);
    idle_for(&f, 50);
    CHECK_EQ(f.done_count, 0); /* written, not synced: Raft must not hear of them */
    uint64_t before = fsyncs(&f);
    disk_worker_sync_now(&f.worker);
    wait_done(&f, 2);
    CHECK_EQ(f.done[0], 1);
    CHECK_EQ(f.done[1], 2);
    CHECK_EQ(fsyncs(&f), before + 1); /* one sync for both */
    stop(&f);
}

TEST(a_write_that_may_not_wait_syncs_the_deferred_ones_first_in_order)
{
    struct fixture f;
    start(&f, 3600ull * 1000000000ull);
    write_one(&f, 1, true);
    idle_for(&f, 20);
    write_one(&f, 2, false);
    wait_done(&f, 2);
    CHECK_EQ(f.done[0], 1);
    CHECK_EQ(f.done[1], 2);
    stop(&f);
}

TEST(deferred_writes_are_synced_at_their_deadline)
{
    struct fixture f;
    start(&f, 20ull * 1000000ull); /* 20 ms */
    write_one(&f, 1, true);
    wait_done(&f, 1);
    struct disk_stats st;
    disk_worker_stats(&f.worker, &st);
    CHECK_EQ(st.deferred_syncs, 1);
    stop(&f);
}

TEST(stop_syncs_what_was_deferred)
{
    struct fixture f;
    start(&f, 3600ull * 1000000000ull);
    write_one(&f, 1, true);
    idle_for(&f, 20);
    uint64_t before = fsyncs(&f);
    disk_worker_stop(&f.worker);
    CHECK_EQ(f.storage.fsyncs_count, before + 1);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    CHECK_EQ(uv_loop_close(&f.loop), 0);
    struct storage_recovered rec;
    storage_close(&f.storage);
    CHECK_EQ(storage_open(&f.storage, f.dir, true, &rec), 0);
    CHECK_EQ(rec.entries_count, 1);
    storage_recovered_free(&rec);
    storage_close(&f.storage);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f.dir);
    CHECK_EQ(system(cmd), 0);
}

TEST(write_now_runs_on_the_callers_thread_only_when_nothing_is_queued)
{
    struct fixture f;
    start(&f, 3600ull * 1000000000ull);
    idle_for(&f, 20); /* the worker reaches its wait */
    uint8_t data[1] = {7};
    struct raft_entry e = {.term = 1, .index = 1, .data = data, .data_len = 1};
    bool written = false;
    uint64_t before = fsyncs(&f);
    CHECK_EQ(disk_worker_write_now(&f.worker, 1, &e, 1, &written), 0);
    CHECK(written);
    CHECK_EQ(fsyncs(&f), before + 1);
    write_one(&f, 2, true); /* deferred: queued until synced */
    e.index = 3;
    CHECK_EQ(disk_worker_write_now(&f.worker, 3, &e, 1, &written), 0);
    CHECK(!written); /* it would overtake index 2 */
    disk_worker_sync_now(&f.worker);
    wait_done(&f, 1);
    CHECK_EQ(f.done[0], 2);
    stop(&f);
}
