/* Helpers shared by the log's tests: a simulated disk with its PRNG, entry payloads
 * derived from (index, term) so any entry read back can be checked on its own, and
 * open/append shorthands. Header-only. */
#ifndef CHORUS_TESTS_LOG_UTIL_H
#define CHORUS_TESTS_LOG_UTIL_H

#include <stdlib.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "harness.h"
#include "log/log.h"
#include "sim/disk_sim.h"

struct tdisk {
    struct prng prng;
    struct disk_sim *sim;
    struct disk *disk;
};

static inline void tdisk_init(struct tdisk *t, uint64_t seed, const struct disk_sim_config *cfg)
{
    struct disk_sim_config none = {0};
    prng_seed(&t->prng, seed);
    t->sim = disk_sim_create(&t->prng, cfg != NULL ? cfg : &none);
    t->disk = disk_sim_disk(t->sim);
}

static inline void tdisk_free(struct tdisk *t) { disk_sim_destroy(t->sim); }

/* The payload of entry (index, term): 5 + index % 40 bytes, a function of both. */
static inline uint32_t payload_fill(uint64_t index, uint64_t term, uint8_t *out)
{
    uint32_t len = 5 + (uint32_t)(index % 40);
    for (uint32_t i = 0; i < len; i++) {
        out[i] = (uint8_t)(index * 31 + term * 7 + i);
    }
    return len;
}

/* Appends entries [from, to] with the given term. */
static inline int append_range(struct log *l, uint64_t from, uint64_t to, uint64_t term)
{
    struct log_record recs[64];
    uint8_t payloads[64][64];
    size_t n = 0;
    for (uint64_t i = from; i <= to; i++) {
        recs[n] = (struct log_record){term, i, 1, payloads[n], 0};
        recs[n].len = payload_fill(i, term, payloads[n]);
        n++;
        if (n == 64 || i == to) {
            int rc = log_append(l, recs, n);
            if (rc != 0) {
                return rc;
            }
            n = 0;
        }
    }
    return 0;
}

/* True when entry index reads back with term and its derived payload. */
static inline bool entry_is(struct log *l, uint64_t index, uint64_t term)
{
    struct buf b;
    struct log_record r;
    uint8_t want[64];
    buf_init(&b, 0);
    bool ok = log_read(l, index, &r, &b) == 0 && r.term == term && r.index == index &&
              r.len == payload_fill(index, term, want) && memcmp(r.data, want, r.len) == 0;
    buf_free(&b);
    return ok;
}

static inline struct log *open_ok(struct disk *d, uint64_t segment_size_bytes,
                                  struct log_recovery *rep)
{
    struct log_config cfg = {segment_size_bytes, LOG_MUTANT_NONE};
    struct log *l = NULL;
    struct log_recovery local;
    int rc = log_open(&l, d, &cfg, rep != NULL ? rep : &local);
    CHECK_EQ(rc, 0);
    log_check_invariants(l);
    return l;
}

#endif
