/* Server configuration: `key value` lines (like redis.conf) and the same settings as
 * command-line flags (`--key value`). Flags are applied after the file named by
 * --config, so a flag overrides a line. A bad value, an unknown key or a contradictory
 * combination is refused with a message that names the line ("FILE:LINE") or the flag.
 *
 * Keys: id, dir, port, cluster-port, admin-port, peers (ID@HOST:PORT,...), fsync
 * (always|never), cluster-key (64 hex digits), log-level, election-timeout-ms,
 * heartbeat-ms, join (yes|no), bind (the address every listener uses; 127.0.0.1 by default), read-mode
 * (readindex|lease), clock-drift-bound-ms (the lease's allowance, below the election
 * timeout).
 * Depends on base and libc only; no I/O except reading the config file. */
#ifndef CHORUS_SERVER_CONFIG_H
#define CHORUS_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"

#define SERVER_PEERS_COUNT_MAX 9
#define SERVER_PATH_BYTES_MAX 512
#define SERVER_HOST_BYTES_MAX 64
#define SERVER_CONFIG_LINE_BYTES_MAX 4096
#define SERVER_CLUSTER_KEY_BYTES 32
#define SERVER_ERROR_BYTES_MAX 256

struct server_peer {
    uint32_t id;
    char host[SERVER_HOST_BYTES_MAX]; /* a dotted IPv4 address */
    uint16_t port;                    /* its cluster (UDP) port */
};

struct server_config {
    uint32_t id;
    char dir[SERVER_PATH_BYTES_MAX];
    char bind[SERVER_HOST_BYTES_MAX];
    uint16_t port;         /* RESP over TCP */
    uint16_t cluster_port; /* Raft traffic over UDP */
    uint16_t admin_port;   /* HTTP; 0 disables it */
    struct server_peer peers[SERVER_PEERS_COUNT_MAX]; /* every member, this node included */
    uint32_t peers_count;
    bool fsync_always;     /* false: never fsync (for benchmarks; loses data on power loss) */
    uint32_t leader_sync_delay_ms; /* a leader's fsync may wait this long (0: every batch) */
    uint32_t leader_sync_grace_ms; /* a commit may wait this long on it before it is forced */
    bool sealed;           /* a cluster key was given: datagrams are AEAD-sealed */
    uint8_t cluster_key[SERVER_CLUSTER_KEY_BYTES];
    enum log_level log_level;
    uint32_t election_timeout_ms;
    uint32_t heartbeat_ms;
    uint32_t request_timeout_ms; /* a write or forwarded request pending this long times out */
    bool lease_reads;             /* read-mode lease: reads served from the leader's lease */
    uint32_t clock_drift_bound_ms; /* the lease lasts election-timeout-ms minus this */
    uint64_t snapshot_entries;   /* snapshot and compact every this many applied entries */
    /* join yes: this node boots as a spare outside the configuration (peers names the
     * members to reach and this node's own address); it never forms a cluster of its own
     * and waits for a leader to add it (CHORUS ADDLEARNER). Ignored once its log holds a
     * configuration. */
    bool join;
};

/* Fills cfg with the defaults (ports 0, fsync always, election 300 ms, heartbeat 50 ms). */
void server_config_defaults(struct server_config *cfg);

/* Applies one setting. where names its origin for messages ("--port", "a.conf:3").
 * Returns 0, or -1 with a message in err (err_cap bytes, NUL-terminated). */
int server_config_set(struct server_config *cfg, const char *key, const char *value,
                      const char *where, char *err, size_t err_cap);

/* Parses config text (lines of `key value`, '#' comments, blank lines). name is used in
 * messages. Returns 0 or -1 with err set. text borrowed. */
int server_config_parse_text(struct server_config *cfg, const char *text, const char *name,
                             char *err, size_t err_cap);

/* Parses argv (argv[0] is the program): --config FILE is read first, then every other
 * `--key value` pair is applied in order, then the result is checked. Returns 0 or -1
 * with err set. */
int server_config_parse_args(struct server_config *cfg, int argc, char **argv, char *err,
                             size_t err_cap);

/* Checks the whole configuration for missing or contradictory settings. 0 or -1. */
int server_config_check(const struct server_config *cfg, char *err, size_t err_cap);

/* The peer entry of id, or NULL. */
const struct server_peer *server_config_peer(const struct server_config *cfg, uint32_t id);

#endif
