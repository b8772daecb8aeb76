/* client: calls, retries and completions; see client.h. */
#include "rpc/client.h"

#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "base/hashmap.h"
#include "base/list.h"
#include "base/prng.h"
#include "rpc/backoff.h"
#include "rpc/envelope.h"
#include "rpc/outbox.h"

/* One call in flight, from rpc_client_call until its completion. */
struct call {
    uint64_t call_id;
    uint32_t peer;
    const ProtobufCServiceDescriptor *service;
    const ProtobufCMethodDescriptor *method;
    uint8_t *payload; /* owned: the packed input, re-sent by every attempt */
    size_t payload_len;
    struct rpc_retry_policy policy;
    uint64_t deadline_ns;
    uint64_t next_attempt_ns; /* UINT64_MAX once attempts_max have been sent */
    uint32_t attempts_sent;
    /* Exactly one completion target: a callback, or a generated stub's closure. */
    rpc_done_fn done;
    void *ctx;
    struct rpc_stub *stub;
    ProtobufCClosure closure;
    void *closure_data;
    struct list_node in_flight_node; /* on rpc_client.in_flight, oldest call first */
};

struct rpc_client {
    struct rpc_client_config cfg;
    struct prng rng;
    uint64_t now_ns;       /* of the latest input, for calls made through a stub */
    uint64_t next_call_id;
    struct hashmap calls;  /* call_id -> struct call, for replies */
    struct list_node in_flight; /* the same calls, for timers: walking a list of the
                                 * calls is cheaper than walking the map's slots */
    struct rpc_outbox outbox;
    struct rpc_envelope_decoder decoder;
    struct buf scratch;    /* envelope encoding */
    struct rpc_client_counters counters;
};

static bool call_has_id(const void *item, const void *key)
{
    return ((const struct call *)item)->call_id == *(const uint64_t *)key;
}

void rpc_client_config_defaults(struct rpc_client_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->calls_max = RPC_CLIENT_DEFAULT_CALLS_MAX;
    cfg->outbox_messages_max = RPC_CLIENT_DEFAULT_OUTBOX_MESSAGES_MAX;
    cfg->retry.attempts_max = RPC_RETRY_DEFAULT_ATTEMPTS_MAX;
    cfg->retry.attempt_timeout_ns = RPC_RETRY_DEFAULT_ATTEMPT_TIMEOUT_NS;
    cfg->retry.backoff_base_ns = RPC_RETRY_DEFAULT_BACKOFF_BASE_NS;
    cfg->retry.backoff_cap_ns = RPC_RETRY_DEFAULT_BACKOFF_CAP_NS;
}

static bool policy_valid(const struct rpc_retry_policy *p)
{
    return p->attempts_max >= 1 && p->backoff_base_ns > 0 &&
           p->backoff_base_ns <= p->backoff_cap_ns;
}

int rpc_client_create(const struct rpc_client_config *cfg, struct rpc_client **out)
{
    if (cfg->client_id == 0 || cfg->calls_max == 0 || cfg->outbox_messages_max == 0 ||
        !policy_valid(&cfg->retry)) {
        return ERR_INVALID;
    }
    struct rpc_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return ERR_NOMEM;
    }
    c->cfg = *cfg;
    prng_seed(&c->rng, cfg->prng_seed);
    c->next_call_id = 1;
    hashmap_init(&c->calls, call_has_id);
    list_init(&c->in_flight);
    rpc_envelope_decoder_init(&c->decoder);
    buf_init(&c->scratch, RPC_ENVELOPE_BYTES_MAX);
    if (rpc_outbox_init(&c->outbox, cfg->outbox_messages_max) != 0) {
        rpc_client_destroy(c);
        return ERR_NOMEM;
    }
    *out = c;
    return 0;
}

static void call_free(struct call *call)
{
    free(call->payload);
    free(call);
}

void rpc_client_destroy(struct rpc_client *c)
{
    if (c == NULL) {
        return;
    }
    struct list_node *n = NULL;
    while ((n = list_pop_front(&c->in_flight)) != NULL) {
        call_free(list_entry(n, struct call, in_flight_node));
    }
    hashmap_free(&c->calls);
    rpc_outbox_free(&c->outbox);
    rpc_envelope_decoder_free(&c->decoder);
    buf_free(&c->scratch);
    free(c);
}

