/* The generated IDL code round-trips through an arena, and the arena's limit makes an
 * oversized message fail cleanly instead of allocating without bound. */
#include "harness.h"
#include "proto/chorus.pb-c.h"
#include "wire/arena.h"

#include <stdlib.h>

TEST(raft_message_round_trips_through_arena)
{
    Chorus__Entry e1 = CHORUS__ENTRY__INIT, e2 = CHORUS__ENTRY__INIT;
    e1.term = 3;
    e1.index = 10;
    e1.data.data = (uint8_t *)"set k v";
    e1.data.len = 7;
    e2.term = 3;
    e2.index = 11;
    e2.type = CHORUS__ENTRY_TYPE__ENTRY_NOOP;
    Chorus__Entry *entries[] = {&e1, &e2};
    Chorus__RaftMessage m = CHORUS__RAFT_MESSAGE__INIT;
    m.type = CHORUS__RAFT_MESSAGE_TYPE__RAFT_MSG_APPEND;
    m.from = 1;
    m.to = 2;
    m.term = 3;
    m.prev_log_index = 9;
    m.n_entries = 2;
    m.entries = entries;
    size_t n = chorus__raft_message__get_packed_size(&m);
    uint8_t *bytes = malloc(n);
    CHECK_EQ(chorus__raft_message__pack(&m, bytes), n);

    struct arena a;
    arena_init(&a, 256, 1 << 20);
    Chorus__RaftMessage *d = chorus__raft_message__unpack(&a.allocator, n, bytes);
    CHECK(d != NULL);
    CHECK_EQ(d->type, CHORUS__RAFT_MESSAGE_TYPE__RAFT_MSG_APPEND);
    CHECK_EQ(d->n_entries, 2);
    CHECK_EQ(d->entries[0]->index, 10);
    CHECK_EQ(d->entries[0]->data.len, 7);
    CHECK(memcmp(d->entries[0]->data.data, "set k v", 7) == 0);
    CHECK_EQ(d->entries[1]->type, CHORUS__ENTRY_TYPE__ENTRY_NOOP);
    arena_reset(&a);
    CHECK_EQ(a.used_bytes, 0);

    /* The same message cannot be unpacked within a 64-byte budget. */
    struct arena tiny;
    arena_init(&tiny, 32, 64);
    CHECK(chorus__raft_message__unpack(&tiny.allocator, n, bytes) == NULL);
    arena_free(&tiny);
    arena_free(&a);
    free(bytes);
}

TEST(garbage_does_not_unpack)
{
    uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    struct arena a;
    arena_init(&a, 256, 1 << 20);
    CHECK(chorus__raft_message__unpack(&a.allocator, sizeof junk, junk) == NULL);
    arena_free(&a);
}

TEST(arena_serves_large_requests_and_aligns)
{
    struct arena a;
    arena_init(&a, 64, 0);
    void *p = arena_alloc(&a, 3);
    void *q = arena_alloc(&a, 1000);
    CHECK(p != NULL && q != NULL);
    CHECK(((uintptr_t)p & 15) == 0);
    CHECK(((uintptr_t)q & 15) == 0);
    memset(q, 0xaa, 1000);
    arena_free(&a);
}
