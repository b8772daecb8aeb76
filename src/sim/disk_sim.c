/* The simulator's faulty in-memory disk; the model is described in disk_sim.h.
 *
 * Inodes live on one list and carry a reference count: one per current directory entry,
 * one per durable directory entry and one per open handle. Each keeps its current bytes,
 * its durable bytes and the operations pending since its last sync, which a crash
 * replays in part onto the durable bytes. Depends on base and log/disk.h. */
#include "sim/disk_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "base/list.h"

struct sim_bytes {
    uint8_t *data;
    size_t len;
    size_t cap;
};

struct sim_pending {
    enum disk_sim_op op; /* WRITE or TRUNCATE */
    uint64_t offset;     /* write offset, or the new size */
    uint8_t *data;       /* owned copy for writes */
    size_t len;
};

struct sim_inode {
    struct list_node link;
    int refs;
    struct sim_bytes cur;
    struct sim_bytes durable;
    struct sim_pending *pending;
    size_t pending_count;
    size_t pending_cap;
};

struct sim_entry {
    char name[DISK_NAME_SIZE_MAX];
    struct sim_inode *ino;
};

struct sim_dir {
    struct sim_entry *v;
    size_t count;
    size_t cap;
};

struct disk_file {
    struct sim_inode *ino;
    uint64_t epoch;
};

struct disk_sim {
    struct disk disk;
    struct prng *prng;
    struct disk_sim_config cfg;
    struct list_node inodes;
    struct sim_dir cur;
    struct sim_dir durable;
    uint64_t epoch;        /* bumped by every crash; older handles are stale */
    uint64_t ops_count;
    uint64_t halt_op;      /* 0: no halt planned */
    size_t halt_keep_bytes;
    bool halted;
    uint32_t syncs_to_fail;
    disk_sim_observer_fn observer;
    void *observer_arg;
};

/* ---- bytes and inodes ---- */

static int bytes_resize(struct sim_bytes *b, size_t len)
{
    if (len > b->cap) {
        size_t cap = b->cap < 256 ? 256 : b->cap;
        while (cap < len) {
            cap *= 2;
        }
        uint8_t *p = realloc(b->data, cap);
        if (p == NULL) {
            return ERR_NOMEM;
        }
        b->data = p;
        b->cap = cap;
    }
    if (len > b->len) {
        memset(b->data + b->len, 0, len - b->len);
    }
    b->len = len;
    return 0;
}

static int bytes_write(struct sim_bytes *b, uint64_t offset, const void *data, size_t len)
{
    if (offset + len > b->len) {
        int rc = bytes_resize(b, (size_t)(offset + len));
        if (rc != 0) {
            return rc;
        }
    }
    if (len > 0) {
        memcpy(b->data + offset, data, len);
    }
    return 0;
}

static int bytes_copy(struct sim_bytes *dst, const struct sim_bytes *src)
{
    dst->len = 0;
    return bytes_write(dst, 0, src->data, src->len);
}

static void pending_clear(struct sim_inode *ino)
{
    for (size_t i = 0; i < ino->pending_count; i++) {
        free(ino->pending[i].data);
    }
    ino->pending_count = 0;
}

static int pending_push(struct sim_inode *ino, enum disk_sim_op op, uint64_t offset,
                        const void *data, size_t len)
{
    if (ino->pending_count == ino->pending_cap) {
        size_t cap = ino->pending_cap < 16 ? 16 : ino->pending_cap * 2;
        struct sim_pending *p = realloc(ino->pending, cap * sizeof *p);
        if (p == NULL) {
            return ERR_NOMEM;
        }
        ino->pending = p;
        ino->pending_cap = cap;
    }
    struct sim_pending *p = &ino->pending[ino->pending_count];
    *p = (struct sim_pending){op, offset, NULL, len};
    if (op == DISK_SIM_OP_WRITE) {
        p->data = malloc(len > 0 ? len : 1);
        if (p->data == NULL) {
            return ERR_NOMEM;
        }
        if (len > 0) {
            memcpy(p->data, data, len);
        }
    }
    ino->pending_count++;
    return 0;
}

static struct sim_inode *inode_new(struct disk_sim *s)
{
    struct sim_inode *ino = calloc(1, sizeof *ino);
    if (ino != NULL) {
        list_push_back(&s->inodes, &ino->link);
    }
    return ino;
}

static void inode_free(struct sim_inode *ino)
{
    list_remove(&ino->link);
    pending_clear(ino);
    free(ino->pending);
    free(ino->cur.data);
    free(ino->durable.data);
    free(ino);
}

