/* The disk interface: the only way the log reaches storage.
 *
 * A struct disk is a table of function pointers plus a context, bound to one data
 * directory. The log names files by short relative names (no '/', at most
 * DISK_NAME_SIZE_MAX - 1 bytes) and never sees paths, descriptors or errno. Two
 * implementations exist: src/io/disk_posix.c (real files) and src/sim/disk_sim.c (in
 * memory, with crash, torn-write, bit-rot, EIO and ENOSPC faults driven by a seed).
 *
 * Durability contract, the same as POSIX's and relied upon by the log:
 *   - pwrite places bytes in a volatile cache; only sync (fdatasync) makes a file's
 *     bytes and size durable. Until then a crash may keep none, all or a byte prefix of
 *     the writes issued since the file's previous sync.
 *   - open with DISK_OPEN_CREATE, rename and remove change the directory; they are
 *     durable only after sync_dir. Until then a crash may undo each of them.
 *   - a failed sync is final for the data it covered: the caller must not retry and
 *     trust the result (STYLE.md rule 12).
 * Every function returns 0 (pread: also the count) or a negative code from
 * base/errors.h: ERR_NOT_FOUND, ERR_NOSPACE, ERR_IO, ERR_NOMEM, ERR_INVALID.
 * Depends on libc only. */
#ifndef CHORUS_LOG_DISK_H
#define CHORUS_LOG_DISK_H

#include <stddef.h>
#include <stdint.h>

#define DISK_NAME_SIZE_MAX 64

/* Flags for open. Without DISK_OPEN_CREATE a missing file gives ERR_NOT_FOUND. */
#define DISK_OPEN_CREATE 1u

/* An open file; owned by the disk implementation, released by close. */
struct disk_file;

/* Called once per regular file in the data directory; a negative return stops the
 * listing and is returned by list. The name is borrowed for the call only. */
typedef int (*disk_list_fn)(void *arg, const char *name);

struct disk {
    void *ctx; /* the implementation's state, passed to every call */
    /* Opens name (creating it empty when flags has DISK_OPEN_CREATE); *out is owned by
     * the disk until close. */
    int (*file_open)(void *ctx, const char *name, unsigned flags, struct disk_file **out);
    /* Releases f. Never syncs and never fails. */
    void (*file_close)(void *ctx, struct disk_file *f);
    /* Writes all len bytes at offset, growing the file as needed; on error nothing is
     * promised about the range written. */
    int (*file_write)(void *ctx, struct disk_file *f, const void *data, size_t len,
                  uint64_t offset);
    /* Reads up to len bytes at offset; *read_out is short only at the end of the file. */
    int (*file_read)(void *ctx, struct disk_file *f, void *data, size_t len, uint64_t offset,
                 size_t *read_out);
    int (*file_size)(void *ctx, struct disk_file *f, uint64_t *size_out);
    /* fdatasync: the file's bytes and size become durable. */
    int (*file_sync)(void *ctx, struct disk_file *f);
    int (*file_truncate)(void *ctx, struct disk_file *f, uint64_t size);
    /* Atomically replaces to with from (durable after sync_dir). */
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*remove)(void *ctx, const char *name);
    int (*list)(void *ctx, disk_list_fn fn, void *arg);
    /* fsync of the directory: creations, renames and removals become durable. */
    int (*sync_dir)(void *ctx);
};

#endif
