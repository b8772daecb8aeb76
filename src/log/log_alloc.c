/* Every allocation of the log module lives here (tools/tidy keeps malloc out of the
 * rest): the log object, its entry and segment arrays, and loaded snapshots. Growth
 * failures return ERR_NOMEM and leave the arrays as they were. Depends on base. */
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "log/log_internal.h"

struct log *log_struct_alloc(struct disk *d, const struct log_config *cfg)
{
    struct log *l = calloc(1, sizeof *l);
    if (l == NULL) {
        return NULL;
    }
    l->disk = d;
    l->cfg = *cfg;
    if (l->cfg.segment_size_bytes == 0) {
        l->cfg.segment_size_bytes = LOG_SEGMENT_SIZE_BYTES_DEFAULT;
    }
    if (l->cfg.preallocate_bytes == 0) {
        l->cfg.preallocate_bytes = LOG_PREALLOCATE_BYTES_DEFAULT;
    }
    l->first_index = 1;
    buf_init(&l->wbuf, 0);
    return l;
}

void log_struct_free(struct log *l)
{
    for (size_t k = 0; k < l->segs_count; k++) {
        l->disk->file_close(l->disk->ctx, l->segs[k].file);
    }
    free(l->segs);
    free(l->pos);
    buf_free(&l->wbuf);
    free(l);
}

static int grow_alloc(void **array, size_t *cap, size_t count, size_t extra, size_t elem_size)
{
    if (count + extra <= *cap) {
        return 0;
    }
    size_t cap_new = *cap < 64 ? 64 : *cap;
    while (cap_new < count + extra) {
        cap_new *= 2;
    }
    void *p = realloc(*array, cap_new * elem_size);
    if (p == NULL) {
        return ERR_NOMEM;
    }
    *array = p;
    *cap = cap_new;
    return 0;
}

int log_pos_reserve_alloc(struct log *l, size_t extra)
{
    return grow_alloc((void **)&l->pos, &l->pos_cap, l->pos_count, extra, sizeof *l->pos);
}

int log_segs_reserve_alloc(struct log *l, size_t extra)
{
    return grow_alloc((void **)&l->segs, &l->segs_cap, l->segs_count, extra, sizeof *l->segs);
}

int log_snapshot_buffers_alloc(struct log_snapshot *s, uint32_t config_len, uint64_t data_len)
{
    memset(s, 0, sizeof *s);
    s->config = malloc(config_len > 0 ? config_len : 1);
    s->data = malloc(data_len > 0 ? (size_t)data_len : 1);
    if (s->config == NULL || s->data == NULL) {
        log_snapshot_free(s);
        return ERR_NOMEM;
    }
    s->config_len = config_len;
    s->data_len = data_len;
    return 0;
}

void log_snapshot_free(struct log_snapshot *s)
{
    free(s->config);
    free(s->data);
    memset(s, 0, sizeof *s);
}
