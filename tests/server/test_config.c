/* Server configuration: flags and config lines set the same things, errors name the
 * line or flag, contradictory settings are refused. */
#include <string.h>

#include "harness.h"
#include "server/config.h"

static const char *good_args[] = {"chorus-server", "--id", "2", "--dir", "/tmp/x", "--port",
                                  "7002", "--cluster-port", "17002", "--admin-port", "8002",
                                  "--peers", "1@127.0.0.1:17001,2@127.0.0.1:17002,3@127.0.0.1:17003"};
#define GOOD_ARGC ((int)(sizeof good_args / sizeof good_args[0]))

static int parse(int argc, const char **argv, struct server_config *cfg, char *err)
{
    server_config_defaults(cfg);
    return server_config_parse_args(cfg, argc, (char **)argv, err, SERVER_ERROR_BYTES_MAX);
}

TEST(config_flags_set_every_listener_and_the_peers)
{
    struct server_config cfg;
    char err[SERVER_ERROR_BYTES_MAX] = "";
    CHECK_EQ(parse(GOOD_ARGC, good_args, &cfg, err), 0);
    CHECK_EQ(cfg.id, 2);
    CHECK_EQ(cfg.port, 7002);
    CHECK_EQ(cfg.cluster_port, 17002);
    CHECK_EQ(cfg.admin_port, 8002);
    CHECK_EQ(cfg.peers_count, 3);
    CHECK_EQ(cfg.peers[2].id, 3);
    CHECK_EQ(cfg.peers[2].port, 17003);
    CHECK(strcmp(cfg.peers[2].host, "127.0.0.1") == 0);
    CHECK(cfg.fsync_always);
}

TEST(config_line_error_names_file_and_line)
{
    struct server_config cfg;
    server_config_defaults(&cfg);
    char err[SERVER_ERROR_BYTES_MAX] = "";
    const char *text = "# comment\nid 3\n\nport seventy\n";
    CHECK_EQ(server_config_parse_text(&cfg, text, "a.conf", err, sizeof err), -1);
    CHECK(strstr(err, "a.conf:4") != NULL);
    CHECK(strstr(err, "port") != NULL);
}

TEST(config_unknown_key_is_refused)
{
    struct server_config cfg;
    server_config_defaults(&cfg);
    char err[SERVER_ERROR_BYTES_MAX] = "";
    CHECK_EQ(server_config_parse_text(&cfg, "colour blue\n", "b.conf", err, sizeof err), -1);
    CHECK(strstr(err, "b.conf:1") != NULL);
}

TEST(config_lines_accept_quotes_fsync_key_and_level)
{
    struct server_config cfg;
    server_config_defaults(&cfg);
    char err[SERVER_ERROR_BYTES_MAX] = "";
    const char *text = "fsync never\nlog-level debug\ndir \"/var/lib/chorus\"\n"
                       "cluster-key 000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f\n";
    CHECK_EQ(server_config_parse_text(&cfg, text, "c.conf", err, sizeof err), 0);
    CHECK(!cfg.fsync_always);
    CHECK_EQ(cfg.log_level, LOG_DEBUG);
    CHECK(strcmp(cfg.dir, "/var/lib/chorus") == 0);
    CHECK(cfg.sealed);
    CHECK_EQ(cfg.cluster_key[15], 0x0f);
}

TEST(config_bad_peer_and_bad_key_are_refused_naming_the_flag)
{
    struct server_config cfg;
    server_config_defaults(&cfg);
    char err[SERVER_ERROR_BYTES_MAX] = "";
    CHECK_EQ(server_config_set(&cfg, "peers", "1@localhost:1", "--peers", err, sizeof err), -1);
    CHECK(strstr(err, "--peers") != NULL);
    CHECK_EQ(server_config_set(&cfg, "peers", "1@127.0.0.1:1,1@127.0.0.1:2", "--peers", err,
                               sizeof err), -1);
    CHECK_EQ(server_config_set(&cfg, "cluster-key", "abcd", "--cluster-key", err, sizeof err), -1);
    CHECK(strstr(err, "--cluster-key") != NULL);
    CHECK_EQ(server_config_set(&cfg, "fsync", "sometimes", "--fsync", err, sizeof err), -1);
}

TEST(config_refuses_self_missing_from_peers_and_port_mismatch)
{
    struct server_config cfg;
    char err[SERVER_ERROR_BYTES_MAX] = "";
    const char *args[GOOD_ARGC];
    memcpy(args, good_args, sizeof args);
    args[2] = "4";
    CHECK_EQ(parse(GOOD_ARGC, args, &cfg, err), -1);
    CHECK(strstr(err, "not in the peer list") != NULL);
    memcpy(args, good_args, sizeof args);
    args[8] = "17009";
    CHECK_EQ(parse(GOOD_ARGC, args, &cfg, err), -1);
    CHECK(strstr(err, "cluster-port") != NULL);
}

