/* CRC32C against published vectors (RFC 3720 appendix B.4 and the classic "123456789")
 * and the hardware path against the table path on random data. */
#include "base/crc32c.h"
#include "base/prng.h"
#include "harness.h"

TEST(crc32c_matches_check_value)
{
    CHECK_EQ(crc32c("123456789", 9), 0xE3069283u);
    CHECK_EQ(crc32c("", 0), 0);
}

TEST(crc32c_matches_rfc3720_vectors)
{
    uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
    for (int i = 0; i < 32; i++) {
        ones[i] = 0xff;
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    CHECK_EQ(crc32c(zeros, 32), 0x8A9136AAu);
    CHECK_EQ(crc32c(ones, 32), 0x62A8AB43u);
    CHECK_EQ(crc32c(inc, 32), 0x46DD794Eu);
    CHECK_EQ(crc32c(dec, 32), 0x113FDB5Cu);
    /* iSCSI SCSI Read (10) command PDU */
    static const uint8_t pdu[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
                                    0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    CHECK_EQ(crc32c(pdu, 48), 0xD9963A56u);
}

TEST(crc32c_hardware_and_table_agree_on_every_length_and_alignment)
{
    struct prng p;
    prng_seed(&p, 42);
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)prng_next(&p);
    }
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; len + off <= sizeof data; len += 7) {
            CHECK_EQ(crc32c(data + off, len), crc32c_extend_portable(0, data + off, len));
        }
    }
}

TEST(crc32c_extend_equals_one_pass)
{
    const char *s = "The quick brown fox jumps over the lazy dog";
    size_t n = strlen(s);
    for (size_t cut = 0; cut <= n; cut++) {
        CHECK_EQ(crc32c_extend(crc32c(s, cut), s + cut, n - cut), crc32c(s, n));
    }
}
