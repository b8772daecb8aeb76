/* Number text for RESP; see number.h for the rules. */
#include "resp/number.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"

bool resp_parse_ll(const uint8_t *s, size_t len, long long *out)
{
    if (len == 0 || len > RESP_LL_TEXT_BYTES_MAX) {
        return false;
    }
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    size_t i = 0;
    bool negative = s[0] == '-';
    if (negative) {
        i = 1;
    }
    /* No leading zero, and at least one digit after the sign. */
    if (i == len || s[i] < '1' || s[i] > '9') {
        return false;
    }
    unsigned long long v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        unsigned digit = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - digit) / 10) {
            return false;
        }
        v = v * 10 + digit;
    }
    if (negative) {
        if (v > (unsigned long long)LLONG_MAX + 1) {
            return false;
        }
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX) {
            return false;
        }
        *out = (long long)v;
    }
    return true;
}

size_t resp_format_ll(char *out, long long v)
{
    char tmp[RESP_LL_TEXT_BYTES_MAX];
    size_t n = 0;
    /* Work on the magnitude as unsigned so LLONG_MIN does not overflow. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    size_t len = 0;
    if (v < 0) {
        out[len++] = '-';
    }
    while (n > 0) {
        out[len++] = tmp[--n];
    }
    ASSERT(len <= RESP_LL_TEXT_BYTES_MAX);
    return len;
}

size_t resp_format_double(char *out, double d)
{
    const char *special = NULL;
    if (isnan(d)) {
        special = "nan";
    } else if (isinf(d)) {
        special = d > 0 ? "inf" : "-inf";
    }
    if (special != NULL) {
        size_t n = strlen(special);
        memcpy(out, special, n + 1);
        return n;
    }
    int n = 0;
    /* Whole numbers print as integers ("10", not "1e+01"), up to where %g would too. */
    if (d == floor(d) && fabs(d) < 1e17) {
        n = snprintf(out, RESP_DOUBLE_TEXT_BYTES_MAX + 1, "%.0f", d);
        ASSERT(n > 0 && n <= RESP_DOUBLE_TEXT_BYTES_MAX);
        return (size_t)n;
    }
    /* 17 significant digits always round-trip; fewer usually do and read better. */
    for (int precision = 1; precision <= 17; precision++) {
        n = snprintf(out, RESP_DOUBLE_TEXT_BYTES_MAX + 1, "%.*g", precision, d);
        if (strtod(out, NULL) == d) {
            break;
        }
    }
    ASSERT(n > 0 && n <= RESP_DOUBLE_TEXT_BYTES_MAX);
    return (size_t)n;
}

bool resp_parse_double(const uint8_t *s, size_t len, double *out)
{
    char tmp[RESP_DOUBLE_TEXT_BYTES_MAX * 4];
    if (len == 0 || len >= sizeof tmp) {
        return false;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    /* strtod skips leading spaces and reads hex floats; RESP allows neither. */
    if (!(tmp[0] == '-' || tmp[0] == '+' || tmp[0] == '.' || (tmp[0] >= '0' && tmp[0] <= '9') ||
          strcmp(tmp, "inf") == 0 || strcmp(tmp, "nan") == 0)) {
        return false;
    }
    if (strchr(tmp, 'x') != NULL || strchr(tmp, 'X') != NULL) {
        return false;
    }
    char *end = NULL;
    double d = strtod(tmp, &end);
    if (end != tmp + len) {
        return false;
    }
    *out = d;
    return true;
}
