/* The durable log of a Raft node: a segmented write-ahead log, the term and vote,
 * snapshots, and crash recovery. Its byte formats live in src/log/format.h and
 * docs/log.md.
 *
 * The log is pure with respect to I/O: it touches storage only through the struct disk
 * it is given (src/log/disk.h), so the simulator runs it on a faulty in-memory disk and
 * the server on real files. Calls are single-threaded (the server makes them from one
 * worker thread). Depends on base and the disk interface only.
 *
 * Durability model:
 *   - log_append writes records to the open segment (reaching the OS, not the platter);
 *     log_sync issues one fdatasync covering every record appended since the previous
 *     sync (group commit), plus a directory fsync when a segment was created, and only
 *     then advances the durable index. The Raft driver counts its own entry for commit
 *     only up to log_durable_index().
 *   - log_truncate_suffix, log_set_term_vote, log_snapshot_save and log_compact are
 *     durable when they return 0.
 *   - A failed fdatasync or directory fsync is sticky (STYLE.md rule 12): every later
 *     write returns the stored error and log_failed() says so; only a restart
 *     (log_close + log_open, which re-reads the disk) clears it.
 *   - A failed write (ERR_NOSPACE, ERR_IO) before any sync is a clean error: the log is
 *     rolled back to the state before the call and stays usable.
 *
 * Recovery (log_open): a torn record at the end of the last segment is cut off and
 * reported; a bad record anywhere else, or a bad record that is complete (a latent bit
 * flip rather than an interrupted write), is corruption: the log keeps the valid
 * prefix, reports corrupt_from_index, refuses appends (ERR_CORRUPT) until the driver
 * cuts the damaged part with log_truncate_suffix(corrupt_from_index), and never skips
 * a record. The driver must not vote or lead on a damaged log; it repairs from peers.
 *
 * Memory: the log keeps, per entry, its term, type, length and file offset (24 bytes)
 * and reads payloads back from the disk on log_read; no payload is cached. */
#ifndef CHORUS_LOG_LOG_H
#define CHORUS_LOG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "log/disk.h"

#define LOG_ENTRY_SIZE_MAX (16u * 1024 * 1024)             /* payload bytes per record */
#define LOG_SEGMENT_SIZE_BYTES_DEFAULT (64u * 1024 * 1024)
#define LOG_SEGMENT_SIZE_BYTES_MIN 64u
#define LOG_PREALLOCATE_BYTES_DEFAULT (1u * 1024 * 1024)
#define LOG_SNAPSHOT_CONFIG_SIZE_MAX (1u * 1024 * 1024)
#define LOG_SNAPSHOT_DATA_SIZE_MAX (1ull * 1024 * 1024 * 1024)
#define LOG_SEGMENTS_COUNT_MAX 100000u

/* Known-wrong variants for the test build (STYLE.md rule 20); each must be caught by
 * tests/log/test_crash.c. Without CHORUS_MUTANTS the field is ignored. */
enum log_mutant {
    LOG_MUTANT_NONE = 0,
    LOG_MUTANT_ACK_BEFORE_FSYNC,          /* log_sync reports durability, never syncs */
    LOG_MUTANT_SKIP_DIR_FSYNC,            /* no directory fsync after creating a segment */
    LOG_MUTANT_MIDLOG_CORRUPTION_AS_END,  /* a bad record ends the log like a torn tail */
};

struct log_config {
    uint64_t segment_size_bytes; /* roll when the next record would pass it; 0: default */
    enum log_mutant mutant;
    /* Zero-filled room kept ahead of the last segment's data (up to the segment size),
     * so that the fdatasync of an append does not also write the file's new size: on
     * ext4 that is a second device write per sync. 0: default. */
    uint64_t preallocate_bytes;
};

/* One entry as the caller hands it over or reads it back. data is borrowed. */
struct log_record {
    uint64_t term;
    uint64_t index;
    uint8_t type;
    const uint8_t *data;
    uint32_t len;
};

/* What log_open found. Filled on success; on failure only partially meaningful. */
struct log_recovery {
    uint64_t term;                /* from the metadata file; 0 when absent */
    uint64_t vote;                /* 0 = voted for nobody */
    uint64_t vote_barrier;        /* from the metadata file: see log_set_vote_barrier */
    bool meta_corrupt;            /* metadata exists but fails its check: term/vote unknown */
    bool snapshot_present;
    bool snapshot_corrupt;        /* a snapshot file exists but fails its check */
    uint64_t snapshot_index;
    uint64_t snapshot_term;
    uint64_t first_index;         /* first entry kept (last_index + 1 when empty) */
    uint64_t last_index;          /* last valid entry (or snapshot index when empty) */
    uint32_t segments_count;
    bool torn_tail;               /* an interrupted write was cut off the end */
    uint64_t torn_bytes;          /* bytes of the interrupted write found and removed */
    bool corrupt;                 /* a bad record with valid data after it, or a complete bad record */
    uint64_t corrupt_from_index;  /* first index that could not be vouched for */
    uint64_t corrupt_to_index;    /* highest index seen in valid records after it (0: none seen) */
};

struct log_snapshot_meta {
    uint64_t index;
    uint64_t term;
};

