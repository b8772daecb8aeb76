/* The Raft message codec round-trips every field the core uses and refuses what the core
 * must never see. */
#include <string.h>

#include "base/errors.h"
#include "harness.h"
#include "server/raft_codec.h"

TEST(raft_codec_round_trips_an_append_with_entries)
{
    uint8_t d1[] = {1, 2, 3};
    struct raft_entry entries[2] = {
        {.term = 4, .index = 11, .type = RAFT_ENTRY_NORMAL, .data_len = 3, .data = d1},
        {.term = 5, .index = 12, .type = RAFT_ENTRY_NOOP},
    };
    struct raft_message m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 3, .term = 5,
                             .prev_log_index = 10, .prev_log_term = 4, .commit_index = 9,
                             .context = 77, .entries = entries, .entries_count = 2};
    struct buf b;
    buf_init(&b, 0);
    CHECK_EQ(raft_codec_encode(&m, &b), 0);
    struct raft_codec_decoded d;
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), 0);
    CHECK_EQ(d.msg.type, RAFT_MSG_APPEND);
    CHECK_EQ(d.msg.from, 1);
    CHECK_EQ(d.msg.to, 3);
    CHECK_EQ(d.msg.term, 5);
    CHECK_EQ(d.msg.prev_log_index, 10);
    CHECK_EQ(d.msg.prev_log_term, 4);
    CHECK_EQ(d.msg.commit_index, 9);
    CHECK_EQ(d.msg.context, 77);
    CHECK_EQ(d.msg.entries_count, 2);
    CHECK_EQ(d.msg.entries[0].data_len, 3);
    CHECK(memcmp(d.msg.entries[0].data, d1, 3) == 0);
    CHECK_EQ(d.msg.entries[1].type, RAFT_ENTRY_NOOP);
    CHECK(d.msg.entries[1].data == NULL);
    raft_codec_free(&d);
    buf_free(&b);
}

TEST(raft_codec_round_trips_vote_and_append_reply_fields)
{
    struct raft_message m = {.type = RAFT_MSG_APPEND_REPLY, .from = 2, .to = 1, .term = 9,
                             .success = false, .match_index = 3, .conflict_term = 7,
                             .conflict_index = 4, .last_log_index = 8};
    struct buf b;
    buf_init(&b, 0);
    CHECK_EQ(raft_codec_encode(&m, &b), 0);
    struct raft_codec_decoded d;
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), 0);
    CHECK_EQ(d.msg.conflict_term, 7);
    CHECK_EQ(d.msg.conflict_index, 4);
    CHECK_EQ(d.msg.last_log_index, 8);
    CHECK(!d.msg.success);
    raft_codec_free(&d);
    buf_reset(&b);
    struct raft_message v = {.type = RAFT_MSG_VOTE_REPLY, .from = 3, .to = 2, .term = 2,
                             .pre_vote = true, .granted = true};
    CHECK_EQ(raft_codec_encode(&v, &b), 0);
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), 0);
    CHECK(d.msg.pre_vote && d.msg.granted);
    raft_codec_free(&d);
    buf_free(&b);
}

