/* Test helper: two links (node 1 "a" and node 2 "b") wired back to back by the test,
 * which moves each datagram by hand so it can drop, reorder or inspect any of them. */
#ifndef CHORUS_TESTS_LINK_PAIR_H
#define CHORUS_TESTS_LINK_PAIR_H

#include <stdlib.h>

#include "base/assertions.h"
#include "harness.h"
#include "link/link.h"
#include "link/link_internal.h"

#define PAIR_MS 1000000ull
#define PAIR_DATAGRAMS_MAX 4096

struct captured {
    uint8_t *bytes[PAIR_DATAGRAMS_MAX];
    size_t lens[PAIR_DATAGRAMS_MAX];
    size_t count;
};

static inline void link_config_for(struct link_config *c, uint32_t self, uint32_t peer,
                                   uint64_t incarnation)
{
    link_config_defaults(c);
    c->cluster_id = 42;
    c->local_id = self;
    c->peer_id = peer;
    c->local_incarnation = incarnation;
    c->datagram_fragments_max = 1; /* one fragment per datagram, so tests can drop any one */
}

static inline struct link *make_link(const struct link_config *c)
{
    struct link *l = NULL;
    int rc = link_create(c, &l);
    if (rc != 0) {
        fprintf(stderr, "link_create: %d\n", rc);
        abort();
    }
    return l;
}

/* Pulls every datagram l wants to send now into cap (owned copies). */
static inline void capture(struct link *l, uint64_t now_ns, struct captured *cap)
{
    struct buf b;
    buf_init(&b, 0);
    for (;;) {
        buf_reset(&b);
        int rc = link_next_datagram(l, now_ns, &b);
        if (rc == 0) {
            break;
        }
        if (rc < 0 || cap->count == PAIR_DATAGRAMS_MAX) {
            abort();
        }
        cap->bytes[cap->count] = malloc(b.len);
        memcpy(cap->bytes[cap->count], b.data, b.len);
        cap->lens[cap->count] = b.len;
        cap->count++;
    }
    buf_free(&b);
}

static inline void captured_free(struct captured *cap)
{
    for (size_t i = 0; i < cap->count; i++) {
        free(cap->bytes[i]);
    }
    cap->count = 0;
}

static inline void feed(struct link *to, uint64_t now_ns, const struct captured *cap, size_t i)
{
    link_on_datagram(to, now_ns, cap->bytes[i], cap->lens[i]);
    link_check_invariants(to);
}

/* Moves everything from one link to the other, dropping nothing. Returns datagrams moved. */
static inline size_t pump(struct link *from, struct link *to, uint64_t now_ns)
{
    struct captured cap = {0};
    capture(from, now_ns, &cap);
    for (size_t i = 0; i < cap.count; i++) {
        feed(to, now_ns, &cap, i);
    }
    size_t n = cap.count;
    captured_free(&cap);
    return n;
}

/* Exchanges datagrams (and fires timers, advancing *now_ns) until both links are idle. */
static inline void settle(struct link *a, struct link *b, uint64_t *now_ns)
{
    for (int round = 0; round < 100000; round++) {
        size_t moved = pump(a, b, *now_ns) + pump(b, a, *now_ns);
        if (moved != 0) {
            *now_ns += PAIR_MS;
            continue;
        }
        uint64_t t = MIN(link_next_timeout_ns(a), link_next_timeout_ns(b));
        if (t == UINT64_MAX) {
            return;
        }
        *now_ns = MAX(*now_ns, t);
        link_tick(a, *now_ns);
        link_tick(b, *now_ns);
    }
    abort();
}

/* Decodes a captured datagram with l's codec (test inspection). */
static inline enum link_drop inspect(const struct link *l, const struct captured *cap, size_t i,
                                     struct link_datagram *out)
{
    static uint8_t scratch[LINK_MTU_MAX];
    return link_datagram_decode(&l->codec, cap->bytes[i], cap->lens[i], scratch, out);
}

#endif
