/* The PRNG is reproducible from its seed and its helpers stay in range. */
#include "base/prng.h"
#include "harness.h"

TEST(prng_same_seed_same_sequence)
{
    struct prng a, b, c;
    prng_seed(&a, 7);
    prng_seed(&b, 7);
    prng_seed(&c, 8);
    bool differs = false;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = prng_next(&a);
        CHECK(x == prng_next(&b));
        differs |= x != prng_next(&c);
    }
    CHECK(differs);
}

TEST(prng_below_and_range_stay_in_bounds_and_cover_them)
{
    struct prng p;
    prng_seed(&p, 1);
    int seen[10] = {0};
    for (int i = 0; i < 10000; i++) {
        uint64_t x = prng_below(&p, 10);
        CHECK(x < 10);
        seen[x]++;
        uint64_t y = prng_range(&p, 5, 7);
        CHECK(y >= 5 && y <= 7);
    }
    for (int i = 0; i < 10; i++) {
        CHECK(seen[i] > 800 && seen[i] < 1200);
    }
}

TEST(prng_chance_extremes)
{
    struct prng p;
    prng_seed(&p, 3);
    int hits = 0;
    for (int i = 0; i < 10000; i++) {
        CHECK(!prng_chance(&p, 0));
        CHECK(prng_chance(&p, 1000000));
        hits += prng_chance(&p, 250000);
    }
    CHECK(hits > 2200 && hits < 2800);
}
