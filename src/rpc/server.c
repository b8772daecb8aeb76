/* server: dispatch from service descriptors and the at-most-once reply cache; see
 * server.h. */
#include "rpc/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "base/hashmap.h"
#include "base/list.h"
#include "base/prng.h"
#include "rpc/envelope.h"
#include "rpc/outbox.h"

struct call_key {
    uint64_t client_id;
    uint64_t call_id;
};

/* A call that reached a handler. While running it holds the unpacked input; once done it
 * holds the encoded reply envelope, re-sent to every later attempt until evicted. */
struct rpc_call {
    struct call_key key;
    struct rpc_server *server;
    uint32_t peer;                  /* where the reply goes: the latest attempt's sender */
    const ProtobufCMethodDescriptor *method;
    ProtobufCMessage *input;        /* owned while running */
    bool done;
    bool cached;                    /* false only under RPC_SERVER_MUTANT_NO_REPLY_CACHE */
    uint8_t *reply;                 /* owned once done */
    size_t reply_len;
    struct list_node finished_node; /* on server->finished once done, oldest first */
};

/* What the server remembers of a client beyond its cached calls. */
struct client_record {
    uint64_t client_id;
    uint64_t forgotten_max;   /* the highest call id evicted; 0 when none */
    struct list_node lru_node; /* on server->clients_lru, least recently active first */
};

struct rpc_server {
    struct rpc_server_config cfg;
    ProtobufCService *services[RPC_SERVER_SERVICES_MAX]; /* borrowed */
    uint32_t services_count;
    struct hashmap calls;        /* call_key -> struct rpc_call */
    struct hashmap clients;      /* client_id -> struct client_record */
    struct list_node finished;
    struct list_node clients_lru;
    uint32_t running;
    uint64_t reply_bytes;
    struct rpc_outbox outbox;
    struct rpc_envelope_decoder decoder;
    struct buf payload;          /* a packed output */
    struct buf envelope;         /* an encoded reply */
    struct rpc_server_counters counters;
};

static uint64_t key_hash(const struct call_key *k)
{
    return hash_u64(k->client_id ^ prng_mix64(k->call_id));
}

static bool call_has_key(const void *item, const void *key)
{
    const struct call_key *a = &((const struct rpc_call *)item)->key, *b = key;
    return a->client_id == b->client_id && a->call_id == b->call_id;
}

static bool client_has_id(const void *item, const void *key)
{
    return ((const struct client_record *)item)->client_id == *(const uint64_t *)key;
}

static bool mutant_is(const struct rpc_server *s, enum rpc_server_mutant m)
{
#ifdef CHORUS_MUTANTS
    return s->cfg.mutant == (uint32_t)m;
#else
    (void)s;
    (void)m;
    return false;
#endif
}

void rpc_server_config_defaults(struct rpc_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->entries_max = RPC_SERVER_DEFAULT_ENTRIES_MAX;
    cfg->reply_bytes_max = RPC_SERVER_DEFAULT_REPLY_BYTES_MAX;
    cfg->clients_max = RPC_SERVER_DEFAULT_CLIENTS_MAX;
    cfg->outbox_messages_max = RPC_SERVER_DEFAULT_OUTBOX_MESSAGES_MAX;
}

int rpc_server_create(const struct rpc_server_config *cfg, struct rpc_server **out)
{
    if (cfg->entries_max == 0 || cfg->reply_bytes_max == 0 || cfg->clients_max == 0 ||
        cfg->outbox_messages_max == 0 || cfg->mutant >= RPC_SERVER_MUTANT_COUNT_) {
        return ERR_INVALID;
    }
    struct rpc_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return ERR_NOMEM;
    }
    s->cfg = *cfg;
    hashmap_init(&s->calls, call_has_key);
    hashmap_init(&s->clients, client_has_id);
    list_init(&s->finished);
    list_init(&s->clients_lru);
    rpc_envelope_decoder_init(&s->decoder);
    buf_init(&s->payload, RPC_PAYLOAD_BYTES_MAX);
    buf_init(&s->envelope, RPC_ENVELOPE_BYTES_MAX);
    if (rpc_outbox_init(&s->outbox, cfg->outbox_messages_max) != 0) {
        rpc_server_destroy(s);
        return ERR_NOMEM;
    }
    *out = s;
    return 0;
}

