/* Client sessions for RESP connections: exactly-once writes across leadership changes
 * (Raft thesis §6.3; kv implements the session table, this file uses it).
 *
 * A connection registers a session lazily, with its first write: one CHORUS.REGISTER
 * entry, whose reply is the client id. Writes that arrive meanwhile are held (their
 * arguments copied) and prepared in order once the id is known. Every write then carries
 * (client_id, seq, session_ack): seq counts the connection's writes from 1, session_ack is
 * the lowest seq of the connection still unanswered, so kv keeps exactly the cached
 * replies a retry may still need. The encoded entry stays with the request (req->entry);
 * when its outcome becomes unknown (leadership lost, entry overwritten, forward to a
 * leader that went away) node.c submits the same bytes again to whoever leads now, and
 * kv answers a duplicate from its reply cache, so the client gets one definite reply.
 * Sessions of closed connections are not unregistered: they expire after kv's session
 * timeout or are evicted (least recently used) past sessions_count_max. */
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "server/server.h"

#define UNKNOWN_TEXT "TIMEOUT outcome unknown: the write may or may not have been applied"

static bool error_prefix(const struct kv_reply *r, const char *prefix)
{
    struct kv_reply_iter it;
    struct kv_reply_item v;
    kv_reply_iter_init(&it, r);
    size_t n = strlen(prefix);
    return kv_reply_next(&it, &v) && v.type == KV_REPLY_ERROR && v.str_len >= n &&
           memcmp(v.str, prefix, n) == 0;
}

bool sessions_retriable(const struct kv_reply *reply)
{
    return error_prefix(reply, "TRYAGAIN") || error_prefix(reply, "TIMEOUT");
}

/* The lowest seq of c's writes still unanswered (next when none is). */
static uint64_t session_ack(struct conn *c, uint64_t next)
{
    for (struct request *r = clients_queue_head(c); r != NULL; r = r->next) {
        if (r->seq != 0 && !r->done) {
            return r->seq;
        }
    }
    return next;
}

/* A session past half kv's timeout since its last write may expire before the next one
 * applies: such a connection registers anew rather than meet -SESSIONEXPIRED. */
static bool session_ready(struct server *s, const struct conn_info *ci, uint64_t now_ms)
{
    uint64_t timeout_ms = kv_config_of(s->kv)->session_timeout_ms;
    return ci->client_id != 0 && now_ms - ci->session_used_ms < timeout_ms / 2;
}

static void next_client(struct conn_info *ci, struct conn *c, struct request *req,
                        uint64_t now_ms, struct kv_client *out)
{
    req->seq = ++ci->next_seq;
    ci->session_used_ms = now_ms;
    out->client_id = ci->client_id;
    out->seq = req->seq;
    out->session_ack = session_ack(c, req->seq);
}

static void start_registration(struct server *s, struct conn *c)
{
    struct conn_info *ci = clients_conn_info(c);
    if (ci->registering != NULL) {
        return;
    }
    struct request *reg = request_new();
    if (reg == NULL || kv_prepare_register(server_wall_ms(), &reg->entry) != 0) {
        request_free(reg);
        return; /* the held writes get their error from sessions_write */
    }
    reg->registration = true;
    reg->conn = c;
    reg->deadline_ns = server_now_ns() + (uint64_t)s->cfg.request_timeout_ms * 1000000ull;
    ci->registering = reg;
    ci->client_id = 0;
    server_submit(s, reg);
}

/* Prepares req's command on the ready session and submits it. */
static void submit_write(struct server *s, struct request *req, const struct kv_argv *cmd)
{
    struct conn_info *ci = clients_conn_info(req->conn);
    uint64_t now_ms = server_wall_ms();
    struct kv_client client;
    next_client(ci, req->conn, req, now_ms, &client);
    buf_reset(&req->entry);
    /* One allocation for the entry: its arguments plus field headers and the session. */
    size_t bytes = 64;
    for (int i = 0; i < cmd->argc; i++) {
        bytes += cmd->argv_len[i] + 8;
    }
    buf_reserve(&req->entry, bytes);
    /* Not s->reply: a registration applied releases its held writes from apply_entry,
     * which is still using that. An empty reply allocates nothing. */
    struct kv_reply error;
    kv_reply_init(&error);
    int rc = kv_prepare(kv_config_of(s->kv), now_ms, &client, cmd, &req->entry, &error);
    if (rc != 0) {
        req->seq = 0; /* refused before the log: a definite answer, nothing to retry */
        request_complete(s, req, &error);
    }
    kv_reply_free(&error);
    if (rc != 0) {
        return;
    }
    req->deadline_ns = server_now_ns() + (uint64_t)s->cfg.request_timeout_ms * 1000000ull;
    server_submit(s, req);
}

