/* Recovery: log_open reads the metadata, checks the snapshot and rebuilds the entry
 * index from the segments, deciding for the first record that does not check out
 * whether it is a torn tail or corruption.
 *
 * Rules (docs/log.md, "Recovery"):
 *   - Records are read in index order; each must have a valid header checksum, a payload
 *     that fits in the file with a valid checksum, its end byte, and the next index.
 *   - A segment's data ends where nothing but zero bytes is left: the room the log fills
 *     ahead of its appends (or an append a crash lost whole).
 *   - The first failure is a torn tail when it is what an interrupted write leaves
 *     behind, a prefix of a record followed by zeros or the end of the file: the header
 *     is cut short (what is left starts like a header), its payload runs past the end
 *     of the file, or the record's last nonzero byte comes before its end byte (a
 *     complete record's end byte is never zero); AND no valid record follows it in a
 *     later segment (the torn record's own bytes are payload, not searched). A torn tail
 *     is cut off durably and reported.
 *   - Anything else is corruption: a complete record that fails its checks, a bad
 *     segment header, a hole between segments, or a torn-looking tail with valid records
 *     after it. Segment rolling syncs a segment before writing its successor, so none of
 *     these can come from a crash. The valid prefix is kept, corrupt_from_index and the
 *     highest index seen beyond are reported, nothing is skipped, and the log refuses
 *     appends until log_truncate_suffix cuts the damage away.
 *   - Segments wholly covered by the snapshot are obsolete (a compaction was cut short)
 *     and removed. Depends on base. */
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/crc32c.h"
#include "base/errors.h"
#include "log/log_internal.h"

enum rec_state { REC_OK, REC_END, REC_TORN, REC_BAD };

struct scan {
    struct log *l;
    struct log_recovery *report;
    struct buf names;   /* uint64_t first indices of the segment files, sorted */
    size_t names_count;
    struct buf other;   /* scratch for reading later segments */
};

