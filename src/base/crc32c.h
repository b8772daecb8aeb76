/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum on every frame,
 * log record and snapshot.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it and a slicing table otherwise;
 * both give identical results (tested against published vectors and each other).
 * crc32c_extend(crc, ...) continues a running checksum: crc32c(a ++ b) equals
 * crc32c_extend(crc32c(a), b). Depends on libc only. */
#ifndef CHORUS_BASE_CRC32C_H
#define CHORUS_BASE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(const void *data, size_t len);
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len);

/* The portable table implementation, exposed so tests can compare it with the fast path. */
uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t len);
bool crc32c_has_hardware(void);

#endif
