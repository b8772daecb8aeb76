/* The RESP front end: one struct conn per TCP client.
 *
 * Bytes go straight into the connection's resp_parser (zero copy); every complete command
 * of a read is handled before the next read, so pipelined commands share one group
 * commit. Replies leave in request order: a command that completes at once while earlier
 * ones are still waiting is queued behind them as a finished struct request. MULTI queues
 * copies of the commands and EXEC proposes them as one entry (kv_prepare_multi); WATCH
 * records kv_key_version of the leader's applied state. A protocol error sends the
 * parser's Redis error text and closes this connection only. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "resp/writer.h"
#include "server/server.h"

#define READ_CHUNK_BYTES (64 * 1024)
#define WATCH_KEYS_MAX 1024

struct conn {
    uv_tcp_t tcp;
    struct server *s;
    struct conn *prev, *next;   /* all connections, for shutdown */
    struct resp_parser parser;
    struct conn_info info;
    struct request *head, *tail; /* replies owed, in request order */
    struct buf out;              /* replies not yet handed to libuv */
    struct buf sending;          /* bytes of the write in flight */
    uv_write_t wreq;
    bool writing;
    bool closing;
    bool flush_marked;           /* on s->flush_list: replies completed this iteration */
    struct conn *flush_next;
    bool close_after_write;
    /* Argument arrays for the command being handled. */
    const uint8_t **argv;
    size_t *lens;
    size_t args_cap;
    /* MULTI/EXEC state. */
    bool in_multi;
    bool multi_error;
    struct cmd_copy *queued[SERVER_MULTI_QUEUE_MAX];
    size_t queued_count;
    struct cmd_copy *watched[WATCH_KEYS_MAX]; /* argc 1: the key */
    uint64_t watched_version[WATCH_KEYS_MAX];
    size_t watched_count;
};

/* ---- owned helpers ---- */

struct request *request_new(void)
{
    struct request *r = calloc(1, sizeof *r);
    if (r != NULL) {
        kv_reply_init(&r->reply);
        buf_init(&r->entry, 0);
    }
    return r;
}

void request_free(struct request *req)
{
    if (req != NULL) {
        kv_reply_free(&req->reply);
        buf_free(&req->entry);
        cmd_copy_free(req->held);
        free(req);
    }
}

/* A request for a new command: a spare one (its buffers kept, emptied) when there is
 * one, so that a command costs no allocation. NULL when memory is out. */
static struct request *request_take(struct server *s)
{
    struct request *r = s->spare_requests;
    if (r == NULL) {
        return request_new();
    }
    s->spare_requests = r->next;
    s->spare_requests_count--;
    struct kv_reply reply = r->reply;
    struct buf entry = r->entry;
    memset(r, 0, sizeof *r);
    r->reply = reply;
    r->entry = entry;
    kv_reply_reset(&r->reply);
    buf_reset(&r->entry);
    return r;
}

/* Frees an answered request (owned by the caller), or keeps it as a spare. */
static void request_recycle(struct server *s, struct request *r)
{
    if (s->spare_requests_count == SERVER_SPARE_REQUESTS_MAX || r->held != NULL ||
        r->reply.bytes.cap > SERVER_SPARE_REQUEST_BYTES_MAX ||
        r->entry.cap > SERVER_SPARE_REQUEST_BYTES_MAX) {
        request_free(r);
        return;
    }
    r->next = s->spare_requests;
    s->spare_requests = r;
    s->spare_requests_count++;
}

void clients_free_spares(struct server *s)
{
    while (s->spare_requests != NULL) {
        struct request *r = s->spare_requests;
        s->spare_requests = r->next;
        request_free(r);
    }
    s->spare_requests_count = 0;
}

struct conn_info *clients_conn_info(struct conn *c)
{
    return &c->info;
}

struct request *clients_queue_head(struct conn *c)
{
    return c->head;
}

/* One allocation holds the struct, the argv and lens arrays and every argument (each
 * followed by a NUL): a read waiting for its ReadIndex round costs one malloc, not
 * 2 + argc of them. */
