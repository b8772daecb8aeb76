/* POSIX implementation of struct disk; the contract is in src/log/disk.h and the
 * choices (dirfd-relative names, fdatasync, directory fsync) in disk_posix.h. */
#include "io/disk_posix.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errors.h"

struct disk_file {
    int fd;
};

struct posix_ctx {
    int dir_fd;
};

static int dir_fd_of(void *ctx) { return ((struct posix_ctx *)ctx)->dir_fd; }

static int errno_code(void) { return err_from_errno(errno); }

static bool name_ok(const char *name)
{
    return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL &&
           strlen(name) < DISK_NAME_SIZE_MAX;
}

static int px_open(void *ctx, const char *name, unsigned flags, struct disk_file **out)
{
    if (!name_ok(name)) {
        return ERR_INVALID;
    }
    int oflags = O_RDWR | O_CLOEXEC | ((flags & DISK_OPEN_CREATE) ? O_CREAT : 0);
    int fd;
    do {
        fd = openat(dir_fd_of(ctx), name, oflags, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return errno_code();
    }
    struct disk_file *f = malloc(sizeof *f);
    if (f == NULL) {
        close(fd);
        return ERR_NOMEM;
    }
    f->fd = fd;
    *out = f;
    return 0;
}

static void px_close(void *ctx, struct disk_file *f)
{
    (void)ctx;
    if (f != NULL) {
        close(f->fd);
        free(f);
    }
}

static int px_pwrite(void *ctx, struct disk_file *f, const void *data, size_t len, uint64_t offset)
{
    (void)ctx;
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = pwrite(f->fd, p, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_code();
        }
        if (n == 0) {
            return ERR_IO;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

static int px_pread(void *ctx, struct disk_file *f, void *data, size_t len, uint64_t offset,
                    size_t *read_out)
{
    (void)ctx;
    uint8_t *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, p + done, len - done, (off_t)(offset + done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_code();
        }
        if (n == 0) {
            break;
        }
        done += (size_t)n;
    }
    *read_out = done;
    return 0;
}

static int px_size(void *ctx, struct disk_file *f, uint64_t *size_out)
{
    (void)ctx;
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        return errno_code();
    }
    *size_out = (uint64_t)st.st_size;
    return 0;
}

static int px_sync(void *ctx, struct disk_file *f)
{
    (void)ctx;
    /* Never retried: after a failed fdatasync the kernel may have dropped the dirty pages
     * (STYLE.md rule 12); the caller turns the error into a sticky failure. */
    return fdatasync(f->fd) == 0 ? 0 : errno_code();
}

static int px_truncate(void *ctx, struct disk_file *f, uint64_t size)
{
    (void)ctx;
    int rc;
    do {
        rc = ftruncate(f->fd, (off_t)size);
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? 0 : errno_code();
}

static int px_rename(void *ctx, const char *from, const char *to)
{
    if (!name_ok(from) || !name_ok(to)) {
        return ERR_INVALID;
    }
    return renameat(dir_fd_of(ctx), from, dir_fd_of(ctx), to) == 0 ? 0 : errno_code();
}

static int px_remove(void *ctx, const char *name)
{
    if (!name_ok(name)) {
        return ERR_INVALID;
    }
    return unlinkat(dir_fd_of(ctx), name, 0) == 0 ? 0 : errno_code();
}

static int px_list(void *ctx, disk_list_fn fn, void *arg)
{
    int fd = dup(dir_fd_of(ctx));
    if (fd < 0) {
        return errno_code();
    }
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        int rc = errno_code();
        close(fd);
        return rc;
    }
    rewinddir(dir);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] != '.' && strlen(e->d_name) < DISK_NAME_SIZE_MAX) {
            rc = fn(arg, e->d_name);
        }
    }
    closedir(dir);
    return rc;
}

static int px_sync_dir(void *ctx) { return fsync(dir_fd_of(ctx)) == 0 ? 0 : errno_code(); }

int disk_posix_open(struct disk *out, const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return errno_code();
    }
    struct posix_ctx *c = malloc(sizeof *c);
    if (c == NULL) {
        return ERR_NOMEM;
    }
    c->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->dir_fd < 0) {
        int rc = errno_code();
        free(c);
        return rc;
    }
    *out = (struct disk){c,        px_open,     px_close,  px_pwrite, px_pread, px_size,
                         px_sync,  px_truncate, px_rename, px_remove, px_list,  px_sync_dir};
    return 0;
}

void disk_posix_close(struct disk *d)
{
    struct posix_ctx *c = d->ctx;
    if (c != NULL) {
        close(c->dir_fd);
        free(c);
        d->ctx = NULL;
    }
}
