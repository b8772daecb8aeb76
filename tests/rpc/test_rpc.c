/* Unit tests of the RPC runtime: one client (peer 2) and one server (peer 1) whose
 * envelopes the test moves by hand, so it can lose, repeat or hold any of them. */
#include "base/errors.h"
#include "rpc/backoff.h"
#include "rpc/envelope.h"
#include "rpc_test.h"

#define MS 1000000ull
#define SERVER_PEER 1
#define CLIENT_PEER 2
#define CLIENT_ID 77

struct pair {
    struct rpc_client *client;
    struct rpc_server *server;
    struct test_admin admin;
    struct buf b;
    uint64_t now_ns;
};

static void pair_open(struct pair *p, const struct rpc_server_config *scfg)
{
    memset(p, 0, sizeof *p);
    struct rpc_client_config cc;
    rpc_client_config_defaults(&cc);
    cc.client_id = CLIENT_ID;
    cc.prng_seed = 1;
    ASSERT(rpc_client_create(&cc, &p->client) == 0);
    struct rpc_server_config sc;
    rpc_server_config_defaults(&sc);
    ASSERT(rpc_server_create(scfg != NULL ? scfg : &sc, &p->server) == 0);
    test_admin_init(&p->admin);
    ASSERT(rpc_server_add_service(p->server, &p->admin.service.base) == 0);
    buf_init(&p->b, 0);
    p->now_ns = 1000 * MS;
}

static void pair_close(struct pair *p)
{
    while (admin_finish_parked(&p->admin, 0)) {
    }
    rpc_client_destroy(p->client);
    rpc_server_destroy(p->server);
    buf_free(&p->b);
}

/* Moves the client's envelopes to the server; returns how many (dropped when drop). */
static int to_server(struct pair *p, bool drop)
{
    int n = 0;
    uint32_t peer = 0;
    for (buf_reset(&p->b); rpc_client_next_message(p->client, &peer, &p->b); buf_reset(&p->b)) {
        CHECK_EQ(peer, SERVER_PEER);
        if (!drop) {
            rpc_server_on_message(p->server, CLIENT_PEER, p->b.data, p->b.len);
        }
        n++;
    }
    rpc_server_check_invariants(p->server);
    return n;
}

static int to_client(struct pair *p, bool drop)
{
    int n = 0;
    uint32_t peer = 0;
    for (buf_reset(&p->b); rpc_server_next_message(p->server, &peer, &p->b); buf_reset(&p->b)) {
        CHECK_EQ(peer, CLIENT_PEER);
        if (!drop) {
            rpc_client_on_message(p->client, p->now_ns, SERVER_PEER, p->b.data, p->b.len);
        }
        n++;
    }
    rpc_client_check_invariants(p->client);
    return n;
}

/* Advances time to the client's next timer and fires it. */
static void advance(struct pair *p)
{
    uint64_t next = rpc_client_next_timeout_ns(p->client);
    ASSERT(next != UINT64_MAX);
    p->now_ns = MAX(p->now_ns, next);
    rpc_client_tick(p->client, p->now_ns);
}

static int64_t call_status(struct pair *p, struct outcome *o)
{
    Chorus__StatusRequest req = CHORUS__STATUS_REQUEST__INIT;
    return rpc_client_call(p->client, p->now_ns, SERVER_PEER, &chorus__admin__descriptor,
                           METHOD_STATUS, &req.base, 10000 * MS, NULL, outcome_record, o);
}

static int64_t call_snapshot(struct pair *p, struct outcome *o)
{
    Chorus__SnapshotRequest req = CHORUS__SNAPSHOT_REQUEST__INIT;
    return rpc_client_call(p->client, p->now_ns, SERVER_PEER, &chorus__admin__descriptor,
                           METHOD_SNAPSHOT, &req.base, 10000 * MS, NULL, outcome_record, o);
}

TEST(call_completes_once_with_the_handlers_reply)
{
    struct pair p;
    pair_open(&p, NULL);
    struct outcome o = {0};
    CHECK_EQ(call_status(&p, &o), 1);
    CHECK_EQ(o.completions, 0); /* never from inside rpc_client_call */
    CHECK_EQ(to_server(&p, false), 1);
    CHECK_EQ(to_client(&p, false), 1);
    CHECK_EQ(o.completions, 1);
    CHECK_EQ(o.status, CHORUS__RPC_STATUS__RPC_OK);
    CHECK_EQ(o.value, 1);
    CHECK_EQ(rpc_client_calls_in_flight(p.client), 0);
    CHECK_EQ(rpc_client_next_timeout_ns(p.client), UINT64_MAX);
    pair_close(&p);
}