/* ---- attempts ---- */

/* When the next attempt leaves: floor_ns plus a full-jitter draw (backoff.h). */
static uint64_t next_attempt_ns(struct rpc_client *c, const struct call *call, uint64_t now_ns,
                                uint64_t floor_ns)
{
    return now_ns + floor_ns +
           rpc_backoff_full_jitter_ns(&c->rng, call->policy.backoff_base_ns,
                                      call->policy.backoff_cap_ns, call->attempts_sent);
}

static void send_attempt(struct rpc_client *c, struct call *call, uint64_t now_ns)
{
    ASSERT(call->attempts_sent < call->policy.attempts_max && now_ns < call->deadline_ns);
    call->attempts_sent++;
    Chorus__RpcRequest req = CHORUS__RPC_REQUEST__INIT;
    req.client_id = c->cfg.client_id;
    req.call_id = call->call_id;
    req.service = (char *)call->service->name;
    req.method = (char *)call->method->name;
    req.timeout_ns = call->deadline_ns - now_ns;
    req.attempt = call->attempts_sent;
    req.payload.data = call->payload;
    req.payload.len = call->payload_len;
    buf_reset(&c->scratch);
    /* The payload was size-checked when the call started, so encoding cannot pass the
     * envelope limit; a failure is memory, and the next attempt may fare better. */
    if (rpc_envelope_encode_request(&c->scratch, &req) == 0) {
        rpc_outbox_push(&c->outbox, call->peer, c->scratch.data, c->scratch.len);
    }
    c->counters.attempts_sent++;
    c->counters.retries_sent += call->attempts_sent > 1;
    call->next_attempt_ns = UINT64_MAX;
    if (call->attempts_sent < call->policy.attempts_max) {
        call->next_attempt_ns = next_attempt_ns(c, call, now_ns, call->policy.attempt_timeout_ns);
    }
}

static struct call *call_alloc(const uint8_t *payload, size_t payload_len)
{
    struct call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        return NULL;
    }
    call->payload = malloc(payload_len == 0 ? 1 : payload_len);
    if (call->payload == NULL) {
        free(call);
        return NULL;
    }
    if (payload_len > 0) {
        memcpy(call->payload, payload, payload_len);
    }
    call->payload_len = payload_len;
    return call;
}

/* Validates and registers a call; its completion target is filled in by the caller. */
static int64_t call_start(struct rpc_client *c, uint64_t now_ns, uint32_t peer,
                          const ProtobufCServiceDescriptor *service, unsigned method_index,
                          const ProtobufCMessage *input, uint64_t timeout_ns,
                          const struct rpc_retry_policy *policy, struct call **out)
{
    c->now_ns = MAX(c->now_ns, now_ns);
    if (policy == NULL) {
        policy = &c->cfg.retry;
    }
    if (method_index >= service->n_methods || timeout_ns == 0 || !policy_valid(policy) ||
        input == NULL || input->descriptor != service->methods[method_index].input) {
        return ERR_INVALID;
    }
    if (c->calls.items_count >= c->cfg.calls_max) {
        return ERR_FULL;
    }
    buf_reset(&c->scratch);
    int rc = rpc_pack_message(&c->scratch, input, RPC_PAYLOAD_BYTES_MAX);
    if (rc != 0) {
        return rc;
    }
    struct call *call = call_alloc(c->scratch.data, c->scratch.len);
    if (call == NULL) {
        return ERR_NOMEM;
    }
    call->call_id = c->next_call_id;
    call->peer = peer;
    call->service = service;
    call->method = &service->methods[method_index];
    call->policy = *policy;
    call->deadline_ns = now_ns + timeout_ns < now_ns ? UINT64_MAX : now_ns + timeout_ns;
    if (hashmap_insert(&c->calls, hash_u64(call->call_id), call) != 0) {
        call_free(call);
        return ERR_NOMEM;
    }
    list_push_back(&c->in_flight, &call->in_flight_node);
    c->next_call_id++;
    c->counters.calls_started++;
    send_attempt(c, call, now_ns);
    *out = call;
    return (int64_t)call->call_id;
}

