/* Term and vote, and snapshots: the two pieces of state the log replaces whole.
 *
 * Both are written to a temporary file ("meta.tmp", "snapshot.tmp"), fdatasynced,
 * renamed over the live name and made durable with a directory fsync, so a crash leaves
 * either the old file or the new one, never a mix. Their formats are in format.h. A
 * live file that fails its checks is reported (meta_corrupt, snapshot_corrupt), never
 * believed; log_discard_entries_and_snapshot lets a driver drop a snapshot it can no
 * longer vouch for, with the entries after it. Depends on base. */
#include <string.h>

#include "base/assertions.h"
#include "base/crc32c.h"
#include "base/errors.h"
#include "log/log_internal.h"

#define LOG_READ_CHUNK_BYTES (64u * 1024)

int log_read_file(struct log *l, struct disk_file *f, struct buf *out, uint64_t size_max)
{
    uint64_t size = 0;
    int rc = l->disk->file_size(l->disk->ctx, f, &size);
    if (rc != 0) {
        return rc;
    }
    if (size > size_max) {
        return ERR_TOO_LARGE;
    }
    buf_reset(out);
    if (size == 0) {
        return 0;
    }
    uint8_t *p = buf_extend(out, (size_t)size);
    if (p == NULL) {
        return ERR_NOMEM;
    }
    size_t got = 0;
    rc = l->disk->file_read(l->disk->ctx, f, p, (size_t)size, 0, &got);
    out->len = got;
    return rc;
}

/* Writes the pieces to name_tmp, syncs it, renames it to name and syncs the directory. */
static int replace_file(struct log *l, const char *name_tmp, const char *name,
                        const uint8_t *const *parts, const uint64_t *lens, size_t parts_count)
{
    struct disk_file *f = NULL;
    int rc = l->disk->file_open(l->disk->ctx, name_tmp, DISK_OPEN_CREATE, &f);
    if (rc != 0) {
        return rc;
    }
    rc = l->disk->file_truncate(l->disk->ctx, f, 0);
    uint64_t offset = 0;
    for (size_t i = 0; i < parts_count && rc == 0; i++) {
        rc = l->disk->file_write(l->disk->ctx, f, parts[i], (size_t)lens[i], offset);
        offset += lens[i];
    }
    if (rc != 0) {
        l->disk->file_close(l->disk->ctx, f);
        (void)l->disk->remove(l->disk->ctx, name_tmp);
        return rc; /* nothing live changed: a clean error */
    }
    rc = l->disk->file_sync(l->disk->ctx, f);
    l->disk->file_close(l->disk->ctx, f);
    rc = rc != 0 ? rc : l->disk->rename(l->disk->ctx, name_tmp, name);
    rc = rc != 0 ? rc : log_sync_dir(l);
    return rc == 0 ? 0 : log_fail(l, rc);
}

static int meta_save(struct log *l, const struct log_meta *m)
{
    if (l->failed != 0) {
        return l->failed;
    }
    uint8_t meta[LOG_META_SIZE];
    log_fmt_meta_encode(meta, m);
    const uint8_t *parts[] = {meta};
    const uint64_t lens[] = {sizeof meta};
    int rc = replace_file(l, LOG_META_TMP_NAME, LOG_META_NAME, parts, lens, 1);
    if (rc == 0) {
        l->meta = *m;
    }
    return rc;
}

int log_set_term_vote(struct log *l, uint64_t term, uint64_t vote)
{
    struct log_meta m = l->meta;
    m.term = term;
    m.vote = vote;
    return meta_save(l, &m);
}

int log_set_vote_barrier(struct log *l, uint64_t index)
{
    struct log_meta m = l->meta;
    m.vote_barrier = index;
    return meta_save(l, &m);
}

int log_snapshot_save(struct log *l, uint64_t index, uint64_t term, const uint8_t *config,
                      uint32_t config_len, const uint8_t *data, uint64_t data_len)
{
    if (l->failed != 0) {
        return l->failed;
    }
    if (index < l->snap.index || index >= LOG_INDEX_MAX || config_len > LOG_SNAPSHOT_CONFIG_SIZE_MAX ||
        data_len > LOG_SNAPSHOT_DATA_SIZE_MAX) {
        return ERR_INVALID;
    }
    uint32_t crc = crc32c(config, config_len);
    struct log_snapshot_header h = {index, term, config_len, data_len,
                                    crc32c_extend(crc, data, (size_t)data_len)};
    uint8_t header[LOG_SNAPSHOT_HEADER_SIZE];
    log_fmt_snapshot_header_encode(header, &h);
    const uint8_t *parts[] = {header, config, data};
    const uint64_t lens[] = {sizeof header, config_len, data_len};
    int rc = replace_file(l, LOG_SNAPSHOT_TMP_NAME, LOG_SNAPSHOT_NAME, parts, lens, 3);
    if (rc == 0) {
        l->snap = (struct log_snapshot_meta){index, term};
        l->durable_index = MAX(l->durable_index, MIN(index, log_next_index(l) - 1));
    }
    return rc;
}

