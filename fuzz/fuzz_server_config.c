/* libFuzzer target for the server's configuration text (src/server/config.c): `key value`
 * lines as an operator writes them, or as a damaged or truncated file presents them.
 * server_config_parse_text must accept or refuse any bytes without crashing; a refusal
 * carries a message that names the line ("fuzz:N: ..."), and whatever the parser
 * accepted must survive server_config_check without crashing either (which may still
 * refuse it, naming the setting). No crash, leak, hang or UB is allowed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    ASSERT(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0'; /* a NUL inside ends the text early, as it would for a C string */
    struct server_config cfg;
    server_config_defaults(&cfg);
    char err[SERVER_ERROR_BYTES_MAX];
    err[0] = '\0';
    if (server_config_parse_text(&cfg, text, "fuzz", err, sizeof err) != 0) {
        ASSERT(strncmp(err, "fuzz:", 5) == 0 && memchr(err, '\0', sizeof err) != NULL);
    } else {
        ASSERT(cfg.peers_count <= SERVER_PEERS_COUNT_MAX);
        if (server_config_check(&cfg, err, sizeof err) != 0) {
            ASSERT(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
        }
    }
    free(text);
    return 0;
}
