/* The reply parser: every example of the RESP2 and RESP3 specifications, any split of
 * the input, and the malformed forms it must refuse. */
#include <stdlib.h>

#include "base/errors.h"
#include "harness.h"
#include "resp/reply.h"
#include "resp_test_util.h"

/* Checks the rendering of `in` whole, byte by byte and split at every point. */
static void check_reply(const char *in, size_t n, const char *want)
{
    char *whole = reply_render(in, n, 0);
    CHECK_STR(whole, want);
    free(whole);
    for (size_t piece = 1; piece < n; piece++) {
        char *got = reply_render(in, n, piece);
        CHECK_STR(got, want);
        free(got);
    }
}

#define REPLY(in, want) check_reply((in), sizeof(in) - 1, (want))

TEST(resp2_spec_examples_parse)
{
    REPLY("+OK\r\n", "+OK /");
    REPLY("-Error message\r\n", "-Error message /");
    REPLY("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
          "-WRONGTYPE Operation against a key holding the wrong kind of value /");
    REPLY(":0\r\n:1000\r\n:-42\r\n:+7\r\n", ":0 / :1000 / :-42 / :7 /");
    REPLY("$5\r\nhello\r\n", "$hello /");
    REPLY("$0\r\n\r\n", "$ /");
    REPLY("$-1\r\n", "_$ /");
    REPLY("*0\r\n", "*0 /");
    REPLY("*2\r\n$5\r\nhello\r\n$5\r\nworld\r\n", "*2 $hello $world /");
    REPLY("*3\r\n:1\r\n:2\r\n:3\r\n", "*3 :1 :2 :3 /");
    REPLY("*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n$5\r\nhello\r\n", "*5 :1 :2 :3 :4 $hello /");
    REPLY("*-1\r\n", "_* /");
    REPLY("*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n",
          "*2 *3 :1 :2 :3 *2 +Hello -World /");
    REPLY("*3\r\n$5\r\nhello\r\n$-1\r\n$5\r\nworld\r\n", "*3 $hello _$ $world /");
}

TEST(resp3_spec_examples_parse)
{
    REPLY("_\r\n", "__ /");
    REPLY(",1.23\r\n,10\r\n,inf\r\n,-inf\r\n,1.5e-3\r\n",
          ",1.23 / ,10 / ,inf / ,-inf / ,0.0015 /");
    REPLY("#t\r\n#f\r\n", "#t / #f /");
    REPLY("!21\r\nSYNTAX invalid syntax\r\n", "!SYNTAX invalid syntax /");
    REPLY("=15\r\ntxt:Some string\r\n", "=txt:Some string /");
    REPLY("(3492890328409238509324850943850943825024385\r\n",
          "(3492890328409238509324850943850943825024385 /");
    REPLY("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", "%2 +first :1 +second :2 /");
    REPLY("~5\r\n+orange\r\n+apple\r\n#t\r\n:100\r\n:999\r\n",
          "~5 +orange +apple #t :100 :999 /");
    REPLY(">4\r\n+pubsub\r\n+message\r\n+somechannel\r\n+this is the message\r\n",
          ">4 +pubsub +message +somechannel +this is the message /");
}

TEST(resp3_nan_parses_as_a_double)
{
    struct resp_reply_parser p;
    struct resp_token t;
    resp_reply_parser_init(&p, NULL);
    CHECK_EQ(resp_reply_next(&p, (const uint8_t *)",nan\r\n", 6, &t), 6);
    CHECK(t.type == RESP_DOUBLE && t.number != t.number);
}

TEST(attributes_annotate_the_next_value_and_are_not_replies)
{
    REPLY("|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
          "*2\r\n:2039123\r\n:9543892\r\n",
          "|1 +key-popularity %2 $a ,0.1923 $b ,0.0011999999999999999 "
          "*2 :2039123 :9543892 /");
    REPLY("*2\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n:3\r\n", "*2 |1 +ttl :3600 :2 :3 /");
    REPLY("|0\r\n:1\r\n", "|0 :1 /");
}

