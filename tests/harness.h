/* A minimal unit-test harness: TEST(name) defines and registers a test case, CHECK and
 * CHECK_EQ report a failure and end the case. harness.c's main runs every case in the
 * executable (or those named on the command line) and prints one line each and a
 * summary, "N passed, N failed". */
#ifndef CHORUS_TESTS_HARNESS_H
#define CHORUS_TESTS_HARNESS_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *msg);

#define TEST(name)                                                         \
    static void test_##name(void);                                         \
    __attribute__((constructor)) static void test_register_##name(void)   \
    {                                                                      \
        test_register(#name, test_##name);                                 \
    }                                                                      \
    static void test_##name(void)

#define CHECK(cond)                                      \
    do {                                                 \
        if (!(cond)) {                                   \
            test_fail(__FILE__, __LINE__, #cond);        \
        }                                                \
    } while (0)

#define CHECK_EQ(a, b)                                                              \
    do {                                                                            \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);             \
        if (check_a_ != check_b_) {                                                 \
            char check_msg_[256];                                                   \
            snprintf(check_msg_, sizeof check_msg_, "%s == %s (%lld != %lld)", #a, #b, \
                     check_a_, check_b_);                                           \
            test_fail(__FILE__, __LINE__, check_msg_);                              \
        }                                                                           \
    } while (0)

#define CHECK_STR(a, b)                                                      \
    do {                                                                     \
        const char *check_a_ = (a), *check_b_ = (b);                         \
        if (strcmp(check_a_, check_b_) != 0) {                               \
            char check_msg_[512];                                            \
            snprintf(check_msg_, sizeof check_msg_, "%s == %s (\"%s\" != \"%s\")", #a, #b, \
                     check_a_, check_b_);                                    \
            test_fail(__FILE__, __LINE__, check_msg_);                       \
        }                                                                    \
    } while (0)

#endif
