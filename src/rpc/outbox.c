/* outbox: a ring of owned envelopes; see outbox.h. */
#include "rpc/outbox.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h"

int rpc_outbox_init(struct rpc_outbox *o, uint32_t messages_max)
{
    memset(o, 0, sizeof *o);
    o->ring = calloc(messages_max, sizeof *o->ring);
    o->messages_max = messages_max;
    return o->ring == NULL ? ERR_NOMEM : 0;
}

static void outgoing_free(struct rpc_outgoing *m)
{
    free(m->bytes);
    m->bytes = NULL;
}

void rpc_outbox_free(struct rpc_outbox *o)
{
    for (uint32_t i = 0; i < o->count; i++) {
        outgoing_free(&o->ring[(o->head + i) % o->messages_max]);
    }
    free(o->ring);
    memset(o, 0, sizeof *o);
}

static uint8_t *bytes_alloc(const uint8_t *bytes, size_t len)
{
    uint8_t *copy = malloc(len == 0 ? 1 : len);
    if (copy != NULL && len > 0) {
        memcpy(copy, bytes, len);
    }
    return copy;
}

int rpc_outbox_push(struct rpc_outbox *o, uint32_t peer, const uint8_t *bytes, size_t len)
{
    uint8_t *copy = bytes_alloc(bytes, len);
    if (copy == NULL) {
        return ERR_NOMEM;
    }
    if (o->count == o->messages_max) {
        outgoing_free(&o->ring[o->head]);
        o->head = (o->head + 1) % o->messages_max;
        o->count--;
        o->overflow_drops++;
    }
    struct rpc_outgoing *m = &o->ring[(o->head + o->count) % o->messages_max];
    m->peer = peer;
    m->bytes = copy;
    m->len = len;
    o->count++;
    return 0;
}

bool rpc_outbox_pop(struct rpc_outbox *o, uint32_t *peer, struct buf *out)
{
    while (o->count > 0) {
        struct rpc_outgoing *m = &o->ring[o->head];
        o->head = (o->head + 1) % o->messages_max;
        o->count--;
        bool copied = buf_put(out, m->bytes, m->len) == 0;
        *peer = m->peer;
        outgoing_free(m);
        if (copied) {
            return true;
        }
        o->overflow_drops++;
    }
    return false;
}
