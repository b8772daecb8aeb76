/* The request parser: both request forms, pipelining, any split of the input, every
 * protocol error with Redis's exact text, and the limits checked before allocation. */
#include <stdlib.h>

#include "base/errors.h"
#include "harness.h"
#include "resp/request.h"
#include "resp_test_util.h"

/* Checks that parsing `in` gives `want` whole, byte by byte, and split at every point. */
static void check_parse(const char *in, size_t n, const char *want, const struct resp_limits *l)
{
    char *whole = parse_render(in, n, 0, l);
    CHECK_STR(whole, want);
    free(whole);
    char *bytewise = parse_render(in, n, 1, l);
    CHECK_STR(bytewise, want);
    free(bytewise);
    for (size_t cut = 1; cut < n; cut++) {
        /* Two pieces: in[0..cut) then the rest. */
        struct resp_parser p;
        struct buf out;
        buf_init(&out, 0);
        CHECK_EQ(resp_parser_init(&p, l), 0);
        int rc = resp_parser_feed(&p, in, cut);
        rc = rc == 0 ? drain_commands(&p, &out) : rc;
        if (rc >= 0) {
            rc = resp_parser_feed(&p, in + cut, n - cut);
            rc = rc == 0 ? drain_commands(&p, &out) : rc;
        }
        if (rc < 0) {
            buf_put_u8(&out, '!');
            buf_put(&out, resp_parser_error(&p), strlen(resp_parser_error(&p)));
        }
        buf_put_u8(&out, 0);
        CHECK_STR((const char *)out.data, want);
        buf_free(&out);
        resp_parser_free(&p);
    }
}

#define PARSE(in, want) check_parse((in), sizeof(in) - 1, (want), NULL)

TEST(multibulk_request_from_the_spec_yields_argv)
{
    PARSE("*2\r\n$4\r\nLLEN\r\n$6\r\nmylist\r\n", "[LLEN|mylist]");
}

TEST(bulk_arguments_are_binary_safe)
{
    PARSE("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\na\r\nb\0c\r\n", "[SET|k|a\\x0d\\x0ab\\x00c]");
    PARSE("*2\r\n$3\r\nGET\r\n$0\r\n\r\n", "[GET|]");
}

TEST(inline_commands_are_split_on_whitespace)
{
    PARSE("PING\r\n", "[PING]");
    PARSE("PING\n", "[PING]");
    PARSE("EXISTS somekey\r\n", "[EXISTS|somekey]");
    PARSE("  SET \t k   v  \r\n", "[SET|k|v]");
}

TEST(inline_quotes_follow_sdssplitargs)
{
    PARSE("SET \"a b\" 'c\\'d' \"\\x41\\n\\t\\q\"\r\n", "[SET|a b|c'd|A\\x0a\\x09q]");
    PARSE("ECHO foo\"bar baz\"\r\n", "[ECHO|foobar baz]");
    PARSE("ECHO '' \"\"\r\n", "[ECHO||]");
    PARSE("ECHO \"\\xZZ\"\r\n", "[ECHO|xZZ]");
    PARSE("ECHO 'a\\nb'\r\n", "[ECHO|a\\x5cnb]");
}

TEST(inline_line_ends_at_a_nul_byte_like_a_c_string)
{
    PARSE("ECHO a\0b\r\nPING\r\n", "[ECHO|a][PING]");
}

TEST(unbalanced_quotes_are_a_protocol_error)
{
    PARSE("SET \"abc\r\n", "!ERR Protocol error: unbalanced quotes in request");
    PARSE("SET 'abc\r\n", "!ERR Protocol error: unbalanced quotes in request");
    PARSE("SET \"a\"b\r\n", "!ERR Protocol error: unbalanced quotes in request");
    PARSE("SET 'a'b\r\n", "!ERR Protocol error: unbalanced quotes in request");
    PARSE("SET \"a\\\"\r\n", "!ERR Protocol error: unbalanced quotes in request");
}

TEST(empty_lines_and_empty_multibulks_are_skipped)
{
    PARSE("\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n", "[PING]");
}