TEST(retry_of_a_finished_call_is_answered_from_the_cache)
{
    struct pair p;
    pair_open(&p, NULL);
    struct outcome o = {0};
    call_status(&p, &o);
    to_server(&p, false);
    CHECK_EQ(to_client(&p, true), 1); /* the reply is lost */
    advance(&p);                      /* the retry */
    CHECK_EQ(to_server(&p, false), 1);
    to_client(&p, false);
    CHECK_EQ(o.completions, 1);
    CHECK_EQ(o.status, CHORUS__RPC_STATUS__RPC_OK);
    CHECK_EQ(o.value, 1); /* the first execution's reply, replayed */
    CHECK_EQ(admin_executions(&p.admin, CLIENT_ID, 1), 1);
    CHECK_EQ(rpc_server_counters(p.server)->duplicates_replayed, 1);
    CHECK_EQ(rpc_client_counters(p.client)->retries_sent, 1);
    pair_close(&p);
}

TEST(retry_of_a_running_call_does_not_run_it_again)
{
    struct pair p;
    pair_open(&p, NULL);
    struct outcome o = {0};
    call_snapshot(&p, &o);
    to_server(&p, false);
    CHECK_EQ(p.admin.parked_count, 1);
    advance(&p);
    advance(&p);
    CHECK_EQ(to_server(&p, false), 2);
    CHECK_EQ(to_client(&p, false), 0); /* nothing to say while it runs */
    CHECK_EQ(rpc_server_counters(p.server)->duplicates_running, 2);
    CHECK_EQ(rpc_server_calls_running(p.server), 1);
    CHECK(admin_finish_parked(&p.admin, 99));
    CHECK_EQ(to_client(&p, false), 1);
    CHECK_EQ(o.completions, 1);
    CHECK_EQ(o.status, CHORUS__RPC_STATUS__RPC_OK);
    CHECK_EQ(o.value, 99);
    CHECK_EQ(admin_executions(&p.admin, CLIENT_ID, 1), 1);
    pair_close(&p);
}

TEST(method_without_handler_answers_unimplemented)
{
    struct pair p;
    pair_open(&p, NULL);
    struct outcome o = {0};
    Chorus__TransferLeaderRequest req = CHORUS__TRANSFER_LEADER_REQUEST__INIT;
    req.target_id = 3;
    rpc_client_call(p.client, p.now_ns, SERVER_PEER, &chorus__admin__descriptor,
                    METHOD_TRANSFER_LEADER, &req.base, 1000 * MS, NULL, outcome_record, &o);
    to_server(&p, false);
    to_client(&p, false);
    CHECK_EQ(o.status, CHORUS__RPC_STATUS__RPC_UNIMPLEMENTED);
    CHECK(strstr(o.detail, "not implement") != NULL);
    CHECK_EQ(p.admin.executions_total, 0);
    pair_close(&p);
}

TEST(handler_failure_reaches_the_client_with_its_detail)
{
    struct pair p;
    pair_open(&p, NULL);
    struct outcome o = {0};
    Chorus__MemberRequest req = CHORUS__MEMBER_REQUEST__INIT;
    req.node_id = 4;
    req.address = "leader is node 3";
    rpc_client_call(p.client, p.now_ns, SERVER_PEER, &chorus__admin__descriptor,
                    METHOD_ADD_MEMBER, &req.base, 1000 * MS, NULL, outcome_record, &o);
    to_server(&p, false);
    to_client(&p, false);
    CHECK_EQ(o.status, CHORUS__RPC_STATUS__RPC_NOT_LEADER);
    CHECK_STR(o.detail, "leader is node 3");
    pair_close(&p);
}

