/* Byte buffer encoding is little-endian and the reader never reads out of bounds. */
#include "base/buf.h"
#include "base/errors.h"
#include "harness.h"

#include <stdlib.h>

TEST(buf_round_trips_little_endian_integers)
{
    struct buf b;
    buf_init(&b, 0);
    buf_put_u8(&b, 0xab);
    buf_put_u16(&b, 0x1234);
    buf_put_u32(&b, 0xdeadbeef);
    buf_put_u64(&b, 0x0102030405060708ull);
    CHECK(!b.failed);
    CHECK_EQ(b.len, 15);
    CHECK_EQ(b.data[1], 0x34); /* little-endian on the wire */
    CHECK_EQ(b.data[7], 0x08);
    struct buf_reader r = buf_reader_make(b.data, b.len);
    CHECK_EQ(buf_get_u8(&r), 0xab);
    CHECK_EQ(buf_get_u16(&r), 0x1234);
    CHECK_EQ(buf_get_u32(&r), 0xdeadbeef);
    CHECK(buf_get_u64(&r) == 0x0102030405060708ull);
    CHECK(!r.failed);
    CHECK_EQ(buf_reader_left(&r), 0);
    buf_free(&b);
}

TEST(buf_reader_fails_past_the_end_and_stays_failed)
{
    uint8_t data[3] = {1, 2, 3};
    struct buf_reader r = buf_reader_make(data, sizeof data);
    CHECK_EQ(buf_get_u32(&r), 0);
    CHECK(r.failed);
    CHECK_EQ(buf_get_u8(&r), 0); /* sticky, even though a byte is left */
    CHECK(buf_get_bytes(&r, 1) == NULL);
}

TEST(buf_refuses_growth_past_its_cap)
{
    struct buf b;
    buf_init(&b, 10);
    CHECK_EQ(buf_put(&b, "0123456789", 10), 0);
    CHECK(buf_put_u8(&b, 1) != 0);
    CHECK(b.failed);
    buf_reset(&b);
    CHECK(!b.failed);
    CHECK_EQ(buf_put_u8(&b, 1), 0);
    buf_free(&b);
}

TEST(buf_take_transfers_ownership)
{
    struct buf b;
    buf_init(&b, 0);
    buf_put(&b, "abc", 3);
    size_t n;
    uint8_t *p = buf_take(&b, &n);
    CHECK_EQ(n, 3);
    CHECK(memcmp(p, "abc", 3) == 0);
    CHECK(b.data == NULL && b.len == 0);
    free(p);
}
