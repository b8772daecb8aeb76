/* The reply writer: byte-exact output in RESP2 and RESP3 for every type, the RESP2
 * fallbacks Redis uses, and replies that read back through the reply parser. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "base/errors.h"
#include "harness.h"
#include "resp/number.h"
#include "resp/writer.h"
#include "resp_test_util.h"

struct pair {
    struct buf b2;
    struct buf b3;
    struct resp_writer w2;
    struct resp_writer w3;
};

static void pair_init(struct pair *p)
{
    buf_init(&p->b2, 0);
    buf_init(&p->b3, 0);
    resp_writer_init(&p->w2, &p->b2, RESP_PROTO_2);
    resp_writer_init(&p->w3, &p->b3, RESP_PROTO_3);
}

static void check_bytes(struct buf *b, const char *want, size_t want_len)
{
    CHECK_EQ(b->len, want_len);
    if (b->len == want_len) {
        CHECK(memcmp(b->data, want, want_len) == 0);
    }
    if (b->len != want_len || memcmp(b->data, want, want_len) != 0) {
        fprintf(stderr, "    got: %.*s\n", (int)b->len, (const char *)b->data);
    }
}

/* Checks both outputs, then resets the buffers for the next case. */
static void pair_check(struct pair *p, const char *want2, const char *want3)
{
    check_bytes(&p->b2, want2, strlen(want2));
    check_bytes(&p->b3, want3, strlen(want3));
    buf_reset(&p->b2);
    buf_reset(&p->b3);
}

static void pair_free(struct pair *p)
{
    buf_free(&p->b2);
    buf_free(&p->b3);
}

#define BOTH(call) \
    do {                                          \
        struct resp_writer *w = &pr.w2;           \
        CHECK_EQ(call, 0);                        \
        w = &pr.w3;                               \
        CHECK_EQ(call, 0);                        \
    } while (0)

TEST(types_common_to_both_protocols_are_written_alike)
{
    struct pair pr;
    pair_init(&pr);
    BOTH(resp_write_ok(w));
    pair_check(&pr, "+OK\r\n", "+OK\r\n");
    BOTH(resp_write_simple(w, "PONG", 4));
    pair_check(&pr, "+PONG\r\n", "+PONG\r\n");
    BOTH(resp_write_error(w, "ERR unknown command"));
    pair_check(&pr, "-ERR unknown command\r\n", "-ERR unknown command\r\n");
    BOTH(resp_write_integer(w, 0));
    BOTH(resp_write_integer(w, -42));
    BOTH(resp_write_integer(w, LLONG_MIN));
    pair_check(&pr, ":0\r\n:-42\r\n:-9223372036854775808\r\n",
               ":0\r\n:-42\r\n:-9223372036854775808\r\n");
    BOTH(resp_write_bulk(w, "a\r\nb", 4));
    BOTH(resp_write_bulk(w, NULL, 0));
    pair_check(&pr, "$4\r\na\r\nb\r\n$0\r\n\r\n", "$4\r\na\r\nb\r\n$0\r\n\r\n");
    BOTH(resp_write_array_header(w, 2));
    pair_check(&pr, "*2\r\n", "*2\r\n");
    pair_free(&pr);
}

TEST(resp3_types_fall_back_to_redis_resp2_forms)
{
    struct pair pr;
    pair_init(&pr);
    BOTH(resp_write_null(w));
    pair_check(&pr, "$-1\r\n", "_\r\n");
    BOTH(resp_write_null_array(w));
    pair_check(&pr, "*-1\r\n", "_\r\n");
    BOTH(resp_write_map_header(w, 2));
    pair_check(&pr, "*4\r\n", "%2\r\n");
    BOTH(resp_write_set_header(w, 3));
    pair_check(&pr, "*3\r\n", "~3\r\n");
    BOTH(resp_write_push_header(w, 3));
    pair_check(&pr, "*3\r\n", ">3\r\n");
    BOTH(resp_write_double(w, 1.5));
    pair_check(&pr, "$3\r\n1.5\r\n", ",1.5\r\n");
    BOTH(resp_write_bool(w, true));
    BOTH(resp_write_bool(w, false));
    pair_check(&pr, ":1\r\n:0\r\n", "#t\r\n#f\r\n");
    BOTH(resp_write_verbatim(w, "txt", "Some string", 11));
    pair_check(&pr, "$11\r\nSome string\r\n", "=15\r\ntxt:Some string\r\n");
    BOTH(resp_write_bignum(w, "-3492890328409238509324850943850943825024385", 44));
    pair_check(&pr, "$44\r\n-3492890328409238509324850943850943825024385\r\n",
               "(-3492890328409238509324850943850943825024385\r\n");
    pair_free(&pr);
}

TEST(doubles_are_written_in_the_shortest_exact_form)
{
    struct pair pr;
    pair_init(&pr);
    BOTH(resp_write_double(w, 3.14));
    BOTH(resp_write_double(w, 10));
    BOTH(resp_write_double(w, 1e300));
    BOTH(resp_write_double(w, 0.1 + 0.2));
    pair_check(&pr, "$4\r\n3.14\r\n$2\r\n10\r\n$6\r\n1e+300\r\n$19\r\n0.30000000000000004\r\n",
               ",3.14\r\n,10\r\n,1e+300\r\n,0.30000000000000004\r\n");
    BOTH(resp_write_double(w, INFINITY));
    BOTH(resp_write_double(w, -INFINITY));
    BOTH(resp_write_double(w, NAN));
    pair_check(&pr, "$3\r\ninf\r\n$4\r\n-inf\r\n$3\r\nnan\r\n", ",inf\r\n,-inf\r\n,nan\r\n");
    pair_free(&pr);
}

