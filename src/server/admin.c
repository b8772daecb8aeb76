/* Admin HTTP (HTTP/1.0, one request per connection): GET /metrics answers Prometheus
 * text, GET /status JSON. A request head longer than ADMIN_REQUEST_BYTES_MAX, or anything
 * but GET, gets an error status; every connection closes after its answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

#define ADMIN_REQUEST_BYTES_MAX 8192

struct admin_conn {
    uv_tcp_t tcp;
    struct server *s;
    char in[ADMIN_REQUEST_BYTES_MAX];
    size_t in_len;
    bool answered;
    struct buf out;
    uv_write_t wreq;
};

static void on_closed(uv_handle_t *h)
{
    struct admin_conn *a = h->data;
    buf_free(&a->out);
    free(a);
}

/* The link counters of all peers, summed for /metrics. */
struct link_totals {
    uint64_t datagrams_sent;
    uint64_t datagrams_received;
    uint64_t retransmits;
    uint64_t drops;
    uint64_t overflows;
    uint64_t tail_probes;
    uint64_t acks_sent;        /* bare ACK datagrams */
    uint64_t acks_delayed;     /* of those, sent when the ack delay ran out */
    uint64_t acks_piggybacked; /* acks that rode on a DATA datagram instead */
};

static void link_totals(struct server *s, struct link_totals *t)
{
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < link_table_peers_count(s->links); i++) {
        const struct link_counters *c = link_counters(link_table_at(s->links, i));
        t->datagrams_sent += c->datagrams_sent;
        t->datagrams_received += c->datagrams_received;
        t->retransmits += c->fragments_retransmitted;
        t->overflows += c->queue_overflow_messages;
        t->tail_probes += c->tail_probes;
        t->acks_sent += c->acks_sent;
        t->acks_delayed += c->acks_delayed;
        t->acks_piggybacked += c->acks_piggybacked;
        for (int k = 1; k < LINK_DROP_COUNT_; k++) {
            t->drops += c->dropped[k];
        }
    }
    const struct link_table_counters *tc = link_table_counters(s->links);
    t->drops += tc->dropped_unknown_peer;
    for (int k = 1; k < LINK_DROP_COUNT_; k++) {
        t->drops += tc->dropped[k];
    }
}

static void metrics(struct server *s, struct buf *o)
{
    struct link_totals lt;
    link_totals(s, &lt);
    struct disk_stats st;
    disk_worker_stats(&s->disk, &st);
    char t[4096];
    int n = snprintf(
        t, sizeof t,
        "# TYPE chorus_raft_term gauge\nchorus_raft_term %llu\n"
        "# TYPE chorus_raft_role gauge\nchorus_raft_role{role=\"%s\"} %d\n"
        "# TYPE chorus_raft_leader gauge\nchorus_raft_leader %u\n"
        "# TYPE chorus_raft_commit_index gauge\nchorus_raft_commit_index %llu\n"
        "# TYPE chorus_raft_apply_index gauge\nchorus_raft_apply_index %llu\n"
        "# TYPE chorus_proposals_total counter\nchorus_proposals_total %llu\n"
        "# TYPE chorus_proposals_failed_total counter\nchorus_proposals_failed_total %llu\n"
        "# TYPE chorus_commands_total counter\nchorus_commands_total %llu\n"
        "# TYPE chorus_forwards_total counter\nchorus_forwards_total %llu\n"
        "# TYPE chorus_request_timeouts_total counter\nchorus_request_timeouts_total %llu\n"
        "# TYPE chorus_link_datagrams_sent_total counter\nchorus_link_datagrams_sent_total %llu\n"
        "# TYPE chorus_link_datagrams_received_total counter\n"
        "chorus_link_datagrams_received_total %llu\n"
        "# TYPE chorus_link_retransmissions_total counter\nchorus_link_retransmissions_total %llu\n"
        "# TYPE chorus_link_drops_total counter\nchorus_link_drops_total %llu\n"
        "# TYPE chorus_link_queue_overflows_total counter\nchorus_link_queue_overflows_total %llu\n"
        "# TYPE chorus_link_tail_probes_total counter\nchorus_link_tail_probes_total %llu\n"
        "# TYPE chorus_link_acks_sent_total counter\nchorus_link_acks_sent_total %llu\n"
        "# TYPE chorus_link_acks_delayed_total counter\nchorus_link_acks_delayed_total %llu\n"
        "# TYPE chorus_link_acks_piggybacked_total counter\n"
        "chorus_link_acks_piggybacked_total %llu\n"
        "# TYPE chorus_udp_send_drops_total counter\nchorus_udp_send_drops_total %llu\n"
        "# TYPE chorus_fsync_total counter\nchorus_fsync_total %llu\n"
        "# TYPE chorus_fsync_seconds_total counter\nchorus_fsync_seconds_total %.6f\n"
        "# TYPE chorus_fsync_seconds_max gauge\nchorus_fsync_seconds_max %.6f\n"
        "# TYPE chorus_disk_batches_total counter\nchorus_disk_batches_total %llu\n"
        "# TYPE chorus_storage_failed gauge\nchorus_storage_failed %d\n"
        "# TYPE chorus_connections gauge\nchorus_connections %u\n"
        "# TYPE chorus_protocol_errors_total counter\nchorus_protocol_errors_total %llu\n",
        (unsigned long long)raft_term(s->raft), raft_role_name(raft_role(s->raft)),
        (int)raft_role(s->raft), raft_leader(s->raft),
        (unsigned long long)raft_commit_index(s->raft),
        (unsigned long long)raft_applied_index(s->raft),
        (unsigned long long)s->metrics.proposals, (unsigned long long)s->metrics.proposals_failed,
        (unsigned long long)s->metrics.commands, (unsigned long long)s->metrics.forwards_sent,
        (unsigned long long)s->metrics.timeouts, (unsigned long long)lt.datagrams_sent,
        (unsigned long long)lt.datagrams_received, (unsigned long long)lt.retransmits,
        (unsigned long long)lt.drops, (unsigned long long)lt.overflows,
        (unsigned long long)lt.tail_probes, (unsigned long long)lt.acks_sent,
        (unsigned long long)lt.acks_delayed, (unsigned long long)lt.acks_piggybacked,
        (unsigned long long)s->udp.send_drops, (unsigned long long)st.fsyncs_count,
        (double)st.fsync_ns_total / 1e9, (double)st.fsync_ns_max / 1e9, (unsigned long long)st.batches, st.failed != 0,
        s->connections_count, (unsigned long long)s->metrics.protocol_errors);
    buf_put(o, t, (size_t)n < sizeof t ? (size_t)n : sizeof t - 1);
}

