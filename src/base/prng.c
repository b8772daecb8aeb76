/* xoshiro256** by Blackman and Vigna (public domain algorithm), seeded via splitmix64. */
#include "base/prng.h"

#include "base/assertions.h"

uint64_t prng_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void prng_seed(struct prng *p, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x = prng_mix64(x + (uint64_t)i);
        p->s[i] = x;
    }
    if ((p->s[0] | p->s[1] | p->s[2] | p->s[3]) == 0) {
        p->s[0] = 1;
    }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t prng_next(struct prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t prng_below(struct prng *p, uint64_t bound)
{
    ASSERT(bound > 0);
    uint64_t threshold = -bound % bound; /* 2^64 mod bound */
    for (;;) {
        uint64_t r = prng_next(p);
        if (r >= threshold) {
            return r % bound;
        }
    }
}

uint64_t prng_range(struct prng *p, uint64_t lo, uint64_t hi)
{
    ASSERT(lo <= hi);
    if (hi - lo == UINT64_MAX) {
        return prng_next(p);
    }
    return lo + prng_below(p, hi - lo + 1);
}

bool prng_chance(struct prng *p, uint32_t per_million)
{
    return prng_below(p, 1000000) < per_million;
}