TEST(pipelined_commands_come_out_in_order)
{
    PARSE("*1\r\n$4\r\nPING\r\nECHO hi\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nQUIT\r\n",
          "[PING][ECHO|hi][GET|k][QUIT]");
}

TEST(commands_before_an_error_are_returned_first)
{
    PARSE("PING\r\n*x\r\nPING\r\n", "[PING]!ERR Protocol error: invalid multibulk length");
}

TEST(bad_multibulk_counts_use_redis_error_text)
{
    const char *want = "!ERR Protocol error: invalid multibulk length";
    PARSE("*abc\r\n", want);
    PARSE("*\r\n", want);
    PARSE("*01\r\n", want);
    PARSE("*+1\r\n", want);
    PARSE("*1048577\r\n", want);
    PARSE("*99999999999999999999999\r\n", want);
}

TEST(multibulk_count_at_the_limit_is_accepted)
{
    char *got = parse_render("*1048576\r\n$4\r\nPING\r\n", 20, 0, NULL);
    CHECK_STR(got, "");
    free(got);
}

TEST(missing_dollar_reports_the_byte_found)
{
    PARSE("*1\r\nx3\r\nfoo\r\n", "!ERR Protocol error: expected '$', got 'x'");
    PARSE("*2\r\n$3\r\nGET\r\n:1\r\n", "!ERR Protocol error: expected '$', got ':'");
    PARSE("*1\r\n\r\n\r\n", "!ERR Protocol error: expected '$', got ' '");
}

TEST(bad_bulk_lengths_use_redis_error_text)
{
    const char *want = "!ERR Protocol error: invalid bulk length";
    PARSE("*1\r\n$-1\r\n", want);
    PARSE("*1\r\n$abc\r\n", want);
    PARSE("*1\r\n$\r\n", want);
    PARSE("*1\r\n$03\r\nfoo\r\n", want);
    PARSE("*1\r\n$67108865\r\n", want);
}

TEST(bulk_length_at_the_configured_limit_is_accepted)
{
    struct resp_limits l;
    resp_limits_default(&l);
    l.bulk_size_bytes_max = 3;
    check_parse("*1\r\n$3\r\nfoo\r\n", 13, "[foo]", &l);
    check_parse("*1\r\n$4\r\nfoox\r\n", 14, "!ERR Protocol error: invalid bulk length", &l);
}

TEST(bulk_trailer_is_not_checked_as_in_redis)
{
    PARSE("*1\r\n$3\r\nfooXYPING\r\n", "[foo][PING]");
}

static char *repeat(char c, size_t n, const char *suffix)
{
    size_t sl = strlen(suffix);
    char *s = malloc(n + sl + 1);
    memset(s, c, n);
    memcpy(s + n, suffix, sl + 1);
    return s;
}

TEST(too_long_lines_are_refused_whatever_the_split)
{
    struct resp_limits l;
    resp_limits_default(&l);
    l.inline_size_bytes_max = 16;
    check_parse("0123456789abcdef\r\n", 18, "[0123456789abcdef]", &l);
    check_parse("0123456789abcdefg\r\n", 19, "!ERR Protocol error: too big inline request", &l);
    check_parse("0123456789abcdefg", 17, "!ERR Protocol error: too big inline request", &l);
    check_parse("*0000000000000001\r\n", 19, "!ERR Protocol error: too big mbulk count string", &l);
    check_parse("*1\r\n$0000000000000001\r\n", 23, "!ERR Protocol error: too big bulk count string",
                &l);
    /* The default limit is Redis's 64 KiB. */
    char *big = repeat('a', 65537, "");
    char *got = parse_render(big, 65537, 4096, NULL);
    CHECK_STR(got, "!ERR Protocol error: too big inline request");
    free(got);
    free(big);
}

