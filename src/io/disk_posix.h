/* The real disk: struct disk (src/log/disk.h) over POSIX files in one data directory.
 *
 * Every name is opened relative to a directory descriptor held for the disk's lifetime;
 * sync is fdatasync(2) and sync_dir is fsync(2) of that directory, which the log calls
 * after creating, renaming and removing files. Writes and reads loop over short
 * transfers and EINTR; errno is mapped with err_from_errno (ENOSPC -> ERR_NOSPACE,
 * anything unexpected -> ERR_IO). No O_DIRECT: the page cache is used and durability
 * comes from fdatasync alone. Depends on base, log/disk.h and POSIX. */
#ifndef CHORUS_IO_DISK_POSIX_H
#define CHORUS_IO_DISK_POSIX_H

#include "log/disk.h"

/* Binds *out to directory path, creating it (mode 0755) when missing. Returns 0 or an
 * error; on success release with disk_posix_close. */
int disk_posix_open(struct disk *out, const char *path);
void disk_posix_close(struct disk *d);

#endif
