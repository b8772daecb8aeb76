/* raft_codec: the mapping between struct raft_message and chorus.RaftMessage; see
 * raft_codec.h for the byte format and the checks on decode. */
#include "server/raft_codec.h"

#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "proto/chorus.pb-c.h"
#include "wire/pb_lite.h"

/* Writes one Entry sub-message (field 12). */
static void encode_entry(const struct raft_entry *e, struct pb_writer *out)
{
    size_t size = pb_uint_size(1, e->term) + pb_uint_size(2, e->index) + pb_uint_size(3, e->type) +
                  (e->data_len != 0 ? pb_bytes_size(4, e->data_len) : 0);
    pb_put_bytes_header(out, 12, size);
    pb_put_uint(out, 1, e->term);
    pb_put_uint(out, 2, e->index);
    pb_put_uint(out, 3, e->type);
    if (e->data_len != 0) {
        pb_put_bytes_header(out, 4, e->data_len);
        pb_put_raw(out, e->data, e->data_len);
    }
}

/* The fields in number order, zero scalars and empty bytes left out, as protoc-c packs
 * them (tests/server/test_raft_codec.c checks the bytes against protoc-c's). */
static void encode_message(const void *msg, struct pb_writer *out)
{
    const struct raft_message *m = msg;
    pb_put_uint(out, 1, m->type);
    pb_put_uint(out, 2, m->from);
    pb_put_uint(out, 3, m->to);
    pb_put_uint(out, 4, m->term);
    pb_put_uint(out, 5, m->pre_vote);
    pb_put_uint(out, 6, m->last_log_index);
    pb_put_uint(out, 7, m->last_log_term);
    pb_put_uint(out, 8, m->granted);
    pb_put_uint(out, 9, m->prev_log_index);
    pb_put_uint(out, 10, m->prev_log_term);
    pb_put_uint(out, 11, m->commit_index);
    for (uint32_t i = 0; i < m->entries_count; i++) {
        encode_entry(&m->entries[i], out);
    }
    pb_put_uint(out, 13, m->success);
    pb_put_uint(out, 14, m->match_index);
    pb_put_uint(out, 15, m->conflict_term);
    pb_put_uint(out, 16, m->conflict_index);
    pb_put_uint(out, 17, m->context);
    pb_put_uint(out, 19, m->transfer);
    pb_put_uint(out, 20, m->snapshot_index);
    pb_put_uint(out, 21, m->snapshot_term);
    pb_put_uint(out, 22, m->offset);
    if (m->data_len != 0) {
        pb_put_bytes_header(out, 23, m->data_len);
        pb_put_raw(out, m->data, m->data_len);
    }
    pb_put_uint(out, 24, m->done);
    if (m->config_len != 0) {
        pb_put_bytes_header(out, 25, m->config_len);
        pb_put_raw(out, m->config, m->config_len);
    }
    pb_put_uint(out, 26, m->snapshot_size_bytes);
    pb_put_uint(out, 27, m->log_lost);
}

/* Varint fields of RaftMessage (all but entries, chunk and config) and of Entry. */
#define RAFT_CODEC_MESSAGE_SCALARS 24
#define RAFT_CODEC_ENTRY_SCALARS 3

/* At least the encoded size of m, so that it is written in one pass. */
static size_t encoded_size_bound(const struct raft_message *m)
{
    size_t entry_fixed = PB_BYTES_HEADER_BYTES_MAX +
                         RAFT_CODEC_ENTRY_SCALARS * PB_VARINT_FIELD_BYTES_MAX +
                         PB_BYTES_HEADER_BYTES_MAX;
    size_t bound = RAFT_CODEC_MESSAGE_SCALARS * PB_VARINT_FIELD_BYTES_MAX +
                   2 * PB_BYTES_HEADER_BYTES_MAX + m->data_len + m->config_len;
    for (uint32_t i = 0; i < m->entries_count; i++) {
        bound += entry_fixed + m->entries[i].data_len;
    }
    return bound;
}

int raft_codec_encode(const struct raft_message *m, struct buf *out)
{
    return pb_encode_bounded(out, encode_message, m, encoded_size_bound(m)) == 0 ? 0 : ERR_NOMEM;
}

/* ---- decoding ---- */

/* What the core trusts (raft_codec.h), checked whichever way the bytes were decoded. */
static int check_message(const struct raft_message *m)
{
    if (m->type < RAFT_MSG_VOTE || m->type > RAFT_MSG_TIMEOUT_NOW || m->from == 0 || m->to == 0 ||
        (m->entries_count > 0 && m->type != RAFT_MSG_APPEND)) {
        return ERR_MALFORMED;
    }
    for (uint32_t i = 0; i < m->entries_count; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index != m->prev_log_index + 1 + i || e->type > RAFT_ENTRY_CONFIG) {
            return ERR_MALFORMED;
        }
    }
    if (m->data_len > RAFT_CODEC_CHUNK_BYTES_MAX) {
        return ERR_TOO_LARGE;
    }
    bool is_chunk = m->type == RAFT_MSG_SNAPSHOT;
    if (m->config_len > RAFT_CONFIG_ENCODED_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    if (((m->data_len > 0 || m->config_len > 0) && !is_chunk) ||
        (is_chunk && (m->offset > m->snapshot_size_bytes ||
                      m->data_len > m->snapshot_size_bytes - m->offset))) {
        return ERR_MALFORMED;
    }
    return 0;
}

