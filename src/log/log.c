/* The write path of the log: appends with segment rolling, group-commit sync, suffix
 * truncation, compaction, reads and accessors. The byte formats are in format.h, the
 * durability rules in log.h; recovery lives in recover.c and term/vote and snapshots in
 * store.c. Storage is reached only through struct disk.
 *
 * Segment rolling seals the full segment with an fdatasync before the first byte goes
 * to the next one. Recovery relies on it: a valid record after an invalid one can then
 * only mean corruption, never an ordinary crash.
 *
 * The last segment keeps zero-filled room ahead of its data (preallocate). An fdatasync
 * of an append that grows the file must also write the inode's new size, which on ext4
 * is a second, waited-for device write; inside the room it is one. Measured on this
 * project's machine (docs/log.md): 0.31 -> 0.25 ms per sync. Depends on base. */
#include <string.h>

#include "base/assertions.h"
#include "base/crc32c.h"
#include "base/errors.h"
#include "log/log_internal.h"

int log_fail(struct log *l, int err)
{
    ASSERT(err < 0);
    if (l->failed == 0) {
        l->failed = err;
    }
    return err;
}

int log_sync_dir(struct log *l) { return l->disk->sync_dir(l->disk->ctx); }

/* The directory fsync that makes newly created segments durable. */
static int sync_new_segments(struct log *l)
{
    if (log_mutant_is(l, LOG_MUTANT_SKIP_DIR_FSYNC)) {
        l->dir_dirty = false;
        return 0;
    }
    int rc = log_sync_dir(l);
    if (rc != 0) {
        return log_fail(l, rc);
    }
    l->dir_dirty = false;
    return 0;
}

/* Creates segment first_index with its header and adds it at the end of l->segs. Its
 * name is durable only after the next directory fsync (dir_dirty). */
static int segment_create(struct log *l, uint64_t first_index)
{
    char name[LOG_SEGMENT_NAME_SIZE];
    uint8_t header[LOG_SEGMENT_HEADER_SIZE];
    struct disk_file *f = NULL;
    int rc = log_segs_reserve_alloc(l, 1);
    if (rc != 0) {
        return rc;
    }
    log_fmt_segment_name(name, first_index);
    log_fmt_segment_header_encode(header, first_index);
    rc = l->disk->file_open(l->disk->ctx, name, DISK_OPEN_CREATE, &f);
    if (rc != 0) {
        return rc;
    }
    l->dir_dirty = true;
    rc = l->disk->file_truncate(l->disk->ctx, f, 0);
    rc = rc != 0 ? rc : l->disk->file_write(l->disk->ctx, f, header, sizeof header, 0);
    if (rc != 0) {
        l->disk->file_close(l->disk->ctx, f);
        (void)l->disk->remove(l->disk->ctx, name);
        return rc;
    }
    l->seg_dirty = true;
    l->segs[l->segs_count++] = (struct log_segment){.first_index = first_index,
                                                    .end_offset = LOG_SEGMENT_HEADER_SIZE,
                                                    .file_end = LOG_SEGMENT_HEADER_SIZE,
                                                    .file = f};
    return 0;
}

/* Removes from the last segment backwards, making each removal durable before the
 * next, so that a crash leaves a prefix of the segments and never a hole (which recovery
 * would rightly call corruption). The caller syncs the directory after the last one. */
int log_segments_drop_tail(struct log *l, size_t k)
{
    int rc = 0;
    while (l->segs_count > k) {
        struct log_segment *s = &l->segs[--l->segs_count];
        char name[LOG_SEGMENT_NAME_SIZE];
        log_fmt_segment_name(name, s->first_index);
        l->disk->file_close(l->disk->ctx, s->file);
        if (rc == 0) {
            rc = l->disk->remove(l->disk->ctx, name);
            rc = rc == ERR_NOT_FOUND ? 0 : rc;
        }
        if (rc == 0 && l->segs_count > k) {
            rc = log_sync_dir(l);
        }
    }
    return rc;
}

int log_reset_empty(struct log *l, uint64_t next_index)
{
    int rc = log_segments_drop_tail(l, 0);
    if (rc == 0) {
        rc = log_sync_dir(l);
    }
    /* Memory follows even on failure: the segments are closed already. */
    l->pos_count = 0;
    l->first_index = next_index;
    l->seg_dirty = false;
    l->dir_dirty = false;
    return rc == 0 ? 0 : log_fail(l, rc);
}