TEST(limits_are_checked_before_any_allocation)
{
    struct resp_parser p;
    struct resp_command cmd;
    CHECK_EQ(resp_parser_init(&p, NULL), 0);
    /* A huge claimed count allocates nothing until arguments really arrive. */
    const char *hdr = "*1048576\r\n$2\r\n";
    CHECK_EQ(resp_parser_feed(&p, hdr, strlen(hdr)), 0);
    CHECK_EQ(resp_parser_next(&p, &cmd), 0);
    CHECK_EQ(p.args_cap, 0);
    CHECK_EQ(resp_parser_feed(&p, "ab\r\n", 4), 0);
    CHECK_EQ(resp_parser_next(&p, &cmd), 0);
    CHECK(p.args_cap <= 16);
    resp_parser_free(&p);
    /* A huge claimed bulk is refused at its header, before its body is awaited. */
    CHECK_EQ(resp_parser_init(&p, NULL), 0);
    const char *bulk = "*1\r\n$536870912\r\n";
    CHECK_EQ(resp_parser_feed(&p, bulk, strlen(bulk)), 0);
    CHECK_EQ(resp_parser_next(&p, &cmd), ERR_MALFORMED);
    CHECK(p.in.cap < 1024);
    resp_parser_free(&p);
}

TEST(buffered_bytes_limit_refuses_more_input)
{
    struct resp_limits l;
    resp_limits_default(&l);
    l.bulk_size_bytes_max = 100;
    l.inline_size_bytes_max = 20;
    l.buffered_bytes_max = 128;
    struct resp_parser p;
    CHECK_EQ(resp_parser_init(&p, &l), 0);
    char body[200];
    memset(body, 'x', sizeof body);
    CHECK_EQ(resp_parser_feed(&p, "*2\r\n$100\r\n", 11), 0);
    CHECK_EQ(resp_parser_feed(&p, body, 100), 0);
    CHECK_EQ(resp_parser_feed(&p, body, 100), ERR_TOO_LARGE);
    CHECK_STR(resp_parser_error(&p), "ERR Protocol error: query buffer limit reached");
    size_t space = 1;
    CHECK(resp_parser_reserve(&p, 10, &space) == NULL);
    CHECK_EQ(space, 0);
    resp_parser_free(&p);
    l.buffered_bytes_max = 100;
    CHECK_EQ(resp_parser_init(&p, &l), ERR_INVALID);
}

TEST(errors_are_sticky)
{
    struct resp_parser p;
    struct resp_command cmd;
    CHECK_EQ(resp_parser_init(&p, NULL), 0);
    CHECK_EQ(resp_parser_feed(&p, "*x\r\n", 4), 0);
    CHECK_EQ(resp_parser_next(&p, &cmd), ERR_MALFORMED);
    CHECK_EQ(resp_parser_feed(&p, "PING\r\n", 6), ERR_MALFORMED);
    CHECK_EQ(resp_parser_next(&p, &cmd), ERR_MALFORMED);
    CHECK_STR(resp_parser_error(&p), "ERR Protocol error: invalid multibulk length");
    resp_parser_free(&p);
}

TEST(slices_stay_valid_across_a_pipelined_batch_until_the_next_feed)
{
    struct resp_parser p;
    struct resp_command a;
    struct resp_command b;
    CHECK_EQ(resp_parser_init(&p, NULL), 0);
    const char *in = "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\nECHO \"x y\"\r\n";
    CHECK_EQ(resp_parser_feed(&p, in, strlen(in)), 0);
    CHECK_EQ(resp_parser_next(&p, &a), 1);
    struct resp_arg first = a.argv[1];
    CHECK_EQ(resp_parser_next(&p, &b), 1);
    CHECK(b.is_inline);
    CHECK(!a.is_inline);
    CHECK_EQ(first.len, 3);
    CHECK(memcmp(first.data, "foo", 3) == 0);
    CHECK_EQ(b.argv[1].len, 3);
    CHECK(memcmp(b.argv[1].data, "x y", 3) == 0);
    CHECK_EQ(resp_parser_next(&p, &b), 0);
    CHECK_EQ(resp_parser_buffered_bytes(&p), 0);
    resp_parser_free(&p);
}

