/* Number text shared by the RESP parsers and the writer.
 *
 * RESP carries every number as ASCII. Requests use Redis's strict integer syntax
 * (string2ll: an optional '-', no '+', no leading zeros, no spaces, within long long),
 * so that "$03" or "*+1" are refused exactly as Redis refuses them. Doubles are written
 * in the shortest form that reads back to the same value, with "inf", "-inf" and "nan"
 * for the special values, as RESP3 specifies. Depends on libc only. */
#ifndef CHORUS_RESP_NUMBER_H
#define CHORUS_RESP_NUMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for any long long in decimal with its sign, and for any double this module
 * writes; both without the terminating NUL. */
#define RESP_LL_TEXT_BYTES_MAX 20
#define RESP_DOUBLE_TEXT_BYTES_MAX 32

/* Parses s[0..len) with Redis's string2ll rules. Returns false (and leaves *out alone)
 * when the text is empty, has any other character, a leading zero or '+', or overflows. */
bool resp_parse_ll(const uint8_t *s, size_t len, long long *out);

/* Writes v in decimal into out (at least RESP_LL_TEXT_BYTES_MAX bytes); returns the
 * length. No NUL is written. */
size_t resp_format_ll(char *out, long long v);

/* Writes d in the shortest "%.*g" form that parses back to d exactly ("inf", "-inf",
 * "nan" for the specials) into out (RESP_DOUBLE_TEXT_BYTES_MAX + 1 bytes, NUL
 * terminated); returns the length without the NUL. */
size_t resp_format_double(char *out, double d);

/* Parses a RESP3 double ("1.5", "-3e10", "inf", "-inf", "nan"); the whole text must be
 * the number. Returns false when it is not one. */
bool resp_parse_double(const uint8_t *s, size_t len, double *out);

#endif