/* Seals the last segment, its bytes (fdatasync) and its name (directory fsync), and
 * opens a new one starting at first_index: a segment's successor never exists on disk
 * unless the segment is whole there. */
static int segment_roll(struct log *l, uint64_t first_index)
{
    if (l->segs_count > 0 && l->seg_dirty) {
        int rc = l->disk->file_sync(l->disk->ctx, l->segs[l->segs_count - 1].file);
        if (rc != 0) {
            return log_fail(l, rc);
        }
        l->seg_dirty = false;
    }
    int rc = l->dir_dirty ? sync_new_segments(l) : 0;
    return rc != 0 ? rc : segment_create(l, first_index);
}

/* Keeps at least half of cfg.preallocate_bytes of zero-filled room after segment s's
 * data, filling up to cfg.preallocate_bytes at a time and never past the segment size.
 * The zeros become durable with the next sync of the segment, together with the data
 * written before them. The room is only an optimisation, so a failed fill is cut back
 * off and forgotten; only when that cut fails too is the file's state unknown. */
static int preallocate(struct log *l, struct log_segment *s)
{
    static const uint8_t zeros[16 * 1024];
    uint64_t limit = l->cfg.segment_size_bytes;
    uint64_t room = l->cfg.preallocate_bytes;
    ASSERT(s->file_end >= s->end_offset);
    if (s->file_end >= limit || s->file_end - s->end_offset >= room / 2) {
        return 0;
    }
    uint64_t from = s->file_end, to = MIN(limit, s->file_end + room);
    int rc = 0;
    for (uint64_t off = from; off < to && rc == 0; off += sizeof zeros) {
        rc = l->disk->file_write(l->disk->ctx, s->file, zeros, (size_t)MIN(sizeof zeros, to - off), off);
    }
    if (rc == 0) {
        s->file_end = to;
        return 0;
    }
    rc = l->disk->file_truncate(l->disk->ctx, s->file, from);
    return rc == 0 ? 0 : log_fail(l, rc);
}

static int flush_wbuf(struct log *l)
{
    if (l->wbuf.len == 0) {
        return 0;
    }
    struct log_segment *s = &l->segs[l->segs_count - 1];
    int rc = l->disk->file_write(l->disk->ctx, s->file, l->wbuf.data, l->wbuf.len, s->end_offset);
    if (rc != 0) {
        return rc;
    }
    s->end_offset += l->wbuf.len;
    s->file_end = MAX(s->file_end, s->end_offset);
    l->seg_dirty = true;
    buf_reset(&l->wbuf);
    return preallocate(l, s);
}

static int encode_record(struct log *l, const struct log_record *r)
{
    struct log_record_header h = {r->type, r->len, r->term, r->index, crc32c(r->data, r->len)};
    const struct log_segment *s = &l->segs[l->segs_count - 1];
    uint8_t *p = buf_extend(&l->wbuf, LOG_RECORD_HEADER_SIZE);
    if (p == NULL) {
        return ERR_NOMEM;
    }
    log_fmt_record_header_encode(p, &h);
    l->pos[l->pos_count] = (struct log_pos){r->term, s->end_offset + l->wbuf.len - LOG_RECORD_HEADER_SIZE,
                                            r->len, r->type};
    if ((r->len > 0 && buf_put(&l->wbuf, r->data, r->len) != 0) ||
        buf_put_u8(&l->wbuf, LOG_RECORD_END_MARK) != 0) {
        return ERR_NOMEM;
    }
    l->pos_count++;
    return 0;
}

/* Undoes a failed append: entries, new segments and bytes beyond the old end go. A
 * segment sealed during the call had its bytes synced, so their removal is synced too. */
