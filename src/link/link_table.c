/* A node's links, kept in a dense array (round-robin order) and found by a hash of the
 * peer id; the contract is in link_table.h. */
#include "link/link_table.h"

#include <stdlib.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "base/hashmap.h"
#include "link/link_internal.h"

struct link_table {
    struct link_config template_cfg;
    uint32_t peers_max;
    struct link **links;     /* owned, peers_count entries */
    uint32_t peers_count;
    struct hashmap by_peer;  /* peer id -> struct link * (items borrowed from links) */
    uint32_t next_out;       /* round-robin cursors */
    uint32_t next_delivery;
    uint64_t tx_counter; /* datagram counter shared by all links (AEAD nonce uniqueness) */
    struct link_table_counters counters;
};

static bool link_has_peer(const void *item, const void *key)
{
    return link_peer_id(item) == *(const uint32_t *)key;
}

int link_table_create(const struct link_config *template_cfg, uint32_t peers_max,
                      struct link_table **out)
{
    *out = NULL;
    struct link_config probe = *template_cfg;
    probe.peer_id = template_cfg->local_id + 1;
    if (peers_max == 0 || link_config_check(&probe) != 0) {
        return ERR_INVALID;
    }
    struct link_table *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return ERR_NOMEM;
    }
    t->links = calloc(peers_max, sizeof *t->links);
    if (t->links == NULL) {
        free(t);
        return ERR_NOMEM;
    }
    t->template_cfg = *template_cfg;
    t->peers_max = peers_max;
    hashmap_init(&t->by_peer, link_has_peer);
    *out = t;
    return 0;
}

void link_table_destroy(struct link_table *t)
{
    if (t == NULL) {
        return;
    }
    for (uint32_t i = 0; i < t->peers_count; i++) {
        link_destroy(t->links[i]);
    }
    hashmap_free(&t->by_peer);
    free(t->links);
    free(t);
}

struct link *link_table_get(const struct link_table *t, uint32_t peer_id)
{
    return hashmap_find(&t->by_peer, hash_u64(peer_id), &peer_id);
}

int link_table_add_peer(struct link_table *t, uint32_t peer_id)
{
    if (peer_id == t->template_cfg.local_id) {
        return ERR_INVALID;
    }
    if (link_table_get(t, peer_id) != NULL) {
        return ERR_EXISTS;
    }
    if (t->peers_count == t->peers_max) {
        return ERR_FULL;
    }
    struct link_config cfg = t->template_cfg;
    cfg.peer_id = peer_id;
    struct link *l = NULL;
    int rc = link_create(&cfg, &l);
    if (rc != 0) {
        return rc;
    }
    link_share_counter(l, &t->tx_counter);
    rc = hashmap_insert(&t->by_peer, hash_u64(peer_id), l);
    if (rc != 0) {
        link_destroy(l);
        return rc;
    }
    t->links[t->peers_count++] = l;
    return 0;
}

int link_table_remove_peer(struct link_table *t, uint32_t peer_id)
{
    struct link *l = hashmap_remove(&t->by_peer, hash_u64(peer_id), &peer_id);
    if (l == NULL) {
        return ERR_NOT_FOUND;
    }
    for (uint32_t i = 0; i < t->peers_count; i++) {
        if (t->links[i] == l) {
            t->links[i] = t->links[--t->peers_count];
            break;
        }
    }
    link_destroy(l);
    return 0;
}

uint32_t link_table_peers_count(const struct link_table *t) { return t->peers_count; }

struct link *link_table_at(const struct link_table *t, uint32_t i)
{
    ASSERT(i < t->peers_count);
    return t->links[i];
}

int link_table_send(struct link_table *t, uint64_t now_ns, uint32_t peer_id, const void *msg,
                    size_t len)
{
    struct link *l = link_table_get(t, peer_id);
    return l == NULL ? ERR_NOT_FOUND : link_send(l, now_ns, msg, len);
}

static enum link_drop route(struct link_table *t, const void *bytes, size_t len,
                            struct link **link_out, uint32_t *from_out)
{
    struct frame_header h;
    const uint8_t *payload;
    long n = frame_decode(bytes, len, t->template_cfg.cluster_id, &h, &payload);
    if (n == ERR_CHECKSUM) {
        return LINK_DROP_CHECKSUM;
    }
    if (n == ERR_TRUNCATED) {
        return LINK_DROP_TRUNCATED;
    }
    if (n == ERR_AUTH) {
        return LINK_DROP_WRONG_CLUSTER;
    }
    if (n < 0) {
        return LINK_DROP_MALFORMED;
    }
    *from_out = h.from;
    if (h.to != t->template_cfg.local_id) {
        return LINK_DROP_MISADDRESSED;
    }
    *link_out = link_table_get(t, h.from);
    if (*link_out == NULL) {
        t->counters.dropped_unknown_peer++;
        return LINK_DROP_MISADDRESSED;
    }
    return LINK_DROP_NONE;
}

enum link_drop link_table_on_datagram(struct link_table *t, uint64_t now_ns, const void *bytes,
                                      size_t len, uint32_t *from_out)
{
    t->counters.datagrams_received++;
    *from_out = 0;
    struct link *l = NULL;
    enum link_drop why = route(t, bytes, len, &l, from_out);
    if (why != LINK_DROP_NONE) {
        t->counters.dropped[why]++;
        return why;
    }
    return link_on_datagram(l, now_ns, bytes, len);
}

void link_table_tick(struct link_table *t, uint64_t now_ns)
{
    for (uint32_t i = 0; i < t->peers_count; i++) {
        link_tick(t->links[i], now_ns);
    }
}

uint64_t link_table_next_timeout_ns(const struct link_table *t)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < t->peers_count; i++) {
        next = MIN(next, link_next_timeout_ns(t->links[i]));
    }
    return next;
}

int link_table_next_datagram(struct link_table *t, uint64_t now_ns, struct buf *out,
                             uint32_t *to_out)
{
    for (uint32_t k = 0; k < t->peers_count; k++) {
        struct link *l = t->links[(t->next_out + k) % t->peers_count];
        int rc = link_next_datagram(l, now_ns, out);
        if (rc != 0) {
            t->next_out = (t->next_out + k + 1) % t->peers_count;
            *to_out = link_peer_id(l);
            return rc;
        }
    }
    return 0;
}

bool link_table_next_delivery(struct link_table *t, struct link_delivery *out, uint32_t *from_out)
{
    for (uint32_t k = 0; k < t->peers_count; k++) {
        struct link *l = t->links[(t->next_delivery + k) % t->peers_count];
        if (link_next_delivery(l, out)) {
            t->next_delivery = (t->next_delivery + k + 1) % t->peers_count;
            *from_out = link_peer_id(l);
            return true;
        }
    }
    return false;
}

const struct link_table_counters *link_table_counters(const struct link_table *t)
{
    return &t->counters;
}
