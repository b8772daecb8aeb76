/* storage: raft.meta and raft.wal; the byte formats and recovery rules are in storage.h. */
#include "server/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/assertions.h"
#include "base/crc32c.h"
#include "base/errors.h"

#define META_MAGIC 0x314d4843u /* "CHM1" */
#define WAL_MAGIC 0x31574843u  /* "CHW1" */
#define META_BYTES 24

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int sync_fd(struct storage *s, int fd)
{
    if (!s->fsync) {
        return 0;
    }
    uint64_t start = mono_ns();
    int rc = fdatasync(fd);
    uint64_t took = mono_ns() - start;
    s->fsyncs_count++;
    s->fsync_ns_total += took;
    s->fsync_ns_max = MAX(s->fsync_ns_max, took);
    return rc == 0 ? 0 : err_from_errno(errno);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return w < 0 ? err_from_errno(errno) : ERR_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int load_meta(struct storage *s, struct storage_recovered *rec)
{
    int fd = openat(s->dir_fd, "raft.meta", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? 0 : err_from_errno(errno);
    }
    uint8_t b[META_BYTES];
    ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n != META_BYTES || le_load_u32(b) != META_MAGIC || le_load_u32(b + 4) != 1 ||
        le_load_u32(b + 20) != crc32c(b, 20)) {
        return ERR_CORRUPT; /* written by rename, so never torn: damage is corruption */
    }
    rec->term = le_load_u64(b + 8);
    rec->vote = le_load_u32(b + 16);
    return 0;
}

int storage_save_hard_state(struct storage *s, raft_term_t term, node_id_t vote)
{
    if (s->failed != 0) {
        return s->failed;
    }
    uint8_t b[META_BYTES];
    le_store_u32(b, META_MAGIC);
    le_store_u32(b + 4, 1);
    le_store_u64(b + 8, term);
    le_store_u32(b + 16, vote);
    le_store_u32(b + 20, crc32c(b, 20));
    int rc = ERR_IO;
    int fd = openat(s->dir_fd, "raft.meta.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = err_from_errno(errno);
        goto fail;
    }
    rc = write_all(fd, b, sizeof b);
    if (rc == 0) {
        rc = sync_fd(s, fd);
    }
    close(fd);
    if (rc == 0 && renameat(s->dir_fd, "raft.meta.tmp", s->dir_fd, "raft.meta") != 0) {
        rc = err_from_errno(errno);
    }
    if (rc == 0) {
        rc = sync_fd(s, s->dir_fd);
    }
    if (rc == 0) {
        return 0;
    }
fail:
    s->failed = rc;
    return rc;
}

static int offsets_push(struct storage *s, uint64_t offset)
{
    if (s->count + 1 >= s->cap) {
        size_t cap = s->cap != 0 ? s->cap * 2 : 1024;
        uint64_t *o = realloc(s->offsets, cap * sizeof *o);
        if (o == NULL) {
            return ERR_NOMEM;
        }
        s->offsets = o;
        s->cap = cap;
    }
    s->offsets[s->count + 1] = offset;
    s->count++;
    return 0;
}

static int recovered_push(struct storage_recovered *rec, const struct raft_entry *e, size_t *cap)
{
    if (rec->entries_count == *cap) {
        *cap = *cap != 0 ? *cap * 2 : 1024;
        struct raft_entry *n = realloc(rec->entries, *cap * sizeof *n);
        if (n == NULL) {
            return ERR_NOMEM;
        }
        rec->entries = n;
    }
    rec->entries[rec->entries_count++] = *e;
    return 0;
}

/* Reads the whole WAL, keeps the valid prefix, truncates a torn tail. */
static int load_wal(struct storage *s, struct storage_recovered *rec)
{
    off_t size = lseek(s->wal_fd, 0, SEEK_END);
    if (size < 0) {
        return err_from_errno(errno);
    }
    uint8_t *all = malloc((size_t)size + 1);
    if (all == NULL) {
        return ERR_NOMEM;
    }
    int rc = 0;
    if (pread(s->wal_fd, all, (size_t)size, 0) != size) {
        rc = ERR_IO;
        goto free_all;
    }
    size_t pos = 0, cap = 0;
    s->offsets[0] = 0;
    while ((size_t)size - pos >= STORAGE_RECORD_HEADER_BYTES) {
        const uint8_t *h = all + pos;
        uint32_t len = le_load_u32(h + 8);
        if (le_load_u32(h) != WAL_MAGIC || len > STORAGE_ENTRY_BYTES_MAX ||
            (size_t)size - pos - STORAGE_RECORD_HEADER_BYTES < len ||
            le_load_u32(h + 4) != crc32c(h + 8, STORAGE_RECORD_HEADER_BYTES - 8 + len) ||
            le_load_u64(h + 20) != s->count + 1) {
            break;
        }
        struct raft_entry e = {.term = le_load_u64(h + 12), .index = le_load_u64(h + 20),
                               .type = h[28], .data_len = len};
        if (len > 0) {
            e.data = malloc(len);
            if (e.data == NULL) {
                rc = ERR_NOMEM;
                goto free_all;
            }
            memcpy(e.data, h + STORAGE_RECORD_HEADER_BYTES, len);
        }
        pos += STORAGE_RECORD_HEADER_BYTES + len;
        if ((rc = recovered_push(rec, &e, &cap)) != 0 || (rc = offsets_push(s, pos)) != 0) {
            free(e.data);
            goto free_all;
        }
    }
    s->truncated_tail_bytes = (uint64_t)size - pos;
    if (pos != (size_t)size && ftruncate(s->wal_fd, (off_t)pos) != 0) {
        rc = err_from_errno(errno);
    }
free_all:
    free(all);
    return rc;
}