int log_meta_load(struct log *l, struct log_recovery *report)
{
    struct disk_file *f = NULL;
    int rc = l->disk->file_open(l->disk->ctx, LOG_META_NAME, 0, &f);
    if (rc == ERR_NOT_FOUND) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    rc = log_read_file(l, f, &l->wbuf, LOG_META_SIZE);
    l->disk->file_close(l->disk->ctx, f);
    int decoded = rc == 0 ? log_fmt_meta_decode(l->wbuf.data, l->wbuf.len, &l->meta) : rc;
    if (decoded == ERR_VERSION) {
        /* Intact (its checksum holds) but written by another format version: refuse the
         * directory rather than misread it; nothing is changed. */
        return ERR_VERSION;
    }
    if (rc == ERR_TOO_LARGE || (rc == 0 && decoded != 0)) {
        l->meta = (struct log_meta){0};
        report->meta_corrupt = true;
        return 0;
    }
    report->term = l->meta.term;
    report->vote = l->meta.vote;
    report->vote_barrier = l->meta.vote_barrier;
    return rc;
}

/* Reads and checks the snapshot header; *size_out gets the file size. */
static int snapshot_header_read(struct log *l, struct disk_file *f, struct log_snapshot_header *h)
{
    uint8_t header[LOG_SNAPSHOT_HEADER_SIZE];
    uint64_t size = 0;
    size_t got = 0;
    int rc = l->disk->file_size(l->disk->ctx, f, &size);
    rc = rc != 0 ? rc : l->disk->file_read(l->disk->ctx, f, header, sizeof header, 0, &got);
    if (rc != 0) {
        return rc;
    }
    if (log_fmt_snapshot_header_decode(header, got, h) != 0 || h->index >= LOG_INDEX_MAX ||
        size != LOG_SNAPSHOT_HEADER_SIZE + (uint64_t)h->config_len + h->data_len) {
        return ERR_CORRUPT;
    }
    return 0;
}

/* Checks the whole snapshot body in chunks, so verification needs no big buffer. */
static int snapshot_body_check(struct log *l, struct disk_file *f, const struct log_snapshot_header *h)
{
    uint64_t left = (uint64_t)h->config_len + h->data_len, offset = LOG_SNAPSHOT_HEADER_SIZE;
    uint32_t crc = 0;
    buf_reset(&l->wbuf);
    uint8_t *chunk = buf_extend(&l->wbuf, LOG_READ_CHUNK_BYTES);
    if (chunk == NULL) {
        return ERR_NOMEM;
    }
    while (left > 0) {
        size_t want = (size_t)MIN(left, (uint64_t)LOG_READ_CHUNK_BYTES), got = 0;
        int rc = l->disk->file_read(l->disk->ctx, f, chunk, want, offset, &got);
        if (rc != 0) {
            return rc;
        }
        if (got != want) {
            return ERR_CORRUPT;
        }
        crc = crc32c_extend(crc, chunk, got);
        left -= got;
        offset += got;
    }
    return crc == h->body_crc ? 0 : ERR_CORRUPT;
}

int log_snapshot_verify(struct log *l, struct log_recovery *report)
{
    struct disk_file *f = NULL;
    struct log_snapshot_header h;
    int rc = l->disk->file_open(l->disk->ctx, LOG_SNAPSHOT_NAME, 0, &f);
    if (rc == ERR_NOT_FOUND) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    rc = snapshot_header_read(l, f, &h);
    rc = rc != 0 ? rc : snapshot_body_check(l, f, &h);
    l->disk->file_close(l->disk->ctx, f);
    if (rc == ERR_CORRUPT) {
        report->snapshot_corrupt = true;
        return 0;
    }
    if (rc == 0) {
        l->snap = (struct log_snapshot_meta){h.index, h.term};
        report->snapshot_present = true;
        report->snapshot_index = h.index;
        report->snapshot_term = h.term;
    }
    return rc;
}

int log_snapshot_load(struct log *l, struct log_snapshot *out)
{
    struct disk_file *f = NULL;
    struct log_snapshot_header h;
    memset(out, 0, sizeof *out);
    int rc = l->disk->file_open(l->disk->ctx, LOG_SNAPSHOT_NAME, 0, &f);
    if (rc != 0) {
        return rc;
    }
    rc = snapshot_header_read(l, f, &h);
    rc = rc != 0 ? rc : log_snapshot_buffers_alloc(out, h.config_len, h.data_len);
    size_t got_config = 0, got_data = 0;
    if (rc == 0) {
        rc = l->disk->file_read(l->disk->ctx, f, out->config, h.config_len, LOG_SNAPSHOT_HEADER_SIZE,
                            &got_config);
    }
    if (rc == 0) {
        rc = l->disk->file_read(l->disk->ctx, f, out->data, (size_t)h.data_len,
                            LOG_SNAPSHOT_HEADER_SIZE + (uint64_t)h.config_len, &got_data);
    }
    l->disk->file_close(l->disk->ctx, f);
    if (rc == 0 && (got_config != h.config_len || got_data != h.data_len ||
                    crc32c_extend(crc32c(out->config, got_config), out->data, got_data) != h.body_crc)) {
        rc = ERR_CORRUPT;
    }
    if (rc != 0) {
        log_snapshot_free(out);
        return rc;
    }
    out->meta = (struct log_snapshot_meta){h.index, h.term};
    return 0;
}

struct discard {
    struct disk *disk;
    int rc;
};

static int discard_file(void *arg, const char *name)
{
    struct discard *d = arg;
    uint64_t first;
    if (d->rc == 0 && (log_fmt_segment_name_parse(name, &first) ||
                       strcmp(name, LOG_SNAPSHOT_NAME) == 0)) {
        d->rc = d->disk->remove(d->disk->ctx, name);
    }
    return 0;
}

int log_discard_entries_and_snapshot(struct disk *d)
{
    struct discard x = {.disk = d};
    int rc = d->list(d->ctx, discard_file, &x);
    rc = rc != 0 ? rc : x.rc;
    return rc != 0 ? rc : d->sync_dir(d->ctx);
}