/* The slow path: protoc-c's generic unpack. Entries point into the unpacked message,
 * which out keeps. */
static int decode_pbc(const uint8_t *data, size_t len, struct raft_codec_decoded *out)
{
    Chorus__RaftMessage *pm = chorus__raft_message__unpack(NULL, len, data);
    if (pm == NULL) {
        return ERR_MALFORMED;
    }
    out->unpacked = pm;
    if (pm->n_entries > RAFT_CODEC_ENTRIES_MAX) {
        return ERR_TOO_LARGE;
    }
    if (pm->n_entries > 0) {
        out->entries = calloc(pm->n_entries, sizeof *out->entries);
        if (out->entries == NULL) {
            return ERR_NOMEM;
        }
    }
    for (size_t i = 0; i < pm->n_entries; i++) {
        const Chorus__Entry *e = pm->entries[i];
        if ((unsigned)e->type > RAFT_ENTRY_CONFIG || e->data.len > UINT32_MAX) {
            return ERR_MALFORMED;
        }
        out->entries[i] = (struct raft_entry){.term = e->term, .index = e->index,
                                              .type = (uint8_t)e->type,
                                              .data_len = (uint32_t)e->data.len,
                                              .data = e->data.len != 0 ? e->data.data : NULL};
    }
    struct raft_message *m = &out->msg;
    if ((unsigned)pm->type > UINT8_MAX || pm->chunk.len > RAFT_CODEC_CHUNK_BYTES_MAX) {
        return pm->chunk.len > RAFT_CODEC_CHUNK_BYTES_MAX ? ERR_TOO_LARGE : ERR_MALFORMED;
    }
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
    m->log_lost = pm->log_lost;
    m->snapshot_index = pm->snapshot_index;
    m->snapshot_term = pm->snapshot_term;
    m->snapshot_size_bytes = pm->snapshot_size;
    m->offset = pm->offset;
    m->data_len = (uint32_t)pm->chunk.len;
    m->data = pm->chunk.len != 0 ? pm->chunk.data : NULL;
    m->done = pm->done;
    if (pm->snapshot_config.len > RAFT_CONFIG_ENCODED_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    m->config_len = (uint32_t)pm->snapshot_config.len;
    m->config = pm->snapshot_config.len != 0 ? pm->snapshot_config.data : NULL;
    m->entries = out->entries;
    m->entries_count = (uint32_t)pm->n_entries;
    return 0;
}

/* The highest field number of chorus.RaftMessage: a higher one is unknown and skipped,
 * a known one with an unexpected wire type goes to protoc-c's unpack. */
#define RAFT_CODEC_FIELD_LAST 27

/* One Entry sub-message; false when it is not what the fast path handles. */
static bool lite_entry(const uint8_t *p, size_t len, struct raft_entry *e)
{
    struct pb_reader r = pb_reader_make(p, len);
    memset(e, 0, sizeof *e);
    while (pb_reader_more(&r)) {
        uint32_t field = 0;
        uint32_t type = pb_read_key(&r, &field);
        if (field == 4 && type == PB_BYTES) {
            size_t n = 0;
            const uint8_t *d = pb_read_bytes(&r, &n);
            if (n > UINT32_MAX) {
                return false;
            }
            e->data = n != 0 ? (uint8_t *)d : NULL;
            e->data_len = (uint32_t)n;
        } else if (field >= 1 && field <= 3 && type == PB_VARINT) {
            uint64_t v = pb_read_varint(&r);
            if (field == 1) {
                e->term = v;
            } else if (field == 2) {
                e->index = v;
            } else if (v <= RAFT_ENTRY_CONFIG) {
                e->type = (uint8_t)v;
            } else {
                return false; /* the slow path refuses it */
            }
        } else if (field <= 4) {
            return false;
        } else {
            pb_skip(&r, type);
        }
    }
    return !r.failed;
}

/* A scalar field of RaftMessage into m; false for an unknown number. */
static bool lite_scalar(struct raft_message *m, uint32_t field, uint64_t v)
{
    switch (field) {
    case 1: m->type = v > UINT8_MAX ? 0 : (uint8_t)v; break;
    case 2: m->from = (uint32_t)v; break;
    case 3: m->to = (uint32_t)v; break;
    case 4: m->term = v; break;
    case 5: m->pre_vote = v != 0; break;
    case 6: m->last_log_index = v; break;
    case 7: m->last_log_term = v; break;
    case 8: m->granted = v != 0; break;
    case 9: m->prev_log_index = v; break;
    case 10: m->prev_log_term = v; break;
    case 11: m->commit_index = v; break;
    case 13: m->success = v != 0; break;
    case 14: m->match_index = v; break;
    case 15: m->conflict_term = v; break;
    case 16: m->conflict_index = v; break;
    case 17: m->context = v; break;
    case 18: break; /* commit_hint: unused */
    case 19: m->transfer = v != 0; break;
    case 20: m->snapshot_index = v; break;
    case 21: m->snapshot_term = v; break;
    case 22: m->offset = v; break;
    case 24: m->done = v != 0; break;
    case 26: m->snapshot_size_bytes = v; break;
    case 27: m->log_lost = v != 0; break;
    default: return false;
    }
    return true;
}

/* decode_pass's answer when the message has more entries than the room given. */
#define LITE_MORE_ENTRIES 2

/* Reads everything in place (data points into the message), entries into out->entries,
 * which has room for entries_cap: 1 when it decoded, 0 when the slow path must decide
 * (an unexpected wire type or a malformed field), LITE_MORE_ENTRIES. */
static int decode_pass(const uint8_t *data, size_t len, struct raft_codec_decoded *out,
                       size_t entries_cap)
{
    struct raft_message *m = &out->msg;
    struct pb_reader r = pb_reader_make(data, len);
    while (pb_reader_more(&r)) {
        uint32_t field = 0;
        uint32_t type = pb_read_key(&r, &field);
        if (type == PB_VARINT) {
            uint64_t v = pb_read_varint(&r);
            if (!lite_scalar(m, field, v) && field <= RAFT_CODEC_FIELD_LAST) {
                return 0; /* a bytes field sent as a varint */
            }
        } else if (type == PB_BYTES && (field == 12 || field == 23 || field == 25)) {
            size_t n = 0;
            const uint8_t *p = pb_read_bytes(&r, &n);
            if (r.failed) {
                return 0; /* a length past the end: the slow path refuses it */
            }
            if (field == 12 && m->entries_count == entries_cap) {
                return LITE_MORE_ENTRIES;
            }
            if (field == 12 && !lite_entry(p, n, &out->entries[m->entries_count++])) {
                return 0;
            }
            if (field == 23) {
                m->data = n != 0 ? p : NULL;
                m->data_len = n > RAFT_CODEC_CHUNK_BYTES_MAX ? UINT32_MAX : (uint32_t)n;
            }
            if (field == 25) {
                m->config = n != 0 ? p : NULL;
                m->config_len = n > RAFT_CONFIG_ENCODED_SIZE_MAX ? UINT32_MAX : (uint32_t)n;
            }
        } else if (field <= RAFT_CODEC_FIELD_LAST) {
            return 0; /* a known field with an unexpected wire type */
        } else {
            pb_skip(&r, type);
        }
    }
    m->entries = out->entries;
    return r.failed ? 0 : 1;
}

/* The fast path: one pass into the inline entries; a message with more entries is
 * counted first and read again into an allocated array. 1 when it decoded, 0 when the
 * slow path must decide, or an error. */
static int decode_lite(const uint8_t *data, size_t len, struct raft_codec_decoded *out)
{
    out->entries = out->inline_entries;
    int rc = decode_pass(data, len, out, RAFT_CODEC_INLINE_ENTRIES);
    if (rc != LITE_MORE_ENTRIES) {
        return rc;
    }
    memset(out, 0, sizeof *out);
    struct pb_reader r = pb_reader_make(data, len);
    size_t n_entries = 0;
    while (pb_reader_more(&r)) {
        uint32_t field = 0;
        uint32_t type = pb_read_key(&r, &field);
        n_entries += field == 12 && type == PB_BYTES;
        pb_skip(&r, type);
    }
    if (r.failed) {
        return 0;
    }
    if (n_entries > RAFT_CODEC_ENTRIES_MAX) {
        return ERR_TOO_LARGE;
    }
    if ((out->entries = calloc(n_entries, sizeof *out->entries)) == NULL) {
        return ERR_NOMEM;
    }
    return decode_pass(data, len, out, n_entries);
}

int raft_codec_decode(const uint8_t *data, size_t len, struct raft_codec_decoded *out)
{
    memset(out, 0, sizeof *out);
    int rc = decode_lite(data, len, out);
    if (rc == 0) {
        raft_codec_free(out);
        rc = decode_pbc(data, len, out);
    } else if (rc == 1) {
        rc = 0;
    }
    if (rc == 0) {
        rc = check_message(&out->msg);
    }
    if (rc != 0) {
        raft_codec_free(out);
    }
    return rc;
}

void raft_codec_free(struct raft_codec_decoded *d)
{
    if (d->entries != d->inline_entries) {
        free(d->entries);
    }
    if (d->unpacked != NULL) {
        chorus__raft_message__free_unpacked(d->unpacked, NULL);
    }
    memset(d, 0, sizeof *d);
}
