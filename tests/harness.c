/* Runner for harness.h test cases. Each case runs in order; a failed CHECK longjmps back
 * here so the remaining cases still run. Exit status is 1 when any case failed. */
#include "harness.h"

#include <stdlib.h>

#define TESTS_COUNT_MAX 512

struct test_case {
    const char *name;
    test_fn fn;
};

static struct test_case cases[TESTS_COUNT_MAX];
static int cases_count;
static jmp_buf failure_jump;
static int current_failed;

void test_register(const char *name, test_fn fn)
{
    if (cases_count == TESTS_COUNT_MAX) {
        fprintf(stderr, "harness: too many tests\n");
        exit(2);
    }
    cases[cases_count].name = name;
    cases[cases_count].fn = fn;
    cases_count++;
}

void test_fail(const char *file, int line, const char *msg)
{
    fprintf(stderr, "    %s:%d: check failed: %s\n", file, line, msg);
    current_failed = 1;
    longjmp(failure_jump, 1);
}

static bool selected(const char *name, int argc, char **argv)
{
    if (argc <= 1) {
        return true;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return true;
        }
    }
    return false;
}

int main(int argc, char **argv)
{
    static int passed, failed, i; /* static: they must survive longjmp */
    for (i = 0; i < cases_count; i++) {
        if (!selected(cases[i].name, argc, argv)) {
            continue;
        }
        current_failed = 0;
        if (setjmp(failure_jump) == 0) {
            cases[i].fn();
        }
        printf("%s %s\n", current_failed ? "FAIL" : "ok  ", cases[i].name);
        fflush(stdout);
        if (current_failed) {
            failed++;
        } else {
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