static void inode_ref(struct sim_inode *ino) { ino->refs++; }

static void inode_unref(struct sim_inode *ino)
{
    ASSERT(ino->refs > 0);
    if (--ino->refs == 0) {
        inode_free(ino);
    }
}

/* ---- directories ---- */

static struct sim_entry *dir_find(const struct sim_dir *d, const char *name)
{
    for (size_t i = 0; i < d->count; i++) {
        if (strcmp(d->v[i].name, name) == 0) {
            return &d->v[i];
        }
    }
    return NULL;
}

/* Binds name to ino (NULL removes it), adjusting references. */
static int dir_set(struct sim_dir *d, const char *name, struct sim_inode *ino)
{
    struct sim_entry *e = dir_find(d, name);
    if (ino != NULL) {
        inode_ref(ino);
    }
    if (e != NULL) {
        struct sim_inode *old = e->ino;
        if (ino != NULL) {
            e->ino = ino;
        } else {
            *e = d->v[--d->count];
        }
        inode_unref(old);
        return 0;
    }
    if (ino == NULL) {
        return 0;
    }
    if (d->count == d->cap) {
        size_t cap = d->cap < 16 ? 16 : d->cap * 2;
        struct sim_entry *v = realloc(d->v, cap * sizeof *v);
        if (v == NULL) {
            inode_unref(ino);
            return ERR_NOMEM;
        }
        d->v = v;
        d->cap = cap;
    }
    e = &d->v[d->count++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ino = ino;
    return 0;
}

static void dir_clear(struct sim_dir *d)
{
    while (d->count > 0) {
        struct sim_inode *ino = d->v[--d->count].ino;
        inode_unref(ino);
    }
}

static int dir_copy(struct sim_dir *dst, const struct sim_dir *src)
{
    dir_clear(dst);
    for (size_t i = 0; i < src->count; i++) {
        int rc = dir_set(dst, src->v[i].name, src->v[i].ino);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- the gate every mutating operation passes ---- */

/* Counts the operation and applies a planned power cut. Returns 0 when the operation
 * runs whole and succeeds; otherwise ERR_IO, after which the caller applies only
 * *apply_len (bytes of a write; non-zero means "apply" for other operations). */
static int op_gate(struct disk_sim *s, enum disk_sim_op op, size_t len, size_t *apply_len)
{
    *apply_len = 0;
    if (s->halted) {
        return ERR_IO;
    }
    s->ops_count++;
    if (s->observer != NULL) {
        s->observer(s->observer_arg, s->ops_count, op, len);
    }
    *apply_len = len;
    if (s->halt_op == 0 || s->ops_count != s->halt_op) {
        return 0;
    }
    s->halted = true;
    if (op == DISK_SIM_OP_WRITE) {
        *apply_len = MIN(len, s->halt_keep_bytes);
    } else {
        *apply_len = s->halt_keep_bytes > 0 ? len : 0;
    }
    return ERR_IO;
}

static bool sync_should_fail(struct disk_sim *s)
{
    if (s->syncs_to_fail > 0) {
        s->syncs_to_fail--;
        return true;
    }
    return s->cfg.sync_fail_per_million > 0 && prng_chance(s->prng, s->cfg.sync_fail_per_million);
}

static bool handle_ok(const struct disk_sim *s, const struct disk_file *f)
{
    return f != NULL && f->epoch == s->epoch && !s->halted;
}

void disk_sim_configure(struct disk_sim *s, const struct disk_sim_config *cfg) { s->cfg = *cfg; }

uint64_t disk_sim_used_bytes(const struct disk_sim *s)
{
    uint64_t used = 0;
    for (const struct list_node *n = s->inodes.next; n != &s->inodes; n = n->next) {
        used += list_entry(n, const struct sim_inode, link)->cur.len;
    }
    return used;
}

static bool would_overflow(const struct disk_sim *s, const struct sim_inode *ino, uint64_t new_len)
{
    if (s->cfg.capacity_bytes == 0 || new_len <= ino->cur.len) {
        return false;
    }
    return disk_sim_used_bytes(s) + (new_len - ino->cur.len) > s->cfg.capacity_bytes;
}

/* ---- struct disk operations ---- */

static int sim_open(void *ctx, const char *name, unsigned flags, struct disk_file **out)
{
    struct disk_sim *s = ctx;
    if (s->halted) {
        return ERR_IO;
    }
    if (strlen(name) >= DISK_NAME_SIZE_MAX || strchr(name, '/') != NULL) {
        return ERR_INVALID;
    }
    struct sim_entry *e = dir_find(&s->cur, name);
    struct sim_inode *ino = e != NULL ? e->ino : NULL;
    int rc = 0;
    if (ino == NULL) {
        if ((flags & DISK_OPEN_CREATE) == 0) {
            return ERR_NOT_FOUND;
        }
        size_t apply = 0;
        rc = op_gate(s, DISK_SIM_OP_CREATE, 1, &apply);
        if (apply == 0) {
            return rc;
        }
        ino = inode_new(s);
        if (ino == NULL || dir_set(&s->cur, name, ino) != 0) {
            return ERR_NOMEM;
        }
    }
    struct disk_file *f = malloc(sizeof *f);
    if (f == NULL) {
        return ERR_NOMEM;
    }
    *f = (struct disk_file){ino, s->epoch};
    inode_ref(ino);
    if (rc != 0) {
        inode_unref(ino);
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

static void sim_close(void *ctx, struct disk_file *f)
{
    (void)ctx;
    if (f != NULL) {
        inode_unref(f->ino);
        free(f);
    }
}

static int sim_pwrite(void *ctx, struct disk_file *f, const void *data, size_t len, uint64_t offset)
{
    struct disk_sim *s = ctx;
    if (!handle_ok(s, f)) {
        return ERR_IO;
    }
    if (would_overflow(s, f->ino, offset + len)) {
        return ERR_NOSPACE;
    }
    size_t apply = 0;
    int rc = op_gate(s, DISK_SIM_OP_WRITE, len, &apply);
    if (apply > 0) {
        int r = bytes_write(&f->ino->cur, offset, data, apply);
        r = r != 0 ? r : pending_push(f->ino, DISK_SIM_OP_WRITE, offset, data, apply);
        rc = rc != 0 ? rc : r;
    }
    return rc;
}

static int sim_pread(void *ctx, struct disk_file *f, void *data, size_t len, uint64_t offset,
                     size_t *read_out)
{
    struct disk_sim *s = ctx;
    *read_out = 0;
    if (!handle_ok(s, f)) {
        return ERR_IO;
    }
    const struct sim_bytes *b = &f->ino->cur;
    if (offset >= b->len) {
        return 0;
    }
    size_t n = (size_t)MIN((uint64_t)len, b->len - offset);
    memcpy(data, b->data + offset, n);
    *read_out = n;
    return 0;
}

static int sim_size(void *ctx, struct disk_file *f, uint64_t *size_out)
{
    struct disk_sim *s = ctx;
    if (!handle_ok(s, f)) {
        return ERR_IO;
    }
    *size_out = f->ino->cur.len;
    return 0;
}

static int sim_sync(void *ctx, struct disk_file *f)
{
    struct disk_sim *s = ctx;
    if (!handle_ok(s, f)) {
        return ERR_IO;
    }
    size_t apply = 0;
    int rc = op_gate(s, DISK_SIM_OP_SYNC, 1, &apply);
    if (apply == 0) {
        return rc;
    }
    if (sync_should_fail(s)) {
        return ERR_IO;
    }
    int r = bytes_copy(&f->ino->durable, &f->ino->cur);
    if (r == 0) {
        pending_clear(f->ino);
    }
    return rc != 0 ? rc : r;
}

static int sim_truncate(void *ctx, struct disk_file *f, uint64_t size)
{
    struct disk_sim *s = ctx;
    if (!handle_ok(s, f)) {
        return ERR_IO;
    }
    if (would_overflow(s, f->ino, size)) {
        return ERR_NOSPACE;
    }
    size_t apply = 0;
    int rc = op_gate(s, DISK_SIM_OP_TRUNCATE, 1, &apply);
    if (apply > 0) {
        int r = bytes_resize(&f->ino->cur, (size_t)size);
        r = r != 0 ? r : pending_push(f->ino, DISK_SIM_OP_TRUNCATE, size, NULL, 0);
        rc = rc != 0 ? rc : r;
    }
    return rc;
}

static int sim_rename(void *ctx, const char *from, const char *to)
{
    struct disk_sim *s = ctx;
    if (s->halted) {
        return ERR_IO;
    }
    struct sim_entry *e = dir_find(&s->cur, from);
    if (e == NULL) {
        return ERR_NOT_FOUND;
    }
    if (strlen(to) >= DISK_NAME_SIZE_MAX) {
        return ERR_INVALID;
    }
    if (strcmp(from, to) == 0) {
        return 0; /* as rename(2): nothing to do */
    }
    struct sim_inode *ino = e->ino;
    size_t apply = 0;
    int rc = op_gate(s, DISK_SIM_OP_RENAME, 1, &apply);
    if (apply > 0) {
        int r = dir_set(&s->cur, to, ino);
        r = r != 0 ? r : dir_set(&s->cur, from, NULL);
        rc = rc != 0 ? rc : r;
    }
    return rc;
}

static int sim_remove(void *ctx, const char *name)
{
    struct disk_sim *s = ctx;
    if (s->halted) {
        return ERR_IO;
    }
    if (dir_find(&s->cur, name) == NULL) {
        return ERR_NOT_FOUND;
    }
    size_t apply = 0;
    int rc = op_gate(s, DISK_SIM_OP_REMOVE, 1, &apply);
    if (apply > 0) {
        (void)dir_set(&s->cur, name, NULL);
    }
    return rc;
}

static int sim_list(void *ctx, disk_list_fn fn, void *arg)
{
    struct disk_sim *s = ctx;
    if (s->halted) {
        return ERR_IO;
    }
    /* Callbacks may remove files, so walk a copy of the names. */
    size_t count = s->cur.count;
    char (*names)[DISK_NAME_SIZE_MAX] = malloc((count > 0 ? count : 1) * sizeof *names);
    if (names == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        memcpy(names[i], s->cur.v[i].name, DISK_NAME_SIZE_MAX);
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        rc = fn(arg, names[i]);
    }
    free(names);
    return rc;
}

static int sim_sync_dir(void *ctx)
{
    struct disk_sim *s = ctx;
    size_t apply = 0;
    int rc = op_gate(s, DISK_SIM_OP_SYNC_DIR, 1, &apply);
    if (apply == 0) {
        return rc;
    }
    if (sync_should_fail(s)) {
        return ERR_IO;
    }
    int r = dir_copy(&s->durable, &s->cur);
    return rc != 0 ? rc : r;
}

/* ---- crash ---- */

static void flip_in(struct sim_bytes *b, uint64_t bit)
{
    if (bit / 8 < b->len) {
        b->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

/* Rebuilds ino's bytes as the crash leaves them: durable bytes plus a prefix of the
 * pending operations, the last possibly torn. */
static int inode_crash(struct disk_sim *s, struct sim_inode *ino, enum disk_sim_crash_mode mode)
{
    size_t keep = 0;
    size_t torn_len = 0;
    if (mode == DISK_SIM_CRASH_KEEP_ALL) {
        keep = ino->pending_count;
    } else if (mode == DISK_SIM_CRASH_RANDOM) {
        keep = (size_t)prng_below(s->prng, ino->pending_count + 1);
        if (keep < ino->pending_count && ino->pending[keep].op == DISK_SIM_OP_WRITE) {
            torn_len = (size_t)prng_below(s->prng, ino->pending[keep].len + 1);
        }
    }
    int rc = bytes_copy(&ino->cur, &ino->durable);
    for (size_t i = 0; i <= keep && i < ino->pending_count && rc == 0; i++) {
        const struct sim_pending *p = &ino->pending[i];
        size_t len = i < keep ? p->len : torn_len;
        if (p->op == DISK_SIM_OP_WRITE && len > 0) {
            rc = bytes_write(&ino->cur, p->offset, p->data, len);
        } else if (p->op == DISK_SIM_OP_TRUNCATE && i < keep) {
            rc = bytes_resize(&ino->cur, (size_t)p->offset);
        }
    }
    pending_clear(ino);
    if (rc == 0 && ino->cur.len > 0 && s->cfg.bitflip_per_million > 0 &&
        prng_chance(s->prng, s->cfg.bitflip_per_million)) {
        flip_in(&ino->cur, prng_below(s->prng, (uint64_t)ino->cur.len * 8));
    }
    return rc != 0 ? rc : bytes_copy(&ino->durable, &ino->cur);
}

static struct sim_inode *pick(struct disk_sim *s, enum disk_sim_crash_mode mode,
                              struct sim_inode *cur, struct sim_inode *durable)
{
    if (mode == DISK_SIM_CRASH_KEEP_ALL) {
        return cur;
    }
    if (mode == DISK_SIM_CRASH_LOSE_UNSYNCED) {
        return durable;
    }
    return prng_below(s->prng, 2) == 0 ? cur : durable;
}

/* Each name whose current and durable bindings differ takes one of them. */
static int dir_crash(struct disk_sim *s, enum disk_sim_crash_mode mode)
{
    struct sim_dir next = {0};
    int rc = 0;
    for (size_t i = 0; i < s->durable.count && rc == 0; i++) {
        const struct sim_entry *d = &s->durable.v[i];
        const struct sim_entry *c = dir_find(&s->cur, d->name);
        struct sim_inode *ino = c != NULL && c->ino == d->ino ? d->ino
                                                               : pick(s, mode, c ? c->ino : NULL, d->ino);
        rc = dir_set(&next, d->name, ino);
    }
    for (size_t i = 0; i < s->cur.count && rc == 0; i++) {
        const struct sim_entry *c = &s->cur.v[i];
        if (dir_find(&s->durable, c->name) == NULL) {
            rc = dir_set(&next, c->name, pick(s, mode, c->ino, NULL));
        }
    }
    rc = rc != 0 ? rc : dir_copy(&s->cur, &next);
    rc = rc != 0 ? rc : dir_copy(&s->durable, &next);
    dir_clear(&next);
    free(next.v);
    return rc;
}

void disk_sim_crash(struct disk_sim *s, enum disk_sim_crash_mode mode)
{
    for (struct list_node *n = s->inodes.next; n != &s->inodes; n = n->next) {
        int rc = inode_crash(s, list_entry(n, struct sim_inode, link), mode);
        ASSERT(rc == 0); /* only allocation can fail here */
    }
    int rc = dir_crash(s, mode);
    ASSERT(rc == 0);
    s->epoch++;
    s->halted = false;
    s->halt_op = 0;
}

/* ---- life cycle and test hooks ---- */

struct disk_sim *disk_sim_create(struct prng *prng, const struct disk_sim_config *cfg)
{
    struct disk_sim *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->prng = prng;
    s->cfg = *cfg;
    list_init(&s->inodes);
    s->disk = (struct disk){s,          sim_open,     sim_close,  sim_pwrite, sim_pread, sim_size,
                            sim_sync,   sim_truncate, sim_rename, sim_remove, sim_list,  sim_sync_dir};
    return s;
}

void disk_sim_destroy(struct disk_sim *s)
{
    if (s == NULL) {
        return;
    }
    dir_clear(&s->cur);
    dir_clear(&s->durable);
    free(s->cur.v);
    free(s->durable.v);
    while (!list_empty(&s->inodes)) {
        inode_free(list_entry(s->inodes.next, struct sim_inode, link));
    }
    free(s);
}

struct disk *disk_sim_disk(struct disk_sim *s) { return &s->disk; }

void disk_sim_halt_at(struct disk_sim *s, uint64_t op_no, size_t keep_bytes)
{
    s->halt_op = op_no;
    s->halt_keep_bytes = keep_bytes;
}

bool disk_sim_halted(const struct disk_sim *s) { return s->halted; }
uint64_t disk_sim_ops_count(const struct disk_sim *s) { return s->ops_count; }

void disk_sim_set_observer(struct disk_sim *s, disk_sim_observer_fn fn, void *arg)
{
    s->observer = fn;
    s->observer_arg = arg;
}

void disk_sim_fail_syncs(struct disk_sim *s, uint32_t count) { s->syncs_to_fail = count; }
void disk_sim_set_capacity(struct disk_sim *s, uint64_t capacity_bytes)
{
    s->cfg.capacity_bytes = capacity_bytes;
}

int disk_sim_flip_bit(struct disk_sim *s, const char *name, uint64_t bit)
{
    struct sim_entry *e = dir_find(&s->cur, name);
    if (e == NULL || bit / 8 >= e->ino->cur.len) {
        return ERR_NOT_FOUND;
    }
    flip_in(&e->ino->cur, bit);
    flip_in(&e->ino->durable, bit);
    return 0;
}

int disk_sim_put_file(struct disk_sim *s, const char *name, const void *data, size_t len)
{
    if (strlen(name) >= DISK_NAME_SIZE_MAX) {
        return ERR_INVALID;
    }
    struct sim_inode *ino = inode_new(s);
    if (ino == NULL) {
        return ERR_NOMEM;
    }
    int rc = bytes_write(&ino->cur, 0, data, len);
    rc = rc != 0 ? rc : bytes_write(&ino->durable, 0, data, len);
    if (rc != 0) {
        inode_free(ino);
        return rc;
    }
    inode_ref(ino); /* held across the two bindings */
    rc = dir_set(&s->cur, name, ino);
    rc = rc != 0 ? rc : dir_set(&s->durable, name, ino);
    inode_unref(ino);
    return rc;
}

int disk_sim_file_size(const struct disk_sim *s, const char *name, uint64_t *size_out)
{
    const struct sim_entry *e = dir_find(&s->cur, name);
    if (e == NULL) {
        return ERR_NOT_FOUND;
    }
    *size_out = e->ino->cur.len;
    return 0;
}