struct cmd_copy *cmd_copy_new(int argc, const uint8_t *const *argv, const size_t *lens)
{
    ASSERT(argc >= 0);
    size_t n = (size_t)argc;
    size_t bytes = sizeof(struct cmd_copy) + n * (sizeof(uint8_t *) + sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        if (lens[i] >= SIZE_MAX - bytes) {
            return NULL;
        }
        bytes += lens[i] + 1;
    }
    struct cmd_copy *c = malloc(bytes);
    if (c == NULL) {
        return NULL;
    }
    c->argc = argc;
    c->argv = (uint8_t **)(c + 1);
    c->lens = (size_t *)(c->argv + n);
    uint8_t *next = (uint8_t *)(c->lens + n);
    for (size_t i = 0; i < n; i++) {
        c->argv[i] = next;
        c->lens[i] = lens[i];
        if (lens[i] != 0) {
            memcpy(next, argv[i], lens[i]);
        }
        next[lens[i]] = 0;
        next += lens[i] + 1;
    }
    return c;
}

void cmd_copy_free(struct cmd_copy *c)
{
    free(c);
}

/* ---- writing replies ---- */

/* Writes the next value of it (recursively for aggregates). */
static void write_value(struct resp_writer *w, struct kv_reply_iter *it, int depth)
{
    struct kv_reply_item v;
    if (depth > KV_REPLY_DEPTH_MAX || !kv_reply_next(it, &v)) {
        resp_write_error(w, "ERR internal error: malformed reply");
        return;
    }
    switch (v.type) {
    case KV_REPLY_STATUS: resp_write_simple(w, (const char *)v.str, v.str_len); break;
    case KV_REPLY_ERROR: resp_write_errorf(w, "%.*s", (int)v.str_len, (const char *)v.str); break;
    case KV_REPLY_INTEGER: resp_write_integer(w, v.integer); break;
    case KV_REPLY_BULK: resp_write_bulk(w, v.str, v.str_len); break;
    case KV_REPLY_NIL: resp_write_null(w); break;
    case KV_REPLY_NIL_ARRAY: resp_write_null_array(w); break;
    case KV_REPLY_ARRAY:
        resp_write_array_header(w, v.count);
        for (uint32_t i = 0; i < v.count; i++) {
            write_value(w, it, depth + 1);
        }
        break;
    case KV_REPLY_MAP:
        resp_write_map_header(w, v.count);
        for (uint32_t i = 0; i < 2 * v.count; i++) {
            write_value(w, it, depth + 1);
        }
        break;
    }
}

static void write_reply(struct conn *c, const struct kv_reply *r)
{
    struct resp_writer w;
    resp_writer_init(&w, &c->out, c->info.proto);
    struct kv_reply_iter it;
    kv_reply_iter_init(&it, r);
    write_value(&w, &it, 0);
}

static void conn_close(struct conn *c);
static void start_write(struct conn *c);

static void on_written(uv_write_t *wr, int status)
{
    struct conn *c = wr->data;
    c->writing = false;
    buf_reset(&c->sending);
    if (status != 0) {
        conn_close(c);
        return;
    }
    start_write(c);
}

static void start_write(struct conn *c)
{
    if (c->writing || c->closing) {
        return;
    }
    if (c->out.len == 0) {
        if (c->close_after_write) {
            conn_close(c);
        }
        return;
    }
    if (c->out.failed || c->out.len > SERVER_OUTPUT_BYTES_MAX) {
        conn_close(c);
        return;
    }
    /* Most replies fit the socket buffer: write them now. Only what the kernel did
     * not take goes through uv_write, whose completion would also cost an epoll_ctl
     * per reply. */
    uv_buf_t now = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    int written = uv_try_write((uv_stream_t *)&c->tcp, &now, 1);
    if (written == (int)c->out.len) {
        buf_reset(&c->out);
        if (c->close_after_write) {
            conn_close(c);
        }
        return;
    }
    if (written < 0 && written != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    size_t taken = written > 0 ? (size_t)written : 0;
    struct buf tmp = c->sending;
    c->sending = c->out;
    c->out = tmp;
    buf_reset(&c->out);
    uv_buf_t b = uv_buf_init((char *)c->sending.data + taken, (unsigned)(c->sending.len - taken));
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) == 0) {
        c->writing = true;
    } else {
        conn_close(c);
    }
}

void clients_flush(struct server *s, struct conn *c)
{
    while (c->head != NULL && c->head->done) {
        struct request *r = c->head;
        c->head = r->next;
        if (c->head == NULL) {
            c->tail = NULL;
        }
        write_reply(c, &r->reply);
        c->close_after_write |= r->close_after;
        request_recycle(s, r);
    }
    start_write(c);
}