/* Sends a hand-made request envelope and returns the status of the server's answer. */
static int raw_request(struct pair *p, const char *service, const char *method,
                       const uint8_t *payload, size_t payload_len, uint64_t call_id,
                       uint64_t timeout_ns)
{
    Chorus__RpcRequest r = CHORUS__RPC_REQUEST__INIT;
    r.client_id = 5;
    r.call_id = call_id;
    r.service = (char *)service;
    r.method = (char *)method;
    r.timeout_ns = timeout_ns;
    r.attempt = 1;
    r.payload.data = (uint8_t *)payload;
    r.payload.len = payload_len;
    buf_reset(&p->b);
    ASSERT(rpc_envelope_encode_request(&p->b, &r) == 0);
    rpc_server_on_message(p->server, CLIENT_PEER, p->b.data, p->b.len);
    uint32_t peer = 0;
    buf_reset(&p->b);
    if (!rpc_server_next_message(p->server, &peer, &p->b)) {
        return -1;
    }
    struct rpc_envelope_decoder d;
    rpc_envelope_decoder_init(&d);
    const Chorus__RpcEnvelope *e = NULL;
    ASSERT(rpc_envelope_decode(&d, p->b.data, p->b.len, &e) == 0);
    int status = (int)e->reply->status;
    rpc_envelope_decoder_free(&d);
    return status;
}

TEST(unknown_names_bad_payloads_and_spent_budgets_are_refused_unexecuted)
{
    struct pair p;
    pair_open(&p, NULL);
    static const uint8_t truncated[] = {0x12, 0x05, 'a'}; /* field 2, 5 bytes, 1 present */
    CHECK_EQ(raw_request(&p, "chorus.Nope", "Status", NULL, 0, 1, MS),
             CHORUS__RPC_STATUS__RPC_NO_SUCH_METHOD);
    CHECK_EQ(raw_request(&p, "chorus.Admin", "Nope", NULL, 0, 2, MS),
             CHORUS__RPC_STATUS__RPC_NO_SUCH_METHOD);
    CHECK_EQ(raw_request(&p, "chorus.Admin", "AddMember", truncated, sizeof truncated, 3, MS),
             CHORUS__RPC_STATUS__RPC_BAD_REQUEST);
    CHECK_EQ(raw_request(&p, "chorus.Admin", "Status", NULL, 0, 4, 0),
             CHORUS__RPC_STATUS__RPC_DEADLINE_EXCEEDED);
    CHECK_EQ(raw_request(&p, "chorus.Admin", "Status", NULL, 0, 5, MS),
             CHORUS__RPC_STATUS__RPC_OK);
    CHECK_EQ(p.admin.executions_total, 1);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x01};
    rpc_server_on_message(p.server, CLIENT_PEER, garbage, sizeof garbage);
    CHECK_EQ(rpc_server_counters(p.server)->requests_bad, 1);
    pair_close(&p);
}

TEST(envelope_with_a_field_the_idl_does_not_define_is_rejected)
{
    struct buf b;
    buf_init(&b, 0);
    Chorus__RpcReply r = CHORUS__RPC_REPLY__INIT;
    r.client_id = 1;
    r.call_id = 2;
    ASSERT(rpc_envelope_encode_reply(&b, &r) == 0);
    struct rpc_envelope_decoder d;
    rpc_envelope_decoder_init(&d);
    const Chorus__RpcEnvelope *e = NULL;
    CHECK_EQ(rpc_envelope_decode(&d, b.data, b.len, &e), 0);
    static const uint8_t field_15_varint[] = {0x78, 0x01}; /* appended at the top level */
    buf_put(&b, field_15_varint, sizeof field_15_varint);
    CHECK_EQ(rpc_envelope_decode(&d, b.data, b.len, &e), ERR_MALFORMED);
    rpc_envelope_decoder_free(&d);
    buf_free(&b);
}

TEST(silent_server_fails_the_call_at_its_deadline_after_bounded_attempts)
{
    struct pair p;
    pair_open(&p, NULL);
    struct outcome o = {0};
    struct rpc_retry_policy policy = {.attempts_max = 4, .attempt_timeout_ns = 5 * MS,
                                     .backoff_base_ns = 10 * MS, .backoff_cap_ns = 40 * MS};
    Chorus__StatusRequest req = CHORUS__STATUS_REQUEST__INIT;
    uint64_t start_ns = p.now_ns;
    rpc_client_call(p.client, p.now_ns, SERVER_PEER, &chorus__admin__descriptor, METHOD_STATUS,
                    &req.base, 500 * MS, &policy, outcome_record, &o);
    uint64_t last_send_ns = p.now_ns;
    for (int sent = 1; o.completions == 0;) {
        int n = to_server(&p, true);
        if (n > 0 && sent++ > 1) {
            /* each wait: the attempt timeout plus a draw from [0, min(cap, base * 2^n)] */
            uint64_t waited_ns = p.now_ns - last_send_ns;
            CHECK(waited_ns >= 5 * MS);
            CHECK(waited_ns <= 5 * MS + rpc_backoff_window_ns(10 * MS, 40 * MS, sent - 2));
            last_send_ns = p.now_ns;
        }
        advance(&p);
    }
    CHECK_EQ(o.status, CHORUS__RPC_STATUS__RPC_DEADLINE_EXCEEDED);
    CHECK_EQ(p.now_ns, start_ns + 500 * MS);
    CHECK_EQ(rpc_client_counters(p.client)->attempts_sent, 4);
    CHECK_EQ(rpc_client_calls_in_flight(p.client), 0);
    pair_close(&p);
}

