/* An arena allocator for protobuf-c unpacking.
 *
 * Unpacking a message makes many small allocations (repeated fields, bytes); an arena
 * turns them into pointer bumps inside a few large blocks and frees them all at once,
 * so there is no per-field malloc on the hot path and no free_unpacked walk. Blocks are
 * kept across arena_reset() for reuse. A limit bounds the total, so a hostile message
 * cannot make the decoder allocate without end: past it, allocation fails and protobuf-c
 * reports the message as invalid. */
#ifndef CHORUS_WIRE_ARENA_H
#define CHORUS_WIRE_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *blocks; /* owned; the current block first */
    size_t block_size_bytes;
    size_t used_bytes_max;      /* the limit across all blocks */
    size_t used_bytes;
    ProtobufCAllocator allocator; /* hand &arena->allocator to *_unpack() */
};

void arena_init(struct arena *a, size_t block_size_bytes, size_t used_bytes_max);
void arena_free(struct arena *a);
/* Forgets every allocation; keeps the first block for reuse. */
void arena_reset(struct arena *a);
/* 16-byte aligned, or NULL when the limit would be passed or memory is out. */
void *arena_alloc(struct arena *a, size_t size);

#endif