TEST(zero_copy_reserve_and_commit_parse_a_large_value_arriving_in_pieces)
{
    struct resp_parser p;
    struct resp_command cmd;
    CHECK_EQ(resp_parser_init(&p, NULL), 0);
    const size_t value_len = 1 << 20;
    struct buf in;
    buf_init(&in, 0);
    const char *head = "PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n";
    buf_put(&in, head, strlen(head));
    uint8_t *v = buf_extend(&in, value_len);
    for (size_t i = 0; i < value_len; i++) {
        v[i] = (uint8_t)(i * 7);
    }
    buf_put(&in, "\r\n", 2);
    v = in.data + strlen(head);
    size_t off = 0;
    int commands = 0;
    while (off < in.len) {
        size_t space = 0;
        uint8_t *dst = resp_parser_reserve(&p, 1000, &space);
        CHECK(dst != NULL && space >= 1);
        size_t n = MIN(MIN(space, (size_t)1000), in.len - off);
        memcpy(dst, in.data + off, n);
        resp_parser_commit(&p, n);
        off += n;
        while (resp_parser_next(&p, &cmd) == 1) {
            commands++;
            if (commands == 2) {
                CHECK_EQ(cmd.argc, 3);
                CHECK_EQ(cmd.argv[2].len, value_len);
                CHECK(memcmp(cmd.argv[2].data, v, value_len) == 0);
            }
        }
    }
    CHECK_EQ(commands, 2);
    buf_free(&in);
    resp_parser_free(&p);
}

TEST(a_line_arriving_in_pieces_is_searched_once)
{
    struct resp_parser p;
    struct resp_command cmd;
    CHECK_EQ(resp_parser_init(&p, NULL), 0);
    CHECK_EQ(resp_parser_feed(&p, "*1\r\n$", 5), 0);
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ(resp_parser_feed(&p, "0", 1), 0);
        CHECK_EQ(resp_parser_next(&p, &cmd), 0);
        /* Everything after the cursor is known to hold no '\r': the next search starts
         * at the new byte. */
        CHECK_EQ(p.line_scanned_bytes, resp_parser_buffered_bytes(&p) - 4);
    }
    CHECK_EQ(resp_parser_feed(&p, "\r\n", 2), 0);
    CHECK_EQ(resp_parser_next(&p, &cmd), ERR_MALFORMED);
    CHECK_STR(resp_parser_error(&p), "ERR Protocol error: invalid bulk length");
    resp_parser_free(&p);
}

TEST(shrink_gives_back_what_a_big_command_left_behind)
{
    struct resp_parser p;
    struct resp_command cmd;
    CHECK_EQ(resp_parser_init(&p, NULL), 0);
    struct buf in;
    buf_init(&in, 0);
    buf_put(&in, "*2000\r\n", 7);
    for (int i = 0; i < 2000; i++) {
        buf_put(&in, "$1\r\nx\r\n", 7);
    }
    buf_put(&in, "*2\r\n$3\r\nGET\r\n$100000\r\n", 22);
    uint8_t *v = buf_extend(&in, 100002);
    memset(v, 'v', 100002);
    CHECK_EQ(resp_parser_feed(&p, in.data, in.len), 0);
    CHECK_EQ(resp_parser_next(&p, &cmd), 1);
    CHECK_EQ(cmd.argc, 2000);
    CHECK_EQ(resp_parser_next(&p, &cmd), 1);
    CHECK_EQ(cmd.argv[1].len, 100000);
    CHECK(p.in.cap > RESP_PARSER_KEEP_BYTES);
    CHECK(p.args_cap > RESP_PARSER_KEEP_ARGS_COUNT);
    resp_parser_shrink(&p);
    CHECK_EQ(p.in.cap, 0);
    CHECK_EQ(p.args_cap, 0);
    /* The parser works on afterwards. */
    CHECK_EQ(resp_parser_feed(&p, "PING\r\n", 6), 0);
    CHECK_EQ(resp_parser_next(&p, &cmd), 1);
    CHECK_EQ(cmd.argc, 1);
    /* A half-received command keeps its bytes. */
    CHECK_EQ(resp_parser_feed(&p, "*1\r\n$4\r\nPI", 10), 0);
    CHECK_EQ(resp_parser_next(&p, &cmd), 0);
    resp_parser_shrink(&p);
    CHECK_EQ(resp_parser_feed(&p, "NG\r\n", 4), 0);
    CHECK_EQ(resp_parser_next(&p, &cmd), 1);
    CHECK(cmd.argc == 1 && memcmp(cmd.argv[0].data, "PING", 4) == 0);
    buf_free(&in);
    resp_parser_free(&p);
}
