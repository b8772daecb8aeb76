/* Client sessions for exactly-once commands (Raft thesis §6.3).
 *
 * A session remembers, per client, the replies of its recent commands by sequence
 * number. The client tells the state machine, with each command, the lowest seq it is
 * still waiting for (session_ack); replies below it are dropped, and floor_seq records
 * that so a late retry of a dropped seq is answered "-EVICTED" instead of running twice.
 * When the cache is full (session_replies_count_max replies, or session_reply_bytes_max
 * bytes) the oldest reply is dropped the same way. Sessions expire by
 * the log clock (never a local clock): a session whose last command is more than
 * session_timeout_ms older than the log clock is removed at the next entry. Registering
 * past sessions_count_max evicts the least recently active session (lowest id on a
 * tie). All choices depend only on applied entries, so every replica agrees. */
#include "base/assertions.h"
#include "kv/kv_internal.h"

/* last_active_ms + timeout, saturating. */
static uint64_t session_deadline(const struct kv_store *s, const struct kv_session *ss)
{
    return ss->last_active_ms + MIN(s->cfg.session_timeout_ms, UINT64_MAX - ss->last_active_ms);
}

bool kv_session_eq(const void *item, const void *key)
{
    return ((const struct kv_session *)item)->client_id == *(const uint64_t *)key;
}

struct kv_session *kv_session_find(const struct kv_store *s, uint64_t client_id)
{
    return hashmap_find(&s->sessions, hash_u64(client_id), &client_id);
}

static void session_remove(struct kv_store *s, struct kv_session *ss)
{
    ASSERT(hashmap_remove(&s->sessions, hash_u64(ss->client_id), &ss->client_id) == ss);
    kv_session_free(ss);
}

void kv_sessions_clear(struct kv_store *s)
{
    void *item;
    for (size_t i = 0; hashmap_next(&s->sessions, &i, &item);) {
        kv_session_free(item);
    }
    hashmap_clear(&s->sessions);
}

static bool less_recent(const struct kv_session *a, const struct kv_session *b)
{
    if (a->last_active_ms != b->last_active_ms) {
        return a->last_active_ms < b->last_active_ms;
    }
    return a->client_id < b->client_id;
}

void kv_session_register(struct kv_store *s, uint64_t client_id)
{
    ASSERT(kv_session_find(s, client_id) == NULL);
    if (s->sessions.items_count >= s->cfg.sessions_count_max) {
        struct kv_session *victim = NULL;
        void *item;
        for (size_t i = 0; hashmap_next(&s->sessions, &i, &item);) {
            if (victim == NULL || less_recent(item, victim)) {
                victim = item;
            }
        }
        session_remove(s, victim);
    }
    struct kv_session *ss = kv_session_alloc(client_id, s->cfg.session_replies_count_max);
    ss->last_active_ms = s->log_clock_ms;
    ss->floor_seq = 0;
    ASSERT(hashmap_insert(&s->sessions, hash_u64(client_id), ss) == 0);
    s->session_sweep_ms = MIN(s->session_sweep_ms, session_deadline(s, ss));
}

void kv_session_expire(struct kv_store *s)
{
    if (s->log_clock_ms <= s->session_sweep_ms || s->sessions.items_count == 0) {
        return;
    }
    struct kv_vec dead;
    kv_vec_init(&dead);
    uint64_t next = UINT64_MAX;
    void *item;
    for (size_t i = 0; hashmap_next(&s->sessions, &i, &item);) {
        const struct kv_session *ss = item;
        uint64_t deadline = session_deadline(s, ss);
        if (deadline < s->log_clock_ms) {
            kv_vec_push(&dead, item);
        } else {
            next = MIN(next, deadline);
        }
    }
    for (size_t i = 0; i < dead.len; i++) {
        session_remove(s, dead.items[i]);
    }
    kv_vec_free(&dead);
    s->session_sweep_ms = next;
}

const struct kv_reply *kv_session_cached(const struct kv_session *ss, uint64_t seq)
{
    for (size_t i = 0; i < ss->cached_count; i++) {
        if (ss->cached[i].seq == seq) {
            return &ss->cached[i].reply;
        }
    }
    return NULL;
}

/* Drops cached replies below floor_seq, keeping the survivors' order. */
static void session_compact(struct kv_session *ss)
{
    size_t kept = 0;
    for (size_t i = 0; i < ss->cached_count; i++) {
        if (ss->cached[i].seq >= ss->floor_seq) {
            if (kept != i) {
                /* Swap so the dropped slot's buffer stays owned by a spare slot. */
                struct kv_cached tmp = ss->cached[kept];
                ss->cached[kept] = ss->cached[i];
                ss->cached[i] = tmp;
            }
            kept++;
        }
    }
    for (size_t i = kept; i < ss->cached_count; i++) {
        kv_reply_reset(&ss->cached[i].reply);
        ss->cached[i].seq = 0;
    }
    ss->cached_count = kept;
}

void kv_session_ack(struct kv_session *ss, uint64_t ack)
{
    if (ack > ss->floor_seq) {
        ss->floor_seq = ack;
        session_compact(ss);
    }
}

size_t kv_session_cached_bytes(const struct kv_session *ss)
{
    size_t total = 0;
    for (size_t i = 0; i < ss->cached_count; i++) {
        total += ss->cached[i].reply.bytes.len;
    }
    return total;
}

void kv_session_remember(struct kv_session *ss, size_t bytes_max, uint64_t seq,
                         const struct kv_reply *reply)
{
    ASSERT(seq >= ss->floor_seq && kv_session_cached(ss, seq) == NULL);
    /* While the cache is full by count or by bytes, forget the oldest of the cached seqs
     * and the new one; if that is the new one it is answered but not remembered, and a
     * retry of it gets -EVICTED. A lone reply larger than bytes_max is still kept. */
    while (ss->cached_count == ss->cached_cap ||
           (ss->cached_count > 0 && kv_session_cached_bytes(ss) + reply->bytes.len > bytes_max)) {
        uint64_t oldest = seq;
        for (size_t i = 0; i < ss->cached_count; i++) {
            oldest = MIN(oldest, ss->cached[i].seq);
        }
        ASSERT(oldest < UINT64_MAX);
        kv_session_ack(ss, oldest + 1);
        if (seq < ss->floor_seq) {
            return;
        }
    }
    struct kv_cached *c = &ss->cached[ss->cached_count++];
    c->seq = seq;
    kv_reply_reset(&c->reply);
    kv_reply_append(&c->reply, reply);
}

uint64_t kv_session_digest(const struct kv_session *ss)
{
    uint8_t b[24];
    le_store_u64(b, ss->client_id);
    le_store_u64(b + 8, ss->last_active_ms);
    le_store_u64(b + 16, ss->floor_seq);
    uint64_t h = kv_mix(0, b, sizeof b);
    uint64_t replies = 0;
    for (size_t i = 0; i < ss->cached_count; i++) {
        uint8_t sb[8];
        le_store_u64(sb, ss->cached[i].seq);
        replies += kv_mix(kv_mix(0, sb, 8), ss->cached[i].reply.bytes.data, ss->cached[i].reply.bytes.len);
    }
    uint8_t rb[8];
    le_store_u64(rb, replies);
    return kv_mix(h, rb, sizeof rb);
}
