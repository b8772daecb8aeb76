/* The hash table against a plain array model under random inserts and removals. */
#include "base/hashmap.h"
#include "base/prng.h"
#include "harness.h"

#include <stdlib.h>

struct item {
    uint64_t key;
};

static bool item_eq(const void *item, const void *key)
{
    return ((const struct item *)item)->key == *(const uint64_t *)key;
}

/* A deliberately weak hash so that probe runs collide and wrap around. */
static uint64_t weak_hash(uint64_t k) { return k % 7; }

TEST(hashmap_matches_model_under_random_operations)
{
    enum { KEYS = 200 };
    struct item items[KEYS];
    bool present[KEYS] = {false};
    struct hashmap m;
    hashmap_init(&m, item_eq);
    struct prng p;
    prng_seed(&p, 99);
    for (int i = 0; i < KEYS; i++) {
        items[i].key = (uint64_t)i;
    }
    for (int step = 0; step < 20000; step++) {
        uint64_t k = prng_below(&p, KEYS);
        if (prng_chance(&p, 500000)) {
            if (!present[k]) {
                CHECK_EQ(hashmap_insert(&m, weak_hash(k), &items[k]), 0);
                present[k] = true;
            }
        } else {
            void *removed = hashmap_remove(&m, weak_hash(k), &k);
            CHECK(removed == (present[k] ? &items[k] : NULL));
            present[k] = false;
        }
        if (step % 97 == 0) {
            size_t count = 0;
            for (uint64_t j = 0; j < KEYS; j++) {
                void *found = hashmap_find(&m, weak_hash(j), &j);
                CHECK(found == (present[j] ? &items[j] : NULL));
                count += present[j];
            }
            CHECK_EQ(m.items_count, count);
        }
    }
    size_t seen = 0;
    void *it;
    for (size_t c = 0; hashmap_next(&m, &c, &it);) {
        CHECK(present[((struct item *)it)->key]);
        seen++;
    }
    CHECK_EQ(seen, m.items_count);
    hashmap_free(&m);
}

TEST(hashmap_grows_past_many_items)
{
    enum { N = 10000 };
    struct item *items = calloc(N, sizeof *items);
    struct hashmap m;
    hashmap_init(&m, item_eq);
    for (uint64_t i = 0; i < N; i++) {
        items[i].key = i * 31;
        CHECK_EQ(hashmap_insert(&m, hash_u64(items[i].key), &items[i]), 0);
    }
    for (uint64_t i = 0; i < N; i++) {
        uint64_t k = i * 31;
        CHECK(hashmap_find(&m, hash_u64(k), &k) == &items[i]);
    }
    uint64_t missing = 5;
    CHECK(hashmap_find(&m, hash_u64(missing), &missing) == NULL);
    hashmap_free(&m);
    free(items);
}