static void call_free(struct rpc_call *call)
{
    if (call->input != NULL) {
        protobuf_c_message_free_unpacked(call->input, NULL);
    }
    free(call->reply);
    free(call);
}

void rpc_server_destroy(struct rpc_server *s)
{
    if (s == NULL) {
        return;
    }
    ASSERT(s->running == 0);
    void *item = NULL;
    for (size_t i = 0; hashmap_next(&s->calls, &i, &item);) {
        call_free(item);
    }
    for (size_t i = 0; hashmap_next(&s->clients, &i, &item);) {
        free(item);
    }
    hashmap_free(&s->calls);
    hashmap_free(&s->clients);
    rpc_outbox_free(&s->outbox);
    rpc_envelope_decoder_free(&s->decoder);
    buf_free(&s->payload);
    buf_free(&s->envelope);
    free(s);
}

int rpc_server_add_service(struct rpc_server *s, ProtobufCService *service)
{
    for (uint32_t i = 0; i < s->services_count; i++) {
        if (strcmp(s->services[i]->descriptor->name, service->descriptor->name) == 0) {
            return ERR_EXISTS;
        }
    }
    if (s->services_count == RPC_SERVER_SERVICES_MAX) {
        return ERR_FULL;
    }
    s->services[s->services_count++] = service;
    return 0;
}

/* ---- client records and eviction ---- */

/* The record of client_id, created (forgetting the least recently active one when full)
 * and marked most recently active. NULL only when memory is out. */
static struct client_record *client_record_alloc(struct rpc_server *s, uint64_t client_id)
{
    struct client_record *rec = hashmap_find(&s->clients, hash_u64(client_id), &client_id);
    if (rec != NULL) {
        list_remove(&rec->lru_node);
        list_push_back(&s->clients_lru, &rec->lru_node);
        return rec;
    }
    if (s->clients.items_count >= s->cfg.clients_max) {
        struct client_record *old =
            list_entry(list_pop_front(&s->clients_lru), struct client_record, lru_node);
        hashmap_remove(&s->clients, hash_u64(old->client_id), &old->client_id);
        free(old);
        s->counters.clients_forgotten++;
    }
    rec = calloc(1, sizeof *rec);
    if (rec == NULL || hashmap_insert(&s->clients, hash_u64(client_id), rec) != 0) {
        free(rec);
        return NULL;
    }
    rec->client_id = client_id;
    list_init(&rec->lru_node);
    list_push_back(&s->clients_lru, &rec->lru_node);
    return rec;
}

static void evict_oldest_finished(struct rpc_server *s)
{
    struct rpc_call *call =
        list_entry(list_pop_front(&s->finished), struct rpc_call, finished_node);
    struct client_record *rec = client_record_alloc(s, call->key.client_id);
    if (rec == NULL) {
        /* No memory for the watermark: keep the call rather than risk running it twice. */
        list_push_front(&s->finished, &call->finished_node);
        return;
    }
    rec->forgotten_max = MAX(rec->forgotten_max, call->key.call_id);
    hashmap_remove(&s->calls, key_hash(&call->key), &call->key);
    s->reply_bytes -= call->reply_len;
    s->counters.entries_evicted++;
    call_free(call);
}

static void enforce_reply_bounds(struct rpc_server *s)
{
    while (!list_empty(&s->finished) && (s->calls.items_count > s->cfg.entries_max ||
                                         s->reply_bytes > s->cfg.reply_bytes_max)) {
        size_t before = s->calls.items_count;
        evict_oldest_finished(s);
        if (s->calls.items_count == before) {
            return; /* out of memory for a client record: keep everything */
        }
    }
}