int storage_open(struct storage *s, const char *dir, bool fsync, struct storage_recovered *rec)
{
    memset(s, 0, sizeof *s);
    memset(rec, 0, sizeof *rec);
    s->fsync = fsync;
    s->wal_fd = -1;
    s->dir_fd = -1;
    buf_init(&s->scratch, 0);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        return err_from_errno(errno);
    }
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        return err_from_errno(errno);
    }
    s->wal_fd = openat(s->dir_fd, "raft.wal", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    s->offsets = calloc(1024, sizeof *s->offsets);
    s->cap = 1024;
    if (s->wal_fd < 0 || s->offsets == NULL) {
        return s->wal_fd < 0 ? err_from_errno(errno) : ERR_NOMEM;
    }
    int rc = load_meta(s, rec);
    if (rc == 0) {
        rc = load_wal(s, rec);
    }
    if (rc == 0) {
        rc = sync_fd(s, s->dir_fd);
    }
    return rc;
}

void storage_recovered_free(struct storage_recovered *rec)
{
    for (size_t i = 0; i < rec->entries_count; i++) {
        free(rec->entries[i].data);
    }
    free(rec->entries);
    memset(rec, 0, sizeof *rec);
}

void storage_close(struct storage *s)
{
    if (s->wal_fd >= 0) {
        if (s->failed == 0) {
            sync_fd(s, s->wal_fd);
        }
        close(s->wal_fd);
    }
    if (s->dir_fd >= 0) {
        close(s->dir_fd);
    }
    free(s->offsets);
    buf_free(&s->scratch);
    s->offsets = NULL;
    s->wal_fd = s->dir_fd = -1;
}

static int encode_record(struct buf *b, const struct raft_entry *e)
{
    size_t start = b->len;
    uint8_t *h = buf_extend(b, STORAGE_RECORD_HEADER_BYTES);
    if (h == NULL || buf_put(b, e->data, e->data_len) != 0) {
        return ERR_NOMEM;
    }
    h = b->data + start;
    le_store_u32(h, WAL_MAGIC);
    le_store_u32(h + 8, e->data_len);
    le_store_u64(h + 12, e->term);
    le_store_u64(h + 20, e->index);
    h[28] = e->type;
    le_store_u32(h + 4, crc32c(h + 8, STORAGE_RECORD_HEADER_BYTES - 8 + e->data_len));
    return 0;
}

int storage_write(struct storage *s, raft_index_t from_index, const struct raft_entry *entries,
                  size_t count)
{
    if (s->failed != 0) {
        return s->failed;
    }
    ASSERT(from_index >= 1 && from_index <= s->count + 1);
    int rc = 0;
    if (from_index <= s->count) {
        s->count = from_index - 1;
        if (ftruncate(s->wal_fd, (off_t)s->offsets[s->count]) != 0) {
            rc = err_from_errno(errno);
            goto fail;
        }
    }
    buf_reset(&s->scratch);
    uint64_t base = s->offsets[s->count];
    for (size_t i = 0; i < count; i++) {
        ASSERT(entries[i].index == from_index + i);
        if ((rc = encode_record(&s->scratch, &entries[i])) != 0 ||
            (rc = offsets_push(s, base + s->scratch.len)) != 0) {
            goto fail;
        }
    }
    if (pwrite(s->wal_fd, s->scratch.data, s->scratch.len, (off_t)base) != (ssize_t)s->scratch.len) {
        rc = ERR_IO;
        goto fail;
    }
    return 0;
fail:
    s->failed = rc;
    return rc;
}

int storage_sync(struct storage *s)
{
    if (s->failed != 0) {
        return s->failed;
    }
    int rc = sync_fd(s, s->wal_fd);
    if (rc != 0) {
        s->failed = rc;
    }
    return rc;
}

int storage_append(struct storage *s, raft_index_t from_index, const struct raft_entry *entries,
                   size_t count)
{
    int rc = storage_write(s, from_index, entries, count);
    return rc != 0 ? rc : storage_sync(s);
}
