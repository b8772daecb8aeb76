/* resp_dump: runs the request parser over cases read from standard input, each one
 * "<length>\n<bytes>", with a fresh parser per case. For each case it prints one line
 * per command ("CMD" and the arguments in hex, "-" for an empty one), then "ERROR
 * <text>" on a protocol error, then "END". The differential test against a real Redis
 * drives it. */
#include <stdio.h>
#include <stdlib.h>

#include "resp/request.h"

static void dump_case(const unsigned char *data, size_t n)
{
    struct resp_parser p;
    if (resp_parser_init(&p, NULL) != 0) {
        exit(2);
    }
    int rc = resp_parser_feed(&p, data, n);
    struct resp_command cmd;
    while (rc >= 0 && (rc = resp_parser_next(&p, &cmd)) == 1) {
        printf("CMD");
        for (size_t i = 0; i < cmd.argc; i++) {
            printf(" ");
            for (size_t j = 0; j < cmd.argv[i].len; j++) {
                printf("%02x", cmd.argv[i].data[j]);
            }
            if (cmd.argv[i].len == 0) {
                printf("-");
            }
        }
        printf("\n");
    }
    if (rc < 0) {
        printf("ERROR %s\n", resp_parser_error(&p));
    }
    printf("END\n");
    resp_parser_free(&p);
}

int main(void)
{
    size_t len;
    while (scanf("%zu", &len) == 1 && getchar() == '\n') {
        unsigned char *data = malloc(len + 1);
        if (data == NULL || fread(data, 1, len, stdin) != len) {
            return 2;
        }
        dump_case(data, len);
        free(data);
    }
    return 0;
}
