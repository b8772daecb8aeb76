/* link_table: one node's links to all its peers, demultiplexed by node id.
 *
 * The driver owns one table per node. Peers are added explicitly (from the cluster
 * membership), never created by an arriving datagram, so a flood of forged sender ids
 * cannot make the node allocate. An incoming datagram is routed by its frame header's
 * `from` field (after the frame checks of wire/frame.h) to that peer's link, which does
 * all the remaining checks; datagrams for unknown peers or for another node are dropped
 * and counted here. Outputs are pulled round-robin over the peers so that one busy peer
 * cannot starve the others. All links draw their datagram counters (the AEAD nonce part)
from one table-wide counter, so a peer removed and added again within one incarnation
never repeats a nonce. Every link is created from one template config (cluster,
 * local id, incarnation, key, limits) with peer_id filled in. Pure; depends on base,
 * wire and link. */
#ifndef CHORUS_LINK_LINK_TABLE_H
#define CHORUS_LINK_LINK_TABLE_H

#include "link/link.h"

struct link_table_counters {
    uint64_t datagrams_received;
    uint64_t dropped[LINK_DROP_COUNT_]; /* dropped before reaching a link */
    uint64_t dropped_unknown_peer;      /* valid frame from a node not in the table */
};

struct link_table;

/* Creates an empty table for at most peers_max peers (template is copied; its peer_id
 * is ignored). Returns 0, ERR_INVALID or ERR_NOMEM. */
int link_table_create(const struct link_config *template_cfg, uint32_t peers_max,
                      struct link_table **out);
/* Destroys every link (and undelivered messages) and the table. NULL is allowed. */
void link_table_destroy(struct link_table *t);

/* Adds a link to peer_id: 0, ERR_EXISTS, ERR_FULL (peers_max), ERR_INVALID (our own id)
 * or ERR_NOMEM. */
int link_table_add_peer(struct link_table *t, uint32_t peer_id);
/* Removes and destroys the link to peer_id: 0 or ERR_NOT_FOUND. */
int link_table_remove_peer(struct link_table *t, uint32_t peer_id);
/* The link to peer_id (borrowed, valid until removed), or NULL. */
struct link *link_table_get(const struct link_table *t, uint32_t peer_id);
uint32_t link_table_peers_count(const struct link_table *t);
/* The i-th link in table order, i < link_table_peers_count (for metrics). */
struct link *link_table_at(const struct link_table *t, uint32_t i);

/* link_send to peer_id; ERR_NOT_FOUND when the peer is unknown. */
int link_table_send(struct link_table *t, uint64_t now_ns, uint32_t peer_id, const void *msg,
                    size_t len);
/* Routes one datagram (borrowed) to its link. Returns the drop reason, LINK_DROP_NONE
 * when the link accepted it; *from_out is the claimed sender (0 when unparseable). */
enum link_drop link_table_on_datagram(struct link_table *t, uint64_t now_ns, const void *bytes,
                                      size_t len, uint32_t *from_out);
void link_table_tick(struct link_table *t, uint64_t now_ns);
uint64_t link_table_next_timeout_ns(const struct link_table *t);
/* Appends the next datagram of any peer to out: 1 and *to_out set, 0 when none, or
 * ERR_NOMEM. */
int link_table_next_datagram(struct link_table *t, uint64_t now_ns, struct buf *out,
                             uint32_t *to_out);
/* The next delivered message from any peer (ownership as in link_next_delivery). */
bool link_table_next_delivery(struct link_table *t, struct link_delivery *out, uint32_t *from_out);
const struct link_table_counters *link_table_counters(const struct link_table *t);

#endif
