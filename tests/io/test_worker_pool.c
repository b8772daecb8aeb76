/* The worker pool (src/io/worker_pool.c) with the RPC server: a handler that blocks runs
 * its work on a pool thread, never on the loop thread, which keeps serving meanwhile; the
 * call completes once, on the loop thread; and a full pool refuses work, so the handler
 * answers RPC_BUSY instead of queueing without bound. Client and server are wired by
 * hand on one libuv loop (no sockets). */
#include <pthread.h>
#include <unistd.h>

#include "base/errors.h"
#include "rpc/rpc_test.h" /* before uv.h: see src/io/worker_pool.c */
#include "io/worker_pool.h"

#define BLOCK_MS 30
#define CALLS 6
#define CLIENT_NODE 2
#define SERVER_NODE 1

/* One Snapshot call whose handler moved to the pool. */
struct slow_call {
    struct worker_job job;
    struct rpc_call *call;
    Chorus__SnapshotReply_Closure done;
    pthread_t worker_thread; /* written by the work function */
    uint64_t computed;       /* the result the blocking work produced */
};

struct fixture {
    Chorus__Admin_Service service; /* first: handlers get &service */
    uv_loop_t loop;
    pthread_t loop_thread;
    struct worker_pool pool;
    struct rpc_server *server;
    struct rpc_client *client;
    struct slow_call slow[CALLS];
    uint32_t slow_count;
    struct outcome outcomes[CALLS + 1]; /* by call id */
    uv_timer_t ticker;
    uint32_t ticks_while_busy; /* loop timer ticks while some job was running */
    uint32_t done_off_loop;    /* done functions called on another thread */
    uint32_t work_on_loop;     /* work functions run on the loop thread */
    struct buf b;
};

static struct fixture *g_fixture;

/* Moves every envelope between client and server until both are quiet. */
static void shuttle(struct fixture *f)
{
    uint32_t peer = 0;
    bool moved = true;
    while (moved) {
        moved = false;
        for (buf_reset(&f->b); rpc_client_next_message(f->client, &peer, &f->b); buf_reset(&f->b)) {
            rpc_server_on_message(f->server, CLIENT_NODE, f->b.data, f->b.len);
            moved = true;
        }
        for (buf_reset(&f->b); rpc_server_next_message(f->server, &peer, &f->b); buf_reset(&f->b)) {
            rpc_client_on_message(f->client, uv_hrtime(), SERVER_NODE, f->b.data, f->b.len);
            moved = true;
        }
    }
}

static void slow_work(void *ctx)
{
    struct slow_call *c = ctx;
    c->worker_thread = pthread_self();
    usleep(BLOCK_MS * 1000); /* stands in for a disk write and its fsync */
    c->computed = 1000 + rpc_call_id(c->call);
}

static void slow_done(void *ctx, int status)
{
    struct slow_call *c = ctx;
    struct fixture *f = g_fixture;
    f->done_off_loop += !pthread_equal(pthread_self(), f->loop_thread);
    f->work_on_loop += pthread_equal(c->worker_thread, f->loop_thread);
    if (status != 0) {
        rpc_call_fail(c->call, CHORUS__RPC_STATUS__RPC_FAILED, "job cancelled");
    } else {
        Chorus__SnapshotReply r = CHORUS__SNAPSHOT_REPLY__INIT;
        r.index = c->computed;
        c->done(&r, c->call);
    }
    shuttle(f);
}

/* The handler: hands the blocking part to the pool and returns at once. */
static void snapshot_handler(Chorus__Admin_Service *svc, const Chorus__SnapshotRequest *in,
                             Chorus__SnapshotReply_Closure done, void *call)
{
    (void)in;
    struct fixture *f = (struct fixture *)svc;
    ASSERT(f->slow_count < CALLS);
    struct slow_call *c = &f->slow[f->slow_count++];
    c->call = call;
    c->done = done;
    if (worker_pool_submit(&f->pool, &c->job, slow_work, slow_done, c) != 0) {
        rpc_call_fail(call, CHORUS__RPC_STATUS__RPC_BUSY, "worker pool full");
    }
}

static void on_tick(uv_timer_t *t)
{
    struct fixture *f = t->data;
    f->ticks_while_busy += f->pool.jobs_running > 0;
    if (f->pool.jobs_running == 0 && f->pool.jobs_submitted > 0) {
        uv_timer_stop(t);
    }
}