/* A loaded snapshot; config and data are owned by it (log_snapshot_free). */
struct log_snapshot {
    struct log_snapshot_meta meta;
    uint8_t *config;
    uint32_t config_len;
    uint8_t *data;
    uint64_t data_len;
};

struct log;

/* Opens the log stored on d and recovers it. d is borrowed and must outlive the log.
 * Returns 0 (then *out is owned by the caller, see log_close) or ERR_IO / ERR_NOMEM /
 * ERR_NOSPACE / ERR_INVALID when recovery could not even run, or ERR_VERSION when an
 * intact metadata file was written by another format version (nothing is changed);
 * damage found in the files is not an error but is described in *report. */
int log_open(struct log **out, struct disk *d, const struct log_config *cfg,
             struct log_recovery *report);
/* Releases the log. Does no I/O beyond closing files: unsynced appends stay unsynced. */
void log_close(struct log *l);

/* Appends n records; recs[0].index must be log_last_index() + 1 and the rest follow
 * contiguously. Payloads are copied to the disk before return. ERR_INVALID (wrong index,
 * payload over LOG_ENTRY_SIZE_MAX), ERR_CORRUPT (damaged, see log_truncate_suffix),
 * ERR_NOSPACE / ERR_IO (nothing appended), or the sticky error. */
int log_append(struct log *l, const struct log_record *recs, size_t n);
/* Makes everything appended so far durable with one fdatasync; *durable_index_out (may
 * be NULL) receives log_durable_index(). */
int log_sync(struct log *l, uint64_t *durable_index_out);
/* Removes entries from from_index on (Raft's conflict truncation), durably. from_index
 * may be anything in [first_index, last_index + 1]; on a damaged log, truncating at or
 * below corrupt_from_index repairs it (the damaged tail and later segments go). */
int log_truncate_suffix(struct log *l, uint64_t from_index);
/* Replaces term and vote atomically and durably (meta.tmp, fdatasync, rename, dir fsync). */
int log_set_term_vote(struct log *l, uint64_t term, uint64_t vote);
/* Replaces the vote barrier the same way, keeping term and vote. The driver saves one
 * after cutting recovered corruption: the log may have lost entries the node had
 * acknowledged, so Raft must not let it vote until a leader has repaired it past index
 * (raft_boot.vote_barrier_index); the barrier must survive restarts until then, and the
 * driver saves 0 once Raft reports it lifted. */
int log_set_vote_barrier(struct log *l, uint64_t index);
/* Removes the snapshot and every segment stored on d, durably (directory fsync), and
 * keeps the metadata file (term, vote, vote barrier). For a driver whose snapshot failed
 * its checks: the state it held is gone, so the entries after it are useless too. Call it
 * with the log closed, after saving a vote barrier (log_set_vote_barrier), then log_open
 * again to get an empty log that a leader refills. 0 or the disk's error. */
int log_discard_entries_and_snapshot(struct disk *d);
/* Saves a snapshot atomically and durably (snapshot.tmp, fdatasync, rename, dir fsync).
 * config and data are copied. index must not be below the current snapshot's. */
int log_snapshot_save(struct log *l, uint64_t index, uint64_t term, const uint8_t *config,
                      uint32_t config_len, const uint8_t *data, uint64_t data_len);
/* Reads the current snapshot into *out (free with log_snapshot_free). ERR_NOT_FOUND when
 * there is none, ERR_CORRUPT when it fails its checks. */
int log_snapshot_load(struct log *l, struct log_snapshot *out);
void log_snapshot_free(struct log_snapshot *s);
/* Deletes every segment whose entries are all <= up_to_index, durably. up_to_index must
 * be covered by the saved snapshot. When it is >= last_index the log becomes empty and
 * the next append is up_to_index + 1. */
int log_compact(struct log *l, uint64_t up_to_index);

/* Reads entry index: fills rec (rec->data points into out, which is reset first and is
 * owned by the caller). ERR_NOT_FOUND outside [first_index, last_index], ERR_CORRUPT when
 * the stored bytes no longer check out, ERR_IO. */
int log_read(struct log *l, uint64_t index, struct log_record *rec, struct buf *out);
/* The term of entry index (from memory); the snapshot term for the snapshot index;
 * 0 when unknown. */
uint64_t log_term_at(const struct log *l, uint64_t index);

uint64_t log_first_index(const struct log *l);
uint64_t log_last_index(const struct log *l); /* snapshot index when empty */
uint64_t log_durable_index(const struct log *l);
uint64_t log_term(const struct log *l);
uint64_t log_vote(const struct log *l);
uint64_t log_vote_barrier(const struct log *l);
struct log_snapshot_meta log_snapshot_meta(const struct log *l); /* index 0: none */
uint32_t log_segments_count(const struct log *l);
/* The sticky error (0 when healthy). */
int log_failed(const struct log *l);
/* True while recovered corruption is unrepaired; *from_index gets its first index. */
bool log_damaged(const struct log *l, uint64_t *from_index);

/* Asserts the in-memory invariants (indices contiguous, offsets increasing, segments
 * ordered). For the simulator and tests. */
void log_check_invariants(const struct log *l);

#endif