static int append_rollback(struct log *l, size_t pos_count, size_t segs_count, uint64_t end_offset,
                           bool sealed)
{
    l->pos_count = pos_count;
    buf_reset(&l->wbuf);
    bool dropped = l->segs_count > segs_count;
    int rc = log_segments_drop_tail(l, segs_count);
    if (rc == 0 && dropped) {
        rc = log_sync_dir(l);
        l->dir_dirty = false;
    }
    l->seg_dirty = segs_count > 0; /* conservatively: one more fdatasync is harmless */
    if (rc == 0 && segs_count > 0) {
        struct log_segment *s = &l->segs[segs_count - 1];
        s->end_offset = end_offset;
        s->file_end = end_offset;
        rc = l->disk->file_truncate(l->disk->ctx, s->file, end_offset);
        if (rc == 0 && sealed) {
            rc = l->disk->file_sync(l->disk->ctx, s->file);
        }
    }
    return rc == 0 ? 0 : log_fail(l, rc);
}

static int append_check(const struct log *l, const struct log_record *recs, size_t n)
{
    if (l->failed != 0) {
        return l->failed;
    }
    if (l->damaged) {
        return ERR_CORRUPT;
    }
    for (size_t i = 0; i < n; i++) {
        if (recs[i].index != log_next_index(l) + i || recs[i].len > LOG_ENTRY_SIZE_MAX ||
            recs[i].index >= LOG_INDEX_MAX || (recs[i].len > 0 && recs[i].data == NULL)) {
            return ERR_INVALID;
        }
    }
    return 0;
}

int log_append(struct log *l, const struct log_record *recs, size_t n)
{
    int rc = append_check(l, recs, n);
    if (rc != 0 || n == 0) {
        return rc;
    }
    size_t pos_count = l->pos_count, segs_count = l->segs_count;
    uint64_t end_offset = segs_count > 0 ? l->segs[segs_count - 1].end_offset : 0;
    bool sealed = false;
    rc = log_pos_reserve_alloc(l, n);
    if (rc == 0 && l->segs_count == 0) {
        rc = segment_create(l, recs[0].index);
    }
    buf_reset(&l->wbuf);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct log_segment *s = &l->segs[l->segs_count - 1];
        uint64_t used = s->end_offset + l->wbuf.len;
        if (used > LOG_SEGMENT_HEADER_SIZE &&
            used + log_fmt_record_size(recs[i].len) > l->cfg.segment_size_bytes) {
            rc = flush_wbuf(l);
            sealed = sealed || (rc == 0 && l->seg_dirty);
            rc = rc != 0 ? rc : segment_roll(l, recs[i].index);
        }
        rc = rc != 0 ? rc : encode_record(l, &recs[i]);
    }
    rc = rc != 0 ? rc : flush_wbuf(l);
    if (rc != 0 && l->failed == 0) {
        int rb = append_rollback(l, pos_count, segs_count, end_offset, sealed);
        return rb != 0 ? rb : rc;
    }
    if (rc != 0) {
        /* Failed for good: forget the entries of this call so memory stays consistent. */
        l->pos_count = pos_count;
        buf_reset(&l->wbuf);
        return l->failed;
    }
    return 0;
}

int log_sync(struct log *l, uint64_t *durable_index_out)
{
    if (l->failed != 0) {
        return l->failed;
    }
    if (!log_mutant_is(l, LOG_MUTANT_ACK_BEFORE_FSYNC)) {
        if (l->seg_dirty && l->segs_count > 0) {
            int rc = l->disk->file_sync(l->disk->ctx, l->segs[l->segs_count - 1].file);
            if (rc != 0) {
                return log_fail(l, rc);
            }
            l->seg_dirty = false;
        }
        int rc = l->dir_dirty ? sync_new_segments(l) : 0;
        if (rc != 0) {
            return rc;
        }
    }
    if (!l->damaged) {
        l->durable_index = log_next_index(l) - 1;
    }
    if (durable_index_out != NULL) {
        *durable_index_out = l->durable_index;
    }
    return 0;
}

/* The segment holding index (the last one starting at or before it), or segs_count. */
static size_t segment_of(const struct log *l, uint64_t index)
{
    size_t lo = 0, hi = l->segs_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->segs[mid].first_index <= index) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo == 0 ? l->segs_count : lo - 1;
}

struct stray_ctx {
    struct log *l;
    uint64_t after_index; /* remove segment files named above this */
    int rc;
};