TEST(evicted_reply_is_reported_as_unknown_outcome_and_never_rerun)
{
    struct rpc_server_config sc;
    rpc_server_config_defaults(&sc);
    sc.entries_max = 2;
    struct pair p;
    pair_open(&p, &sc);
    struct outcome first = {0}, later[2] = {{0}};
    call_status(&p, &first);
    to_server(&p, false);
    to_client(&p, true); /* call 1 ran; its reply is lost */
    for (int i = 0; i < 2; i++) {
        call_status(&p, &later[i]);
        to_server(&p, false);
        to_client(&p, false);
        CHECK_EQ(later[i].status, CHORUS__RPC_STATUS__RPC_OK);
    }
    CHECK_EQ(rpc_server_counters(p.server)->entries_evicted, 1);
    advance(&p); /* call 1 retries */
    to_server(&p, false);
    to_client(&p, false);
    CHECK_EQ(first.completions, 1);
    CHECK_EQ(first.status, CHORUS__RPC_STATUS__RPC_REPLY_EVICTED);
    CHECK_EQ(admin_executions(&p.admin, CLIENT_ID, 1), 1);
    CHECK_EQ(rpc_server_counters(p.server)->refused_evicted, 1);
    pair_close(&p);
}

TEST(mutant_that_runs_evicted_calls_runs_one_twice)
{
    struct rpc_server_config sc;
    rpc_server_config_defaults(&sc);
    sc.entries_max = 2;
    sc.mutant = RPC_SERVER_MUTANT_RUN_EVICTED;
    struct pair p;
    pair_open(&p, &sc);
    struct outcome o[3] = {{0}};
    call_status(&p, &o[0]);
    to_server(&p, false);
    to_client(&p, true);
    for (int i = 1; i < 3; i++) {
        call_status(&p, &o[i]);
        to_server(&p, false);
        to_client(&p, false);
    }
    advance(&p);
    to_server(&p, false);
    CHECK_EQ(admin_executions(&p.admin, CLIENT_ID, 1), 2);
    CHECK(p.admin.ran_twice);
    pair_close(&p);
}

TEST(mutant_without_reply_cache_runs_a_retry_twice)
{
    struct rpc_server_config sc;
    rpc_server_config_defaults(&sc);
    sc.mutant = RPC_SERVER_MUTANT_NO_REPLY_CACHE;
    struct pair p;
    pair_open(&p, &sc);
    struct outcome o = {0};
    call_status(&p, &o);
    to_server(&p, false);
    to_client(&p, true);
    advance(&p);
    to_server(&p, false);
    CHECK_EQ(admin_executions(&p.admin, CLIENT_ID, 1), 2);
    pair_close(&p);
}

TEST(full_cache_of_running_calls_answers_busy_and_the_client_tries_again)
{
    struct rpc_server_config sc;
    rpc_server_config_defaults(&sc);
    sc.entries_max = 1;
    struct pair p;
    pair_open(&p, &sc);
    struct outcome slow = {0}, fast = {0};
    call_snapshot(&p, &slow);
    to_server(&p, false);
    call_status(&p, &fast);
    to_server(&p, false);
    to_client(&p, false);
    CHECK_EQ(fast.completions, 0); /* BUSY is not final while attempts remain */
    CHECK_EQ(rpc_server_counters(p.server)->refused_busy, 1);
    CHECK_EQ(p.admin.executions_total, 1);
    CHECK(admin_finish_parked(&p.admin, 7));
    to_client(&p, false);
    CHECK_EQ(slow.status, CHORUS__RPC_STATUS__RPC_OK);
    while (fast.completions == 0) {
        advance(&p);
        to_server(&p, false);
        to_client(&p, false);
    }
    CHECK_EQ(fast.status, CHORUS__RPC_STATUS__RPC_OK);
    CHECK_EQ(admin_executions(&p.admin, CLIENT_ID, 2), 1);
    pair_close(&p);
}

