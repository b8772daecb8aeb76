/* A seedable pseudo-random generator (xoshiro256**, seeded through splitmix64).
 *
 * Protocol code never calls rand(): each node owns a struct prng seeded by its driver,
 * so the simulator reproduces a run from one seed. Not for cryptography. libc only. */
#ifndef CHORUS_BASE_PRNG_H
#define CHORUS_BASE_PRNG_H

#include <stdbool.h>
#include <stdint.h>

struct prng {
    uint64_t s[4];
};

void prng_seed(struct prng *p, uint64_t seed);
uint64_t prng_next(struct prng *p);
/* Uniform in [0, bound) without modulo bias; bound must be > 0. */
uint64_t prng_below(struct prng *p, uint64_t bound);
/* Uniform in [lo, hi] inclusive. */
uint64_t prng_range(struct prng *p, uint64_t lo, uint64_t hi);
/* True with probability per_million / 1,000,000. */
bool prng_chance(struct prng *p, uint32_t per_million);
/* splitmix64 step: a good 64-bit mixer, also used to derive child seeds. */
uint64_t prng_mix64(uint64_t x);

#endif
