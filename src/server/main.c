/* chorus-server: parses the configuration, runs one node on the default libuv loop
 * until SIGTERM/SIGINT, then closes every handle, syncs the log and exits 0. */
#include <stdio.h>
#include <stdlib.h>

#include "server/server.h"

int main(int argc, char **argv)
{
    struct server_config cfg;
    server_config_defaults(&cfg);
    char err[SERVER_ERROR_BYTES_MAX];
    if (server_config_parse_args(&cfg, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "chorus-server: %s\n", err);
        return 2;
    }
    static struct server s; /* large (pending tables, buffers); one per process */
    uv_loop_t *loop = uv_default_loop();
    int rc = server_start(&s, loop, &cfg);
    if (rc != 0) {
        fprintf(stderr, "chorus-server: start failed\n");
        server_stop(&s);
        uv_run(loop, UV_RUN_DEFAULT);
        server_destroy(&s);
        return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    server_destroy(&s);
    uv_loop_close(loop);
    return 0;
}
