/* The in-memory Raft log: a ring buffer of entries with owned data (raft_impl.h).
 * It holds every entry after the base (the snapshot point, once snapshots exist); the
 * durable copy is the driver's business. Allocation happens only in the functions whose
 * names end in _alloc/_free, per tools/tidy. */
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "raft/raft_impl.h"

void raft_log_init(struct raft_log *l, raft_index_t first_index, raft_term_t base_term)
{
    memset(l, 0, sizeof *l);
    l->first_index = first_index;
    l->base_term = base_term;
}

static void entry_data_free(struct raft_entry *e)
{
    free(e->data);
    e->data = NULL;
}

static struct raft_entry *slot(const struct raft_log *l, size_t i)
{
    return &l->entries[(l->head + i) % l->entries_cap];
}

void raft_log_free(struct raft_log *l)
{
    for (size_t i = 0; i < l->count; i++) {
        entry_data_free(slot(l, i));
    }
    free(l->entries);
    memset(l, 0, sizeof *l);
}

raft_index_t raft_log_last_index(const struct raft_log *l) { return l->first_index + l->count - 1; }

raft_term_t raft_log_last_term(const struct raft_log *l)
{
    return l->count == 0 ? l->base_term : slot(l, l->count - 1)->term;
}

const struct raft_entry *raft_log_get(const struct raft_log *l, raft_index_t index)
{
    if (index < l->first_index || index > raft_log_last_index(l)) {
        return NULL;
    }
    return slot(l, (size_t)(index - l->first_index));
}

raft_term_t raft_log_term_at(const struct raft_log *l, raft_index_t index)
{
    if (index + 1 == l->first_index) {
        return l->base_term;
    }
    const struct raft_entry *e = raft_log_get(l, index);
    return e != NULL ? e->term : 0;
}

static int ring_grow_alloc(struct raft_log *l)
{
    size_t cap = l->entries_cap != 0 ? l->entries_cap * 2 : 64;
    struct raft_entry *entries = malloc(cap * sizeof *entries);
    if (entries == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < l->count; i++) {
        entries[i] = *slot(l, i);
    }
    free(l->entries);
    l->entries = entries;
    l->entries_cap = cap;
    l->head = 0;
    return 0;
}

static int entry_data_alloc(struct raft_entry *dst, const struct raft_entry *src)
{
    *dst = *src;
    dst->data = NULL;
    if (src->data_len == 0) {
        return 0;
    }
    dst->data = malloc(src->data_len);
    if (dst->data == NULL) {
        return ERR_NOMEM;
    }
    memcpy(dst->data, src->data, src->data_len);
    return 0;
}

int raft_log_append_copy(struct raft_log *l, const struct raft_entry *e)
{
    ASSERT(e->index == raft_log_last_index(l) + 1);
    ASSERT(e->term >= raft_log_last_term(l));
    if (l->count == l->entries_cap) {
        int rc = ring_grow_alloc(l);
        if (rc != 0) {
            return rc;
        }
    }
    int rc = entry_data_alloc(slot(l, l->count), e);
    if (rc != 0) {
        return rc;
    }
    l->count++;
    return 0;
}

void raft_log_truncate_from(struct raft_log *l, raft_index_t index)
{
    ASSERT(index >= l->first_index);
    while (raft_log_last_index(l) >= index && l->count > 0) {
        entry_data_free(slot(l, l->count - 1));
        l->count--;
    }
}

size_t raft_log_slice(const struct raft_log *l, raft_index_t index, size_t count_max,
                      size_t bytes_max, struct raft_entry *out)
{
    size_t n = 0, bytes = 0;
    if (index < l->first_index) {
        return 0; /* compacted away since the caller looked (a snapshot was taken) */
    }
    for (raft_index_t i = index; i <= raft_log_last_index(l) && n < count_max; i++) {
        const struct raft_entry *e = raft_log_get(l, i);
        if (n > 0 && bytes + e->data_len > bytes_max) {
            break;
        }
        bytes += e->data_len;
        out[n++] = *e;
    }
    return n;
}

void raft_log_compact_to(struct raft_log *l, raft_index_t index, raft_term_t term)
{
    ASSERT(index + 1 >= l->first_index);
    while (l->count > 0 && l->first_index <= index) {
        entry_data_free(slot(l, 0));
        l->head = (l->head + 1) % l->entries_cap;
        l->count--;
        l->first_index++;
    }
    if (l->count == 0) {
        l->head = 0;
        l->first_index = index + 1;
    }
    l->base_term = term;
}