TEST(late_and_foreign_replies_are_counted_and_ignored)
{
    struct pair p;
    pair_open(&p, NULL);
    struct outcome o = {0};
    call_status(&p, &o);
    to_server(&p, false);
    advance(&p);
    to_server(&p, false); /* two replies now queued for one call */
    CHECK_EQ(to_client(&p, false), 2);
    CHECK_EQ(o.completions, 1);
    CHECK_EQ(rpc_client_counters(p.client)->replies_late, 1);
    rpc_client_on_message(p.client, p.now_ns, SERVER_PEER, "\x08\x01", 2);
    CHECK_EQ(rpc_client_counters(p.client)->replies_bad, 1);
    pair_close(&p);
}

TEST(bad_calls_are_refused_before_anything_is_sent)
{
    struct pair p;
    pair_open(&p, NULL);
    struct outcome o = {0};
    Chorus__SnapshotRequest wrong = CHORUS__SNAPSHOT_REQUEST__INIT;
    CHECK_EQ(rpc_client_call(p.client, p.now_ns, SERVER_PEER, &chorus__admin__descriptor,
                             METHOD_STATUS, &wrong.base, MS, NULL, outcome_record, &o),
             ERR_INVALID);
    CHECK_EQ(rpc_client_call(p.client, p.now_ns, SERVER_PEER, &chorus__admin__descriptor, 99,
                             &wrong.base, MS, NULL, outcome_record, &o),
             ERR_INVALID);
    struct rpc_retry_policy no_attempts = {.attempts_max = 0, .backoff_base_ns = MS,
                                          .backoff_cap_ns = MS};
    Chorus__StatusRequest req = CHORUS__STATUS_REQUEST__INIT;
    CHECK_EQ(rpc_client_call(p.client, p.now_ns, SERVER_PEER, &chorus__admin__descriptor,
                             METHOD_STATUS, &req.base, MS, &no_attempts, outcome_record, &o),
             ERR_INVALID);
    CHECK_EQ(to_server(&p, true), 0);
    pair_close(&p);
}

static void stub_closure(const Chorus__StatusReply *reply, void *data)
{
    struct rpc_stub *stub = data;
    CHECK(reply != NULL);
    CHECK_EQ(stub->last_result.status, CHORUS__RPC_STATUS__RPC_OK);
    CHECK_EQ(reply->node_id, 42);
    stub->timeout_ns = 0; /* marks the closure as run */
}

TEST(generated_client_stub_calls_through_the_client)
{
    struct pair p;
    pair_open(&p, NULL);
    struct rpc_stub stub;
    rpc_stub_init(&stub, p.client, &chorus__admin__descriptor, SERVER_PEER, 1000 * MS);
    Chorus__StatusRequest req = CHORUS__STATUS_REQUEST__INIT;
    chorus__admin__status(&stub.base, &req, stub_closure, &stub);
    CHECK_EQ(stub.last_error, 0);
    to_server(&p, false);
    to_client(&p, false);
    CHECK_EQ(stub.timeout_ns, 0);
    pair_close(&p);
}

TEST(backoff_window_doubles_to_its_cap_and_jitter_fills_it)
{
    CHECK_EQ(rpc_backoff_window_ns(10, 1000, 0), 10);
    CHECK_EQ(rpc_backoff_window_ns(10, 1000, 1), 20);
    CHECK_EQ(rpc_backoff_window_ns(10, 1000, 6), 640);
    CHECK_EQ(rpc_backoff_window_ns(10, 1000, 7), 1000);
    CHECK_EQ(rpc_backoff_window_ns(10, 1000, 4000000000u), 1000);
    CHECK_EQ(rpc_backoff_window_ns(UINT64_MAX / 2, UINT64_MAX, 3), UINT64_MAX);
    struct prng rng;
    prng_seed(&rng, 3);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t d = rpc_backoff_full_jitter_ns(&rng, 10, 1000, 3);
        CHECK(d <= 80);
        lo = MIN(lo, d);
        hi = MAX(hi, d);
    }
    CHECK(lo <= 2 && hi >= 78); /* full jitter: the whole window, not its end */
}
