/* Commands the server answers itself, on any node, without the log: PING, ECHO, HELLO,
 * INFO, CLIENT, COMMAND, CONFIG GET, SELECT, QUIT, CHORUS SNAPSHOT (snapshots.c), and
 * READONLY/READWRITE (as in Redis Cluster: a connection opts into reads from this node's
 * own applied state, which may be stale, instead of linearizable ReadIndex reads through
 * the leader). Replies are built as kv_reply values, so the connection writes them in
 * its protocol like every other reply. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/server.h"

static void bulk_cstr(struct kv_reply *r, const char *s)
{
    kv_reply_bulk(r, (const uint8_t *)s, strlen(s));
}

static void arity_error(struct kv_reply *r, const uint8_t *name, size_t len)
{
    kv_reply_errorf(r, "ERR wrong number of arguments for '%.*s' command", (int)len, name);
}

static const char *role_name(const struct server *s)
{
    return raft_role(s->raft) == RAFT_LEADER ? "master" : "slave";
}

static void hello(struct server *s, struct conn_info *ci, int argc, const uint8_t *const *argv,
                  const size_t *lens, struct kv_reply *r)
{
    if (argc >= 2) {
        int proto = lens[1] == 1 ? argv[1][0] - '0' : 0;
        if (proto != 2 && proto != 3) {
            kv_reply_error(r, "NOPROTO unsupported protocol version");
            return;
        }
        ci->proto = proto;
    }
    for (int i = 2; i + 1 < argc; i++) {
        if (server_word_is(argv[i], lens[i], "setname")) {
            snprintf(ci->name, sizeof ci->name, "%.*s", (int)lens[i + 1], argv[i + 1]);
        }
    }
    size_t pos = kv_reply_map_begin(r);
    bulk_cstr(r, "server");
    bulk_cstr(r, "redis");
    bulk_cstr(r, "version");
    bulk_cstr(r, "7.0.0");
    bulk_cstr(r, "proto");
    kv_reply_integer(r, ci->proto);
    bulk_cstr(r, "id");
    kv_reply_integer(r, (int64_t)ci->id);
    bulk_cstr(r, "mode");
    bulk_cstr(r, "standalone");
    bulk_cstr(r, "role");
    bulk_cstr(r, role_name(s));
    bulk_cstr(r, "modules");
    kv_reply_array_end(r, kv_reply_array_begin(r), 0);
    kv_reply_map_end(r, pos, 7);
}

void commands_info_text(struct server *s, struct buf *out)
{
    char leader[SERVER_HOST_BYTES_MAX + 32] = "none";
    server_leader_address(s, leader, sizeof leader);
    struct kv_stats st;
    kv_stats(s->kv, &st);
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "# Server\r\nredis_version:7.0.0\r\nchorus_node_id:%u\r\ntcp_port:%u\r\n"
                     "uptime_in_seconds:%llu\r\n\r\n# Clients\r\nconnected_clients:%u\r\n\r\n"
                     "# Persistence\r\naof_enabled:0\r\nchorus_fsync:%s\r\n\r\n"
                     "# Replication\r\nrole:%s\r\nchorus_raft_role:%s\r\nchorus_leader:%s\r\n"
                     "chorus_leader_id:%u\r\nchorus_term:%llu\r\nchorus_commit_index:%llu\r\n"
                     "chorus_apply_index:%llu\r\nchorus_last_index:%llu\r\nchorus_vote_barrier:%llu\r\n\r\n"
                     "# Keyspace\r\ndb0:keys=%zu,expires=0,avg_ttl=0\r\n",
                     s->cfg.id, s->cfg.port,
                     (unsigned long long)((server_now_ns() - s->started_ns) / 1000000000ull),
                     s->connections_count, s->cfg.fsync_always ? "always" : "never", role_name(s),
                     raft_role_name(raft_role(s->raft)), leader, raft_leader(s->raft),
                     (unsigned long long)raft_term(s->raft),
                     (unsigned long long)raft_commit_index(s->raft),
                     (unsigned long long)raft_applied_index(s->raft),
                     (unsigned long long)raft_last_index(s->raft),
                     (unsigned long long)raft_vote_barrier(s->raft), st.keys_count);
    buf_put(out, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
    server_snapshot_info(s, out);
    members_info(s, out);
}

/* True when INFO's arguments ask for the section titled `title` (as Redis: no argument,
 * "default", "all" or "everything" ask for every section). */
static bool info_wants(int argc, const uint8_t *const *argv, const size_t *lens, const char *title,
                       size_t title_len)
{
    if (argc < 2) {
        return true;
    }
    for (int i = 1; i < argc; i++) {
        if (server_word_is(argv[i], lens[i], "default") || server_word_is(argv[i], lens[i], "all") ||
            server_word_is(argv[i], lens[i], "everything") ||
            (lens[i] == title_len && strncasecmp((const char *)argv[i], title, title_len) == 0)) {
            return true;
        }
    }
    return false;
}