void clients_mark_for_flush(struct server *s, struct conn *c)
{
    if (!c->flush_marked) {
        c->flush_marked = true;
        c->flush_next = s->flush_list;
        s->flush_list = c;
    }
}

void clients_flush_marked(struct server *s)
{
    while (s->flush_list != NULL) {
        struct conn *c = s->flush_list;
        s->flush_list = c->flush_next;
        c->flush_marked = false;
        c->flush_next = NULL;
        clients_flush(s, c);
    }
}

static void flush_unmark(struct conn *c)
{
    for (struct conn **p = &c->s->flush_list; c->flush_marked && *p != NULL; p = &(*p)->flush_next) {
        if (*p == c) {
            *p = c->flush_next;
            c->flush_marked = false;
        }
    }
}

static void enqueue(struct conn *c, struct request *r)
{
    r->conn = c;
    if (c->tail != NULL) {
        c->tail->next = r;
    } else {
        c->head = r;
    }
    c->tail = r;
}

/* A reply known now: written at once unless earlier replies are still owed. */
static void reply_now(struct conn *c, const struct kv_reply *r, bool close_after)
{
    if (c->head == NULL) {
        write_reply(c, r);
        c->close_after_write |= close_after;
        return;
    }
    struct request *req = request_take(c->s);
    if (req == NULL) {
        conn_close(c);
        return;
    }
    kv_reply_append(&req->reply, r);
    req->done = true;
    req->close_after = close_after;
    enqueue(c, req);
}

static void reply_error(struct conn *c, const char *text)
{
    struct kv_reply r;
    kv_reply_init(&r);
    kv_reply_error(&r, text);
    reply_now(c, &r, false);
    kv_reply_free(&r);
}

static void reply_status(struct conn *c, const char *text)
{
    struct kv_reply r;
    kv_reply_init(&r);
    kv_reply_status(&r, text);
    reply_now(c, &r, false);
    kv_reply_free(&r);
}

/* A new pending request at the tail of c's queue; NULL (with an error reply) when
 * memory is out. */
static struct request *enqueue_new(struct conn *c)
{
    struct request *req = request_take(c->s);
    if (req == NULL) {
        reply_error(c, "ERR out of memory");
        return NULL;
    }
    enqueue(c, req);
    return req;
}

/* ---- MULTI / EXEC / WATCH ---- */

static void multi_clear(struct conn *c)
{
    for (size_t i = 0; i < c->queued_count; i++) {
        cmd_copy_free(c->queued[i]);
    }
    c->queued_count = 0;
    c->in_multi = false;
    c->multi_error = false;
}

static void watch_clear(struct conn *c)
{
    for (size_t i = 0; i < c->watched_count; i++) {
        cmd_copy_free(c->watched[i]);
    }
    c->watched_count = 0;
}

static bool not_leader(struct conn *c)
{
    struct server *s = c->s;
    if (raft_role(s->raft) == RAFT_LEADER) {
        return false;
    }
    char addr[SERVER_HOST_BYTES_MAX + 32], text[256];
    if (server_leader_address(s, addr, sizeof addr)) {
        snprintf(text, sizeof text, "TRYAGAIN transactions run on the leader; leader is %s", addr);
    } else {
        snprintf(text, sizeof text, "TRYAGAIN no leader");
    }
    reply_error(c, text);
    return true;
}

static void run_exec(struct conn *c)
{
    struct server *s = c->s;
    struct kv_argv cmds[SERVER_MULTI_QUEUE_MAX];
    struct kv_watch watches[WATCH_KEYS_MAX];
    for (size_t i = 0; i < c->queued_count; i++) {
        cmds[i] = (struct kv_argv){.argc = c->queued[i]->argc,
                                   .argv = (const uint8_t *const *)c->queued[i]->argv,
                                   .argv_len = c->queued[i]->lens};
    }
    for (size_t i = 0; i < c->watched_count; i++) {
        watches[i] = (struct kv_watch){.key = c->watched[i]->argv[0],
                                       .key_len = c->watched[i]->lens[0],
                                       .version = c->watched_version[i]};
    }
    struct request *req = enqueue_new(c);
    if (req == NULL) {
        return;
    }
    /* One seq for the whole transaction when the session is ready; a connection whose
     * first write is an EXEC runs it sessionless while its session registers. */
    struct kv_client client;
    bool session = sessions_exec_client(s, req, &client);
    struct buf *entry = session ? &req->entry : &s->scratch;
    buf_reset(entry);
    kv_reply_reset(&s->reply);
    int rc = kv_prepare_multi(kv_config_of(s->kv), server_wall_ms(), session ? &client : NULL, cmds,
                              c->queued_count, watches, c->watched_count, entry, &s->reply);
    if (rc != 0) {
        req->seq = 0;
        request_complete(s, req, &s->reply);
    } else if (session) {
        server_submit(s, req);
    } else {
        server_propose(s, req, entry);
    }
}

