/* link_table: routing by sender id across a full mesh, round-robin outputs, and drops of
 * datagrams for unknown peers, for other nodes, and of garbage. */
#include <stdlib.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "harness.h"
#include "link/link_table.h"

#define NODES 3
#define MS 1000000ull

static struct link_table *make_table(uint32_t self, uint32_t peers_max)
{
    struct link_config c;
    link_config_defaults(&c);
    c.cluster_id = 3;
    c.local_id = self;
    c.local_incarnation = 100 + self;
    struct link_table *t = NULL;
    if (link_table_create(&c, peers_max, &t) != 0) {
        abort();
    }
    return t;
}

/* Moves every datagram between the tables until all are idle. */
static void run_mesh(struct link_table **tables, int count, uint64_t *now)
{
    struct buf b;
    buf_init(&b, 0);
    for (int round = 0; round < 10000; round++) {
        size_t moved = 0;
        for (int i = 0; i < count; i++) {
            uint32_t to;
            buf_reset(&b);
            while (link_table_next_datagram(tables[i], *now, &b, &to) == 1) {
                uint32_t from;
                if (to >= 1 && to <= (uint32_t)count) {
                    link_table_on_datagram(tables[to - 1], *now, b.data, b.len, &from);
                }
                buf_reset(&b);
                moved++;
            }
        }
        *now += MS;
        if (moved == 0) {
            uint64_t t = UINT64_MAX;
            for (int i = 0; i < count; i++) {
                t = MIN(t, link_table_next_timeout_ns(tables[i]));
            }
            if (t == UINT64_MAX) {
                break;
            }
            *now = MAX(*now, t);
            for (int i = 0; i < count; i++) {
                link_table_tick(tables[i], *now);
            }
        }
    }
    buf_free(&b);
}

TEST(full_mesh_routes_every_message_to_the_right_peer_in_order)
{
    struct link_table *tables[NODES];
    for (uint32_t i = 0; i < NODES; i++) {
        tables[i] = make_table(i + 1, 8);
        for (uint32_t p = 1; p <= NODES; p++) {
            if (p != i + 1) {
                CHECK_EQ(link_table_add_peer(tables[i], p), 0);
            }
        }
    }
    uint64_t now = 1;
    char msg[32];
    for (int k = 0; k < 20; k++) {
        for (uint32_t i = 0; i < NODES; i++) {
            for (uint32_t p = 1; p <= NODES; p++) {
                if (p != i + 1) {
                    snprintf(msg, sizeof msg, "%u>%u#%d", i + 1, p, k);
                    CHECK_EQ(link_table_send(tables[i], now, p, msg, strlen(msg)), 0);
                }
            }
        }
    }
    run_mesh(tables, NODES, &now);
    for (uint32_t i = 0; i < NODES; i++) {
        int next[NODES + 1] = {0};
        struct link_delivery d;
        uint32_t from;
        int total = 0;
        while (link_table_next_delivery(tables[i], &d, &from)) {
            snprintf(msg, sizeof msg, "%u>%u#%d", from, i + 1, next[from]++);
            CHECK(d.len == strlen(msg) && memcmp(d.data, msg, d.len) == 0);
            link_delivery_free(&d);
            total++;
        }
        CHECK_EQ(total, 20 * (NODES - 1));
    }
    for (uint32_t i = 0; i < NODES; i++) {
        link_table_destroy(tables[i]);
    }
}

TEST(datagrams_from_unknown_peers_or_for_other_nodes_are_dropped_and_counted)
{
    struct link_table *a = make_table(1, 4), *b = make_table(2, 4), *c = make_table(3, 4);
    CHECK_EQ(link_table_add_peer(b, 1), 0); /* b talks to a; a does not know b */
    CHECK_EQ(link_table_add_peer(c, 1), 0);
    CHECK_EQ(link_table_send(b, 1, 1, "x", 1), 0);
    struct buf buf;
    buf_init(&buf, 0);
    uint32_t to, from;
    CHECK_EQ(link_table_next_datagram(b, 1, &buf, &to), 1);
    CHECK_EQ(to, 1);
    CHECK_EQ(link_table_on_datagram(a, 1, buf.data, buf.len, &from), LINK_DROP_MISADDRESSED);
    CHECK_EQ(from, 2);
    CHECK_EQ(link_table_counters(a)->dropped_unknown_peer, 1);
    CHECK_EQ(link_table_on_datagram(c, 1, buf.data, buf.len, &from), LINK_DROP_MISADDRESSED);
    CHECK_EQ(link_table_counters(c)->dropped[LINK_DROP_MISADDRESSED], 1);
    CHECK_EQ(link_table_counters(c)->dropped_unknown_peer, 0);
    buf.data[buf.len - 1] ^= 1;
    CHECK_EQ(link_table_on_datagram(a, 1, buf.data, buf.len, &from), LINK_DROP_CHECKSUM);
    CHECK_EQ(link_table_on_datagram(a, 1, buf.data, 3, &from), LINK_DROP_TRUNCATED);
    buf_free(&buf);
    link_table_destroy(a);
    link_table_destroy(b);
    link_table_destroy(c);
}

TEST(table_refuses_duplicates_self_and_more_than_its_peer_limit)
{
    struct link_table *t = make_table(1, 2);
    CHECK_EQ(link_table_add_peer(t, 1), ERR_INVALID);
    CHECK_EQ(link_table_add_peer(t, 2), 0);
    CHECK_EQ(link_table_add_peer(t, 2), ERR_EXISTS);
    CHECK_EQ(link_table_add_peer(t, 3), 0);
    CHECK_EQ(link_table_add_peer(t, 4), ERR_FULL);
    CHECK_EQ(link_table_peers_count(t), 2);
    CHECK_EQ(link_table_remove_peer(t, 2), 0);
    CHECK_EQ(link_table_remove_peer(t, 2), ERR_NOT_FOUND);
    CHECK(link_table_get(t, 2) == NULL && link_table_get(t, 3) != NULL);
    CHECK_EQ(link_table_send(t, 1, 2, "x", 1), ERR_NOT_FOUND);
    CHECK_EQ(link_table_add_peer(t, 4), 0);
    link_table_destroy(t);
}

static uint64_t first_counter_to(struct link_table *t, uint32_t peer)
{
    struct buf b;
    buf_init(&b, 0);
    uint32_t to = 0;
    CHECK_EQ(link_table_send(t, 1, peer, "x", 1), 0);
    CHECK_EQ(link_table_next_datagram(t, 1, &b, &to), 1);
    CHECK_EQ(to, peer);
    uint64_t counter = le_load_u64(b.data + FRAME_HEADER_SIZE + 8);
    buf_free(&b);
    return counter;
}

TEST(readding_a_peer_never_reuses_a_datagram_counter)
{
    struct link_table *t = make_table(1, 2);
    CHECK_EQ(link_table_add_peer(t, 2), 0);
    uint64_t before = first_counter_to(t, 2);
    CHECK_EQ(link_table_remove_peer(t, 2), 0);
    CHECK_EQ(link_table_add_peer(t, 2), 0);
    CHECK(first_counter_to(t, 2) > before);
    link_table_destroy(t);
}