/* INFO [section ...]: the sections of commands_info_text that were asked for. */
static void info(struct server *s, int argc, const uint8_t *const *argv, const size_t *lens,
                 struct kv_reply *r)
{
    struct buf all, out;
    buf_init(&all, 0);
    buf_init(&out, 0);
    commands_info_text(s, &all);
    buf_put_u8(&all, 0); /* strstr below needs the terminator; not part of the text */
    all.len--;
    const char *text = (const char *)all.data, *end = text + all.len;
    while (text < end) {
        /* A section: "# Title\r\n" lines up to the blank line that ends it. */
        const char *next = strstr(text, "\r\n\r\n");
        next = next == NULL || next + 4 > end ? end : next + 4;
        const char *title = text + 2, *title_end = strstr(title, "\r\n");
        if (title_end != NULL && title_end < next &&
            info_wants(argc, argv, lens, title, (size_t)(title_end - title))) {
            buf_put(&out, text, (size_t)(next - text));
        }
        text = next;
    }
    if (out.len >= 4 && memcmp(out.data + out.len - 4, "\r\n\r\n", 4) == 0) {
        out.len -= 2; /* the last section ends with its last line, as in Redis */
    }
    static const uint8_t empty[1];
    kv_reply_bulk(r, out.len > 0 ? out.data : empty, out.len);
    buf_free(&all);
    buf_free(&out);
}

static void client(struct conn_info *ci, int argc, const uint8_t *const *argv, const size_t *lens,
                   struct kv_reply *r)
{
    if (argc >= 2 && server_word_is(argv[1], lens[1], "id")) {
        kv_reply_integer(r, (int64_t)ci->id);
    } else if (argc == 3 && server_word_is(argv[1], lens[1], "setname")) {
        snprintf(ci->name, sizeof ci->name, "%.*s", (int)lens[2], argv[2]);
        kv_reply_status(r, "OK");
    } else if (argc == 2 && server_word_is(argv[1], lens[1], "getname")) {
        if (ci->name[0] == '\0') {
            kv_reply_nil(r);
        } else {
            bulk_cstr(r, ci->name);
        }
    } else if (argc >= 2 && (server_word_is(argv[1], lens[1], "setinfo") || server_word_is(argv[1], lens[1], "no-evict"))) {
        kv_reply_status(r, "OK");
    } else {
        kv_reply_error(r, "ERR unknown CLIENT subcommand; try SETNAME, GETNAME or ID");
    }
}

static void config_get(int argc, const uint8_t *const *argv, const size_t *lens, struct kv_reply *r)
{
    if (argc != 3 || !server_word_is(argv[1], lens[1], "get")) {
        kv_reply_error(r, "ERR only CONFIG GET is supported");
        return;
    }
    static const char *const known[][2] = {{"save", ""}, {"appendonly", "no"}, {"databases", "1"}};
    size_t pos = kv_reply_map_begin(r);
    uint32_t pairs = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        bool all = lens[2] == 1 && argv[2][0] == '*';
        if (all || server_word_is(argv[2], lens[2], known[i][0])) {
            bulk_cstr(r, known[i][0]);
            bulk_cstr(r, known[i][1]);
            pairs++;
        }
    }
    kv_reply_map_end(r, pos, pairs);
}

static void ping_echo(int argc, const uint8_t *const *argv, const size_t *lens, struct kv_reply *r)
{
    if (server_word_is(argv[0], lens[0], "echo")) {
        if (argc != 2) {
            arity_error(r, argv[0], lens[0]);
        } else {
            kv_reply_bulk(r, argv[1], lens[1]);
        }
    } else if (argc == 1) {
        kv_reply_status(r, "PONG");
    } else if (argc == 2) {
        kv_reply_bulk(r, argv[1], lens[1]);
    } else {
        arity_error(r, argv[0], lens[0]);
    }
}

bool commands_local(struct server *s, struct conn_info *ci, int argc, const uint8_t *const *argv,
                    const size_t *lens, struct kv_reply *r)
{
    const uint8_t *name = argv[0];
    size_t len = lens[0];
    if (server_word_is(name, len, "ping") || server_word_is(name, len, "echo")) {
        ping_echo(argc, argv, lens, r);
    } else if (server_word_is(name, len, "hello")) {
        hello(s, ci, argc, argv, lens, r);
    } else if (server_word_is(name, len, "info")) {
        info(s, argc, argv, lens, r);
    } else if (server_word_is(name, len, "client")) {
        client(ci, argc, argv, lens, r);
    } else if (server_word_is(name, len, "command")) {
        if (argc >= 2 && server_word_is(argv[1], lens[1], "count")) {
            kv_reply_integer(r, 0);
        } else {
            kv_reply_array_end(r, kv_reply_array_begin(r), 0);
        }
    } else if (server_word_is(name, len, "config")) {
        config_get(argc, argv, lens, r);
    } else if (server_word_is(name, len, "select")) {
        if (argc == 2 && lens[1] == 1 && argv[1][0] == '0') {
            kv_reply_status(r, "OK");
        } else {
            kv_reply_error(r, "ERR DB index is out of range");
        }
    } else if (server_word_is(name, len, "readonly") || server_word_is(name, len, "readwrite")) {
        ci->stale_reads = server_word_is(name, len, "readonly");
        kv_reply_status(r, "OK");
    } else if (handoff_command(s, argc, argv, lens, r)) {
        /* CHORUS TRANSFER / LEADER (handoff.c) */
    } else if (server_word_is(name, len, "chorus") && argc == 2 && server_word_is(argv[1], lens[1], "snapshot")) {
        server_snapshot_command(s, r);
    } else if (server_word_is(name, len, "quit")) {
        kv_reply_status(r, "OK");
        ci->close_after = true;
    } else {
        return false;
    }
    return true;
}