static void session_metrics(struct server *s, struct buf *o)
{
    char t[512];
    int n = snprintf(
        t, sizeof t,
        "# TYPE chorus_sessions_registered_total counter\nchorus_sessions_registered_total %llu\n"
        "# TYPE chorus_session_resubmits_total counter\nchorus_session_resubmits_total %llu\n"
        "# TYPE chorus_session_unknown_total counter\nchorus_session_unknown_total %llu\n",
        (unsigned long long)s->metrics.sessions_registered,
        (unsigned long long)s->metrics.session_resubmits,
        (unsigned long long)s->metrics.session_unknown);
    buf_put(o, t, (size_t)n < sizeof t ? (size_t)n : sizeof t - 1);
}

static void leader_sync_metrics(struct server *s, struct buf *o)
{
    struct disk_stats st;
    disk_worker_stats(&s->disk, &st);
    char t[320];
    int n = snprintf(
        t, sizeof t,
        "# TYPE chorus_leader_syncs_deferred_total counter\nchorus_leader_syncs_deferred_total %llu\n"
        "# TYPE chorus_leader_syncs_forced_total counter\nchorus_leader_syncs_forced_total %llu\n",
        (unsigned long long)st.deferred_syncs, (unsigned long long)s->metrics.leader_syncs_forced);
    buf_put(o, t, (size_t)n < sizeof t ? (size_t)n : sizeof t - 1);
}

static void latency_histogram(struct server *s, struct buf *o)
{
    static const uint64_t bounds_us[] = SERVER_LATENCY_BUCKETS_US;
    char line[160];
    int n = snprintf(line, sizeof line, "# TYPE chorus_commit_latency_seconds histogram\n");
    buf_put(o, line, (size_t)n);
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= SERVER_LATENCY_BUCKETS_COUNT; b++) {
        cumulative += s->metrics.commit_latency_buckets[b];
        if (b < SERVER_LATENCY_BUCKETS_COUNT) {
            n = snprintf(line, sizeof line, "chorus_commit_latency_seconds_bucket{le=\"%.6f\"} %llu\n",
                         (double)bounds_us[b] / 1e6, (unsigned long long)cumulative);
        } else {
            n = snprintf(line, sizeof line, "chorus_commit_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
                         (unsigned long long)cumulative);
        }
        buf_put(o, line, (size_t)n);
    }
    n = snprintf(line, sizeof line,
                 "chorus_commit_latency_seconds_sum %.6f\nchorus_commit_latency_seconds_count %llu\n",
                 (double)s->metrics.commit_latency_us_sum / 1e6,
                 (unsigned long long)s->metrics.commit_latency_count);
    buf_put(o, line, (size_t)n);
}