TEST(raft_codec_round_trips_snapshot_chunks_and_replies)
{
    uint8_t bytes[5] = {9, 8, 7, 6, 5};
    uint8_t config[RAFT_CONFIG_ENCODED_SIZE_MAX + 1] = {2, 1, 0, 0, 7, 0, 0, 0, 0};
    struct raft_message m = {.type = RAFT_MSG_SNAPSHOT, .from = 1, .to = 2, .term = 3,
                             .snapshot_index = 40, .snapshot_term = 2,
                             .snapshot_size_bytes = 105, .offset = 100, .data = bytes,
                             .data_len = 5, .done = true, .commit_index = 41,
                             .config = config, .config_len = 9};
    struct buf b;
    buf_init(&b, 0);
    CHECK_EQ(raft_codec_encode(&m, &b), 0);
    struct raft_codec_decoded d;
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), 0);
    CHECK_EQ(d.msg.type, RAFT_MSG_SNAPSHOT);
    CHECK_EQ(d.msg.snapshot_index, 40);
    CHECK_EQ(d.msg.snapshot_term, 2);
    CHECK_EQ(d.msg.snapshot_size_bytes, 105);
    CHECK_EQ(d.msg.offset, 100);
    CHECK_EQ(d.msg.data_len, 5);
    CHECK(memcmp(d.msg.data, bytes, 5) == 0);
    CHECK(d.msg.done);
    CHECK_EQ(d.msg.config_len, 9);
    CHECK(memcmp(d.msg.config, config, 9) == 0);
    raft_codec_free(&d);
    buf_reset(&b);
    /* A configuration larger than any encoding is refused before the core sees it. */
    m.config_len = sizeof config;
    CHECK_EQ(raft_codec_encode(&m, &b), 0);
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), ERR_TOO_LARGE);
    buf_reset(&b);
    m.config_len = 9;
    struct raft_message r = {.type = RAFT_MSG_SNAPSHOT_REPLY, .from = 2, .to = 1, .term = 3,
                             .snapshot_index = 40, .offset = 105, .done = true,
                             .success = true, .match_index = 40};
    CHECK_EQ(raft_codec_encode(&r, &b), 0);
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), 0);
    CHECK(d.msg.done && d.msg.success);
    CHECK_EQ(d.msg.offset, 105);
    CHECK_EQ(d.msg.match_index, 40);
    CHECK(d.msg.data == NULL && d.msg.config == NULL);
    raft_codec_free(&d);
    buf_reset(&b);
    /* A chunk that runs past the snapshot's end, or rides on a reply, is refused. */
    m.snapshot_size_bytes = 104;
    CHECK_EQ(raft_codec_encode(&m, &b), 0);
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), ERR_MALFORMED);
    buf_reset(&b);
    r.data = bytes;
    r.data_len = 5;
    CHECK_EQ(raft_codec_encode(&r, &b), 0);
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), ERR_MALFORMED);
    buf_reset(&b);
    r.data_len = 0;
    r.config = config;
    r.config_len = 9;
    CHECK_EQ(raft_codec_encode(&r, &b), 0);
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), ERR_MALFORMED);
    buf_free(&b);
}

TEST(raft_codec_refuses_garbage_unknown_types_and_gapped_entries)
{
    struct raft_codec_decoded d;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    CHECK(raft_codec_decode(junk, sizeof junk, &d) != 0);
    struct buf b;
    buf_init(&b, 0);
    struct raft_message m = {.type = 9, .from = 1, .to = 2, .term = 1};
    CHECK_EQ(raft_codec_encode(&m, &b), 0);
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), ERR_MALFORMED);
    buf_reset(&b);
    struct raft_entry e = {.term = 1, .index = 7};
    struct raft_message gap = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1,
                               .prev_log_index = 2, .entries = &e, .entries_count = 1};
    CHECK_EQ(raft_codec_encode(&gap, &b), 0);
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), ERR_MALFORMED);
    buf_free(&b);
}

TEST(raft_codec_round_trips_timeout_now_and_a_transfer_vote)
{
    struct buf b;
    buf_init(&b, 0);
    struct raft_codec_decoded d;
    struct raft_message tn = {.type = RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 3, .term = 6};
    CHECK_EQ(raft_codec_encode(&tn, &b), 0);
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), 0);
    CHECK_EQ(d.msg.type, RAFT_MSG_TIMEOUT_NOW);
    CHECK_EQ(d.msg.term, 6);
    raft_codec_free(&d);
    buf_reset(&b);
    struct raft_message v = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 7,
                             .transfer = true, .last_log_index = 12, .last_log_term = 6};
    CHECK_EQ(raft_codec_encode(&v, &b), 0);
    CHECK_EQ(raft_codec_decode(b.data, b.len, &d), 0);
    CHECK(d.msg.transfer && !d.msg.pre_vote);
    CHECK_EQ(d.msg.last_log_index, 12);
    raft_codec_free(&d);
    buf_free(&b);
}
