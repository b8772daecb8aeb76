/* Internal state of the log, shared by its files: log.c (appends, sync, truncation,
 * compaction, reads), store.c (term/vote and snapshots), recover.c (log_open) and
 * log_alloc.c (every allocation). Not part of the module's contract. */
#ifndef CHORUS_LOG_LOG_INTERNAL_H
#define CHORUS_LOG_LOG_INTERNAL_H

#include "base/buf.h"
#include "log/format.h"
#include "log/log.h"

/* Indices above this are rejected as malformed, so index arithmetic never overflows. */
#define LOG_INDEX_MAX (1ull << 62)

struct log_segment {
    uint64_t first_index;    /* from its name and header */
    uint64_t end_offset;     /* bytes of header plus valid records: the next write offset */
    uint64_t file_end;       /* the file's size: end_offset plus zero-filled room */
    struct disk_file *file;  /* open for the log's lifetime; owned by the disk */
};

/* Where one entry lives; the payload is read back from its segment on demand. */
struct log_pos {
    uint64_t term;
    uint64_t offset; /* of the record header within its segment */
    uint32_t len;
    uint8_t type;
};

struct log {
    struct disk *disk; /* borrowed */
    struct log_config cfg;
    struct log_meta meta;          /* as last saved (or recovered) */
    struct log_snapshot_meta snap; /* index 0: no snapshot */
    struct log_segment *segs;      /* owned; ordered by first_index, contiguous */
    size_t segs_count;
    size_t segs_cap;
    struct log_pos *pos; /* owned; pos[i] is entry first_index + i */
    size_t pos_count;
    size_t pos_cap;
    uint64_t first_index;   /* index of pos[0]; the next index when the log is empty */
    uint64_t durable_index; /* every entry <= it is synced (or in the snapshot) */
    bool seg_dirty;         /* the last segment has writes not yet synced */
    bool dir_dirty;         /* a segment was created since the last directory fsync */
    int failed;             /* sticky error, 0 when healthy */
    bool damaged;           /* recovered corruption not yet cut off */
    uint64_t corrupt_from_index;
    struct buf wbuf;        /* reused for encoding and reading whole files */
};

/* log_alloc.c */
struct log *log_struct_alloc(struct disk *d, const struct log_config *cfg);
void log_struct_free(struct log *l);
int log_pos_reserve_alloc(struct log *l, size_t extra);
int log_segs_reserve_alloc(struct log *l, size_t extra);
int log_snapshot_buffers_alloc(struct log_snapshot *s, uint32_t config_len, uint64_t data_len);

/* log.c */
static inline uint64_t log_next_index(const struct log *l) { return l->first_index + l->pos_count; }
static inline bool log_mutant_is(const struct log *l, enum log_mutant m)
{
#ifdef CHORUS_MUTANTS
    return l->cfg.mutant == m;
#else
    (void)l;
    (void)m;
    return false;
#endif
}
/* Makes the call fail stickily with err (an fsync or cleanup failed); returns err. */
int log_fail(struct log *l, int err);
/* Closes and removes l->segs[k..] from memory and disk (no directory fsync). */
int log_segments_drop_tail(struct log *l, size_t k);
/* Drops every entry and segment: the log becomes empty with next index next_index. */
int log_reset_empty(struct log *l, uint64_t next_index);
/* sync_dir unless the SKIP_DIR_FSYNC mutant is on. */
int log_sync_dir(struct log *l);
/* Reads a whole file (at most size_max bytes) into out. */
int log_read_file(struct log *l, struct disk_file *f, struct buf *out, uint64_t size_max);

/* store.c */
int log_meta_load(struct log *l, struct log_recovery *report);
int log_snapshot_verify(struct log *l, struct log_recovery *report);

/* recover.c */
int log_recover_segments(struct log *l, struct log_recovery *report);

#endif