static void status(struct server *s, struct buf *o)
{
    struct disk_stats ds;
    disk_worker_stats(&s->disk, &ds);
    char t[1024];
    int n = snprintf(t, sizeof t,
                     "{\"id\":%u,\"role\":\"%s\",\"term\":%llu,\"leader\":%u,\"commit_index\":%llu,"
                     "\"apply_index\":%llu,\"last_index\":%llu,\"port\":%u,\"cluster_port\":%u,"
                     "\"members\":%u,\"member\":\"%s\",\"storage_failed\":%s,\"vote_barrier\":%llu}\n",
                     s->cfg.id, raft_role_name(raft_role(s->raft)),
                     (unsigned long long)raft_term(s->raft), raft_leader(s->raft),
                     (unsigned long long)raft_commit_index(s->raft),
                     (unsigned long long)raft_applied_index(s->raft),
                     (unsigned long long)raft_last_index(s->raft), s->cfg.port,
                     s->cfg.cluster_port, s->cfg.peers_count,
                     members_removed(s) ? "removed" : members_role_of(s, s->cfg.id),
                     ds.failed != 0 ? "true" : "false",
                     (unsigned long long)raft_vote_barrier(s->raft));
    buf_put(o, t, (size_t)n < sizeof t ? (size_t)n : sizeof t - 1);
}

static void on_written(uv_write_t *w, int st)
{
    (void)st;
    struct admin_conn *a = w->data;
    uv_close((uv_handle_t *)&a->tcp, on_closed);
}

static void respond(struct admin_conn *a, int code, const char *type, const struct buf *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     code, code == 200 ? "OK" : code == 404 ? "Not Found" : "Bad Request", type,
                     body->len);
    buf_put(&a->out, head, (size_t)n);
    buf_put(&a->out, body->data, body->len);
    a->answered = true;
    uv_read_stop((uv_stream_t *)&a->tcp);
    a->wreq.data = a;
    uv_buf_t b = uv_buf_init((char *)a->out.data, (unsigned)a->out.len);
    if (a->out.failed || uv_write(&a->wreq, (uv_stream_t *)&a->tcp, &b, 1, on_written) != 0) {
        uv_close((uv_handle_t *)&a->tcp, on_closed);
    }
}

static void handle(struct admin_conn *a)
{
    struct buf body;
    buf_init(&body, 0);
    char path[64] = "";
    if (sscanf(a->in, "GET %63s HTTP/1.", path) != 1) {
        buf_put(&body, "bad request\n", 12);
        respond(a, 400, "text/plain", &body);
    } else if (strcmp(path, "/metrics") == 0) {
        metrics(a->s, &body);
        latency_histogram(a->s, &body);
        leader_sync_metrics(a->s, &body);
        session_metrics(a->s, &body);
        handoff_metrics(a->s, &body);
        admin_rpc_metrics(&a->s->admin_rpc, &a->s->udp, &body);
        server_snapshot_metrics(a->s, &body);
        members_metrics(a->s, &body);
        respond(a, 200, "text/plain; version=0.0.4", &body);
    } else if (strcmp(path, "/status") == 0) {
        status(a->s, &body);
        respond(a, 200, "application/json", &body);
    } else {
        buf_put(&body, "not found\n", 10);
        respond(a, 404, "text/plain", &body);
    }
    buf_free(&body);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct admin_conn *a = h->data;
    *b = uv_buf_init(a->in + a->in_len, (unsigned)(sizeof a->in - 1 - a->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct admin_conn *a = st->data;
    if (a->answered) {
        return;
    }
    if (nread < 0) {
        uv_close((uv_handle_t *)&a->tcp, on_closed);
        return;
    }
    a->in_len += (size_t)nread;
    a->in[a->in_len] = '\0';
    if (strstr(a->in, "\r\n\r\n") != NULL || strstr(a->in, "\n\n") != NULL) {
        handle(a);
    } else if (a->in_len == sizeof a->in - 1) {
        struct buf body;
        buf_init(&body, 0);
        buf_put(&body, "request too large\n", 18);
        respond(a, 400, "text/plain", &body);
        buf_free(&body);
    }
}

static void on_connection(uv_stream_t *listener, int st)
{
    struct server *s = listener->data;
    struct admin_conn *a = st == 0 ? calloc(1, sizeof *a) : NULL;
    if (a == NULL) {
        return;
    }
    a->s = s;
    buf_init(&a->out, 0);
    uv_tcp_init(s->loop, &a->tcp);
    a->tcp.data = a;
    if (uv_accept(listener, (uv_stream_t *)&a->tcp) != 0) {
        uv_close((uv_handle_t *)&a->tcp, on_closed);
        return;
    }
    uv_read_start((uv_stream_t *)&a->tcp, on_alloc, on_read);
}

int admin_listen(struct server *s)
{
    return server_listen_tcp(s, &s->admin_listener, s->cfg.admin_port, 128, on_connection,
                             "admin-port");
}