static void fixture_init(struct fixture *f, uint32_t jobs_max)
{
    memset(f, 0, sizeof *f);
    g_fixture = f;
    chorus__admin__init((Chorus__Admin_Service *)f, NULL);
    f->service.snapshot = snapshot_handler;
    ASSERT(uv_loop_init(&f->loop) == 0);
    f->loop_thread = pthread_self();
    worker_pool_init(&f->pool, &f->loop, jobs_max);
    struct rpc_server_config sc;
    rpc_server_config_defaults(&sc);
    ASSERT(rpc_server_create(&sc, &f->server) == 0);
    ASSERT(rpc_server_add_service(f->server, &f->service.base) == 0);
    struct rpc_client_config cc;
    rpc_client_config_defaults(&cc);
    cc.client_id = 77;
    cc.prng_seed = 1;
    ASSERT(rpc_client_create(&cc, &f->client) == 0);
    uv_timer_init(&f->loop, &f->ticker);
    f->ticker.data = f;
    uv_timer_start(&f->ticker, on_tick, 1, 1);
    buf_init(&f->b, 0);
}

static void fixture_free(struct fixture *f)
{
    uv_close((uv_handle_t *)&f->ticker, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ASSERT(uv_loop_close(&f->loop) == 0);
    rpc_client_destroy(f->client);
    rpc_server_destroy(f->server);
    buf_free(&f->b);
}

static void call_snapshots(struct fixture *f, int count)
{
    struct rpc_retry_policy policy = {.attempts_max = 1, .attempt_timeout_ns = 10ull * 1000000000,
                                     .backoff_base_ns = 1000000, .backoff_cap_ns = 1000000};
    for (int i = 0; i < count; i++) {
        Chorus__SnapshotRequest req = CHORUS__SNAPSHOT_REQUEST__INIT;
        int64_t id = rpc_client_call(f->client, uv_hrtime(), SERVER_NODE, &chorus__admin__descriptor,
                                     METHOD_SNAPSHOT, &req.base, 10ull * 1000000000, &policy,
                                     outcome_record, &f->outcomes[i + 1]);
        ASSERT(id == i + 1);
    }
    shuttle(f);
}

TEST(blocking_handlers_run_on_the_pool_while_the_loop_keeps_serving)
{
    static struct fixture f;
    fixture_init(&f, 8);
    uint64_t start = uv_hrtime();
    call_snapshots(&f, 4);
    /* Every handler has returned, none has completed: the work is on the pool. */
    CHECK_EQ(f.slow_count, 4);
    CHECK_EQ(f.pool.jobs_running, 4);
    CHECK_EQ(rpc_server_calls_running(f.server), 4);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    double ms = (double)(uv_hrtime() - start) / 1e6;
    for (int id = 1; id <= 4; id++) {
        CHECK_EQ(f.outcomes[id].completions, 1);
        CHECK_EQ(f.outcomes[id].status, CHORUS__RPC_STATUS__RPC_OK);
        CHECK_EQ(f.outcomes[id].value, 1000 + (uint64_t)id);
    }
    CHECK_EQ(f.work_on_loop, 0);   /* the blocking part never ran on the loop thread */
    CHECK_EQ(f.done_off_loop, 0);  /* completions came back to it */
    CHECK(f.ticks_while_busy >= 1); /* and it kept running timers meanwhile */
    CHECK_EQ(rpc_server_counters(f.server)->calls_executed, 4);
    CHECK_EQ(f.pool.jobs_completed, 4);
    printf("    4 calls blocking %d ms each done in %.1f ms; the loop ticked %u times meanwhile\n",
           BLOCK_MS, ms, f.ticks_while_busy);
    fixture_free(&f);
}

TEST(a_full_pool_refuses_and_the_call_is_answered_busy_not_queued)
{
    static struct fixture f;
    fixture_init(&f, 2);
    call_snapshots(&f, 3);
    CHECK_EQ(f.pool.jobs_running, 2);
    CHECK_EQ(f.pool.jobs_refused, 1);
    CHECK_EQ(f.outcomes[3].completions, 1); /* at once */
    CHECK_EQ(f.outcomes[3].status, CHORUS__RPC_STATUS__RPC_BUSY);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    CHECK(f.outcomes[1].status == CHORUS__RPC_STATUS__RPC_OK &&
          f.outcomes[2].status == CHORUS__RPC_STATUS__RPC_OK);
    CHECK_EQ(f.outcomes[1].completions + f.outcomes[2].completions, 2);
    fixture_free(&f);
}