static int collect_name(void *arg, const char *name)
{
    struct scan *s = arg;
    uint64_t first;
    if (log_fmt_segment_name_parse(name, &first) && first >= 1 && first < LOG_INDEX_MAX) {
        if (s->names_count >= LOG_SEGMENTS_COUNT_MAX) {
            return ERR_TOO_LARGE;
        }
        if (buf_put(&s->names, &first, sizeof first) != 0) {
            return ERR_NOMEM;
        }
        s->names_count++;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static uint64_t name_at(const struct scan *s, size_t k)
{
    uint64_t v;
    memcpy(&v, s->names.data + k * sizeof v, sizeof v);
    return v;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

/* Length of p[0..len) without its trailing zero bytes. */
static size_t nonzero_len(const uint8_t *p, size_t len)
{
    while (len > 0 && p[len - 1] == 0) {
        len--;
    }
    return len;
}

/* Decodes a whole record at p (left bytes available) without judging its index. */
static bool record_valid(const uint8_t *p, size_t left, struct log_record_header *h)
{
    if (log_fmt_record_header_decode(p, left, h) != 0 || log_fmt_record_size(h->length) > left) {
        return false;
    }
    size_t size = (size_t)log_fmt_record_size(h->length);
    return p[size - 1] == LOG_RECORD_END_MARK &&
           crc32c(p + LOG_RECORD_HEADER_SIZE, h->length) == h->payload_crc;
}

/* Whether the n bytes at p (n < a header) can be the start of a record header cut short:
 * they begin with the magic and version, which a latent bit flip in zero-filled room
 * cannot produce. */
static bool header_start(const uint8_t *p, size_t n)
{
    const uint8_t start[3] = {LOG_RECORD_MAGIC & 0xFF, LOG_RECORD_MAGIC >> 8, LOG_FMT_VERSION};
    return memcmp(p, start, MIN(n, sizeof start)) == 0;
}

/* The record at p, with left bytes to the end of the file of which the first written
 * are not all zero (the rest are). */
static enum rec_state classify(const uint8_t *p, size_t left, size_t written, uint64_t expected,
                               struct log_record_header *h)
{
    if (written == 0) {
        return REC_END;
    }
    if (log_fmt_record_header_decode(p, left, h) != 0) {
        return written < LOG_RECORD_HEADER_SIZE && header_start(p, written) ? REC_TORN : REC_BAD;
    }
    uint64_t size = log_fmt_record_size(h->length);
    if (size > left) {
        return REC_TORN;
    }
    if (!record_valid(p, left, h) || h->index != expected) {
        return written < size ? REC_TORN : REC_BAD;
    }
    return REC_OK;
}

/* Highest index of any valid record in p[0..len) (0 when none). */
static uint64_t scan_valid(const uint8_t *p, size_t len)
{
    uint64_t max_index = 0;
    size_t o = 0;
    while (o + LOG_RECORD_HEADER_SIZE <= len) {
        struct log_record_header h;
        if (le_load_u16(p + o) == LOG_RECORD_MAGIC && record_valid(p + o, len - o, &h)) {
            max_index = MAX(max_index, MAX(h.index, 1));
            o += (size_t)log_fmt_record_size(h.length);
        } else {
            o++;
        }
    }
    return max_index;
}

static int read_segment(struct scan *s, uint64_t first, struct buf *out, struct disk_file **f_out)
{
    char name[LOG_SEGMENT_NAME_SIZE];
    log_fmt_segment_name(name, first);
    int rc = s->l->disk->file_open(s->l->disk->ctx, name, 0, f_out);
    if (rc != 0) {
        return rc;
    }
    rc = log_read_file(s->l, *f_out, out, UINT32_MAX);
    if (rc != 0) {
        s->l->disk->file_close(s->l->disk->ctx, *f_out);
    }
    return rc;
}

/* Highest valid record index in segment files names[k..]. */
static int scan_later(struct scan *s, size_t k, uint64_t *max_index)
{
    for (; k < s->names_count; k++) {
        struct disk_file *f = NULL;
        int rc = read_segment(s, name_at(s, k), &s->other, &f);
        if (rc != 0) {
            return rc;
        }
        s->l->disk->file_close(s->l->disk->ctx, f);
        *max_index = MAX(*max_index, scan_valid(s->other.data, s->other.len));
    }
    return 0;
}

/* Removes segment files names[k..] (no valid record lives there). */
static int remove_later(struct scan *s, size_t k, uint64_t *bytes)
{
    for (; k < s->names_count; k++) {
        char name[LOG_SEGMENT_NAME_SIZE];
        struct disk_file *f = NULL;
        uint64_t size = 0;
        log_fmt_segment_name(name, name_at(s, k));
        if (s->l->disk->file_open(s->l->disk->ctx, name, 0, &f) == 0) {
            (void)s->l->disk->file_size(s->l->disk->ctx, f, &size);
            s->l->disk->file_close(s->l->disk->ctx, f);
        }
        *bytes += size;
        int rc = s->l->disk->remove(s->l->disk->ctx, name);
        if (rc != 0 && rc != ERR_NOT_FOUND) {
            return rc;
        }
    }
    return 0;
}

static void mark_corrupt(struct scan *s, uint64_t from_index, uint64_t to_index)
{
    struct log *l = s->l;
    l->damaged = true;
    l->corrupt_from_index = from_index;
    s->report->corrupt = true;
    s->report->corrupt_from_index = from_index;
    s->report->corrupt_to_index = to_index >= from_index ? to_index : 0;
}

/* Decides what the first failure at offset off of segment k means and acts on it. The
 * segment's bytes are in l->wbuf; in_memory says whether it is l->segs' last entry. */
static int stop_at(struct scan *s, size_t k, uint64_t off, enum rec_state st, bool in_memory)
{
    struct log *l = s->l;
    const uint8_t *p = l->wbuf.data;
    size_t len = l->wbuf.len;
    /* Where valid records could still follow in this segment: never inside a torn
     * record (its payload may hold bytes that look like a record, e.g. a client's value),
     * past a complete record whose header checks out, else from the next byte. */
    struct log_record_header h;
    uint64_t from = off + 1;
    if (st == REC_TORN) {
        from = len;
    } else if (log_fmt_record_header_decode(p + off, len - (size_t)off, &h) == 0 && in_memory) {
        from = off + log_fmt_record_size(h.length);
    }
    uint64_t after = from < len ? scan_valid(p + from, len - (size_t)from) : 0;
    int rc = scan_later(s, k + 1, &after);
    if (rc != 0) {
        return rc;
    }
    bool corrupt = st == REC_BAD || after != 0;
    if (corrupt && !log_mutant_is(l, LOG_MUTANT_MIDLOG_CORRUPTION_AS_END)) {
        mark_corrupt(s, log_next_index(l), after);
        return 0;
    }
    size_t written = nonzero_len(p, len);
    uint64_t cut = written > off ? written - off : 0;
    rc = remove_later(s, k + 1, &cut);
    if (rc == 0 && in_memory) {
        struct log_segment *seg = &l->segs[l->segs_count - 1];
        seg->end_offset = off;
        seg->file_end = off;
        rc = l->disk->file_truncate(l->disk->ctx, seg->file, off);
        rc = rc != 0 ? rc : l->disk->file_sync(l->disk->ctx, seg->file);
    } else if (rc == 0) {
        char name[LOG_SEGMENT_NAME_SIZE];
        log_fmt_segment_name(name, name_at(s, k));
        rc = l->disk->remove(l->disk->ctx, name);
    }
    rc = rc != 0 ? rc : log_sync_dir(l);
    s->report->torn_tail = true;
    s->report->torn_bytes = cut;
    return rc;
}

/* Reads segment k and indexes its records; *stop is set when the scan must end here. */
static int scan_segment(struct scan *s, size_t k, bool *stop)
{
    struct log *l = s->l;
    uint64_t first = name_at(s, k), header_first = 0;
    struct disk_file *f = NULL;
    int rc = read_segment(s, first, &l->wbuf, &f);
    if (rc != 0) {
        return rc;
    }
    const uint8_t *p = l->wbuf.data;
    size_t len = l->wbuf.len;
    if (len < LOG_SEGMENT_HEADER_SIZE || all_zero(p, len) ||
        log_fmt_segment_header_decode(p, len, &header_first) != 0 || header_first != first) {
        bool torn = len < LOG_SEGMENT_HEADER_SIZE || all_zero(p, len);
        l->disk->file_close(l->disk->ctx, f);
        *stop = true;
        return stop_at(s, k, 0, torn ? REC_TORN : REC_BAD, false);
    }
    rc = log_segs_reserve_alloc(l, 1);
    if (rc != 0) {
        l->disk->file_close(l->disk->ctx, f);
        return rc;
    }
    struct log_segment *seg = &l->segs[l->segs_count++];
    *seg = (struct log_segment){.first_index = first,
                                .end_offset = LOG_SEGMENT_HEADER_SIZE,
                                .file_end = len,
                                .file = f};
    size_t written = nonzero_len(p, len);
    size_t off = LOG_SEGMENT_HEADER_SIZE;
    for (;;) {
        struct log_record_header h;
        enum rec_state st = classify(p + off, len - off, written > off ? written - off : 0,
                                     log_next_index(l), &h);
        if (st == REC_END) {
            break;
        }
        if (st != REC_OK) {
            seg->end_offset = off;
            *stop = true;
            return stop_at(s, k, off, st, true);
        }
        rc = log_pos_reserve_alloc(l, 1);
        if (rc != 0) {
            return rc;
        }
        l->pos[l->pos_count++] = (struct log_pos){h.term, off, h.length, h.type};
        off += (size_t)log_fmt_record_size(h.length);
    }
    seg->end_offset = off;
    return 0;
}

/* Walks the sorted segment files. Those before the last one starting at or below
 * snapshot index + 1 hold only snapshot-covered entries (a compaction was cut short):
 * they are removed unread. A segment that does not continue the log is a hole, which is
 * corruption. */
static int scan_all(struct scan *s)
{
    struct log *l = s->l;
    size_t k0 = 0;
    l->first_index = l->snap.index + 1;
    if (s->names_count > 0 && name_at(s, 0) > l->first_index && !s->report->snapshot_corrupt) {
        /* Entries between the snapshot and the first segment are missing. */
        uint64_t after = 0;
        int rc = scan_later(s, 0, &after);
        if (rc == 0) {
            mark_corrupt(s, l->first_index, after);
        }
        return rc;
    }
    while (!s->report->snapshot_corrupt && k0 + 1 < s->names_count &&
           name_at(s, k0 + 1) <= l->snap.index + 1) {
        char name[LOG_SEGMENT_NAME_SIZE];
        log_fmt_segment_name(name, name_at(s, k0++));
        int rc = l->disk->remove(l->disk->ctx, name);
        if (rc != 0 && rc != ERR_NOT_FOUND) {
            return rc;
        }
    }
    l->first_index = s->names_count > 0 ? name_at(s, k0) : l->first_index;
    for (size_t k = k0; k < s->names_count; k++) {
        if (name_at(s, k) != log_next_index(l)) {
            uint64_t after = 0;
            int rc = scan_later(s, k, &after);
            if (rc == 0) {
                mark_corrupt(s, log_next_index(l), after);
            }
            return rc;
        }
        bool stop = false;
        int rc = scan_segment(s, k, &stop);
        if (rc != 0 || stop) {
            return rc;
        }
    }
    return 0;
}

/* After the scan, measured against the snapshot: a clean log wholly behind it is
 * obsolete and goes; damage at or below it means no entry after it can be vouched for,
 * so the log is emptied in memory and reported damaged from snapshot index + 1 (the
 * files stay until log_truncate_suffix repairs). */
static int settle_against_snapshot(struct scan *s)
{
    struct log *l = s->l;
    if (s->report->snapshot_corrupt || l->snap.index == 0) {
        return 0;
    }
    if (l->damaged && l->corrupt_from_index <= l->snap.index) {
        uint64_t to = s->report->corrupt_to_index;
        while (l->segs_count > 0) {
            l->disk->file_close(l->disk->ctx, l->segs[--l->segs_count].file);
        }
        l->pos_count = 0;
        l->first_index = l->snap.index + 1;
        mark_corrupt(s, l->first_index, to);
        return 0;
    }
    if (!l->damaged && log_next_index(l) - 1 < l->snap.index) {
        return log_reset_empty(l, l->snap.index + 1);
    }
    return 0;
}

int log_recover_segments(struct log *l, struct log_recovery *report)
{
    struct scan s = {l, report, {0}, 0, {0}};
    buf_init(&s.names, 0);
    buf_init(&s.other, 0);
    int rc = l->disk->list(l->disk->ctx, collect_name, &s);
    if (rc == 0 && s.names_count > 0) {
        qsort(s.names.data, s.names_count, sizeof(uint64_t), cmp_u64);
    }
    const char *tmp_names[] = {LOG_META_TMP_NAME, LOG_SNAPSHOT_TMP_NAME};
    for (size_t i = 0; i < ARRAY_COUNT(tmp_names) && rc == 0; i++) {
        rc = l->disk->remove(l->disk->ctx, tmp_names[i]);
        rc = rc == ERR_NOT_FOUND ? 0 : rc;
    }
    rc = rc != 0 ? rc : scan_all(&s);
    rc = rc != 0 ? rc : settle_against_snapshot(&s);
    /* What was read back may sit only in the OS cache after a process crash: make it
     * durable before calling it durable. */
    if (rc == 0 && l->segs_count > 0) {
        rc = l->disk->file_sync(l->disk->ctx, l->segs[l->segs_count - 1].file);
    }
    rc = rc != 0 ? rc : log_sync_dir(l);
    buf_free(&s.names);
    buf_free(&s.other);
    if (rc != 0) {
        return rc;
    }
    l->durable_index = log_next_index(l) - 1;
    report->first_index = l->first_index;
    report->last_index = log_next_index(l) - 1;
    report->segments_count = (uint32_t)l->segs_count;
    return 0;
}

int log_open(struct log **out, struct disk *d, const struct log_config *cfg,
             struct log_recovery *report)
{
    memset(report, 0, sizeof *report);
    *out = NULL;
    if (cfg->segment_size_bytes != 0 && cfg->segment_size_bytes < LOG_SEGMENT_SIZE_BYTES_MIN) {
        return ERR_INVALID;
    }
    struct log *l = log_struct_alloc(d, cfg);
    if (l == NULL) {
        return ERR_NOMEM;
    }
    int rc = log_meta_load(l, report);
    rc = rc != 0 ? rc : log_snapshot_verify(l, report);
    rc = rc != 0 ? rc : log_recover_segments(l, report);
    if (rc != 0) {
        log_struct_free(l);
        return rc;
    }
    *out = l;
    return 0;
}
