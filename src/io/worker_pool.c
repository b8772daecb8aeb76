/* The bounded worker pool over uv_queue_work; the rules are in worker_pool.h. */
#include <string.h>

/* Before uv.h, whose sys/param.h would otherwise define MIN and MAX first. */
#include "base/assertions.h"
#include "base/errors.h"
#include "io/worker_pool.h"

void worker_pool_init(struct worker_pool *p, uv_loop_t *loop, uint32_t jobs_max)
{
    ASSERT(loop != NULL && jobs_max >= 1);
    memset(p, 0, sizeof *p);
    p->loop = loop;
    p->jobs_max = jobs_max;
}

static void on_work(uv_work_t *req)
{
    struct worker_job *job = req->data;
    job->work(job->ctx);
}

static void on_after_work(uv_work_t *req, int status)
{
    struct worker_job *job = req->data;
    struct worker_pool *p = job->pool;
    ASSERT(p->jobs_running > 0);
    p->jobs_running--;
    p->jobs_completed++;
    job->done(job->ctx, status);
}

int worker_pool_submit(struct worker_pool *p, struct worker_job *job, worker_work_fn work,
                       worker_done_fn done, void *ctx)
{
    ASSERT(work != NULL && done != NULL);
    if (p->jobs_running >= p->jobs_max) {
        p->jobs_refused++;
        return ERR_FULL;
    }
    job->req.data = job;
    job->pool = p;
    job->work = work;
    job->done = done;
    job->ctx = ctx;
    int rc = uv_queue_work(p->loop, &job->req, on_work, on_after_work);
    if (rc != 0) {
        return rc;
    }
    p->jobs_running++;
    p->jobs_submitted++;
    return 0;
}
