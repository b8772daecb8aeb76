/* libFuzzer target: the RESP request parser must survive any bytes, give the same
 * commands and the same error whether the input arrives whole or cut at a
 * fuzzer-chosen point (through the zero-copy path), and every command it yields must
 * survive writing as a multibulk request and parsing again unchanged. */
#include <stdint.h>
#include <stdlib.h>

#include "base/assertions.h"
#include "base/buf.h"
#include "resp/request.h"
#include "resp/writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small limits so the fuzzer reaches them; the buffered limit holds any whole input,
 * since how much is buffered at once depends on the split. */
static void fuzz_limits(struct resp_limits *l, size_t size)
{
    l->multibulk_count_max = 64;
    l->bulk_size_bytes_max = 512;
    l->inline_size_bytes_max = 128;
    l->buffered_bytes_max = size + l->bulk_size_bytes_max + l->inline_size_bytes_max + 4;
}

/* Writes every ready command into out as a multibulk request. */
static int drain(struct resp_parser *p, struct buf *out)
{
    struct resp_command cmd;
    int rc;
    while ((rc = resp_parser_next(p, &cmd)) == 1) {
        ASSERT(cmd.argc >= 1 && cmd.argc <= 128);
        ASSERT(resp_write_request(out, cmd.argc, cmd.argv) == 0);
    }
    return rc;
}

/* Parses data in two pieces cut at `cut` (cut == size: whole); returns the final code. */
static int run(const uint8_t *data, size_t size, size_t cut, struct buf *out, bool zero_copy)
{
    struct resp_limits l;
    struct resp_parser p;
    fuzz_limits(&l, size);
    ASSERT(resp_parser_init(&p, &l) == 0);
    int rc = 0;
    size_t off = 0;
    while (off < size && rc >= 0) {
        size_t n = off < cut ? cut - off : size - off;
        if (zero_copy) {
            size_t space = 0;
            uint8_t *dst = resp_parser_reserve(&p, n, &space);
            ASSERT(dst != NULL && space >= 1);
            n = MIN(n, space);
            memcpy(dst, data + off, n);
            resp_parser_commit(&p, n);
        } else {
            rc = resp_parser_feed(&p, data + off, n);
        }
        off += n;
        rc = rc == 0 ? drain(&p, out) : rc;
        if (zero_copy) {
            resp_parser_shrink(&p); /* must keep any unfinished command intact */
        }
    }
    if (rc < 0) {
        const char *text = resp_parser_error(&p);
        ASSERT(text != NULL && strncmp(text, "ERR Protocol error: ", 20) == 0);
        buf_put(out, text, strlen(text));
    }
    resp_parser_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t cut = (size_t)data[0] * size / 256;
    data++;
    size--;
    struct buf whole;
    struct buf split;
    buf_init(&whole, 0);
    buf_init(&split, 0);
    int rc_whole = run(data, size, size, &whole, false);
    int rc_split = run(data, size, cut, &split, true);
    ASSERT(rc_whole == rc_split);
    ASSERT(whole.len == split.len && (whole.len == 0 || memcmp(whole.data, split.data, whole.len) == 0));
    if (rc_whole >= 0 && whole.len > 0) {
        /* Round trip: the commands, written as requests, parse back to the same bytes. */
        struct buf again;
        buf_init(&again, 0);
        struct resp_parser p;
        ASSERT(resp_parser_init(&p, NULL) == 0);
        ASSERT(resp_parser_feed(&p, whole.data, whole.len) == 0);
        ASSERT(drain(&p, &again) == 0);
        ASSERT(again.len == whole.len && memcmp(again.data, whole.data, whole.len) == 0);
        resp_parser_free(&p);
        buf_free(&again);
    }
    buf_free(&whole);
    buf_free(&split);
    return 0;
}
