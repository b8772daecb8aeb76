/* raft_codec: the mapping between struct raft_message and chorus.RaftMessage; see
 * raft_codec.h for the byte format and the checks on decode. */
#include "server/raft_codec.h"

#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "proto/chorus.pb-c.h"

int raft_codec_encode(const struct raft_message *m, struct buf *out)
{
    Chorus__RaftMessage pm;
    chorus__raft_message__init(&pm);
    pm.type = (Chorus__RaftMessageType)m->type;
    pm.from = m->from;
    pm.to = m->to;
    pm.term = m->term;
    pm.pre_vote = m->pre_vote;
    pm.granted = m->granted;
    pm.transfer = m->transfer;
    pm.last_log_index = m->last_log_index;
    pm.last_log_term = m->last_log_term;
    pm.prev_log_index = m->prev_log_index;
    pm.prev_log_term = m->prev_log_term;
    pm.commit_index = m->commit_index;
    pm.context = m->context;
    pm.success = m->success;
    pm.match_index = m->match_index;
    pm.conflict_term = m->conflict_term;
    pm.conflict_index = m->conflict_index;
    pm.snapshot_index = m->snapshot_index;
    pm.snapshot_term = m->snapshot_term;
    pm.snapshot_size = m->snapshot_size_bytes;
    pm.offset = m->offset;
    pm.chunk.len = m->data_len;
    pm.chunk.data = (uint8_t *)m->data;
    pm.done = m->done;
    pm.snapshot_config.len = m->config_len;
    pm.snapshot_config.data = (uint8_t *)m->config;
    Chorus__Entry *entries = NULL;
    Chorus__Entry **ptrs = NULL;
    int rc = ERR_NOMEM;
    if (m->entries_count > 0) {
        entries = calloc(m->entries_count, sizeof *entries);
        ptrs = calloc(m->entries_count, sizeof *ptrs);
        if (entries == NULL || ptrs == NULL) {
            goto free_arrays;
        }
    }
    for (uint32_t i = 0; i < m->entries_count; i++) {
        chorus__entry__init(&entries[i]);
        entries[i].term = m->entries[i].term;
        entries[i].index = m->entries[i].index;
        entries[i].type = (Chorus__EntryType)m->entries[i].type;
        entries[i].data.len = m->entries[i].data_len;
        entries[i].data.data = m->entries[i].data;
        ptrs[i] = &entries[i];
    }
    pm.n_entries = m->entries_count;
    pm.entries = ptrs;
    size_t size = chorus__raft_message__get_packed_size(&pm);
    uint8_t *dst = buf_extend(out, size);
    if (dst != NULL) {
        chorus__raft_message__pack(&pm, dst);
        rc = 0;
    }
free_arrays:
    free(ptrs);
    free(entries);
    return rc;
}

static int check_entries(const Chorus__RaftMessage *pm)
{
    if (pm->n_entries > RAFT_CODEC_ENTRIES_MAX) {
        return ERR_TOO_LARGE;
    }
    for (size_t i = 0; i < pm->n_entries; i++) {
        const Chorus__Entry *e = pm->entries[i];
        if (e->index != pm->prev_log_index + 1 + i || e->type > CHORUS__ENTRY_TYPE__ENTRY_CONFIG ||
            e->data.len > UINT32_MAX) {
            return ERR_MALFORMED;
        }
    }
    return 0;
}

static int check_chunk(const Chorus__RaftMessage *pm)
{
    if (pm->chunk.len > RAFT_CODEC_CHUNK_BYTES_MAX) {
        return ERR_TOO_LARGE;
    }
    bool is_chunk = pm->type == CHORUS__RAFT_MESSAGE_TYPE__RAFT_MSG_SNAPSHOT;
    if (pm->snapshot_config.len > RAFT_CONFIG_ENCODED_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    if (((pm->chunk.len > 0 || pm->snapshot_config.len > 0) && !is_chunk) ||
        (is_chunk && (pm->offset > pm->snapshot_size ||
                      pm->chunk.len > pm->snapshot_size - pm->offset))) {
        return ERR_MALFORMED;
    }
    return 0;
}

static void fill_message(const Chorus__RaftMessage *pm, struct raft_message *m)
{
    memset(m, 0, sizeof *m);
    m->type = (uint8_t)pm->type;
    m->from = pm->from;
    m->to = pm->to;
    m->term = pm->term;
    m->pre_vote = pm->pre_vote;
    m->granted = pm->granted;
    m->transfer = pm->transfer;
    m->last_log_index = pm->last_log_index;
    m->last_log_term = pm->last_log_term;
    m->prev_log_index = pm->prev_log_index;
    m->prev_log_term = pm->prev_log_term;
    m->commit_index = pm->commit_index;
    m->context = pm->context;
    m->success = pm->success;
    m->match_index = pm->match_index;
    m->conflict_term = pm->conflict_term;
    m->conflict_index = pm->conflict_index;
    m->snapshot_index = pm->snapshot_index;
    m->snapshot_term = pm->snapshot_term;
    m->snapshot_size_bytes = pm->snapshot_size;
    m->offset = pm->offset;
    m->data_len = (uint32_t)pm->chunk.len;
    m->data = pm->chunk.len != 0 ? pm->chunk.data : NULL;
    m->done = pm->done;
    m->config_len = (uint32_t)pm->snapshot_config.len;
    m->config = pm->snapshot_config.len != 0 ? pm->snapshot_config.data : NULL;
}

int raft_codec_decode(const uint8_t *data, size_t len, struct raft_codec_decoded *out)
{
    memset(out, 0, sizeof *out);
    Chorus__RaftMessage *pm = chorus__raft_message__unpack(NULL, len, data);
    if (pm == NULL) {
        return ERR_MALFORMED;
    }
    int rc = ERR_MALFORMED;
    if (pm->type < CHORUS__RAFT_MESSAGE_TYPE__RAFT_MSG_VOTE ||
        pm->type > CHORUS__RAFT_MESSAGE_TYPE__RAFT_MSG_TIMEOUT_NOW || pm->from == 0 ||
        pm->to == 0 || (pm->n_entries > 0 && pm->type != CHORUS__RAFT_MESSAGE_TYPE__RAFT_MSG_APPEND)) {
        goto free_unpacked;
    }
    rc = check_entries(pm);
    if (rc == 0) {
        rc = check_chunk(pm);
    }
    if (rc != 0) {
        goto free_unpacked;
    }
    if (pm->n_entries > 0) {
        out->entries = calloc(pm->n_entries, sizeof *out->entries);
        if (out->entries == NULL) {
            rc = ERR_NOMEM;
            goto free_unpacked;
        }
    }
    for (size_t i = 0; i < pm->n_entries; i++) {
        const Chorus__Entry *e = pm->entries[i];
        out->entries[i] = (struct raft_entry){.term = e->term, .index = e->index,
                                              .type = (uint8_t)e->type,
                                              .data_len = (uint32_t)e->data.len,
                                              .data = e->data.len != 0 ? e->data.data : NULL};
    }
    fill_message(pm, &out->msg);
    out->msg.entries = out->entries;
    out->msg.entries_count = (uint32_t)pm->n_entries;
    out->unpacked = pm;
    return 0;
free_unpacked:
    chorus__raft_message__free_unpacked(pm, NULL);
    return rc;
}

void raft_codec_free(struct raft_codec_decoded *d)
{
    free(d->entries);
    if (d->unpacked != NULL) {
        chorus__raft_message__free_unpacked(d->unpacked, NULL);
    }
    memset(d, 0, sizeof *d);
}
