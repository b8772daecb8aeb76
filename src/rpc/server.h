/* server: the serving side of RPC, a pure state machine per node.
 *
 * Dispatch comes from the IDL. A driver registers protoc-c generated service objects
 * (e.g. a Chorus__Admin_Service filled with its handler functions); the server finds a
 * request's service by its full name and the method by name in the service's
 * ProtobufCServiceDescriptor, unpacks the payload with the method's input descriptor,
 * and invokes the handler through the service's own invoke (protoc-c's generated
 * dispatch). A method whose handler slot is NULL answers RPC_UNIMPLEMENTED; an unknown
 * service or method RPC_NO_SUCH_METHOD; a payload that does not decode RPC_BAD_REQUEST.
 * Adding a call is therefore one `rpc` line in proto/chorus.proto plus one handler.
 *
 * Handlers complete through the closure protoc-c hands them, with closure_data being the
 * call (struct rpc_call): closure(&output, call) for success, or rpc_call_fail(call,
 * status, detail) for a failure (then closure(NULL, call) is not needed). A handler may
 * complete before it returns or at any later time from the driver's thread, which is how
 * a driver runs blocking work on its own worker pool and completes on the loop thread.
 * The input message stays valid until the call completes. Every call must be completed
 * exactly once before rpc_server_destroy.
 *
 * At most once. Every call (client id, call id) that reaches a handler gets an entry in
 * a bounded reply cache. A duplicate of a call still running is dropped (its reply goes
 * to the peer of the latest attempt); a duplicate of a finished call gets the cached
 * reply again; neither runs the handler. Finished entries are evicted oldest first when
 * the cache passes entries_max or reply_bytes_max; an evicted call id raises its client's
 * "forgotten" watermark, and a request at or below the watermark that is not cached is
 * answered RPC_REPLY_EVICTED, never executed (it may be the retry of a call that ran, or,
 * reordered, a first attempt that never did: the server cannot tell, so it refuses). The
 * watermarks are kept for clients_max clients, least recently active forgotten first
 * (counted). The limits of the guarantee, in docs/rpc.md: it holds while the server
 * remembers the client (cache and watermark are in memory, lost on restart), and call ids
 * must rise within a client id. When every entry is still running a new call gets
 * RPC_BUSY, unexecuted.
 *
 * Pure; depends on base and wire. The server reads no clock: budgets are checked only for
 * exhaustion (a request that arrives with none left is refused, unexecuted). */
#ifndef CHORUS_RPC_SERVER_H
#define CHORUS_RPC_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/chorus.pb-c.h"

#define RPC_SERVER_SERVICES_MAX 8
#define RPC_SERVER_DEFAULT_ENTRIES_MAX 4096
#define RPC_SERVER_DEFAULT_REPLY_BYTES_MAX (16ull * 1024 * 1024)
#define RPC_SERVER_DEFAULT_CLIENTS_MAX 16384
#define RPC_SERVER_DEFAULT_OUTBOX_MESSAGES_MAX 4096

/* Known-wrong variants, honoured only in CHORUS_MUTANTS builds, so the tests can prove
 * they catch each one (STYLE.md rule 20). */
enum rpc_server_mutant {
    RPC_SERVER_MUTANT_NONE = 0,
    RPC_SERVER_MUTANT_NO_REPLY_CACHE,  /* never consults the cache: every attempt runs */
    RPC_SERVER_MUTANT_RUN_EVICTED,     /* ignores the watermark: an evicted call runs again */
    RPC_SERVER_MUTANT_COUNT_
};

struct rpc_server_config {
    uint32_t entries_max;      /* calls remembered, running or finished */
    uint64_t reply_bytes_max;  /* bytes of cached reply envelopes */
    uint32_t clients_max;      /* clients whose watermark is kept */
    uint32_t outbox_messages_max;
    uint32_t mutant;           /* enum rpc_server_mutant */
};

struct rpc_server_counters {
    uint64_t requests_received;
    uint64_t requests_bad;          /* undecodable envelopes, or replies */
    uint64_t calls_executed;        /* handlers invoked */
    uint64_t duplicates_running;    /* attempts of a call still running: dropped */
    uint64_t duplicates_replayed;   /* attempts of a finished call: cached reply sent */
    uint64_t refused_evicted;       /* answered RPC_REPLY_EVICTED */
    uint64_t refused_busy;
    uint64_t refused_no_budget;
    uint64_t no_such_method;
    uint64_t unimplemented;
    uint64_t bad_payloads;
    uint64_t entries_evicted;
    uint64_t clients_forgotten;
    uint64_t outbox_overflow_drops;
};

struct rpc_server;
/* One call being served: the closure_data a handler receives. */
struct rpc_call;

void rpc_server_config_defaults(struct rpc_server_config *cfg);
/* 0, ERR_INVALID (a zero limit) or ERR_NOMEM. cfg is copied. */
int rpc_server_create(const struct rpc_server_config *cfg, struct rpc_server **out);
/* Frees the server. Every call must have completed. NULL is allowed. */
void rpc_server_destroy(struct rpc_server *s);

/* Registers a generated service object (borrowed: it must outlive the server). 0,
 * ERR_EXISTS (a service of that name), ERR_FULL (RPC_SERVER_SERVICES_MAX). */
int rpc_server_add_service(struct rpc_server *s, ProtobufCService *service);

/* Hands in one envelope from peer (borrowed for the call). May run a handler. */
void rpc_server_on_message(struct rpc_server *s, uint32_t peer, const void *bytes, size_t len);
/* Appends the next envelope to send to out and sets *peer; false when there is none. */
bool rpc_server_next_message(struct rpc_server *s, uint32_t *peer, struct buf *out);

/* Completes call with a failure status (not RPC_OK) and a detail text (copied). */
void rpc_call_fail(struct rpc_call *call, int status, const char *detail);
uint64_t rpc_call_client_id(const struct rpc_call *call);
uint64_t rpc_call_id(const struct rpc_call *call);
uint32_t rpc_call_peer(const struct rpc_call *call);

uint32_t rpc_server_calls_running(const struct rpc_server *s);
const struct rpc_server_counters *rpc_server_counters(const struct rpc_server *s);
void rpc_server_check_invariants(const struct rpc_server *s);

#endif
