/* client: the calling side of RPC, a pure state machine per client identity.
 *
 * A call names a service and a method by protoc-c's descriptors (ProtobufCServiceDescriptor
 * and a method index into it), takes the method's input message, and ends in exactly one
 * completion callback with a status and, on RPC_OK, the method's output message. Nothing
 * here is written per method: the input is packed and the output unpacked through the
 * method's message descriptors, so a new method in proto/chorus.proto is callable at once.
 * rpc_stub_init goes one step further and makes protoc-c's own generated client stubs
 * (e.g. chorus__admin__status(&stub.base, &req, closure, data)) call through this client.
 *
 * Ids and retries. The client has an id (client_id, chosen by the driver so that no two
 * live clients share one, e.g. node id and incarnation) and numbers its calls 1, 2, ...
 * (call_id). Every attempt of a call carries the same (client_id, call_id), which is what
 * lets the server execute it at most once (server.h). After each attempt the client waits
 * an attempt timeout plus a full-jitter exponential backoff (backoff.h) and sends again,
 * up to attempts_max attempts; a reply of RPC_BUSY (the server did not run the call) brings the next attempt
 * forward. Each attempt carries the budget left, not an absolute time: clocks differ.
 *
 * Completion, exactly once per call, from rpc_client_on_message or rpc_client_tick:
 *   RPC_OK                 the call ran once; reply is the method's output
 *   RPC_DEADLINE_EXCEEDED  no reply by the deadline: the call may or may not have run
 *   RPC_REPLY_EVICTED      the server may have run it but forgot the reply: outcome unknown
 *   any other status       the server's answer (e.g. RPC_UNIMPLEMENTED), detail says why
 * Replies that arrive after completion are counted and dropped.
 *
 * Time comes in as now_ns on every input; randomness from a PRNG seeded by the driver.
 * Memory: at most calls_max calls in flight; the outbox is bounded (outbox.h). Pure;
 * depends on base and wire. */
#ifndef CHORUS_RPC_CLIENT_H
#define CHORUS_RPC_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/chorus.pb-c.h"

#define RPC_CLIENT_DEFAULT_CALLS_MAX 1024
#define RPC_CLIENT_DEFAULT_OUTBOX_MESSAGES_MAX 4096

/* How one call retries: attempt n+1 leaves attempt_timeout_ns plus a full-jitter delay
 * in [0, min(cap, base * 2^n)] after attempt n. The fixed part is the time a reply needs
 * at the least (set it near the round-trip time), so no retry chases an attempt that
 * could not have been answered yet; the jittered part spreads the retries of clients
 * that failed together. */
struct rpc_retry_policy {
    uint32_t attempts_max;      /* transmissions in all, >= 1 */
    uint64_t attempt_timeout_ns; /* the least wait between attempts */
    uint64_t backoff_base_ns;   /* first jitter window is [0, 2 * base] */
    uint64_t backoff_cap_ns;    /* windows never grow past this */
};

#define RPC_RETRY_DEFAULT_ATTEMPTS_MAX 8
#define RPC_RETRY_DEFAULT_ATTEMPT_TIMEOUT_NS (10ull * 1000 * 1000)
#define RPC_RETRY_DEFAULT_BACKOFF_BASE_NS (20ull * 1000 * 1000)
#define RPC_RETRY_DEFAULT_BACKOFF_CAP_NS (1000ull * 1000 * 1000)

struct rpc_client_config {
    uint64_t client_id;     /* non-zero, unique among live clients of a server */
    uint64_t prng_seed;     /* for the jitter */
    uint32_t calls_max;     /* calls in flight */
    uint32_t outbox_messages_max;
    struct rpc_retry_policy retry; /* the default for calls that pass none */
};

/* What a completed call hands its callback. reply (on RPC_OK) and detail are borrowed:
 * valid only during the callback. */
struct rpc_result {
    uint64_t call_id;
    int status;                     /* a Chorus__RpcStatus value */
    const char *detail;             /* never NULL; "" on RPC_OK */
    const ProtobufCMessage *reply;  /* the method's output on RPC_OK, else NULL */
};

typedef void (*rpc_done_fn)(void *ctx, const struct rpc_result *result);

struct rpc_client_counters {
    uint64_t calls_started;
    uint64_t calls_completed;
    uint64_t attempts_sent;         /* every transmission, first ones included */
    uint64_t retries_sent;          /* transmissions after the first */
    uint64_t deadline_exceeded;
    uint64_t replies_late;          /* for a call already completed (or unknown) */
    uint64_t replies_bad;           /* undecodable, or for another client */
    uint64_t outbox_overflow_drops;
};

struct rpc_client;

void rpc_client_config_defaults(struct rpc_client_config *cfg);
/* 0, ERR_INVALID (zero id or limits, attempts_max 0, base > cap) or ERR_NOMEM. cfg copied. */
int rpc_client_create(const struct rpc_client_config *cfg, struct rpc_client **out);
/* Frees every call without calling its callback. NULL is allowed. */
void rpc_client_destroy(struct rpc_client *c);

/* Starts a call of service's method method_index to peer, with input (packed now; the
 * caller keeps it) and a deadline timeout_ns from now. policy may be NULL (the config's
 * default). done(ctx, result) runs exactly once, never from inside this function. Returns
 * the call id (> 0), or ERR_INVALID (bad method index, input of the wrong type, zero
 * timeout), ERR_TOO_LARGE, ERR_FULL (calls_max in flight) or ERR_NOMEM, and then done is
 * never called. */
int64_t rpc_client_call(struct rpc_client *c, uint64_t now_ns, uint32_t peer,
                        const ProtobufCServiceDescriptor *service, unsigned method_index,
                        const ProtobufCMessage *input, uint64_t timeout_ns,
                        const struct rpc_retry_policy *policy, rpc_done_fn done, void *ctx);

/* Hands in one envelope that arrived from peer (borrowed for the call); completes the
 * call it answers, if any. Hostile bytes are counted, never fatal. */
void rpc_client_on_message(struct rpc_client *c, uint64_t now_ns, uint32_t peer,
                           const void *bytes, size_t len);
/* Sends due retries and fails calls whose deadline has come. */
void rpc_client_tick(struct rpc_client *c, uint64_t now_ns);
/* When rpc_client_tick next has work, or UINT64_MAX. */
uint64_t rpc_client_next_timeout_ns(const struct rpc_client *c);
/* Appends the next envelope to send to out and sets *peer; false when there is none. */
bool rpc_client_next_message(struct rpc_client *c, uint32_t *peer, struct buf *out);

uint32_t rpc_client_calls_in_flight(const struct rpc_client *c);
const struct rpc_client_counters *rpc_client_counters(const struct rpc_client *c);
void rpc_client_check_invariants(const struct rpc_client *c);

/* A ProtobufCService whose invoke sends through a client, so protoc-c's generated stubs
 * work unchanged: chorus__admin__status(&stub.base, &req, closure, data). The closure gets
 * the output, or NULL when the call did not end in RPC_OK; during the closure
 * stub.last_result says how it ended. Calls use the stub's peer, timeout and policy and
 * the time of the client's latest input (stubs have no now_ns of their own). */
struct rpc_stub {
    ProtobufCService base;
    struct rpc_client *client;     /* borrowed */
    uint32_t peer;
    uint64_t timeout_ns;
    struct rpc_result last_result; /* valid during a closure */
    int last_error;                /* rpc_client_call's error when a call could not start */
};

void rpc_stub_init(struct rpc_stub *stub, struct rpc_client *client,
                   const ProtobufCServiceDescriptor *service, uint32_t peer, uint64_t timeout_ns);

#endif