int64_t rpc_client_call(struct rpc_client *c, uint64_t now_ns, uint32_t peer,
                        const ProtobufCServiceDescriptor *service, unsigned method_index,
                        const ProtobufCMessage *input, uint64_t timeout_ns,
                        const struct rpc_retry_policy *policy, rpc_done_fn done, void *ctx)
{
    ASSERT(done != NULL);
    struct call *call = NULL;
    int64_t rc =
        call_start(c, now_ns, peer, service, method_index, input, timeout_ns, policy, &call);
    if (rc > 0) {
        call->done = done;
        call->ctx = ctx;
    }
    return rc;
}

/* ---- completion ---- */

/* Removes the call, then runs its completion (which may start new calls) and frees it. */
static void complete(struct rpc_client *c, struct call *call, int status, const char *detail,
                     const ProtobufCMessage *reply)
{
    struct call *removed = hashmap_remove(&c->calls, hash_u64(call->call_id), &call->call_id);
    ASSERT(removed == call);
    list_remove(&call->in_flight_node);
    c->counters.calls_completed++;
    struct rpc_result result = {call->call_id, status, detail == NULL ? "" : detail, reply};
    if (call->stub != NULL) {
        call->stub->last_result = result;
        call->closure(status == CHORUS__RPC_STATUS__RPC_OK ? reply : NULL, call->closure_data);
        memset(&call->stub->last_result, 0, sizeof call->stub->last_result);
    } else {
        call->done(call->ctx, &result);
    }
    call_free(call);
}

static void complete_ok(struct rpc_client *c, struct call *call, const Chorus__RpcReply *r)
{
    ProtobufCMessage *out =
        protobuf_c_message_unpack(call->method->output, NULL, r->payload.len, r->payload.data);
    if (out == NULL) {
        complete(c, call, CHORUS__RPC_STATUS__RPC_FAILED,
                 "the call ran but its reply did not decode as the method's output", NULL);
        return;
    }
    complete(c, call, CHORUS__RPC_STATUS__RPC_OK, "", out);
    protobuf_c_message_free_unpacked(out, NULL);
}

static void on_reply(struct rpc_client *c, uint64_t now_ns, uint32_t peer,
                     const Chorus__RpcReply *r)
{
    if (r->client_id != c->cfg.client_id) {
        c->counters.replies_bad++;
        return;
    }
    struct call *call = hashmap_find(&c->calls, hash_u64(r->call_id), &r->call_id);
    if (call == NULL || call->peer != peer) {
        c->counters.replies_late++;
        return;
    }
    if (r->status == CHORUS__RPC_STATUS__RPC_BUSY && call->attempts_sent < call->policy.attempts_max) {
        /* The server answered without running it: no reply is owed, only the jitter. */
        call->next_attempt_ns = next_attempt_ns(c, call, now_ns, 0);
        return;
    }
    if (r->status == CHORUS__RPC_STATUS__RPC_OK) {
        complete_ok(c, call, r);
    } else {
        complete(c, call, (int)r->status, r->detail, NULL);
    }
}

void rpc_client_on_message(struct rpc_client *c, uint64_t now_ns, uint32_t peer,
                           const void *bytes, size_t len)
{
    c->now_ns = MAX(c->now_ns, now_ns);
    const Chorus__RpcEnvelope *e = NULL;
    if (rpc_envelope_decode(&c->decoder, bytes, len, &e) != 0 ||
        e->body_case != CHORUS__RPC_ENVELOPE__BODY_REPLY) {
        c->counters.replies_bad++;
        return;
    }
    on_reply(c, now_ns, peer, e->reply);
}

/* ---- timers ---- */

#define FOR_EACH_CALL(c, call)                                                              \
    for (struct list_node *n_ = (c)->in_flight.next;                                        \
         n_ != &(c)->in_flight && ((call) = list_entry(n_, struct call, in_flight_node), 1); \
         n_ = n_->next)