static int remove_stray(void *arg, const char *name)
{
    struct stray_ctx *c = arg;
    uint64_t first;
    if (!log_fmt_segment_name_parse(name, &first) || first <= c->after_index) {
        return 0;
    }
    for (size_t k = 0; k < c->l->segs_count; k++) {
        if (c->l->segs[k].first_index == first) {
            return 0;
        }
    }
    int rc = c->l->disk->remove(c->l->disk->ctx, name);
    if (rc != 0 && rc != ERR_NOT_FOUND) {
        c->rc = rc;
    }
    return 0;
}

/* Removes whole segments from k + 1 on (and, on a damaged log, the segment files that
 * recovery left out of memory), then cuts segment k at offset. Later segments go first
 * and durably, so a crash in between never leaves a hole in front of surviving data. */
static int truncate_segments(struct log *l, size_t k, uint64_t offset, uint64_t keep_after)
{
    int rc = log_segments_drop_tail(l, k + 1);
    if (rc == 0 && l->damaged) {
        struct stray_ctx c = {l, keep_after, 0};
        rc = l->disk->list(l->disk->ctx, remove_stray, &c);
        rc = rc != 0 ? rc : c.rc;
    }
    rc = rc != 0 ? rc : log_sync_dir(l);
    if (rc == 0 && k < l->segs_count) {
        struct log_segment *s = &l->segs[k];
        rc = l->disk->file_truncate(l->disk->ctx, s->file, offset);
        rc = rc != 0 ? rc : l->disk->file_sync(l->disk->ctx, s->file);
        s->end_offset = offset;
        s->file_end = offset;
    }
    return rc;
}

int log_truncate_suffix(struct log *l, uint64_t from_index)
{
    if (l->failed != 0) {
        return l->failed;
    }
    if (from_index < l->first_index || from_index > log_next_index(l)) {
        return ERR_INVALID;
    }
    if (from_index == log_next_index(l) && !l->damaged) {
        return 0;
    }
    size_t k = segment_of(l, from_index);
    uint64_t offset = LOG_SEGMENT_HEADER_SIZE, keep_after = 0;
    if (k < l->segs_count) {
        struct log_segment *s = &l->segs[k];
        keep_after = s->first_index;
        offset = from_index < log_next_index(l) ? l->pos[from_index - l->first_index].offset
                                                : s->end_offset;
    }
    int rc = truncate_segments(l, k, offset, keep_after);
    /* Memory follows even on failure: the segments may be gone already. */
    l->pos_count = from_index - l->first_index;
    l->durable_index = MIN(l->durable_index, from_index - 1);
    if (rc != 0) {
        return log_fail(l, rc);
    }
    l->seg_dirty = false;
    l->dir_dirty = false;
    l->damaged = false;
    l->corrupt_from_index = 0;
    return 0;
}

int log_compact(struct log *l, uint64_t up_to_index)
{
    if (l->failed != 0) {
        return l->failed;
    }
    if (l->damaged) {
        return ERR_CORRUPT;
    }
    if (up_to_index > l->snap.index) {
        return ERR_INVALID;
    }
    if (up_to_index < l->first_index) {
        return 0;
    }
    if (up_to_index >= log_next_index(l) - 1) {
        int rc = log_reset_empty(l, up_to_index + 1);
        l->durable_index = MAX(l->durable_index, up_to_index);
        return rc;
    }
    size_t drop = 0;
    while (drop + 1 < l->segs_count && l->segs[drop + 1].first_index - 1 <= up_to_index) {
        drop++;
    }
    if (drop == 0) {
        return 0;
    }
    /* No directory fsync between removals: a crash may bring any of them back, and
     * recovery drops them unread, as they all lie before a segment that starts at or
     * below snapshot index + 1. */
    int rc = 0;
    for (size_t k = 0; k < drop; k++) {
        char name[LOG_SEGMENT_NAME_SIZE];
        log_fmt_segment_name(name, l->segs[k].first_index);
        l->disk->file_close(l->disk->ctx, l->segs[k].file);
        if (rc == 0) {
            rc = l->disk->remove(l->disk->ctx, name);
            rc = rc == ERR_NOT_FOUND ? 0 : rc;
        }
    }
    uint64_t first_new = l->segs[drop].first_index;
    size_t entries_dropped = (size_t)(first_new - l->first_index);
    memmove(l->segs, l->segs + drop, (l->segs_count - drop) * sizeof *l->segs);
    l->segs_count -= drop;
    memmove(l->pos, l->pos + entries_dropped, (l->pos_count - entries_dropped) * sizeof *l->pos);
    l->pos_count -= entries_dropped;
    l->first_index = first_new;
    rc = rc != 0 ? rc : log_sync_dir(l);
    return rc == 0 ? 0 : log_fail(l, rc);
}