/* ---- replies ---- */

/* Encodes a reply into s->envelope. Returns 0 or an error (the reply is then lost, which
 * the client survives by retrying). */
static int encode_reply(struct rpc_server *s, const struct call_key *key, int status,
                        const char *detail, const struct buf *payload)
{
    Chorus__RpcReply r = CHORUS__RPC_REPLY__INIT;
    r.client_id = key->client_id;
    r.call_id = key->call_id;
    r.status = (Chorus__RpcStatus)status;
    char detail_copy[RPC_DETAIL_BYTES_MAX + 1];
    snprintf(detail_copy, sizeof detail_copy, "%s", detail == NULL ? "" : detail);
    r.detail = detail_copy;
    if (payload != NULL) {
        r.payload.data = payload->data;
        r.payload.len = payload->len;
    }
    buf_reset(&s->envelope);
    return rpc_envelope_encode_reply(&s->envelope, &r);
}

/* Answers a request that will not run (no entry is made). */
static void refuse(struct rpc_server *s, uint32_t peer, const Chorus__RpcRequest *req,
                   int status, const char *detail)
{
    struct call_key key = {req->client_id, req->call_id};
    if (encode_reply(s, &key, status, detail, NULL) == 0) {
        rpc_outbox_push(&s->outbox, peer, s->envelope.data, s->envelope.len);
    }
}

static uint8_t *reply_alloc(const struct buf *b)
{
    uint8_t *copy = malloc(b->len == 0 ? 1 : b->len);
    if (copy != NULL) {
        memcpy(copy, b->data, b->len);
    }
    return copy;
}

/* Ends a running call: caches and sends its reply. */
static void finish(struct rpc_call *call, int status, const char *detail,
                   const ProtobufCMessage *output)
{
    struct rpc_server *s = call->server;
    ASSERT(!call->done);
    const struct buf *payload = NULL;
    if (output != NULL) {
        ASSERT(output->descriptor == call->method->output);
        buf_reset(&s->payload);
        if (rpc_pack_message(&s->payload, output, RPC_PAYLOAD_BYTES_MAX) != 0) {
            status = CHORUS__RPC_STATUS__RPC_FAILED;
            detail = "the handler's reply is too large";
        } else {
            payload = &s->payload;
        }
    }
    call->done = true;
    s->running--;
    /* detail may point into the input (a handler echoing a field): encode, then free. */
    if (encode_reply(s, &call->key, status, detail, payload) == 0) {
        call->reply = reply_alloc(&s->envelope);
    }
    protobuf_c_message_free_unpacked(call->input, NULL);
    call->input = NULL;
    if (call->reply != NULL) {
        call->reply_len = s->envelope.len;
        rpc_outbox_push(&s->outbox, call->peer, call->reply, call->reply_len);
    }
    if (!call->cached) {
        call_free(call);
        return;
    }
    /* A reply that could not be kept leaves an entry without one: later attempts are
     * then told RPC_REPLY_EVICTED, never re-run. */
    s->reply_bytes += call->reply_len;
    list_push_back(&s->finished, &call->finished_node);
    enforce_reply_bounds(s);
}

/* The closure protoc-c's invoke hands every handler; closure_data is the call. */
static void handler_closure(const ProtobufCMessage *output, void *closure_data)
{
    struct rpc_call *call = closure_data;
    if (output == NULL) {
        finish(call, CHORUS__RPC_STATUS__RPC_FAILED, "the handler failed", NULL);
    } else {
        finish(call, CHORUS__RPC_STATUS__RPC_OK, "", output);
    }
}

void rpc_call_fail(struct rpc_call *call, int status, const char *detail)
{
    ASSERT(status != CHORUS__RPC_STATUS__RPC_OK);
    finish(call, status, detail, NULL);
}

