/* Bump allocator in linked blocks; see arena.h. A request larger than the block size
 * gets a block of its own. */
#include "wire/arena.h"

#include <stdint.h>
#include <stdlib.h>

struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

static void *arena_pb_alloc(void *ctx, size_t size) { return arena_alloc(ctx, size); }
static void arena_pb_free(void *ctx, void *ptr)
{
    (void)ctx;
    (void)ptr; /* freed with the arena */
}

void arena_init(struct arena *a, size_t block_size_bytes, size_t used_bytes_max)
{
    a->blocks = NULL;
    a->block_size_bytes = block_size_bytes != 0 ? block_size_bytes : 4096;
    a->used_bytes_max = used_bytes_max != 0 ? used_bytes_max : SIZE_MAX / 2;
    a->used_bytes = 0;
    a->allocator.alloc = arena_pb_alloc;
    a->allocator.free = arena_pb_free;
    a->allocator.allocator_data = a;
}

void arena_free(struct arena *a)
{
    struct arena_block *b = a->blocks;
    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->blocks = NULL;
    a->used_bytes = 0;
}

void arena_reset(struct arena *a)
{
    if (a->blocks == NULL) {
        return;
    }
    /* Keep the last block in the chain (the oldest, normally block-sized). */
    struct arena_block *b = a->blocks;
    while (b->next != NULL) {
        struct arena_block *next = b->next;
        a->blocks = next;
        free(b);
        b = next;
    }
    b->used = 0;
    a->used_bytes = 0;
}

void *arena_alloc(struct arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0) {
        size = 16;
    }
    if (size > a->used_bytes_max - a->used_bytes) {
        return NULL;
    }
    struct arena_block *b = a->blocks;
    if (b == NULL || b->size - b->used < size) {
        size_t block_size = size > a->block_size_bytes ? size : a->block_size_bytes;
        b = malloc(sizeof *b + block_size);
        if (b == NULL) {
            return NULL;
        }
        b->size = block_size;
        b->used = 0;
        b->next = a->blocks;
        a->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    a->used_bytes += size;
    return p;
}