int log_read(struct log *l, uint64_t index, struct log_record *rec, struct buf *out)
{
    if (index < l->first_index || index >= log_next_index(l)) {
        return ERR_NOT_FOUND;
    }
    const struct log_pos *p = &l->pos[index - l->first_index];
    const struct log_segment *s = &l->segs[segment_of(l, index)];
    buf_reset(out);
    size_t size = (size_t)log_fmt_record_size(p->len);
    uint8_t *dst = buf_extend(out, size);
    if (dst == NULL) {
        return ERR_NOMEM;
    }
    size_t got = 0;
    int rc = l->disk->file_read(l->disk->ctx, s->file, dst, size, p->offset, &got);
    if (rc != 0) {
        return rc;
    }
    struct log_record_header h;
    if (got != size || log_fmt_record_header_decode(dst, got, &h) != 0 || h.index != index ||
        h.term != p->term || h.length != p->len || dst[size - 1] != LOG_RECORD_END_MARK ||
        crc32c(dst + LOG_RECORD_HEADER_SIZE, p->len) != h.payload_crc) {
        return ERR_CORRUPT;
    }
    *rec = (struct log_record){h.term, h.index, h.type, dst + LOG_RECORD_HEADER_SIZE, h.length};
    return 0;
}

uint64_t log_term_at(const struct log *l, uint64_t index)
{
    if (index >= l->first_index && index < log_next_index(l)) {
        return l->pos[index - l->first_index].term;
    }
    return index == l->snap.index ? l->snap.term : 0;
}

uint64_t log_first_index(const struct log *l) { return l->first_index; }
uint64_t log_last_index(const struct log *l) { return log_next_index(l) - 1; }
uint64_t log_durable_index(const struct log *l) { return l->durable_index; }
uint64_t log_term(const struct log *l) { return l->meta.term; }
uint64_t log_vote(const struct log *l) { return l->meta.vote; }
uint64_t log_vote_barrier(const struct log *l) { return l->meta.vote_barrier; }
struct log_snapshot_meta log_snapshot_meta(const struct log *l) { return l->snap; }
uint32_t log_segments_count(const struct log *l) { return (uint32_t)l->segs_count; }
int log_failed(const struct log *l) { return l->failed; }

bool log_damaged(const struct log *l, uint64_t *from_index)
{
    if (l->damaged && from_index != NULL) {
        *from_index = l->corrupt_from_index;
    }
    return l->damaged;
}

void log_close(struct log *l)
{
    if (l != NULL) {
        log_struct_free(l);
    }
}

void log_check_invariants(const struct log *l)
{
    ASSERT(l->first_index >= 1);
    ASSERT(l->durable_index <= log_next_index(l) - 1 || l->damaged);
    ASSERT(l->pos_count == 0 || l->segs_count > 0);
    if (l->segs_count > 0) {
        ASSERT(l->segs[0].first_index == l->first_index);
    }
    for (size_t k = 0; k + 1 < l->segs_count; k++) {
        ASSERT(l->segs[k].first_index <= l->segs[k + 1].first_index);
    }
    for (size_t k = 0; k < l->segs_count; k++) {
        ASSERT(l->segs[k].end_offset <= l->segs[k].file_end);
    }
    for (size_t i = 0; i < l->pos_count; i++) {
        uint64_t index = l->first_index + i;
        size_t k = segment_of(l, index);
        ASSERT(k < l->segs_count);
        ASSERT(l->pos[i].offset >= LOG_SEGMENT_HEADER_SIZE);
        ASSERT(l->pos[i].offset + log_fmt_record_size(l->pos[i].len) <= l->segs[k].end_offset);
        if (i > 0 && segment_of(l, index - 1) == k) {
            ASSERT(l->pos[i].offset > l->pos[i - 1].offset);
        }
    }
}