void sessions_write(struct server *s, struct request *req, const struct kv_argv *cmd)
{
    struct conn_info *ci = clients_conn_info(req->conn);
    if (session_ready(s, ci, server_wall_ms()) && ci->registering == NULL) {
        submit_write(s, req, cmd);
        return;
    }
    /* Held until the registration answers; rare (a connection's first writes). */
    req->held = cmd_copy_new(cmd->argc, cmd->argv, cmd->argv_len);
    if (req->held == NULL) {
        request_complete_error(s, req, "ERR out of memory");
        return;
    }
    start_registration(s, req->conn);
    if (ci->registering == NULL && req->held != NULL) {
        cmd_copy_free(req->held);
        req->held = NULL;
        request_complete_error(s, req, "ERR out of memory");
    }
}

bool sessions_exec_client(struct server *s, struct request *req, struct kv_client *client)
{
    struct conn_info *ci = clients_conn_info(req->conn);
    uint64_t now_ms = server_wall_ms();
    if (!session_ready(s, ci, now_ms) || ci->registering != NULL) {
        start_registration(s, req->conn);
        return false;
    }
    next_client(ci, req->conn, req, now_ms, client);
    req->deadline_ns = server_now_ns() + (uint64_t)s->cfg.request_timeout_ms * 1000000ull;
    return true;
}

/* Releases c's held writes: prepared on the new session, or refused with text. */
static void release_held(struct server *s, struct conn *c, const char *text)
{
    struct request *r = clients_queue_head(c);
    while (r != NULL) {
        struct request *next = r->next; /* r may complete (not be freed: it is queued) */
        struct cmd_copy *held = r->held;
        if (held != NULL) {
            r->held = NULL;
            if (text != NULL) {
                request_complete_error(s, r, text);
            } else {
                struct kv_argv cmd = {.argc = held->argc,
                                      .argv = (const uint8_t *const *)held->argv,
                                      .argv_len = held->lens};
                submit_write(s, r, &cmd);
            }
            cmd_copy_free(held);
        }
        r = next;
    }
}

void sessions_registered(struct server *s, struct request *reg, const struct kv_reply *reply)
{
    struct conn *c = reg->conn;
    if (c == NULL) {
        request_free(reg); /* the connection closed meanwhile */
        return;
    }
    struct conn_info *ci = clients_conn_info(c);
    ASSERT(ci->registering == reg);
    ci->registering = NULL;
    struct kv_reply_iter it;
    struct kv_reply_item v;
    kv_reply_iter_init(&it, reply);
    bool ok = kv_reply_next(&it, &v) && v.type == KV_REPLY_INTEGER && v.integer > 0;
    const char *text = NULL;
    if (ok) {
        ci->client_id = (uint64_t)v.integer;
        ci->next_seq = 0;
        ci->session_used_ms = server_wall_ms();
        s->metrics.sessions_registered++;
    } else if (error_prefix(reply, "TRYAGAIN no leader")) {
        text = "TRYAGAIN no leader";
    } else {
        text = "TRYAGAIN could not register a client session; the write was not applied";
    }
    request_free(reg);
    release_held(s, c, text);
}

bool sessions_final(struct server *s, struct request *req, const struct kv_reply *reply)
{
    if (!kv_reply_is_error(reply)) {
        return false; /* the common case, decided without walking the reply */
    }
    bool expired = error_prefix(reply, "SESSIONEXPIRED");
    if (!expired && !error_prefix(reply, "EVICTED")) {
        return false;
    }
    /* The session is gone (or this seq's reply is): never apply blindly again. */
    struct conn_info *ci = clients_conn_info(req->conn);
    if (expired && ci->registering == NULL) {
        ci->client_id = 0; /* the next write registers a new session */
    }
    req->seq = 0;
    if (expired && req->attempts <= 1) {
        request_complete_error(s, req, "TRYAGAIN client session expired; the write was not applied");
    } else {
        s->metrics.session_unknown++;
        request_complete_error(s, req, expired ? "TIMEOUT outcome unknown: the client session expired while the write was retried"
                                               : "TIMEOUT outcome unknown: the write's reply was evicted from the session cache");
    }
    return true;
}

void sessions_give_up(struct server *s, struct request *req)
{
    if (req->attempts == 0) {
        request_complete_error(s, req, "TRYAGAIN no leader");
        return;
    }
    s->metrics.timeouts++;
    if (req->seq != 0) {
        s->metrics.session_unknown++;
    }
    request_complete_error(s, req, UNKNOWN_TEXT);
}
