/* Snapshots, log compaction and InstallSnapshot in chunks (Raft §7; thesis §5.4 on
 * chunked, resumable transfer; etcd's Progress "snapshot" state).
 *
 * Taking: the driver serialises its state machine at an applied index and tells the core
 * (raft_snapshot_taken); the core drops in-memory entries up to that index minus a few
 * trailing ones, and keeps a borrowed pointer to the bytes so it can send them.
 *
 * Sending: a follower whose next index precedes the leader's first in-memory entry moves
 * to PROGRESS_SNAPSHOT. The leader sends chunks of at most snapshot_chunk_bytes_max, at
 * most snapshot_chunks_inflight_max beyond what the follower acknowledged. Each reply
 * says how many leading bytes the follower holds. When a heartbeat interval passes
 * without progress (chunks or replies lost, or the follower restarted and lost its
 * partial copy), the leader sends one chunk from the acknowledged offset and believes
 * the reply's offset, whatever it is: that is how a transfer resumes, and how it starts
 * over when the follower has nothing. Duplicate and stale chunks change nothing.
 *
 * Receiving: the follower gathers the chunks of one snapshot from one leader and term in
 * order in memory; a chunk of another snapshot at offset 0 starts over. Complete, it goes
 * to the driver in the update (snapshot_install). The follower acknowledges (done) only
 * after raft_persisted_snapshot: then its log is replaced (entries after the snapshot are
 * kept when the log holds the snapshot's last entry, otherwise the log is dropped) and
 * commit and applied indexes jump to it. A snapshot at or below the commit index is
 * acknowledged without being installed: a node never goes backwards. While an install is
 * pending the follower ignores appends and does not campaign, so its log cannot change
 * under the driver's feet.
 *
 * The configuration travels with the snapshot: once the config entries are compacted
 * away, the snapshot's configuration (r->snapshot_config, the one in effect as of its
 * index) is what a node uses when its log holds no config entry (config.c). Taking one,
 * the core records the configuration as of its index (the driver saves the same bytes,
 * raft_snapshot_config_encode); sending one, the leader puts it on every chunk at offset
 * 0; receiving one, the follower refuses a first chunk without a valid configuration and
 * adopts it when the install is durable, unless a kept log tail holds a later config
 * entry. Pure: see raft.h. */
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "raft/raft_impl.h"

/* ---- the leader's side ---- */

static uint32_t chunk_len_at(const struct raft *r, uint64_t offset)
{
    return (uint32_t)MIN((uint64_t)r->opt.snapshot_chunk_bytes_max, r->snapshot_size_bytes - offset);
}

static bool push_chunk(struct raft *r, struct progress *p, uint64_t offset)
{
    struct raft_message *m = raft_outbox_push(r, RAFT_MSG_SNAPSHOT, p->id);
    if (m == NULL) {
        return false;
    }
    m->snapshot_index = r->snapshot_index;
    m->snapshot_term = r->snapshot_term;
    m->snapshot_size_bytes = r->snapshot_size_bytes;
    m->offset = offset;
    m->data_len = chunk_len_at(r, offset);
    m->done = offset + m->data_len == r->snapshot_size_bytes;
    m->commit_index = r->commit_index;
    p->snapshot.next_offset = MAX(p->snapshot.next_offset, offset + m->data_len);
    return true;
}

void snapshot_send(struct raft *r, struct progress *p)
{
    RAFT_ASSERT(r, r->snapshot_index != 0 && r->snapshot_size_bytes > 0);
    if (p->state != PROGRESS_SNAPSHOT || p->snapshot.index != r->snapshot_index) {
        LOGD(r->opt.logger, "sending snapshot %llu (%llu bytes) to %u",
             (unsigned long long)r->snapshot_index,
             (unsigned long long)r->snapshot_size_bytes, p->id);
        progress_probe(p, p->next_index);
        p->state = PROGRESS_SNAPSHOT;
        memset(&p->snapshot, 0, sizeof p->snapshot);
        p->snapshot.index = r->snapshot_index;
    }
    struct snapshot_send *s = &p->snapshot;
    if (s->probing) {
        return; /* one chunk is out; its reply says where the follower stands */
    }
    uint64_t window = (uint64_t)r->opt.snapshot_chunk_bytes_max *
                      MAX(r->opt.snapshot_chunks_inflight_max, 1);
    while (s->next_offset < r->snapshot_size_bytes && s->next_offset - s->acked_offset < window) {
        if (!push_chunk(r, p, s->next_offset)) {
            return;
        }
    }
}

