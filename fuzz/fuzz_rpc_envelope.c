/* libFuzzer target for the RPC envelope decoder and what consumes it.
 *
 * Each input is decoded as an envelope; a valid one must survive re-encoding and
 * decoding again unchanged in every field the runtime reads. The same bytes are then
 * handed to a server (with an Admin service whose Status answers and whose other
 * handlers are missing) and to a client with one call in flight, which must count what
 * they reject and never crash, leak or run a call twice. */
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "rpc/client.h"
#include "rpc/envelope.h"
#include "rpc/server.h"

static void fuzz_status(Chorus__Admin_Service *svc, const Chorus__StatusRequest *in,
                        Chorus__StatusReply_Closure done, void *call)
{
    (void)svc;
    (void)in;
    Chorus__StatusReply r = CHORUS__STATUS_REPLY__INIT;
    r.node_id = 1;
    done(&r, call);
}

static void ignore_result(void *ctx, const struct rpc_result *r)
{
    (void)ctx;
    ASSERT(r->detail != NULL);
}

static void check_round_trip(const Chorus__RpcEnvelope *e)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = e->body_case == CHORUS__RPC_ENVELOPE__BODY_REQUEST
                 ? rpc_envelope_encode_request(&b, e->request)
                 : rpc_envelope_encode_reply(&b, e->reply);
    ASSERT(rc == 0);
    struct rpc_envelope_decoder d;
    rpc_envelope_decoder_init(&d);
    const Chorus__RpcEnvelope *again = NULL;
    ASSERT(rpc_envelope_decode(&d, b.data, b.len, &again) == 0);
    ASSERT(again->body_case == e->body_case);
    if (e->body_case == CHORUS__RPC_ENVELOPE__BODY_REQUEST) {
        ASSERT(again->request->call_id == e->request->call_id);
        ASSERT(strcmp(again->request->method, e->request->method) == 0);
        ASSERT(again->request->payload.len == e->request->payload.len);
    } else {
        ASSERT(again->reply->status == e->reply->status);
        ASSERT(strcmp(again->reply->detail, e->reply->detail) == 0);
        ASSERT(again->reply->payload.len == e->reply->payload.len);
    }
    rpc_envelope_decoder_free(&d);
    buf_free(&b);
}

static void feed_server_and_client(const uint8_t *data, size_t size)
{
    Chorus__Admin_Service admin;
    chorus__admin__init(&admin, NULL);
    admin.status = fuzz_status;
    struct rpc_server_config sc;
    rpc_server_config_defaults(&sc);
    sc.entries_max = 4;
    struct rpc_server *s = NULL;
    ASSERT(rpc_server_create(&sc, &s) == 0);
    ASSERT(rpc_server_add_service(s, &admin.base) == 0);
    rpc_server_on_message(s, 2, data, size);
    rpc_server_on_message(s, 2, data, size); /* a duplicate never runs twice */
    ASSERT(rpc_server_counters(s)->calls_executed <= 1);
    rpc_server_check_invariants(s);

    struct rpc_client_config cc;
    rpc_client_config_defaults(&cc);
    cc.client_id = 1;
    struct rpc_client *c = NULL;
    ASSERT(rpc_client_create(&cc, &c) == 0);
    Chorus__StatusRequest req = CHORUS__STATUS_REQUEST__INIT;
    ASSERT(rpc_client_call(c, 0, 1, &chorus__admin__descriptor, 0, &req.base, 1000, NULL,
                           ignore_result, NULL) == 1);
    rpc_client_on_message(c, 1, 1, data, size);
    struct buf b;
    buf_init(&b, 0);
    uint32_t peer = 0;
    while (rpc_server_next_message(s, &peer, &b)) {
        rpc_client_on_message(c, 2, 1, b.data, b.len);
        buf_reset(&b);
    }
    rpc_client_tick(c, 5000);
    rpc_client_check_invariants(c);
    ASSERT(rpc_client_calls_in_flight(c) == 0);
    buf_free(&b);
    rpc_client_destroy(c);
    rpc_server_destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rpc_envelope_decoder d;
    rpc_envelope_decoder_init(&d);
    const Chorus__RpcEnvelope *e = NULL;
    if (rpc_envelope_decode(&d, data, size, &e) == 0) {
        check_round_trip(e);
    }
    rpc_envelope_decoder_free(&d);
    feed_server_and_client(data, size);
    return 0;
}