TEST(error_text_line_breaks_become_spaces)
{
    struct pair pr;
    pair_init(&pr);
    BOTH(resp_write_error(w, "ERR bad\r\nthing"));
    pair_check(&pr, "-ERR bad  thing\r\n", "-ERR bad  thing\r\n");
    BOTH(resp_write_errorf(w, "ERR unknown command '%s', with args beginning with: ", "FOO"));
    pair_check(&pr, "-ERR unknown command 'FOO', with args beginning with: \r\n",
               "-ERR unknown command 'FOO', with args beginning with: \r\n");
    pair_free(&pr);
}

TEST(whole_reply_helpers_write_mget_and_hello_shapes)
{
    struct pair pr;
    pair_init(&pr);
    struct resp_arg items[3] = {{(const uint8_t *)"v1", 2}, {NULL, 0}, {(const uint8_t *)"", 0}};
    BOTH(resp_write_bulk_array(w, 3, items));
    pair_check(&pr, "*3\r\n$2\r\nv1\r\n$-1\r\n$0\r\n\r\n", "*3\r\n$2\r\nv1\r\n_\r\n$0\r\n\r\n");
    struct resp_field fields[2] = {{"server", "chorus", 0}, {"proto", NULL, 3}};
    BOTH(resp_write_fields(w, 2, fields));
    pair_check(&pr, "*4\r\n$6\r\nserver\r\n$6\r\nchorus\r\n$5\r\nproto\r\n:3\r\n",
               "%2\r\n$6\r\nserver\r\n$6\r\nchorus\r\n$5\r\nproto\r\n:3\r\n");
    pair_free(&pr);
}

TEST(request_writer_output_parses_back_to_the_same_command)
{
    struct buf b;
    buf_init(&b, 0);
    struct resp_arg argv[3] = {{(const uint8_t *)"SET", 3}, {(const uint8_t *)"k", 1},
                               {(const uint8_t *)"a b\r\n", 5}};
    CHECK_EQ(resp_write_request(&b, 3, argv), 0);
    const char *want = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na b\r\n\r\n";
    check_bytes(&b, want, strlen(want));
    char *got = parse_render(b.data, b.len, 0, NULL);
    CHECK_STR(got, "[SET|k|a b\\x0d\\x0a]");
    free(got);
    buf_free(&b);
}

TEST(a_full_buffer_makes_every_later_write_fail)
{
    struct buf b;
    buf_init(&b, 8);
    struct resp_writer w;
    resp_writer_init(&w, &b, RESP_PROTO_3);
    CHECK_EQ(resp_write_ok(&w), 0);
    CHECK_EQ(resp_write_bulk(&w, "0123456789", 10), ERR_NOMEM);
    CHECK_EQ(resp_write_ok(&w), ERR_NOMEM);
    CHECK_EQ(resp_writer_status(&w), ERR_NOMEM);
    buf_reset(&b);
    CHECK_EQ(resp_writer_status(&w), 0);
    buf_free(&b);
}

TEST(every_written_type_reads_back_through_the_reply_parser)
{
    struct pair pr;
    pair_init(&pr);
    BOTH(resp_write_map_header(w, 1));
    BOTH(resp_write_bulk_cstr(w, "k"));
    BOTH(resp_write_array_header(w, 7));
    BOTH(resp_write_null(w));
    BOTH(resp_write_double(w, -2.5));
    BOTH(resp_write_bool(w, true));
    BOTH(resp_write_verbatim(w, "mkd", "# hi", 4));
    BOTH(resp_write_bignum(w, "123", 3));
    BOTH(resp_write_set_header(w, 0));
    BOTH(resp_write_error(w, "ERR x"));
    char *r2 = reply_render(pr.b2.data, pr.b2.len, 0);
    char *r3 = reply_render(pr.b3.data, pr.b3.len, 0);
    CHECK_STR(r2, "*2 $k *7 _$ $-2.5 :1 $# hi $123 *0 -ERR x /");
    CHECK_STR(r3, "%1 $k *7 __ ,-2.5 #t =mkd:# hi (123 ~0 -ERR x /");
    free(r2);
    free(r3);
    pair_free(&pr);
}

TEST(number_text_follows_redis_string2ll)
{
    long long v = 0;
    CHECK(resp_parse_ll((const uint8_t *)"0", 1, &v) && v == 0);
    CHECK(resp_parse_ll((const uint8_t *)"-9223372036854775808", 20, &v) && v == LLONG_MIN);
    CHECK(resp_parse_ll((const uint8_t *)"9223372036854775807", 19, &v) && v == LLONG_MAX);
    CHECK(!resp_parse_ll((const uint8_t *)"9223372036854775808", 19, &v));
    CHECK(!resp_parse_ll((const uint8_t *)"-0", 2, &v));
    CHECK(!resp_parse_ll((const uint8_t *)"007", 3, &v));
    CHECK(!resp_parse_ll((const uint8_t *)"-", 1, &v));
    CHECK(!resp_parse_ll((const uint8_t *)" 1", 2, &v));
    CHECK(!resp_parse_ll((const uint8_t *)"", 0, &v));
}
