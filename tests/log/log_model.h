/* The reference model the crash and fault tests check a recovered log against: the
 * logical log after every step, the window of states it may legitimately come back as
 * (every state since the last durability point), the durable index that must survive,
 * and the saved and in-flight term/vote and snapshot. Header-only, for tests. */
#ifndef CHORUS_TESTS_LOG_MODEL_H
#define CHORUS_TESTS_LOG_MODEL_H

#include "log_test_util.h"

#define INDEX_MAX 512
#define WINDOW_MAX 64

enum step_kind { S_APPEND, S_SYNC, S_TRUNC, S_TERMVOTE, S_SNAP, S_COMPACT };

struct step {
    enum step_kind kind;
    uint64_t a, b, c; /* APPEND from,to,term; TRUNC from; TERMVOTE term,vote; SNAP index,term; COMPACT up_to */
};

struct lstate {
    uint64_t last;
    uint64_t term[INDEX_MAX + 1];
};

struct model {
    struct lstate cur;
    struct lstate window[WINDOW_MAX]; /* states since the last durability point */
    size_t window_count;
    uint64_t durable;
    uint64_t tv[2], tv_pending[2];
    uint64_t snap[2], snap_pending[2];
};

static inline void window_push(struct model *m, const struct lstate *s)
{
    ASSERT(m->window_count < ARRAY_COUNT(m->window));
    m->window[m->window_count++] = *s;
}

static inline void window_reset(struct model *m)
{
    m->window_count = 0;
    window_push(m, &m->cur);
}

static inline void snap_bytes(uint64_t index, uint8_t cfg[3], uint8_t data[20])
{
    for (int i = 0; i < 3; i++) {
        cfg[i] = (uint8_t)(index + i);
    }
    for (int i = 0; i < 20; i++) {
        data[i] = (uint8_t)(index * 13 + i);
    }
}

static inline int run_step(struct log *l, struct model *m, const struct step *s)
{
    struct lstate next = m->cur;
    int rc = 0;
    switch (s->kind) {
    case S_APPEND:
        for (uint64_t i = s->a; i <= s->b; i++) {
            next.term[i] = s->c;
        }
        next.last = s->b;
        window_push(m, &next);
        rc = append_range(l, s->a, s->b, s->c);
        m->cur = rc == 0 ? next : m->cur;
        break;
    case S_SYNC:
        rc = log_sync(l, NULL);
        if (rc == 0) {
            m->durable = m->cur.last;
            window_reset(m);
        }
        break;
    case S_TRUNC:
        /* Once asked for, the removed entries may be gone whether or not it returns. */
        next.last = s->a - 1;
        window_push(m, &next);
        m->durable = MIN(m->durable, next.last);
        rc = log_truncate_suffix(l, s->a);
        if (rc == 0) {
            m->cur = next;
            window_reset(m);
        }
        break;
    case S_TERMVOTE:
        m->tv_pending[0] = s->a;
        m->tv_pending[1] = s->b;
        rc = log_set_term_vote(l, s->a, s->b);
        if (rc == 0) {
            memcpy(m->tv, m->tv_pending, sizeof m->tv);
        }
        break;
    case S_SNAP: {
        uint8_t cfg[3], data[20];
        snap_bytes(s->a, cfg, data);
        m->snap_pending[0] = s->a;
        m->snap_pending[1] = s->b;
        rc = log_snapshot_save(l, s->a, s->b, cfg, sizeof cfg, data, sizeof data);
        if (rc == 0) {
            memcpy(m->snap, m->snap_pending, sizeof m->snap);
            m->durable = MAX(m->durable, s->a);
        }
        break;
    }
    case S_COMPACT:
        rc = log_compact(l, s->a);
        break;
    }
    return rc;
}

static inline bool entries_match(struct log *l, const struct lstate *s)
{
    uint64_t last = log_last_index(l);
    if (log_first_index(l) <= last && last > s->last) {
        return false;
    }
    for (uint64_t i = log_first_index(l); i <= last; i++) {
        if (log_term_at(l, i) != s->term[i] || !entry_is(l, i, s->term[i])) {
            return false;
        }
    }
    return true;
}

static inline const char *check_snapshot(struct log *l, const struct log_recovery *rep, const struct model *m)
{
    if (rep->snapshot_corrupt) {
        return "snapshot reported corrupt after a crash";
    }
    uint64_t idx = rep->snapshot_present ? rep->snapshot_index : 0;
    uint64_t term = rep->snapshot_present ? rep->snapshot_term : 0;
    bool old = idx == m->snap[0] && term == m->snap[1];
    bool new = idx == m->snap_pending[0] && term == m->snap_pending[1];
    if (!old && !new) {
        return "snapshot is neither the saved one nor the one being saved";
    }
    if (idx == 0) {
        return NULL;
    }
    struct log_snapshot snap;
    uint8_t cfg[3], data[20];
    snap_bytes(idx, cfg, data);
    if (log_snapshot_load(l, &snap) != 0) {
        return "snapshot does not load";
    }
    bool whole = snap.config_len == 3 && snap.data_len == 20 && memcmp(snap.config, cfg, 3) == 0 &&
                 memcmp(snap.data, data, 20) == 0;
    log_snapshot_free(&snap);
    return whole ? NULL : "snapshot content is not whole";
}

/* The invariants after recovery; NULL when they hold. */
static inline const char *check_recovered(struct log *l, const struct log_recovery *rep, const struct model *m)
{
    bool tv_ok = (rep->term == m->tv[0] && rep->vote == m->tv[1]) ||
                 (rep->term == m->tv_pending[0] && rep->vote == m->tv_pending[1]);
    if (rep->meta_corrupt || !tv_ok) {
        return "term/vote went back or is unknown";
    }
    const char *why = check_snapshot(l, rep, m);
    if (why != NULL) {
        return why;
    }
    if (rep->corrupt) {
        return "a crash was reported as corruption";
    }
    bool matched = false;
    for (size_t i = 0; i < m->window_count && !matched; i++) {
        matched = entries_match(l, &m->window[i]);
    }
    if (!matched) {
        return "recovered entries match no state written since the last durability point";
    }
    if (MAX(log_last_index(l), rep->snapshot_index) < m->durable) {
        return "a synced entry was lost";
    }
    return NULL;
}


#endif