/* Called once per heartbeat interval: no progress since the last one means chunks or
 * replies were lost, or the follower restarted; resume with one chunk from what it
 * last acknowledged (the last chunk again when it holds every byte but the install's
 * acknowledgement was lost). */
void snapshot_on_heartbeat(struct raft *r, struct progress *p)
{
    struct snapshot_send *s = &p->snapshot;
    if (p->snapshot.index != r->snapshot_index) {
        snapshot_send(r, p);
        return;
    }
    bool stalled = s->acked_offset == s->acked_at_last_heartbeat;
    s->acked_at_last_heartbeat = s->acked_offset;
    if (!stalled) {
        return;
    }
    uint64_t size = r->snapshot_size_bytes;
    uint64_t last_chunk = (size - 1) / r->opt.snapshot_chunk_bytes_max * r->opt.snapshot_chunk_bytes_max;
    uint64_t offset = s->acked_offset < size ? s->acked_offset : last_chunk;
    s->next_offset = offset;
    s->probing = push_chunk(r, p, offset);
}

void snapshot_on_reply(struct raft *r, const struct raft_message *m)
{
    if (r->role != RAFT_LEADER || m->term != r->term) {
        return;
    }
    struct progress *p = raft_progress_of(r, m->from);
    if (p == NULL) {
        return; /* removed from the configuration while the transfer ran */
    }
    p->recently_active = true;
    if (p->state != PROGRESS_SNAPSHOT || m->snapshot_index != p->snapshot.index) {
        return; /* about a transfer that is over or was restarted */
    }
    struct snapshot_send *s = &p->snapshot;
    if (m->done) {
        /* Installed and durable (or already covered by the follower's commit index):
         * replicate from just after the snapshot. */
        if (m->success && m->match_index > p->match_index) {
            p->match_index = m->match_index;
            replication_maybe_commit(r);
        }
        progress_probe(p, MAX(m->snapshot_index, p->match_index) + 1);
        replication_send_append(r, p, false);
        return;
    }
    uint64_t have = MIN(m->offset, r->snapshot_size_bytes);
    if (s->probing) {
        s->probing = false;
        s->acked_offset = have;
        s->next_offset = have;
    } else if (have > s->acked_offset) {
        s->acked_offset = have;
        s->next_offset = MAX(s->next_offset, have);
    }
    snapshot_send(r, p);
}

/* Attaches a queued chunk's bytes, borrowed from the current snapshot, and to the first
 * chunk the configuration as of the snapshot, which the follower adopts with it. */
void snapshot_fill_message(const struct raft *r, struct raft_message *m)
{
    RAFT_ASSERT(r, m->snapshot_index == r->snapshot_index);
    RAFT_ASSERT(r, m->offset + m->data_len <= r->snapshot_size_bytes);
    m->data = m->data_len != 0 ? r->snapshot_data + m->offset : NULL;
    if (m->offset == 0) {
        m->config = r->snapshot_config_bytes;
        m->config_len = r->snapshot_config_len;
    }
}

/* A new snapshot replaces the bytes queued chunks point into: drop those chunks and
 * restart every transfer with the new snapshot. */
static void restart_transfers(struct raft *r)
{
    size_t kept = 0, released = 0;
    for (size_t i = 0; i < r->outbox_count; i++) {
        if (r->outbox[i].type == RAFT_MSG_SNAPSHOT) {
            continue;
        }
        released += i < r->outbox_released;
        r->outbox[kept++] = r->outbox[i];
    }
    r->outbox_count = kept;
    r->outbox_released = released;
    if (r->role != RAFT_LEADER) {
        return;
    }
    for (size_t i = 0; i < r->members_count; i++) {
        struct progress *p = &r->progress[i];
        if (p->id != r->opt.id && p->state == PROGRESS_SNAPSHOT) {
            snapshot_send(r, p);
        }
    }
}

