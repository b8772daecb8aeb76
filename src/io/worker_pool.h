/* worker_pool: where the server runs handlers that may block (disk, fsync, large copies),
 * so the protocol thread never does (DESIGN.md §4, rpc).
 *
 * A thin, bounded layer over libuv's thread pool (uv_queue_work): a job's work function
 * runs on one of libuv's pool threads (UV_THREADPOOL_SIZE of them, 4 by default, shared
 * by the whole process), and its done function then runs on the loop thread. The pool
 * admits at most jobs_max jobs at once; past that worker_pool_submit refuses (ERR_FULL,
 * counted) instead of queueing without bound, and the caller answers the request as
 * busy (an RPC handler: rpc_call_fail(call, RPC_BUSY, ...)).
 *
 * With the RPC server: a handler that would block copies what it needs out of the
 * request, submits a job and returns; the job's done function, on the loop thread, calls
 * the handler's closure (or rpc_call_fail). The rpc module is pure and never sees the
 * pool: a handler may complete its call at any later time (rpc/server.h).
 *
 * Ownership (libuv style): the caller owns each struct worker_job and keeps it in place
 * from submit until its done function has been called; the work function must touch
 * only what the job gives it (nothing of the loop, the link, the RPC server or Raft).
 * Depends on base and libuv. */
#ifndef CHORUS_IO_WORKER_POOL_H
#define CHORUS_IO_WORKER_POOL_H

#include <stdint.h>
#include <uv.h>

/* Runs on a pool thread; may block. */
typedef void (*worker_work_fn)(void *ctx);
/* Runs on the loop thread once the work has run (status 0), or instead of it when the
 * loop cancelled a job that had not started (status UV_ECANCELED). */
typedef void (*worker_done_fn)(void *ctx, int status);

struct worker_pool {
    uv_loop_t *loop;
    uint32_t jobs_max;     /* admitted at once */
    uint32_t jobs_running; /* submitted, done not yet called */
    uint64_t jobs_submitted;
    uint64_t jobs_completed;
    uint64_t jobs_refused; /* ERR_FULL answers */
};

struct worker_job {
    uv_work_t req; /* libuv's; req.data is the job */
    struct worker_pool *pool;
    worker_work_fn work;
    worker_done_fn done;
    void *ctx;
};

/* Sets the pool up on loop (borrowed, must outlive the pool) with room for jobs_max >= 1
 * jobs at once. Nothing is allocated. */
void worker_pool_init(struct worker_pool *p, uv_loop_t *loop, uint32_t jobs_max);

/* Queues work(ctx) on a pool thread, then done(ctx, status) on the loop thread. job is
 * borrowed until done is called. Returns 0, ERR_FULL (jobs_max jobs are running; nothing
 * was queued, done will not be called) or a libuv error. Loop thread only. */
int worker_pool_submit(struct worker_pool *p, struct worker_job *job, worker_work_fn work,
                       worker_done_fn done, void *ctx);

#endif