TEST(streamed_strings_and_aggregates_parse)
{
    REPLY("$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n", "$? ;Hell ;o wor ;d ; /");
    REPLY("*?\r\n:1\r\n:2\r\n:3\r\n.\r\n", "*? :1 :2 :3 . /");
    REPLY("%?\r\n+a\r\n:1\r\n+b\r\n:2\r\n.\r\n", "%? +a :1 +b :2 . /");
    REPLY("*2\r\n$?\r\n;1\r\nx\r\n;0\r\n*?\r\n.\r\n", "*2 $? ;x ; *? . /");
}

TEST(incomplete_replies_wait_for_more_bytes)
{
    REPLY("*2\r\n:1\r\n", "*2 :1 ...");
    REPLY("$5\r\nhel", " ...");
    REPLY("+OK\r", " ...");
}

TEST(malformed_replies_are_refused)
{
    REPLY("+OK\rX", " !");
    REPLY("+O\nK\r\n", " !");
    REPLY("$5\r\nhelloXY", " !");
    REPLY("$-2\r\n", " !");
    REPLY("!-1\r\n", " !");
    REPLY("%-1\r\n", " !");
    REPLY("*-2\r\n", " !");
    REPLY(":12a\r\n", " !");
    REPLY(":+-1\r\n", " !");
    REPLY(":+\r\n", " !");
    REPLY("#x\r\n", " !");
    REPLY("_x\r\n", " !");
    REPLY(",1.5x\r\n", " !");
    REPLY(",0x10\r\n", " !");
    REPLY(",\r\n", " !");
    REPLY("(12a\r\n", " !");
    REPLY("(-\r\n", " !");
    REPLY("=3\r\ntxt\r\n", " !");
    REPLY("=5\r\ntxt-a\r\n", " !");
    REPLY(";1\r\nx\r\n", " !");
    REPLY(".\r\n", " !");
    REPLY("*?\r\n;1\r\nx\r\n", "*? !");
    REPLY("$?\r\n:1\r\n", "$? !");
    REPLY("*1\r\n.\r\n", "*1 !");
    REPLY("@1\r\n", " !");
}

TEST(limits_refuse_deep_nesting_long_lines_and_large_bulks)
{
    struct resp_reply_parser p;
    struct resp_token t;
    resp_reply_parser_init(&p, NULL);
    long rc = 0;
    for (int i = 0; i <= RESP_REPLY_DEPTH_MAX && rc >= 0; i++) {
        rc = resp_reply_next(&p, (const uint8_t *)"*1\r\n", 4, &t);
    }
    CHECK_EQ(rc, ERR_TOO_LARGE);
    CHECK_EQ(resp_reply_next(&p, (const uint8_t *)":1\r\n", 4, &t), ERR_TOO_LARGE);

    struct resp_reply_limits l;
    resp_reply_limits_default(&l);
    l.line_bytes_max = 4;
    l.bulk_bytes_max = 3;
    l.aggregate_count_max = 2;
    resp_reply_parser_init(&p, &l);
    CHECK_EQ(resp_reply_next(&p, (const uint8_t *)"+abcd\r\n", 7, &t), 7);
    CHECK_EQ(resp_reply_next(&p, (const uint8_t *)"+abcde", 6, &t), ERR_TOO_LARGE);
    resp_reply_parser_init(&p, &l);
    CHECK_EQ(resp_reply_next(&p, (const uint8_t *)"$4\r\n", 4, &t), ERR_TOO_LARGE);
    resp_reply_parser_init(&p, &l);
    CHECK_EQ(resp_reply_next(&p, (const uint8_t *)"*3\r\n", 4, &t), ERR_TOO_LARGE);
    resp_reply_parser_init(&p, &l);
    CHECK_EQ(resp_reply_next(&p, (const uint8_t *)"%2\r\n", 4, &t), 4);
    CHECK_EQ(t.integer, 2);
}

TEST(a_pipelined_stream_of_replies_counts_each_reply_once)
{
    REPLY("+OK\r\n$3\r\nbar\r\n*2\r\n$1\r\na\r\n_\r\n:7\r\n",
          "+OK / $bar / *2 $a __ / :7 /");
}