TEST(config_refuses_heartbeat_not_below_half_the_election_timeout)
{
    struct server_config cfg;
    char err[SERVER_ERROR_BYTES_MAX] = "";
    const char *args[GOOD_ARGC + 4];
    memcpy(args, good_args, sizeof good_args);
    args[GOOD_ARGC] = "--heartbeat-ms";
    args[GOOD_ARGC + 1] = "200";
    args[GOOD_ARGC + 2] = "--election-timeout-ms";
    args[GOOD_ARGC + 3] = "300";
    CHECK_EQ(parse(GOOD_ARGC + 4, args, &cfg, err), -1);
    CHECK(strstr(err, "heartbeat-ms") != NULL);
}

TEST(config_flag_without_value_is_refused)
{
    struct server_config cfg;
    char err[SERVER_ERROR_BYTES_MAX] = "";
    const char *args[] = {"chorus-server", "--id"};
    CHECK_EQ(parse(2, args, &cfg, err), -1);
    CHECK(strstr(err, "--id") != NULL);
}

/* good_args followed by extra flag/value pairs. */
static int parse_with(struct server_config *cfg, char *err, const char *const *extra, int extra_count)
{
    const char *args[GOOD_ARGC + 8];
    memcpy(args, good_args, sizeof good_args);
    memcpy(args + GOOD_ARGC, extra, (size_t)extra_count * sizeof *extra);
    return parse(GOOD_ARGC + extra_count, args, cfg, err);
}

TEST(config_leader_sync_delay_is_off_by_default_and_bounded)
{
    struct server_config cfg;
    char err[SERVER_ERROR_BYTES_MAX] = "";
    CHECK_EQ(parse(GOOD_ARGC, good_args, &cfg, err), 0);
    CHECK_EQ(cfg.leader_sync_delay_ms, 0);
    const char *on[] = {"--leader-sync-delay-ms", "10"};
    CHECK_EQ(parse_with(&cfg, err, on, 2), 0);
    CHECK_EQ(cfg.leader_sync_delay_ms, 10);
    const char *too_long[] = {"--leader-sync-delay-ms", "1001"};
    CHECK_EQ(parse_with(&cfg, err, too_long, 2), -1);
    CHECK(strstr(err, "leader-sync-delay-ms") != NULL);
    CHECK_EQ(cfg.leader_sync_grace_ms, 2);
    const char *grace[] = {"--leader-sync-grace-ms", "50"};
    CHECK_EQ(parse_with(&cfg, err, grace, 2), 0);
    CHECK_EQ(cfg.leader_sync_grace_ms, 50);
}

TEST(config_read_mode_and_clock_drift_bound)
{
    struct server_config cfg;
    char err[SERVER_ERROR_BYTES_MAX] = "";
    CHECK_EQ(parse(GOOD_ARGC, good_args, &cfg, err), 0);
    CHECK(!cfg.lease_reads); /* ReadIndex is the default */
    CHECK_EQ(cfg.clock_drift_bound_ms, 30);
    const char *lease[] = {"--read-mode", "lease", "--clock-drift-bound-ms", "45"};
    CHECK_EQ(parse_with(&cfg, err, lease, 4), 0);
    CHECK(cfg.lease_reads);
    CHECK_EQ(cfg.clock_drift_bound_ms, 45);
    const char *bad_mode[] = {"--read-mode", "fast"};
    CHECK_EQ(parse_with(&cfg, err, bad_mode, 2), -1);
    CHECK(strstr(err, "--read-mode") != NULL);
    /* A drift bound that swallows the whole election timeout leaves no lease. */
    const char *too_loose[] = {"--read-mode", "lease", "--clock-drift-bound-ms", "300"};
    CHECK_EQ(parse_with(&cfg, err, too_loose, 4), -1);
    CHECK(strstr(err, "clock-drift-bound-ms") != NULL);
    const char *index_mode[] = {"--read-mode", "readindex", "--clock-drift-bound-ms", "300"};
    CHECK_EQ(parse_with(&cfg, err, index_mode, 4), 0); /* unused without leases */
}

TEST(config_join_wants_yes_or_no_and_another_member)
{
    struct server_config cfg;
    char err[SERVER_ERROR_BYTES_MAX] = "";
    CHECK_EQ(parse(GOOD_ARGC, good_args, &cfg, err), 0);
    CHECK(!cfg.join);
    const char *join[] = {"--join", "yes"};
    CHECK_EQ(parse_with(&cfg, err, join, 2), 0);
    CHECK(cfg.join);
    const char *maybe[] = {"--join", "maybe"};
    CHECK_EQ(parse_with(&cfg, err, maybe, 2), -1);
    CHECK(strstr(err, "--join") != NULL);
    const char *alone[] = {"--join", "yes", "--peers", "2@127.0.0.1:17002"};
    CHECK_EQ(parse_with(&cfg, err, alone, 4), -1); /* nobody to join */
    CHECK(strstr(err, "join") != NULL);
}