static void handle_exec(struct conn *c)
{
    if (!c->in_multi) {
        reply_error(c, "ERR EXEC without MULTI");
    } else if (c->multi_error) {
        reply_error(c, "EXECABORT Transaction discarded because of previous errors.");
    } else if (!not_leader(c)) {
        run_exec(c);
    }
    multi_clear(c);
    watch_clear(c);
}

static void handle_watch(struct conn *c, int argc, const uint8_t *const *argv, const size_t *lens)
{
    if (c->in_multi) {
        reply_error(c, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    if (not_leader(c)) {
        return;
    }
    for (int i = 1; i < argc; i++) {
        if (c->watched_count == WATCH_KEYS_MAX) {
            reply_error(c, "ERR too many watched keys");
            return;
        }
        struct cmd_copy *k = cmd_copy_new(1, &argv[i], &lens[i]);
        if (k == NULL) {
            reply_error(c, "ERR out of memory");
            return;
        }
        c->watched_version[c->watched_count] =
            kv_key_version(c->s->kv, server_wall_ms(), argv[i], lens[i]);
        c->watched[c->watched_count++] = k;
    }
    reply_status(c, "OK");
}

static void queue_in_multi(struct conn *c, int argc, const uint8_t *const *argv, const size_t *lens)
{
    struct kv_reply err;
    kv_reply_init(&err);
    struct kv_argv cmd = {.argc = argc, .argv = argv, .argv_len = lens};
    if (kv_command_lookup(argv[0], lens[0]) == NULL) {
        c->multi_error = true;
        reply_error(c, "ERR unknown command");
    } else if (kv_validate(kv_config_of(c->s->kv), &cmd, &err) != 0) {
        c->multi_error = true;
        reply_now(c, &err, false);
    } else if (c->queued_count == SERVER_MULTI_QUEUE_MAX ||
               (c->queued[c->queued_count] = cmd_copy_new(argc, argv, lens)) == NULL) {
        c->multi_error = true;
        reply_error(c, "ERR too many commands in MULTI");
    } else {
        c->queued_count++;
        reply_status(c, "QUEUED");
    }
    kv_reply_free(&err);
}

/* ---- dispatch ---- */

/* Handles a transaction verb; false when argv[0] is not one. */
static bool handle_transaction(struct conn *c, int argc, const uint8_t *const *argv,
                               const size_t *lens)
{
    if (server_word_is(argv[0], lens[0], "multi")) {
        if (c->in_multi) {
            reply_error(c, "ERR MULTI calls can not be nested");
        } else {
            c->in_multi = true;
            reply_status(c, "OK");
        }
    } else if (server_word_is(argv[0], lens[0], "exec")) {
        handle_exec(c);
    } else if (server_word_is(argv[0], lens[0], "discard")) {
        if (c->in_multi) {
            multi_clear(c);
            watch_clear(c);
            reply_status(c, "OK");
        } else {
            reply_error(c, "ERR DISCARD without MULTI");
        }
    } else if (server_word_is(argv[0], lens[0], "watch") && argc >= 2) {
        handle_watch(c, argc, argv, lens);
    } else if (server_word_is(argv[0], lens[0], "unwatch")) {
        watch_clear(c);
        reply_status(c, "OK");
    } else if (c->in_multi && !server_word_is(argv[0], lens[0], "quit")) {
        queue_in_multi(c, argc, argv, lens);
    } else {
        return false;
    }
    return true;
}

static void handle_command(struct conn *c, int argc, const uint8_t *const *argv, const size_t *lens)
{
    struct server *s = c->s;
    if (handle_transaction(c, argc, argv, lens)) {
        return;
    }
    kv_reply_reset(&s->reply);
    c->info.close_after = false;
    if (commands_local(s, &c->info, argc, argv, lens, &s->reply)) {
        reply_now(c, &s->reply, c->info.close_after);
        return;
    }
    const struct kv_command_info *info = kv_command_lookup(argv[0], lens[0]);
    if (c->info.stale_reads && info != NULL && !info->write) {
        struct kv_argv cmd = {.argc = argc, .argv = argv, .argv_len = lens};
        kv_read(s->kv, server_wall_ms(), &cmd, &s->reply); /* opted in: may be stale */
        reply_now(c, &s->reply, false);
        return;
    }
    struct request *req = enqueue_new(c);
    if (req == NULL) {
        return;
    }
    server_execute(s, req, argc, argv, lens);
}

static bool args_reserve(struct conn *c, size_t argc)
{
    if (argc <= c->args_cap) {
        return true;
    }
    const uint8_t **a = realloc(c->argv, argc * sizeof *a);
    if (a != NULL) {
        c->argv = a;
    }
    size_t *l = realloc(c->lens, argc * sizeof *l);
    if (l != NULL) {
        c->lens = l;
    }
    if (a == NULL || l == NULL) {
        return false;
    }
    c->args_cap = argc;
    return true;
}

static void drain_commands(struct conn *c)
{
    struct resp_command cmd;
    int rc;
    while (!c->closing && !c->close_after_write && (rc = resp_parser_next(&c->parser, &cmd)) == 1) {
        if (cmd.argc > (size_t)KV_ARGC_MAX_DEFAULT * 1024 || !args_reserve(c, cmd.argc)) {
            reply_error(c, "ERR out of memory");
            c->close_after_write = true;
            break;
        }
        for (size_t i = 0; i < cmd.argc; i++) {
            c->argv[i] = cmd.argv[i].data;
            c->lens[i] = cmd.argv[i].len;
        }
        handle_command(c, (int)cmd.argc, c->argv, c->lens);
    }
    if (!c->closing && resp_parser_error(&c->parser) != NULL) {
        c->s->metrics.protocol_errors++;
        reply_error(c, resp_parser_error(&c->parser));
        c->close_after_write = true;
    }
    if (!c->closing) {
        clients_flush(c->s, c);
    }
}

/* ---- libuv plumbing ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct conn *c = h->data;
    size_t space = 0;
    uint8_t *p = resp_parser_reserve(&c->parser, READ_CHUNK_BYTES, &space);
    *b = uv_buf_init((char *)p, (unsigned)space);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct conn *c = st->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread > 0) {
        resp_parser_commit(&c->parser, (size_t)nread);
    }
    drain_commands(c);
    if (!c->closing && c->close_after_write) {
        uv_read_stop(st);
    }
}

static void on_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    resp_parser_free(&c->parser);
    buf_free(&c->out);
    buf_free(&c->sending);
    free(c->argv);
    free(c->lens);
    free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    flush_unmark(c);
    c->s->connections_count--;
    if (c->info.registering != NULL) {
        c->info.registering->conn = NULL; /* freed when it completes */
        c->info.registering = NULL;
    }
    for (struct request *r = c->head; r != NULL;) {
        struct request *next = r->next;
        if (r->done || r->held != NULL) { /* a held write is in no pending list */
            request_free(r);
        } else {
            r->conn = NULL; /* orphan: freed by whoever completes it */
        }
        r = next;
    }
    c->head = c->tail = NULL;
    multi_clear(c);
    watch_clear(c);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        c->s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void clients_close_all(struct server *s)
{
    while (s->conns != NULL) {
        conn_close(s->conns);
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct server *s = listener->data;
    if (status != 0) {
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return;
    }
    c->s = s;
    buf_init(&c->out, 0);
    buf_init(&c->sending, 0);
    resp_parser_init(&c->parser, NULL);
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    c->info.id = ++s->next_client_id;
    c->info.proto = 2;
    s->connections_count++;
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
        s->connections_count > SERVER_CONNECTIONS_MAX) {
        conn_close(c);
        return;
    }
    s->metrics.connections_accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int clients_listen(struct server *s)
{
    return server_listen_tcp(s, &s->resp_listener, s->cfg.port, 511, on_connection, "port");
}