uint64_t rpc_call_client_id(const struct rpc_call *call) { return call->key.client_id; }
uint64_t rpc_call_id(const struct rpc_call *call) { return call->key.call_id; }
uint32_t rpc_call_peer(const struct rpc_call *call) { return call->peer; }

/* ---- requests ---- */

static ProtobufCService *find_service(const struct rpc_server *s, const char *name)
{
    for (uint32_t i = 0; i < s->services_count; i++) {
        if (strcmp(s->services[i]->descriptor->name, name) == 0) {
            return s->services[i];
        }
    }
    return NULL;
}

/* True when the generated service object has a handler for method_index. protoc-c lays
 * the handlers out as function pointers right after the base, in method order; its own
 * protobuf_c_service_invoke_internal relies on the same layout. */
static bool has_handler(const ProtobufCService *service, unsigned method_index)
{
    typedef void (*generic_handler)(void);
    const generic_handler *handlers = (const generic_handler *)(service + 1);
    return handlers[method_index] != NULL;
}

/* Answers from the cache when the call is known. True when it was. */
static bool answer_known_call(struct rpc_server *s, uint32_t peer, const Chorus__RpcRequest *req)
{
    struct call_key key = {req->client_id, req->call_id};
    struct rpc_call *call = mutant_is(s, RPC_SERVER_MUTANT_NO_REPLY_CACHE)
                                ? NULL
                                : hashmap_find(&s->calls, key_hash(&key), &key);
    if (call != NULL) {
        call->peer = peer;
        if (!call->done) {
            s->counters.duplicates_running++;
        } else if (call->reply != NULL) {
            s->counters.duplicates_replayed++;
            rpc_outbox_push(&s->outbox, peer, call->reply, call->reply_len);
        } else {
            s->counters.refused_evicted++;
            refuse(s, peer, req, CHORUS__RPC_STATUS__RPC_REPLY_EVICTED,
                   "the call finished but its reply could not be kept: outcome unknown");
        }
        return true;
    }
    const struct client_record *rec =
        hashmap_find(&s->clients, hash_u64(req->client_id), &req->client_id);
    if (rec != NULL && req->call_id <= rec->forgotten_max &&
        !mutant_is(s, RPC_SERVER_MUTANT_RUN_EVICTED)) {
        s->counters.refused_evicted++;
        refuse(s, peer, req, CHORUS__RPC_STATUS__RPC_REPLY_EVICTED,
               "the reply cache no longer holds this call: it may have run, outcome unknown");
        return true;
    }
    return false;
}

static struct rpc_call *call_alloc(struct rpc_server *s, uint32_t peer,
                                   const Chorus__RpcRequest *req,
                                   const ProtobufCMethodDescriptor *method, ProtobufCMessage *input)
{
    struct rpc_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        return NULL;
    }
    call->key.client_id = req->client_id;
    call->key.call_id = req->call_id;
    call->server = s;
    call->peer = peer;
    call->method = method;
    call->input = input;
    call->cached = !mutant_is(s, RPC_SERVER_MUTANT_NO_REPLY_CACHE);
    list_init(&call->finished_node);
    if (call->cached && hashmap_insert(&s->calls, key_hash(&call->key), call) != 0) {
        free(call);
        return NULL;
    }
    return call;
}