static void snapshot_source_free(struct raft *r)
{
    free(r->snapshot_data_owned);
    r->snapshot_data_owned = NULL;
}

/* The snapshot the leader sends from now on; owned (may be NULL) is freed with it. */
static void snapshot_set_source(struct raft *r, raft_index_t index, raft_term_t term,
                                const uint8_t *data, uint64_t size, uint8_t *owned)
{
    snapshot_source_free(r);
    r->snapshot_data_owned = owned;
    r->snapshot_index = index;
    r->snapshot_term = term;
    r->snapshot_data = data;
    r->snapshot_size_bytes = size;
}

int raft_snapshot_taken(struct raft *r, uint64_t now_ns, raft_index_t index,
                        const uint8_t *data, uint64_t size_bytes)
{
    RAFT_ASSERT(r, !r->update_taken);
    if (now_ns > r->now_ns) {
        r->now_ns = now_ns;
    }
    if (index <= r->snapshot_index || index > r->applied_index || data == NULL || size_bytes == 0) {
        return ERR_INVALID;
    }
    raft_term_t term = raft_log_term_at(&r->log, index);
    RAFT_ASSERT(r, term != 0);
    struct raft_config config; /* looked up before the entries go */
    config_at(r, index, &config);
    snapshot_set_source(r, index, term, data, size_bytes, NULL);
    config_set_snapshot(r, &config, false);
    raft_index_t keep = r->opt.snapshot_trailing_entries;
    raft_index_t compact_to = index > keep ? index - keep : 0;
    if (compact_to >= r->log.first_index) {
        raft_log_compact_to(&r->log, compact_to, raft_log_term_at(&r->log, compact_to));
    }
    /* Everything up to index is durable now, in the snapshot. */
    r->persisted_index = MAX(r->persisted_index, index);
    restart_transfers(r);
    raft_release_messages(r);
    return 0;
}

/* ---- the follower's side ---- */

static void reply_snapshot(struct raft *r, node_id_t to, const struct raft_message *about,
                           uint64_t have)
{
    struct raft_message *reply = raft_outbox_push(r, RAFT_MSG_SNAPSHOT_REPLY, to);
    if (reply == NULL) {
        return;
    }
    reply->snapshot_index = about->snapshot_index;
    reply->snapshot_term = about->snapshot_term;
    reply->offset = have;
}

static void reply_installed(struct raft *r, node_id_t to, raft_index_t index, raft_term_t term,
                            raft_index_t match)
{
    struct raft_message *reply = raft_outbox_push(r, RAFT_MSG_SNAPSHOT_REPLY, to);
    if (reply == NULL) {
        return;
    }
    reply->snapshot_index = index;
    reply->snapshot_term = term;
    reply->done = true;
    reply->success = true;
    reply->match_index = match;
}

static void receive_reset(struct snapshot_receive *rx)
{
    free(rx->data);
    memset(rx, 0, sizeof *rx);
}

/* Starts gathering the snapshot m is the first chunk of, in a buffer of its whole size,
 * and keeps the configuration that comes with it. */
static bool receive_alloc(struct raft *r, const struct raft_message *m)
{
    struct snapshot_receive *rx = &r->receive;
    receive_reset(rx);
    if (m->snapshot_size_bytes == 0 || m->snapshot_size_bytes > r->opt.snapshot_bytes_max ||
        m->snapshot_size_bytes > SIZE_MAX) {
        LOGW(r->opt.logger, "refusing a snapshot of %llu bytes from %u",
             (unsigned long long)m->snapshot_size_bytes, m->from);
        return false;
    }
    int rc = m->config_len <= sizeof rx->config_bytes
                 ? raft_config_decode(m->config, m->config_len, &rx->config)
                 : ERR_MALFORMED;
    if (rc != 0) {
        LOGW(r->opt.logger, "refusing snapshot %llu from %u: its configuration is invalid (%s)",
             (unsigned long long)m->snapshot_index, m->from, err_str(rc));
        return false;
    }
    memcpy(rx->config_bytes, m->config, m->config_len);
    rx->config_len = m->config_len;
    rx->data = malloc((size_t)m->snapshot_size_bytes);
    if (rx->data == NULL) {
        return false; /* the leader retries */
    }
    rx->from = m->from;
    rx->leader_term = m->term;
    rx->index = m->snapshot_index;
    rx->term = m->snapshot_term;
    rx->size_bytes = m->snapshot_size_bytes;
    return true;
}