static struct call *first_expired(const struct rpc_client *c, uint64_t now_ns)
{
    struct call *call = NULL;
    FOR_EACH_CALL(c, call)
    {
        if (call->deadline_ns <= now_ns) {
            return call;
        }
    }
    return NULL;
}

void rpc_client_tick(struct rpc_client *c, uint64_t now_ns)
{
    c->now_ns = MAX(c->now_ns, now_ns);
    struct call *call = NULL;
    FOR_EACH_CALL(c, call)
    {
        if (call->next_attempt_ns <= now_ns && now_ns < call->deadline_ns) {
            send_attempt(c, call, now_ns);
        }
    }
    /* Completions may start calls and so change the list: find, complete, look again. */
    while ((call = first_expired(c, now_ns)) != NULL) {
        c->counters.deadline_exceeded++;
        complete(c, call, CHORUS__RPC_STATUS__RPC_DEADLINE_EXCEEDED,
                 "no reply by the deadline: the call may or may not have run", NULL);
    }
}

uint64_t rpc_client_next_timeout_ns(const struct rpc_client *c)
{
    uint64_t next_ns = UINT64_MAX;
    struct call *call = NULL;
    FOR_EACH_CALL(c, call)
    {
        next_ns = MIN(next_ns, MIN(call->deadline_ns, call->next_attempt_ns));
    }
    return next_ns;
}

bool rpc_client_next_message(struct rpc_client *c, uint32_t *peer, struct buf *out)
{
    bool got = rpc_outbox_pop(&c->outbox, peer, out);
    c->counters.outbox_overflow_drops = c->outbox.overflow_drops;
    return got;
}

uint32_t rpc_client_calls_in_flight(const struct rpc_client *c)
{
    return (uint32_t)c->calls.items_count;
}

const struct rpc_client_counters *rpc_client_counters(const struct rpc_client *c)
{
    return &c->counters;
}

void rpc_client_check_invariants(const struct rpc_client *c)
{
    ASSERT(c->calls.items_count <= c->cfg.calls_max);
    ASSERT(c->counters.calls_started == c->counters.calls_completed + c->calls.items_count);
    ASSERT(list_length(&c->in_flight) == c->calls.items_count);
    struct call *call = NULL;
    FOR_EACH_CALL(c, call)
    {
        ASSERT(hashmap_find(&c->calls, hash_u64(call->call_id), &call->call_id) == call);
        ASSERT(call->call_id > 0 && call->call_id < c->next_call_id);
        ASSERT(call->attempts_sent >= 1 && call->attempts_sent <= call->policy.attempts_max);
        ASSERT((call->done != NULL) != (call->stub != NULL));
        ASSERT(call->next_attempt_ns != UINT64_MAX ||
               call->attempts_sent == call->policy.attempts_max);
    }
}

/* ---- generated stubs ---- */

static void stub_invoke(ProtobufCService *service, unsigned method_index,
                        const ProtobufCMessage *input, ProtobufCClosure closure,
                        void *closure_data)
{
    struct rpc_stub *stub = (struct rpc_stub *)service;
    struct rpc_client *c = stub->client;
    struct call *call = NULL;
    int64_t rc = call_start(c, c->now_ns, stub->peer, service->descriptor, method_index, input,
                            stub->timeout_ns, NULL, &call);
    stub->last_error = rc > 0 ? 0 : (int)rc;
    if (rc > 0) {
        call->stub = stub;
        call->closure = closure;
        call->closure_data = closure_data;
    }
}

static void stub_destroy(ProtobufCService *service) { (void)service; }

void rpc_stub_init(struct rpc_stub *stub, struct rpc_client *client,
                   const ProtobufCServiceDescriptor *service, uint32_t peer, uint64_t timeout_ns)
{
    memset(stub, 0, sizeof *stub);
    stub->base.descriptor = service;
    stub->base.invoke = stub_invoke;
    stub->base.destroy = stub_destroy;
    stub->client = client;
    stub->peer = peer;
    stub->timeout_ns = timeout_ns;
}
