/* An open-addressing hash table with linear probing and backward-shift deletion.
 *
 * The table stores (hash, item pointer) pairs and never owns the items: the caller keeps
 * keys inside its items and supplies an equality callback. Lookups compare the stored
 * 64-bit hash first, so the callback runs only on likely matches. The load factor stays
 * at or below 3/4; growth doubles the slot array. Iteration order is the slot order,
 * which is deterministic for a given sequence of operations (the simulator relies on
 * that). Depends on libc only. */
#ifndef CHORUS_BASE_HASHMAP_H
#define CHORUS_BASE_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when item's key equals key. */
typedef bool (*hashmap_eq_fn)(const void *item, const void *key);

struct hashmap_slot {
    uint64_t hash;
    void *item; /* NULL marks an empty slot */
};

struct hashmap {
    struct hashmap_slot *slots; /* owned */
    size_t slots_count;         /* a power of two, or 0 before the first insert */
    size_t items_count;
    hashmap_eq_fn eq;
};

void hashmap_init(struct hashmap *m, hashmap_eq_fn eq);
void hashmap_free(struct hashmap *m); /* frees slots only, never the items */
void *hashmap_find(const struct hashmap *m, uint64_t hash, const void *key);
/* Inserts item, which must not already be present under an equal key. ERR_NOMEM on failure. */
int hashmap_insert(struct hashmap *m, uint64_t hash, void *item);
/* Removes and returns the item with key, or NULL. */
void *hashmap_remove(struct hashmap *m, uint64_t hash, const void *key);
void hashmap_clear(struct hashmap *m);

/* Iteration: for (size_t i = 0; hashmap_next(m, &i, &item);) { ... }. The table must not
 * be changed during iteration. */
bool hashmap_next(const struct hashmap *m, size_t *cursor, void **item_out);

/* 64-bit hash of a byte string (FNV-1a folded through a mixer). */
uint64_t hash_bytes(const void *data, size_t len);
uint64_t hash_u64(uint64_t x);

#endif