static bool receive_matches(const struct snapshot_receive *rx, const struct raft_message *m)
{
    return rx->index == m->snapshot_index && rx->term == m->snapshot_term &&
           rx->from == m->from && rx->leader_term == m->term &&
           rx->size_bytes == m->snapshot_size_bytes;
}

/* Copies the part of the chunk that extends the contiguous prefix; anything else (a
 * duplicate, or a chunk after a gap) changes nothing. */
static void receive_chunk(struct snapshot_receive *rx, const struct raft_message *m)
{
    uint64_t end = m->offset + m->data_len;
    if (m->offset > rx->have_bytes || end <= rx->have_bytes || end > rx->size_bytes ||
        m->data == NULL) {
        return;
    }
    uint64_t skip = rx->have_bytes - m->offset;
    memcpy(rx->data + rx->have_bytes, m->data + skip, (size_t)(m->data_len - skip));
    rx->have_bytes = end;
}

static void install_begin(struct raft *r)
{
    struct snapshot_receive *rx = &r->receive;
    rx->installing = true;
    rx->install_reported = false;
    rx->log_tail_matches = rx->index <= raft_log_last_index(&r->log) &&
                           (raft_log_term_at(&r->log, rx->index) == rx->term ||
                            raft_mutant(r, RAFT_MUTANT_SNAPSHOT_KEEP_CONFLICTING_TAIL));
    r->install = (struct raft_snapshot_install){
        .index = rx->index,
        .term = rx->term,
        .data = rx->data,
        .size_bytes = rx->size_bytes,
        .log_tail_matches = rx->log_tail_matches,
        .config = rx->config_bytes,
        .config_len = rx->config_len,
    };
    LOGD(r->opt.logger, "snapshot %llu received (%llu bytes); installing",
         (unsigned long long)rx->index, (unsigned long long)rx->size_bytes);
    if (raft_mutant(r, RAFT_MUTANT_SNAPSHOT_ACK_BEFORE_DURABLE)) {
        reply_installed(r, rx->from, rx->index, rx->term, rx->index);
    }
}

void snapshot_on_message(struct raft *r, const struct raft_message *m)
{
    if (m->term < r->term) {
        reply_snapshot(r, m->from, m, 0); /* tells a stale leader about the newer term */
        return;
    }
    if (r->role != RAFT_FOLLOWER || r->leader != m->from) {
        raft_become_follower(r, m->term, m->from);
    }
    r->leader_contact_ns = r->now_ns;
    raft_reset_election_timer(r);
    struct snapshot_receive *rx = &r->receive;
    if (rx->installing) {
        reply_snapshot(r, m->from, m, receive_matches(rx, m) ? rx->have_bytes : 0);
        return;
    }
    if (m->snapshot_index <= r->commit_index) {
        /* Nothing new in it: acknowledge what we hold durably, never go backwards. */
        receive_reset(rx);
        reply_installed(r, m->from, m->snapshot_index, m->snapshot_term,
                        MIN(m->snapshot_index, r->persisted_index));
        return;
    }
    if (!receive_matches(rx, m)) {
        if (m->offset != 0 || !receive_alloc(r, m)) {
            reply_snapshot(r, m->from, m, 0); /* start over from the first byte */
            return;
        }
    }
    receive_chunk(rx, m);
    reply_snapshot(r, m->from, m, rx->have_bytes);
    if (rx->have_bytes == rx->size_bytes) {
        install_begin(r);
    }
}

