/* outbox: the bounded queue of envelopes a client or server wants sent.
 *
 * The RPC state machines never send: they append encoded envelopes here, addressed to a
 * peer id, and the driver pulls them (rpc_client_next_message, rpc_server_next_message)
 * and moves them over whatever transport it has (a link, a framed datagram). When the
 * queue is full the OLDEST envelope is dropped and counted: every envelope is either
 * retried by the client or re-answered from the server's reply cache, so losing one here
 * costs time, never correctness. Pure; depends on base. */
#ifndef CHORUS_RPC_OUTBOX_H
#define CHORUS_RPC_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct rpc_outgoing {
    uint32_t peer;
    uint8_t *bytes; /* owned */
    size_t len;
};

struct rpc_outbox {
    struct rpc_outgoing *ring; /* owned, messages_max slots */
    uint32_t messages_max;
    uint32_t head;  /* oldest */
    uint32_t count;
    uint64_t overflow_drops; /* oldest envelopes dropped for room */
};

/* 0 or ERR_NOMEM. */
int rpc_outbox_init(struct rpc_outbox *o, uint32_t messages_max);
void rpc_outbox_free(struct rpc_outbox *o);
/* Queues a copy of bytes for peer. 0 or ERR_NOMEM (nothing queued). */
int rpc_outbox_push(struct rpc_outbox *o, uint32_t peer, const uint8_t *bytes, size_t len);
/* Appends the oldest envelope to out and sets *peer; false when none is left. An envelope
 * that out cannot take (no memory) is dropped and counted as an overflow. */
bool rpc_outbox_pop(struct rpc_outbox *o, uint32_t *peer, struct buf *out);

#endif
