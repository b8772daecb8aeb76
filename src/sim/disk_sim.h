/* The simulator's disk: an in-memory implementation of struct disk (src/log/disk.h)
 * with the faults of a real one, every choice drawn from a caller-owned struct prng so a
 * seed reproduces a run.
 *
 * Model. Each file (inode) has its current bytes, its durable bytes (as of its last
 * successful sync) and the ordered list of writes and truncations since. The directory
 * has a current and a durable table of names (as of the last sync_dir). On
 * disk_sim_crash:
 *   - each file keeps its durable bytes plus a prefix of its pending operations, the
 *     last one possibly torn at any byte (RANDOM), all of them (KEEP_ALL) or none
 *     (LOSE_UNSYNCED);
 *   - each name whose current and durable bindings differ (created, renamed, removed
 *     without a directory fsync) takes one of the two (RANDOM), the current one
 *     (KEEP_ALL) or the durable one (LOSE_UNSYNCED);
 *   - with cfg.bitflip_per_million, a file may come back with one flipped bit;
 *   - every open handle becomes stale: calls on it fail with ERR_IO, close releases it.
 * Other faults: sync and sync_dir fail with ERR_IO at cfg.sync_fail_per_million or on
 * demand (disk_sim_fail_syncs), leaving their data unsynced; writes that would take the
 * disk past cfg.capacity_bytes fail with ERR_NOSPACE and write nothing; a power cut at a
 * chosen operation (disk_sim_halt_at) applies that operation only partly and fails it
 * and everything after with ERR_IO, for crash-point enumeration.
 * Not thread-safe (the simulator is single-threaded). Depends on base and log/disk.h. */
#ifndef CHORUS_SIM_DISK_SIM_H
#define CHORUS_SIM_DISK_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/prng.h"
#include "log/disk.h"

struct disk_sim_config {
    uint64_t capacity_bytes;        /* 0: unlimited */
    uint32_t sync_fail_per_million; /* chance that a sync or sync_dir fails with ERR_IO */
    uint32_t bitflip_per_million;   /* chance per file per crash of one latent bit flip */
};

enum disk_sim_crash_mode {
    DISK_SIM_CRASH_RANDOM = 0,
    DISK_SIM_CRASH_KEEP_ALL,
    DISK_SIM_CRASH_LOSE_UNSYNCED,
};

/* The mutating operations, counted from 1 in the order issued; halts and observers use
 * the count. */
enum disk_sim_op {
    DISK_SIM_OP_CREATE = 1,
    DISK_SIM_OP_WRITE,
    DISK_SIM_OP_TRUNCATE,
    DISK_SIM_OP_SYNC,
    DISK_SIM_OP_RENAME,
    DISK_SIM_OP_REMOVE,
    DISK_SIM_OP_SYNC_DIR,
};

typedef void (*disk_sim_observer_fn)(void *arg, uint64_t op_no, enum disk_sim_op op, size_t len);

struct disk_sim;

/* prng is borrowed and must outlive the disk. Returns NULL when out of memory. */
struct disk_sim *disk_sim_create(struct prng *prng, const struct disk_sim_config *cfg);
/* Frees the disk and every file; all handles must have been closed. */
void disk_sim_destroy(struct disk_sim *s);
/* The struct disk to hand to the log; owned by s. */
struct disk *disk_sim_disk(struct disk_sim *s);

/* A machine crash (see the model above). Clears a halt. */
void disk_sim_crash(struct disk_sim *s, enum disk_sim_crash_mode mode);
/* Power cut at mutating operation op_no: a write applies only its first keep_bytes, any
 * other operation applies when keep_bytes > 0; it and every later call fail with ERR_IO. */
void disk_sim_halt_at(struct disk_sim *s, uint64_t op_no, size_t keep_bytes);
bool disk_sim_halted(const struct disk_sim *s);
uint64_t disk_sim_ops_count(const struct disk_sim *s);
void disk_sim_set_observer(struct disk_sim *s, disk_sim_observer_fn fn, void *arg);
/* The next count sync or sync_dir calls fail with ERR_IO. */
void disk_sim_fail_syncs(struct disk_sim *s, uint32_t count);
void disk_sim_set_capacity(struct disk_sim *s, uint64_t capacity_bytes);
/* Replaces the fault configuration (a fault schedule turning faults on, then healing). */
void disk_sim_configure(struct disk_sim *s, const struct disk_sim_config *cfg);
uint64_t disk_sim_used_bytes(const struct disk_sim *s);

/* Flips bit `bit` of file name, in its current and durable bytes (a latent media error).
 * ERR_NOT_FOUND when no such file or bit. */
int disk_sim_flip_bit(struct disk_sim *s, const char *name, uint64_t bit);
/* Creates or replaces name with the given bytes, already durable (name and content). */
int disk_sim_put_file(struct disk_sim *s, const char *name, const void *data, size_t len);
/* Current size of name, or ERR_NOT_FOUND. */
int disk_sim_file_size(const struct disk_sim *s, const char *name, uint64_t *size_out);

#endif