/* Runs a new call: finds its handler, makes room, unpacks, invokes. */
static void execute(struct rpc_server *s, uint32_t peer, const Chorus__RpcRequest *req)
{
    ProtobufCService *service = find_service(s, req->service);
    const ProtobufCMethodDescriptor *method =
        service == NULL ? NULL
                        : protobuf_c_service_descriptor_get_method_by_name(service->descriptor,
                                                                           req->method);
    if (method == NULL) {
        s->counters.no_such_method++;
        refuse(s, peer, req, CHORUS__RPC_STATUS__RPC_NO_SUCH_METHOD, "no such service or method");
        return;
    }
    unsigned method_index = (unsigned)(method - service->descriptor->methods);
    if (!has_handler(service, method_index)) {
        s->counters.unimplemented++;
        refuse(s, peer, req, CHORUS__RPC_STATUS__RPC_UNIMPLEMENTED,
               "this server does not implement the method");
        return;
    }
    if (s->calls.items_count >= s->cfg.entries_max && !list_empty(&s->finished)) {
        evict_oldest_finished(s);
    }
    if (s->calls.items_count >= s->cfg.entries_max) {
        s->counters.refused_busy++;
        refuse(s, peer, req, CHORUS__RPC_STATUS__RPC_BUSY, "every cache entry is running");
        return;
    }
    ProtobufCMessage *input =
        protobuf_c_message_unpack(method->input, NULL, req->payload.len, req->payload.data);
    if (input == NULL) {
        s->counters.bad_payloads++;
        refuse(s, peer, req, CHORUS__RPC_STATUS__RPC_BAD_REQUEST,
               "the payload is not the method's input message");
        return;
    }
    struct rpc_call *call = call_alloc(s, peer, req, method, input);
    if (call == NULL) {
        protobuf_c_message_free_unpacked(input, NULL);
        s->counters.refused_busy++;
        refuse(s, peer, req, CHORUS__RPC_STATUS__RPC_BUSY, "out of memory");
        return;
    }
    client_record_alloc(s, req->client_id); /* marks the client active */
    s->running++;
    s->counters.calls_executed++;
    service->invoke(service, method_index, input, handler_closure, call);
}

void rpc_server_on_message(struct rpc_server *s, uint32_t peer, const void *bytes, size_t len)
{
    const Chorus__RpcEnvelope *e = NULL;
    if (rpc_envelope_decode(&s->decoder, bytes, len, &e) != 0 ||
        e->body_case != CHORUS__RPC_ENVELOPE__BODY_REQUEST) {
        s->counters.requests_bad++;
        return;
    }
    const Chorus__RpcRequest *req = e->request;
    s->counters.requests_received++;
    if (answer_known_call(s, peer, req)) {
        return;
    }
    if (req->timeout_ns == 0) {
        s->counters.refused_no_budget++;
        refuse(s, peer, req, CHORUS__RPC_STATUS__RPC_DEADLINE_EXCEEDED,
               "the request arrived with no time left; not run");
        return;
    }
    execute(s, peer, req);
}

bool rpc_server_next_message(struct rpc_server *s, uint32_t *peer, struct buf *out)
{
    bool got = rpc_outbox_pop(&s->outbox, peer, out);
    s->counters.outbox_overflow_drops = s->outbox.overflow_drops;
    return got;
}

uint32_t rpc_server_calls_running(const struct rpc_server *s) { return s->running; }

const struct rpc_server_counters *rpc_server_counters(const struct rpc_server *s)
{
    return &s->counters;
}

void rpc_server_check_invariants(const struct rpc_server *s)
{
    ASSERT(s->calls.items_count <= s->cfg.entries_max);
    ASSERT(s->clients.items_count <= s->cfg.clients_max);
    ASSERT(list_length(&s->clients_lru) == s->clients.items_count);
    size_t finished = list_length(&s->finished);
    uint64_t bytes = 0;
    for (const struct list_node *n = s->finished.next; n != &s->finished; n = n->next) {
        const struct rpc_call *call = list_entry(n, struct rpc_call, finished_node);
        ASSERT(call->done && call->input == NULL);
        bytes += call->reply_len;
    }
    ASSERT(bytes == s->reply_bytes);
    if (!mutant_is(s, RPC_SERVER_MUTANT_NO_REPLY_CACHE)) {
        ASSERT(finished + s->running == s->calls.items_count);
    }
}
