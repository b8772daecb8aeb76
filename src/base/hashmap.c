/* Open-addressing hash table; see hashmap.h. Deletion shifts later members of the probe
 * run back so that no tombstones are needed and lookups stay short. */
#include "base/hashmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "base/prng.h"

void hashmap_init(struct hashmap *m, hashmap_eq_fn eq)
{
    memset(m, 0, sizeof *m);
    m->eq = eq;
}

void hashmap_free(struct hashmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->slots_count = 0;
    m->items_count = 0;
}

void hashmap_clear(struct hashmap *m)
{
    if (m->slots != NULL) {
        memset(m->slots, 0, m->slots_count * sizeof *m->slots);
    }
    m->items_count = 0;
}

static size_t probe_start(const struct hashmap *m, uint64_t hash)
{
    return (size_t)hash & (m->slots_count - 1);
}

static size_t find_slot(const struct hashmap *m, uint64_t hash, const void *key)
{
    size_t mask = m->slots_count - 1;
    for (size_t i = probe_start(m, hash);; i = (i + 1) & mask) {
        const struct hashmap_slot *s = &m->slots[i];
        if (s->item == NULL) {
            return SIZE_MAX;
        }
        if (s->hash == hash && m->eq(s->item, key)) {
            return i;
        }
    }
}

void *hashmap_find(const struct hashmap *m, uint64_t hash, const void *key)
{
    if (m->items_count == 0) {
        return NULL;
    }
    size_t i = find_slot(m, hash, key);
    return i == SIZE_MAX ? NULL : m->slots[i].item;
}

static void place(struct hashmap_slot *slots, size_t slots_count, uint64_t hash, void *item)
{
    size_t mask = slots_count - 1;
    size_t i = (size_t)hash & mask;
    while (slots[i].item != NULL) {
        i = (i + 1) & mask;
    }
    slots[i].hash = hash;
    slots[i].item = item;
}

static int grow(struct hashmap *m)
{
    size_t count = m->slots_count != 0 ? m->slots_count * 2 : 16;
    struct hashmap_slot *slots = calloc(count, sizeof *slots);
    if (slots == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < m->slots_count; i++) {
        if (m->slots[i].item != NULL) {
            place(slots, count, m->slots[i].hash, m->slots[i].item);
        }
    }
    free(m->slots);
    m->slots = slots;
    m->slots_count = count;
    return 0;
}

int hashmap_insert(struct hashmap *m, uint64_t hash, void *item)
{
    ASSERT(item != NULL);
    if ((m->items_count + 1) * 4 > m->slots_count * 3) {
        int rc = grow(m);
        if (rc != 0) {
            return rc;
        }
    }
    place(m->slots, m->slots_count, hash, item);
    m->items_count++;
    return 0;
}

void *hashmap_remove(struct hashmap *m, uint64_t hash, const void *key)
{
    if (m->items_count == 0) {
        return NULL;
    }
    size_t hole = find_slot(m, hash, key);
    if (hole == SIZE_MAX) {
        return NULL;
    }
    void *item = m->slots[hole].item;
    size_t mask = m->slots_count - 1;
    /* Backward-shift: move each later member of the run into the hole when its home
     * slot does not lie cyclically in (hole, i]. */
    for (size_t i = (hole + 1) & mask; m->slots[i].item != NULL; i = (i + 1) & mask) {
        size_t home = probe_start(m, m->slots[i].hash);
        bool home_in_range = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!home_in_range) {
            m->slots[hole] = m->slots[i];
            hole = i;
        }
    }
    m->slots[hole].item = NULL;
    m->slots[hole].hash = 0;
    m->items_count--;
    return item;
}

bool hashmap_next(const struct hashmap *m, size_t *cursor, void **item_out)
{
    while (*cursor < m->slots_count) {
        void *item = m->slots[(*cursor)++].item;
        if (item != NULL) {
            *item_out = item;
            return true;
        }
    }
    return false;
}

uint64_t hash_bytes(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return prng_mix64(h ^ len);
}

uint64_t hash_u64(uint64_t x) { return prng_mix64(x); }
