/* Shared set-up for the link fuzz targets: a link under test ("self", node 2) and a real
 * peer link (node 1) that has completed the handshake with it, so fuzzed datagrams
 * reach the channel logic and not only the incarnation check. Small limits keep each
 * input cheap. */
#ifndef CHORUS_FUZZ_LINK_COMMON_H
#define CHORUS_FUZZ_LINK_COMMON_H

#include <stdlib.h>

#include "base/assertions.h"
#include "link/link.h"

#define FUZZ_SELF_ID 2
#define FUZZ_PEER_ID 1
#define FUZZ_SELF_INC 2000
#define FUZZ_PEER_INC 1000
#define FUZZ_CLUSTER 7
#define FUZZ_MS 1000000ull

static const uint8_t fuzz_key[LINK_KEY_SIZE] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

static inline struct link *fuzz_link(uint32_t self, uint32_t peer, uint64_t inc, bool sealed)
{
    struct link_config c;
    link_config_defaults(&c);
    c.cluster_id = FUZZ_CLUSTER;
    c.local_id = self;
    c.peer_id = peer;
    c.local_incarnation = inc;
    c.sealed = sealed;
    memcpy(c.key, fuzz_key, sizeof c.key);
    c.message_size_max = 16384;
    c.window_fragments_max = 32;
    c.reassembly_bytes_max = 8192;
    c.delivery_messages_max = 8;
    c.delivery_bytes_max = 32768;
    c.send_queue_messages_max = 16;
    struct link *l = NULL;
    ASSERT(link_create(&c, &l) == 0);
    return l;
}

/* Moves from's datagrams into to; deliveries on both sides are pulled and checked. */
static inline void fuzz_pump(struct link *from, struct link *to, uint64_t now_ns, struct buf *b)
{
    for (int i = 0; i < 64; i++) {
        buf_reset(b);
        if (link_next_datagram(from, now_ns, b) != 1) {
            break;
        }
        if (to != NULL) {
            link_on_datagram(to, now_ns, b->data, b->len);
        }
    }
    struct link *both[2] = {from, to};
    for (int i = 0; i < 2; i++) {
        struct link_delivery d;
        while (both[i] != NULL && link_next_delivery(both[i], &d)) {
            ASSERT(d.len <= 16384);
            link_delivery_free(&d);
        }
        if (both[i] != NULL) {
            link_check_invariants(both[i]);
        }
    }
}

static inline void fuzz_handshake(struct link *self, struct link *peer, uint64_t *now_ns,
                                  struct buf *b)
{
    ASSERT(link_send(peer, *now_ns, "hi", 2) == 0);
    for (int i = 0; i < 4; i++) {
        fuzz_pump(peer, self, *now_ns, b);
        fuzz_pump(self, peer, *now_ns, b);
        *now_ns += FUZZ_MS;
    }
    ASSERT(link_peer_incarnation(self) == FUZZ_PEER_INC);
}

#endif