void raft_persisted_snapshot(struct raft *r, uint64_t now_ns, raft_index_t index, raft_term_t term)
{
    RAFT_ASSERT(r, !r->update_taken);
    if (now_ns > r->now_ns) {
        r->now_ns = now_ns;
    }
    struct snapshot_receive *rx = &r->receive;
    if (!rx->installing || !rx->install_reported || rx->index != index || rx->term != term) {
        return;
    }
    if (!rx->log_tail_matches) {
        raft_log_truncate_from(&r->log, r->log.first_index);
    }
    raft_log_compact_to(&r->log, index, term);
    r->persisted_index = rx->log_tail_matches ? MAX(r->persisted_index, index) : index;
    if (r->persist_from_index != 0 && r->persist_from_index <= index) {
        bool more = raft_log_last_index(&r->log) > index;
        r->persist_from_index = more ? index + 1 : 0;
    }
    r->commit_index = MAX(r->commit_index, index);
    r->applied_index = MAX(r->applied_index, index);
    if (rx->leader_term == r->term && r->leader == rx->from) {
        r->verified_index = MAX(r->verified_index, index);
    }
    LOGI(r->opt.logger, "installed snapshot %llu (term %llu)", (unsigned long long)index,
         (unsigned long long)term);
    uint8_t *data = rx->data;
    rx->data = NULL;
    snapshot_set_source(r, index, term, data, rx->size_bytes, data);
    /* The configuration comes with the snapshot: in effect unless the kept log tail
     * holds a later config entry. */
    config_set_snapshot(r, &rx->config, true);
    restart_transfers(r); /* chunks queued while this node led point into the old bytes */
    node_id_t from = rx->from;
    bool same_term = rx->leader_term == r->term;
    receive_reset(rx);
    if (same_term && !raft_mutant(r, RAFT_MUTANT_SNAPSHOT_ACK_BEFORE_DURABLE)) {
        reply_installed(r, from, index, term, index);
    }
    replication_maybe_lift_vote_barrier(r);
    raft_release_messages(r);
}

/* A partial snapshot the commit index has passed is of no use any more. */
void snapshot_forget_covered(struct raft *r)
{
    struct snapshot_receive *rx = &r->receive;
    if (rx->index != 0 && !rx->installing && rx->index <= r->commit_index) {
        receive_reset(rx);
    }
}

void snapshot_free(struct raft *r)
{
    receive_reset(&r->receive);
    snapshot_set_source(r, 0, 0, NULL, 0, NULL);
}

uint32_t raft_snapshots_sending(const struct raft *r)
{
    uint32_t n = 0;
    for (size_t i = 0; r->role == RAFT_LEADER && i < r->members_count; i++) {
        n += r->progress[i].state == PROGRESS_SNAPSHOT;
    }
    return n;
}

bool raft_snapshot_receiving(const struct raft *r) { return r->receive.index != 0; }

raft_index_t raft_snapshot_index(const struct raft *r) { return r->snapshot_index; }

void snapshot_check_invariants(const struct raft *r)
{
    const struct snapshot_receive *rx = &r->receive;
    RAFT_ASSERT(r, r->log.first_index - 1 <= r->snapshot_index);
    RAFT_ASSERT(r, r->snapshot_index <= r->applied_index);
    RAFT_ASSERT(r, (r->snapshot_index == 0) == (r->snapshot_data == NULL));
    RAFT_ASSERT(r, rx->have_bytes <= rx->size_bytes);
    RAFT_ASSERT(r, !rx->installing || rx->have_bytes == rx->size_bytes);
    for (size_t i = 0; r->role == RAFT_LEADER && i < r->members_count; i++) {
        const struct progress *p = &r->progress[i];
        if (p->state == PROGRESS_SNAPSHOT && p->snapshot.index == r->snapshot_index) {
            RAFT_ASSERT(r, p->snapshot.acked_offset <= r->snapshot_size_bytes);
            RAFT_ASSERT(r, p->snapshot.next_offset <= r->snapshot_size_bytes);
        }
    }
}
