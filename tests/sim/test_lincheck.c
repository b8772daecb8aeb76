/* The linearizability checker against hand-written histories whose verdict is known, and
 * against large random histories produced by running an independent sequential model of
 * the store with random overlapping operation intervals (linearizable by construction),
 * plus a copy with one read result changed (never linearizable). */
#include "sim/lincheck.h"

#include <stdlib.h>

#include "base/errors.h"
#include "base/prng.h"
#include "harness.h"

/* ------------------------------------------------------------------------------------
 * Recording helpers: times are plain numbers; events must be recorded in time order. */

static uint32_t call_on(struct lincheck_history *h, uint32_t key, uint32_t client,
                        enum lincheck_op_kind kind, const char *arg, uint64_t t)
{
    return lincheck_invoke(h, key, client, kind, arg, arg != NULL ? strlen(arg) : 0, t);
}

static uint32_t call(struct lincheck_history *h, uint32_t client, enum lincheck_op_kind kind,
                     const char *arg, uint64_t t)
{
    return call_on(h, 0, client, kind, arg, t);
}

static void done(struct lincheck_history *h, uint32_t id, struct lincheck_result r, uint64_t t)
{
    lincheck_complete(h, id, LINCHECK_OK, &r, t);
}

static void ret_ok(struct lincheck_history *h, uint32_t id, uint64_t t)
{
    done(h, id, lincheck_result_ok(), t);
}

static void ret_nil(struct lincheck_history *h, uint32_t id, uint64_t t)
{
    done(h, id, lincheck_result_nil(), t);
}

static void ret_int(struct lincheck_history *h, uint32_t id, int64_t v, uint64_t t)
{
    done(h, id, lincheck_result_int(v), t);
}

static void ret_bulk(struct lincheck_history *h, uint32_t id, const char *v, uint64_t t)
{
    done(h, id, lincheck_result_bulk(v, strlen(v)), t);
}

static void ret_err(struct lincheck_history *h, uint32_t id, enum lincheck_result_kind k,
                    uint64_t t)
{
    done(h, id, lincheck_result_error(k), t);
}

/* items: comma-separated one-character elements, "" for the empty list. */
static void ret_list(struct lincheck_history *h, uint32_t id, const char *items, uint64_t t)
{
    struct lincheck_bytes b[16];
    size_t n = 0;
    for (const char *p = items; *p != '\0'; p++) {
        if (*p != ',') {
            b[n].data = p;
            b[n].len = 1;
            n++;
        }
    }
    done(h, id, lincheck_result_array(b, n), t);
}

static void ret_unknown(struct lincheck_history *h, uint32_t id, uint64_t t)
{
    lincheck_complete(h, id, LINCHECK_UNKNOWN, NULL, t);
}

static void ret_failed(struct lincheck_history *h, uint32_t id, uint64_t t)
{
    lincheck_complete(h, id, LINCHECK_FAILED, NULL, t);
}

/* A sequential op: invoked at t, completed at t + 1. */
static uint32_t seq(struct lincheck_history *h, enum lincheck_op_kind kind, const char *arg,
                    uint64_t t)
{
    return call(h, 0, kind, arg, t);
}

static enum lincheck_verdict check(struct lincheck_history *h)
{
    struct lincheck_report r;
    CHECK_EQ(lincheck_check(h, NULL, &r), 0);
    if (r.verdict != LINCHECK_LINEARIZABLE && getenv("LINCHECK_VERBOSE") != NULL) {
        fprintf(stderr, "%s", r.explanation);
    }
    return r.verdict;
}

static struct lincheck_history *history_new(void)
{
    struct lincheck_history *h = malloc(sizeof *h);
    lincheck_history_init(h, 0);
    return h;
}

static void history_delete(struct lincheck_history *h)
{
    lincheck_history_free(h);
    free(h);
}

#define LIN LINCHECK_LINEARIZABLE
#define NOT_LIN LINCHECK_NOT_LINEARIZABLE

/* ------------------------------------------------------------------------------------
 * Registers */

TEST(empty_history_is_linearizable)
{
    struct lincheck_history *h = history_new();
    CHECK_EQ(check(h), LIN);
    history_delete(h);
}

TEST(read_of_completed_write_is_linearizable)
{
    struct lincheck_history *h = history_new();
    uint32_t a = seq(h, LINCHECK_GET, NULL, 0);
    ret_nil(h, a, 1);
    uint32_t b = seq(h, LINCHECK_SET, "x", 2);
    ret_ok(h, b, 3);
    uint32_t c = seq(h, LINCHECK_GET, NULL, 4);
    ret_bulk(h, c, "x", 5);
    CHECK_EQ(check(h), LIN);
    history_delete(h);
}

TEST(stale_read_after_completed_write_is_not_linearizable)
{
    struct lincheck_history *h = history_new();
    uint32_t a = call(h, 1, LINCHECK_SET, "old", 0);
    ret_ok(h, a, 1);
    uint32_t b = call(h, 1, LINCHECK_SET, "new", 2);
    ret_ok(h, b, 3);
    uint32_t c = call(h, 2, LINCHECK_GET, NULL, 4);
    ret_bulk(h, c, "old", 5);
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

TEST(read_concurrent_with_write_may_see_old_or_new_value)
{
    for (int sees_new = 0; sees_new < 2; sees_new++) {
        struct lincheck_history *h = history_new();
        uint32_t a = call(h, 1, LINCHECK_SET, "old", 0);
        ret_ok(h, a, 1);
        uint32_t w = call(h, 1, LINCHECK_SET, "new", 2);
        uint32_t r = call(h, 2, LINCHECK_GET, NULL, 3);
        ret_bulk(h, r, sees_new ? "new" : "old", 4);
        ret_ok(h, w, 5);
        CHECK_EQ(check(h), LIN);
        history_delete(h);
    }
}

/* Two concurrent writes; sequential reads during them see one order or the other. */
static enum lincheck_verdict concurrent_writes(const char *first, const char *second,
                                               const char *third)
{
    struct lincheck_history *h = history_new();
    uint32_t wa = call(h, 1, LINCHECK_SET, "a", 0);
    uint32_t wb = call(h, 2, LINCHECK_SET, "b", 1);
    uint32_t r1 = call(h, 3, LINCHECK_GET, NULL, 2);
    ret_bulk(h, r1, first, 3);
    uint32_t r2 = call(h, 3, LINCHECK_GET, NULL, 4);
    ret_bulk(h, r2, second, 5);
    uint32_t r3 = call(h, 3, LINCHECK_GET, NULL, 6);
    ret_bulk(h, r3, third, 7);
    ret_ok(h, wa, 8);
    ret_ok(h, wb, 9);
    enum lincheck_verdict v = check(h);
    history_delete(h);
    return v;
}

TEST(concurrent_writes_may_be_seen_in_either_order)
{
    CHECK_EQ(concurrent_writes("a", "b", "b"), LIN);
    CHECK_EQ(concurrent_writes("b", "a", "a"), LIN);
}

TEST(reads_going_back_in_time_are_not_linearizable)
{
    CHECK_EQ(concurrent_writes("a", "b", "a"), NOT_LIN);
    CHECK_EQ(concurrent_writes("b", "a", "b"), NOT_LIN);
}

TEST(two_readers_disagreeing_on_write_order_are_not_linearizable)
{
    struct lincheck_history *h = history_new();
    uint32_t wa = call(h, 1, LINCHECK_SET, "a", 0);
    uint32_t wb = call(h, 2, LINCHECK_SET, "b", 1);
    uint32_t r1 = call(h, 3, LINCHECK_GET, NULL, 2);
    uint32_t r2 = call(h, 4, LINCHECK_GET, NULL, 3);
    ret_bulk(h, r1, "a", 4);
    ret_bulk(h, r2, "b", 5);
    uint32_t r3 = call(h, 3, LINCHECK_GET, NULL, 6);
    uint32_t r4 = call(h, 4, LINCHECK_GET, NULL, 7);
    ret_bulk(h, r3, "b", 8); /* client 3 saw a then b */
    ret_bulk(h, r4, "a", 9); /* client 4 saw b then a, after r3 completed... */
    ret_ok(h, wa, 10);
    ret_ok(h, wb, 11);
    /* ...but r4 began before r3 ended, so a -> b -> a is still not possible: r2 saw b
     * before r4 saw a, and r3 saw b after r1 saw a: two writes give one switch. */
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

/* ------------------------------------------------------------------------------------
 * Unknown and failed outcomes */

TEST(unknown_write_may_take_effect_late)
{
    struct lincheck_history *h = history_new();
    uint32_t a = call(h, 1, LINCHECK_SET, "a", 0);
    ret_ok(h, a, 1);
    uint32_t b = call(h, 1, LINCHECK_SET, "b", 2);
    ret_unknown(h, b, 3);
    uint32_t r1 = call(h, 2, LINCHECK_GET, NULL, 10);
    ret_bulk(h, r1, "a", 11);
    uint32_t r2 = call(h, 2, LINCHECK_GET, NULL, 100);
    ret_bulk(h, r2, "b", 101);
    CHECK_EQ(check(h), LIN);
    history_delete(h);
}

TEST(unknown_write_may_never_take_effect)
{
    struct lincheck_history *h = history_new();
    uint32_t a = call(h, 1, LINCHECK_SET, "a", 0);
    ret_ok(h, a, 1);
    uint32_t b = call(h, 1, LINCHECK_SET, "b", 2);
    ret_unknown(h, b, 3);
    uint32_t r = call(h, 2, LINCHECK_GET, NULL, 100);
    ret_bulk(h, r, "a", 101);
    CHECK_EQ(check(h), LIN);
    history_delete(h);
}

TEST(unknown_write_takes_effect_at_most_once)
{
    struct lincheck_history *h = history_new();
    uint32_t a = call(h, 1, LINCHECK_SET, "a", 0);
    ret_ok(h, a, 1);
    uint32_t b = call(h, 1, LINCHECK_SET, "b", 2);
    ret_unknown(h, b, 3);
    uint32_t r1 = call(h, 2, LINCHECK_GET, NULL, 10);
    ret_bulk(h, r1, "b", 11);
    uint32_t r2 = call(h, 2, LINCHECK_GET, NULL, 20);
    ret_bulk(h, r2, "a", 21);
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

TEST(unknown_write_cannot_take_effect_before_its_invocation)
{
    struct lincheck_history *h = history_new();
    uint32_t r = call(h, 2, LINCHECK_GET, NULL, 0);
    ret_bulk(h, r, "b", 1);
    uint32_t b = call(h, 1, LINCHECK_SET, "b", 2);
    ret_unknown(h, b, 3);
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

TEST(never_completed_op_counts_as_unknown)
{
    struct lincheck_history *h = history_new();
    (void)call(h, 1, LINCHECK_INCR, NULL, 0); /* the client crashed */
    uint32_t r = call(h, 2, LINCHECK_GET, NULL, 50);
    ret_bulk(h, r, "1", 51);
    CHECK_EQ(check(h), LIN);
    history_delete(h);
}

TEST(failed_ops_are_ignored)
{
    struct lincheck_history *h = history_new();
    uint32_t a = call(h, 1, LINCHECK_SET, "a", 0);
    ret_ok(h, a, 1);
    uint32_t b = call(h, 1, LINCHECK_SET, "b", 2);
    ret_failed(h, b, 3);
    uint32_t g = call(h, 1, LINCHECK_GET, NULL, 4);
    ret_failed(h, g, 5);
    uint32_t r = call(h, 2, LINCHECK_GET, NULL, 6);
    ret_bulk(h, r, "a", 7);
    CHECK_EQ(check(h), LIN);
    history_delete(h);
}

TEST(failed_write_seen_by_a_read_is_not_linearizable)
{
    struct lincheck_history *h = history_new();
    uint32_t b = call(h, 1, LINCHECK_SET, "b", 0);
    ret_failed(h, b, 1);
    uint32_t r = call(h, 2, LINCHECK_GET, NULL, 2);
    ret_bulk(h, r, "b", 3);
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

/* ------------------------------------------------------------------------------------
 * Conditional writes and counters */

TEST(set_nx_succeeds_only_once)
{
    for (int both = 0; both < 2; both++) {
        struct lincheck_history *h = history_new();
        uint32_t a = call(h, 1, LINCHECK_SET_NX, "a", 0);
        uint32_t b = call(h, 2, LINCHECK_SET_NX, "b", 1);
        ret_ok(h, a, 2);
        if (both) {
            ret_ok(h, b, 3);
        } else {
            ret_nil(h, b, 3);
        }
        uint32_t r = call(h, 3, LINCHECK_GET, NULL, 4);
        ret_bulk(h, r, "a", 5);
        CHECK_EQ(check(h), both ? NOT_LIN : LIN);
        history_delete(h);
    }
}

TEST(set_xx_writes_only_an_existing_key)
{
    struct lincheck_history *h = history_new();
    uint32_t a = seq(h, LINCHECK_SET_XX, "a", 0);
    ret_nil(h, a, 1);
    uint32_t b = seq(h, LINCHECK_SET, "b", 2);
    ret_ok(h, b, 3);
    uint32_t c = seq(h, LINCHECK_SET_XX, "c", 4);
    ret_ok(h, c, 5);
    uint32_t r = seq(h, LINCHECK_GET, NULL, 6);
    ret_bulk(h, r, "c", 7);
    CHECK_EQ(check(h), LIN);
    uint32_t d = seq(h, LINCHECK_DEL, NULL, 8);
    ret_int(h, d, 1, 9);
    uint32_t e = seq(h, LINCHECK_SET_XX, "e", 10);
    ret_ok(h, e, 11); /* must be nil: the key is gone */
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

TEST(set_get_returns_old_value_and_catches_lost_update)
{
    for (int lost = 0; lost < 2; lost++) {
        struct lincheck_history *h = history_new();
        uint32_t a = call(h, 1, LINCHECK_SET, "0", 0);
        ret_ok(h, a, 1);
        uint32_t x = call(h, 1, LINCHECK_SET_GET, "x", 2);
        uint32_t y = call(h, 2, LINCHECK_SET_GET, "y", 3);
        ret_bulk(h, x, "0", 4);
        ret_bulk(h, y, lost ? "0" : "x", 5); /* both saw "0": one write was lost */
        CHECK_EQ(check(h), lost ? NOT_LIN : LIN);
        history_delete(h);
    }
}

TEST(set_get_on_missing_key_returns_nil)
{
    struct lincheck_history *h = history_new();
    uint32_t a = seq(h, LINCHECK_SET_GET, "a", 0);
    ret_nil(h, a, 1);
    uint32_t b = seq(h, LINCHECK_SET_GET, "b", 2);
    ret_bulk(h, b, "a", 3);
    CHECK_EQ(check(h), LIN);
    history_delete(h);
}

TEST(concurrent_increments_return_distinct_values)
{
    struct lincheck_history *h = history_new();
    uint32_t a = call(h, 1, LINCHECK_INCR, NULL, 0);
    uint32_t b = call(h, 2, LINCHECK_INCR, NULL, 1);
    ret_int(h, b, 1, 2);
    ret_int(h, a, 2, 3);
    CHECK_EQ(check(h), LIN);
    history_delete(h);
}

TEST(lost_increment_is_caught)
{
    struct lincheck_history *h = history_new();
    uint32_t a = call(h, 1, LINCHECK_INCR, NULL, 0);
    uint32_t b = call(h, 2, LINCHECK_INCR, NULL, 1);
    ret_int(h, b, 1, 2);
    ret_int(h, a, 1, 3);
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

TEST(lost_increment_seen_by_a_read_is_caught)
{
    struct lincheck_history *h = history_new();
    uint32_t a = seq(h, LINCHECK_INCR, NULL, 0);
    ret_int(h, a, 1, 1);
    uint32_t b = seq(h, LINCHECK_INCR, NULL, 2);
    ret_int(h, b, 2, 3);
    uint32_t r = seq(h, LINCHECK_GET, NULL, 4);
    ret_bulk(h, r, "1", 5);
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

TEST(duplicated_increment_is_caught)
{
    struct lincheck_history *h = history_new();
    uint32_t a = seq(h, LINCHECK_INCR, NULL, 0);
    ret_int(h, a, 1, 1);
    uint32_t b = seq(h, LINCHECK_INCR, NULL, 2); /* applied twice by a retry */
    ret_int(h, b, 3, 3);
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

TEST(duplicated_increment_seen_by_a_read_is_caught)
{
    struct lincheck_history *h = history_new();
    uint32_t a = seq(h, LINCHECK_INCR, NULL, 0);
    ret_int(h, a, 1, 1);
    uint32_t r = seq(h, LINCHECK_GET, NULL, 2);
    ret_bulk(h, r, "2", 3);
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

TEST(unknown_increment_explains_one_extra_step_only)
{
    for (int extra = 1; extra <= 2; extra++) {
        struct lincheck_history *h = history_new();
        uint32_t a = seq(h, LINCHECK_INCR, NULL, 0);
        ret_unknown(h, a, 1);
        uint32_t b = seq(h, LINCHECK_INCR, NULL, 2);
        ret_int(h, b, 1 + extra, 3);
        CHECK_EQ(check(h), extra == 1 ? LIN : NOT_LIN);
        history_delete(h);
    }
}

TEST(incr_of_non_integer_and_overflow_are_errors)
{
    struct lincheck_history *h = history_new();
    uint32_t a = seq(h, LINCHECK_SET, "abc", 0);
    ret_ok(h, a, 1);
    uint32_t b = seq(h, LINCHECK_INCR, NULL, 2);
    ret_err(h, b, LINCHECK_RESULT_ERR_NOT_INTEGER, 3);
    uint32_t c = seq(h, LINCHECK_SET, "007", 4); /* Redis rejects leading zeros */
    ret_ok(h, c, 5);
    uint32_t d = seq(h, LINCHECK_INCR, NULL, 6);
    ret_err(h, d, LINCHECK_RESULT_ERR_NOT_INTEGER, 7);
    uint32_t e = seq(h, LINCHECK_SET, "9223372036854775807", 8);
    ret_ok(h, e, 9);
    uint32_t f = seq(h, LINCHECK_INCR, NULL, 10);
    ret_err(h, f, LINCHECK_RESULT_ERR_OVERFLOW, 11);
    uint32_t g = seq(h, LINCHECK_SET, "-5", 12);
    ret_ok(h, g, 13);
    uint32_t i = seq(h, LINCHECK_INCR, NULL, 14);
    ret_int(h, i, -4, 15);
    CHECK_EQ(check(h), LIN);
    uint32_t j = seq(h, LINCHECK_SET, "x", 16);
    ret_ok(h, j, 17);
    uint32_t k = seq(h, LINCHECK_INCR, NULL, 18);
    ret_int(h, k, 1, 19); /* treated a non-integer as 0 */
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

/* A SET that writes the value the key already holds is not a read: where it really took
 * effect it may have changed the state (regression: the search once took it first). */
TEST(set_of_the_current_value_still_orders_against_other_writes)
{
    struct lincheck_history *h = history_new();
    uint32_t a = call(h, 0, LINCHECK_SET, "x", 0);
    uint32_t b = call(h, 1, LINCHECK_SET, "x", 1);
    ret_ok(h, a, 2);
    uint32_t c = call(h, 0, LINCHECK_SET, "2", 3);
    ret_ok(h, b, 4); /* b overlaps c: order a, c, b leaves "x" */
    ret_ok(h, c, 5);
    uint32_t r = call(h, 1, LINCHECK_GET, NULL, 6);
    ret_bulk(h, r, "x", 7);
    CHECK_EQ(check(h), LIN);
    history_delete(h);
}

/* Two pending unknown increments may both take effect, back to back (regression: a rule
 * that wanted every unknown op followed by an op depending on it rejected this). */
TEST(several_unknown_increments_may_all_take_effect)
{
    struct lincheck_history *h = history_new();
    uint32_t a = call(h, 0, LINCHECK_INCR, NULL, 0);
    uint32_t b = call(h, 1, LINCHECK_INCR, NULL, 1);
    ret_unknown(h, a, 2);
    ret_unknown(h, b, 3);
    uint32_t c = call(h, 2, LINCHECK_INCR, NULL, 4);
    ret_int(h, c, 3, 5);
    CHECK_EQ(check(h), LIN);
    uint32_t d = call(h, 2, LINCHECK_INCR, NULL, 6);
    ret_int(h, d, 5, 7); /* only two could have been applied */
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

/* ------------------------------------------------------------------------------------
 * Lists and types */

TEST(lrange_sees_pushes_in_their_linearization_order)
{
    for (int wrong = 0; wrong < 2; wrong++) {
        struct lincheck_history *h = history_new();
        uint32_t a = call(h, 1, LINCHECK_RPUSH, "a", 0);
        uint32_t b = call(h, 2, LINCHECK_RPUSH, "b", 1);
        ret_int(h, b, 1, 2); /* b went first */
        ret_int(h, a, 2, 3);
        uint32_t r = call(h, 3, LINCHECK_LRANGE, NULL, 4);
        ret_list(h, r, wrong ? "a,b" : "b,a", 5);
        CHECK_EQ(check(h), wrong ? NOT_LIN : LIN);
        history_delete(h);
    }
}

TEST(sequential_pushes_must_keep_their_order)
{
    struct lincheck_history *h = history_new();
    uint32_t a = seq(h, LINCHECK_RPUSH, "a", 0);
    ret_int(h, a, 1, 1);
    uint32_t b = seq(h, LINCHECK_RPUSH, "b", 2);
    ret_int(h, b, 2, 3);
    uint32_t r = seq(h, LINCHECK_LRANGE, NULL, 4);
    ret_list(h, r, "a,b", 5);
    CHECK_EQ(check(h), LIN);
    uint32_t s = seq(h, LINCHECK_LRANGE, NULL, 6);
    ret_list(h, s, "b,a", 7);
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

TEST(lrange_of_missing_key_is_empty_and_del_empties_a_list)
{
    struct lincheck_history *h = history_new();
    uint32_t a = seq(h, LINCHECK_LRANGE, NULL, 0);
    ret_list(h, a, "", 1);
    uint32_t b = seq(h, LINCHECK_RPUSH, "x", 2);
    ret_int(h, b, 1, 3);
    uint32_t c = seq(h, LINCHECK_DEL, NULL, 4);
    ret_int(h, c, 1, 5);
    uint32_t d = seq(h, LINCHECK_DEL, NULL, 6);
    ret_int(h, d, 0, 7);
    uint32_t e = seq(h, LINCHECK_RPUSH, "y", 8);
    ret_int(h, e, 1, 9);
    uint32_t f = seq(h, LINCHECK_LRANGE, NULL, 10);
    ret_list(h, f, "y", 11);
    CHECK_EQ(check(h), LIN);
    history_delete(h);
}

TEST(wrongtype_errors_must_match_the_type)
{
    struct lincheck_history *h = history_new();
    uint32_t a = seq(h, LINCHECK_RPUSH, "x", 0);
    ret_int(h, a, 1, 1);
    uint32_t b = seq(h, LINCHECK_GET, NULL, 2);
    ret_err(h, b, LINCHECK_RESULT_ERR_WRONGTYPE, 3);
    uint32_t c = seq(h, LINCHECK_INCR, NULL, 4);
    ret_err(h, c, LINCHECK_RESULT_ERR_WRONGTYPE, 5);
    uint32_t d = seq(h, LINCHECK_SET_GET, "s", 6); /* aborted: the list stays */
    ret_err(h, d, LINCHECK_RESULT_ERR_WRONGTYPE, 7);
    uint32_t e = seq(h, LINCHECK_LRANGE, NULL, 8);
    ret_list(h, e, "x", 9);
    uint32_t f = seq(h, LINCHECK_SET, "s", 10); /* SET replaces any type */
    ret_ok(h, f, 11);
    uint32_t g = seq(h, LINCHECK_RPUSH, "y", 12);
    ret_err(h, g, LINCHECK_RESULT_ERR_WRONGTYPE, 13);
    uint32_t i = seq(h, LINCHECK_LRANGE, NULL, 14);
    ret_err(h, i, LINCHECK_RESULT_ERR_WRONGTYPE, 15);
    CHECK_EQ(check(h), LIN);
    uint32_t j = seq(h, LINCHECK_GET, NULL, 16);
    ret_err(h, j, LINCHECK_RESULT_ERR_WRONGTYPE, 17); /* it is a string now */
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

TEST(missing_wrongtype_error_is_caught)
{
    struct lincheck_history *h = history_new();
    uint32_t a = seq(h, LINCHECK_SET, "s", 0);
    ret_ok(h, a, 1);
    uint32_t b = seq(h, LINCHECK_RPUSH, "x", 2);
    ret_int(h, b, 1, 3);
    CHECK_EQ(check(h), NOT_LIN);
    history_delete(h);
}

/* ------------------------------------------------------------------------------------
 * Keys, report, limits */

TEST(keys_are_checked_independently_and_the_failing_one_is_named)
{
    struct lincheck_history *h = history_new();
    uint32_t a = call_on(h, 7, 1, LINCHECK_SET, "a", 0);
    uint32_t b = call_on(h, 9, 1, LINCHECK_SET, "b", 1);
    ret_ok(h, a, 2);
    ret_ok(h, b, 3);
    uint32_t r = call_on(h, 7, 2, LINCHECK_GET, NULL, 4);
    ret_bulk(h, r, "b", 5); /* key 7 never held "b" */
    uint32_t s = call_on(h, 9, 2, LINCHECK_GET, NULL, 6);
    ret_bulk(h, s, "b", 7);
    struct lincheck_report rep;
    CHECK_EQ(lincheck_check(h, NULL, &rep), 0);
    CHECK_EQ(rep.verdict, NOT_LIN);
    CHECK_EQ(rep.key_id, 7);
    CHECK_EQ(rep.keys_count, 2);
    CHECK_EQ(rep.keys_failed_count, 1);
    CHECK_EQ(rep.ops_count, 4);
    CHECK(strstr(rep.explanation, "key 7") != NULL);
    history_delete(h);
}

TEST(explanation_names_the_op_that_cannot_be_explained)
{
    struct lincheck_history *h = history_new();
    uint32_t a = call(h, 1, LINCHECK_SET, "x", 0);
    ret_ok(h, a, 10);
    uint32_t b = call(h, 2, LINCHECK_GET, NULL, 20);
    ret_bulk(h, b, "x", 30);
    uint32_t c = call(h, 3, LINCHECK_SET, "y", 40);
    ret_ok(h, c, 50);
    uint32_t d = call(h, 4, LINCHECK_GET, NULL, 60);
    ret_bulk(h, d, "x", 70); /* stale */
    uint32_t e = call(h, 5, LINCHECK_GET, NULL, 80);
    ret_bulk(h, e, "y", 90);
    struct lincheck_report rep;
    CHECK_EQ(lincheck_check(h, NULL, &rep), 0);
    CHECK_EQ(rep.verdict, NOT_LIN);
    /* The shortest failing prefix ends when op 3 completes, not at op 4. */
    CHECK(strstr(rep.explanation, "op 3: client 4 GET -> \"x\" [60, 70] ns") != NULL);
    CHECK(strstr(rep.explanation, "state \"y\"") != NULL);
    if (getenv("LINCHECK_VERBOSE") != NULL) {
        fprintf(stderr, "%s", rep.explanation);
    }
    history_delete(h);
}

TEST(recording_limit_is_sticky_and_reported)
{
    struct lincheck_history h;
    lincheck_history_init(&h, 2);
    CHECK(call(&h, 1, LINCHECK_SET, "a", 0) != LINCHECK_OP_NONE);
    CHECK(call(&h, 1, LINCHECK_SET, "b", 1) != LINCHECK_OP_NONE);
    CHECK_EQ(call(&h, 1, LINCHECK_SET, "c", 2), LINCHECK_OP_NONE);
    ret_ok(&h, LINCHECK_OP_NONE, 3); /* ignored */
    struct lincheck_report rep;
    CHECK_EQ(lincheck_check(&h, NULL, &rep), ERR_TOO_LARGE);
    lincheck_history_free(&h);
}

/* ------------------------------------------------------------------------------------
 * Random histories from a sequential model */

#define GEN_VALUE_BYTES_MAX 8
#define GEN_LIST_MAX 256

/* The reference model: an independent implementation of one key. */
struct ref_model {
    int kind; /* 0 absent, 1 string, 2 list */
    char str[32];
    size_t str_len;
    char items[GEN_LIST_MAX][GEN_VALUE_BYTES_MAX];
    size_t items_count;
};

struct gen_op {
    uint32_t client;
    uint32_t key;
    enum lincheck_op_kind kind;
    char arg[GEN_VALUE_BYTES_MAX];
    uint64_t call_ns, effect_ns, return_ns;
    enum lincheck_outcome outcome;
    bool applies; /* takes effect at effect_ns */
    uint32_t id;
    struct lincheck_result result;
    char bulk[32];
    struct lincheck_bytes *items; /* LRANGE: owned, with items_block */
    char *items_block;
};

struct gen_event {
    uint64_t t;
    uint32_t type; /* 0 call, 1 effect, 2 return */
    uint32_t op;
};

static int gen_event_cmp(const void *a, const void *b)
{
    const struct gen_event *x = a, *y = b;
    if (x->t != y->t) {
        return x->t < y->t ? -1 : 1;
    }
    if (x->type != y->type) {
        return x->type < y->type ? -1 : 1;
    }
    return x->op < y->op ? -1 : x->op > y->op;
}

static bool ref_int(const struct ref_model *m, long long *v)
{
    char tmp[40];
    memcpy(tmp, m->str, m->str_len);
    tmp[m->str_len] = '\0';
    char *end;
    *v = strtoll(tmp, &end, 10);
    return m->str_len > 0 && *end == '\0' && (tmp[0] != '0' || m->str_len == 1) &&
           tmp[0] != '+' && tmp[0] != ' ';
}

static void ref_set(struct ref_model *m, const char *v)
{
    m->kind = 1;
    m->str_len = strlen(v);
    memcpy(m->str, v, m->str_len);
}

static void ref_result_string(struct gen_op *o, const struct ref_model *m)
{
    memcpy(o->bulk, m->str, m->str_len);
    o->result = lincheck_result_bulk(o->bulk, m->str_len);
}

static void ref_apply_set(struct ref_model *m, struct gen_op *o)
{
    bool present = m->kind != 0;
    switch (o->kind) {
    case LINCHECK_SET:
        ref_set(m, o->arg);
        o->result = lincheck_result_ok();
        break;
    case LINCHECK_SET_NX:
    case LINCHECK_SET_XX:
        if (present == (o->kind == LINCHECK_SET_XX)) {
            ref_set(m, o->arg);
            o->result = lincheck_result_ok();
        } else {
            o->result = lincheck_result_nil();
        }
        break;
    default:
        if (m->kind == 2) {
            o->result = lincheck_result_error(LINCHECK_RESULT_ERR_WRONGTYPE);
        } else {
            if (m->kind == 1) {
                ref_result_string(o, m);
            } else {
                o->result = lincheck_result_nil();
            }
            ref_set(m, o->arg);
        }
        break;
    }
}

static void ref_apply_incr(struct ref_model *m, struct gen_op *o)
{
    long long v = 0;
    if (m->kind == 2) {
        o->result = lincheck_result_error(LINCHECK_RESULT_ERR_WRONGTYPE);
    } else if (m->kind == 1 && !ref_int(m, &v)) {
        o->result = lincheck_result_error(LINCHECK_RESULT_ERR_NOT_INTEGER);
    } else {
        char num[32];
        snprintf(num, sizeof num, "%lld", v + 1);
        ref_set(m, num);
        o->result = lincheck_result_int(v + 1);
    }
}

static void ref_apply_list(struct ref_model *m, struct gen_op *o)
{
    if (m->kind == 1) {
        o->result = lincheck_result_error(LINCHECK_RESULT_ERR_WRONGTYPE);
    } else if (o->kind == LINCHECK_RPUSH) {
        m->kind = 2;
        CHECK(m->items_count < GEN_LIST_MAX);
        memcpy(m->items[m->items_count++], o->arg, GEN_VALUE_BYTES_MAX);
        o->result = lincheck_result_int((int64_t)m->items_count);
    } else {
        size_t n = m->kind == 2 ? m->items_count : 0;
        o->items = malloc((n + 1) * sizeof *o->items);
        char *copy = malloc(n * GEN_VALUE_BYTES_MAX + 1);
        for (size_t i = 0; i < n; i++) {
            memcpy(copy + i * GEN_VALUE_BYTES_MAX, m->items[i], GEN_VALUE_BYTES_MAX);
            o->items[i].data = copy + i * GEN_VALUE_BYTES_MAX;
            o->items[i].len = strlen(m->items[i]);
        }
        o->items_block = copy;
        o->result = lincheck_result_array(o->items, n);
    }
}

static void ref_apply(struct ref_model *m, struct gen_op *o)
{
    switch (o->kind) {
    case LINCHECK_GET:
        if (m->kind == 1) {
            ref_result_string(o, m);
        } else {
            o->result = m->kind == 2 ? lincheck_result_error(LINCHECK_RESULT_ERR_WRONGTYPE)
                                     : lincheck_result_nil();
        }
        break;
    case LINCHECK_INCR:
        ref_apply_incr(m, o);
        break;
    case LINCHECK_RPUSH:
    case LINCHECK_LRANGE:
        ref_apply_list(m, o);
        break;
    case LINCHECK_DEL:
        o->result = lincheck_result_int(m->kind != 0);
        m->kind = 0;
        m->items_count = 0;
        break;
    default:
        ref_apply_set(m, o);
        break;
    }
}

struct gen_params {
    uint64_t seed;
    uint32_t clients;
    uint32_t ops_per_client;
    uint32_t unknown_per_million; /* half of them take effect */
    uint32_t failed_per_million;
    bool registers_only;          /* GET and SET only */
    bool last_op_pending;         /* each client's last op never completes (the run ended) */
    uint32_t keys_count;          /* ops go to random keys 0..keys_count-1; 0 means 1 */
};

#define GEN_KEYS_MAX 16

static enum lincheck_op_kind gen_kind(struct prng *p, bool registers_only)
{
    static const enum lincheck_op_kind mix[] = {
        LINCHECK_GET,    LINCHECK_GET,    LINCHECK_GET,    LINCHECK_SET,    LINCHECK_SET,
        LINCHECK_SET_NX, LINCHECK_SET_XX, LINCHECK_SET_GET, LINCHECK_INCR,  LINCHECK_INCR,
        LINCHECK_INCR,   LINCHECK_RPUSH,  LINCHECK_RPUSH,  LINCHECK_LRANGE, LINCHECK_LRANGE,
        LINCHECK_DEL,
    };
    if (registers_only) {
        return prng_chance(p, 500000) ? LINCHECK_GET : LINCHECK_SET;
    }
    return mix[prng_below(p, sizeof mix / sizeof mix[0])];
}

/* Client i runs its ops back to back with random gaps and latencies; each op takes effect
 * at a random instant inside its interval (or, when unknown, maybe much later, or never). */
static struct gen_op *gen_ops(const struct gen_params *gp, size_t *count_out)
{
    size_t n = (size_t)gp->clients * gp->ops_per_client;
    struct gen_op *ops = calloc(n, sizeof *ops);
    struct prng p;
    prng_seed(&p, gp->seed);
    for (uint32_t c = 0; c < gp->clients; c++) {
        uint64_t t = prng_below(&p, 100);
        for (uint32_t i = 0; i < gp->ops_per_client; i++) {
            struct gen_op *o = &ops[c * gp->ops_per_client + i];
            o->client = c;
            o->key = gp->keys_count > 1 ? (uint32_t)prng_below(&p, gp->keys_count) : 0;
            o->kind = gen_kind(&p, gp->registers_only);
            bool numeric = prng_chance(&p, 500000);
            unsigned value = (unsigned)prng_below(&p, 6);
            bool has_arg = o->kind != LINCHECK_GET && o->kind != LINCHECK_INCR &&
                           o->kind != LINCHECK_LRANGE && o->kind != LINCHECK_DEL;
            if (has_arg) {
                snprintf(o->arg, sizeof o->arg, numeric ? "%u" : "v%u", value);
            }
            o->call_ns = t;
            o->effect_ns = t + 1 + prng_below(&p, 400);
            o->return_ns = o->effect_ns + 1 + prng_below(&p, 400);
            o->outcome = LINCHECK_OK;
            o->applies = true;
            if (prng_chance(&p, gp->failed_per_million)) {
                o->outcome = LINCHECK_FAILED;
                o->applies = false;
            } else if (prng_chance(&p, gp->unknown_per_million)) {
                o->outcome = LINCHECK_UNKNOWN;
                o->applies = prng_chance(&p, 500000);
                o->effect_ns += prng_below(&p, 4000); /* maybe long after the timeout */
            }
            if (gp->last_op_pending && i + 1 == gp->ops_per_client) {
                o->outcome = LINCHECK_PENDING;
                o->applies = prng_chance(&p, 500000);
            }
            t = o->return_ns + 1 + prng_below(&p, 200);
        }
    }
    *count_out = n;
    return ops;
}

/* The ops' events in time order. */
static struct gen_event *gen_events(const struct gen_op *ops, size_t n, size_t *count_out)
{
    struct gen_event *ev = calloc(3 * n, sizeof *ev);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        ev[k++] = (struct gen_event){ops[i].call_ns, 0, (uint32_t)i};
        if (ops[i].applies) {
            ev[k++] = (struct gen_event){ops[i].effect_ns, 1, (uint32_t)i};
        }
        if (ops[i].outcome != LINCHECK_PENDING) {
            ev[k++] = (struct gen_event){ops[i].return_ns, 2, (uint32_t)i};
        }
    }
    qsort(ev, k, sizeof *ev, gen_event_cmp);
    *count_out = k;
    return ev;
}

/* Runs the effects through the reference model: every op that takes effect gets its result. */
static void gen_compute(struct gen_op *ops, const struct gen_event *ev, size_t events_count)
{
    struct ref_model *m = calloc(GEN_KEYS_MAX, sizeof *m);
    for (size_t i = 0; i < events_count; i++) {
        if (ev[i].type == 1) {
            CHECK(ops[ev[i].op].key < GEN_KEYS_MAX);
            ref_apply(&m[ops[ev[i].op].key], &ops[ev[i].op]);
        }
    }
    free(m);
}

/* Records the calls and returns into h. The one_to_corrupt'th completed read (counting
 * from 0) reports a value the key never held. */
static void gen_record(struct lincheck_history *h, struct gen_op *ops, const struct gen_event *ev,
                       size_t events_count, long one_to_corrupt)
{
    long reads = 0;
    for (size_t i = 0; i < events_count; i++) {
        struct gen_op *o = &ops[ev[i].op];
        if (ev[i].type == 0) {
            o->id = call_on(h, o->key, o->client, o->kind, o->arg, ev[i].t);
        } else if (ev[i].type == 2 && o->outcome != LINCHECK_OK) {
            lincheck_complete(h, o->id, o->outcome, NULL, ev[i].t);
        } else if (ev[i].type == 2) {
            struct lincheck_result r = o->result;
            bool is_read = o->kind == LINCHECK_GET || o->kind == LINCHECK_LRANGE;
            if (is_read && reads++ == one_to_corrupt) {
                r = lincheck_result_bulk("never", 5);
            }
            lincheck_complete(h, o->id, LINCHECK_OK, &r, ev[i].t);
        }
    }
}

static void gen_ops_free(struct gen_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ops[i].items_block);
        free(ops[i].items);
    }
    free(ops);
}

/* Records the random history described by gp into h; with corrupt >= 0, one read result
 * (the corrupt'th completed read) is changed. Returns the number of completed reads. */
static void gen_history(struct lincheck_history *h, const struct gen_params *gp, long corrupt)
{
    size_t n, events_count;
    struct gen_op *ops = gen_ops(gp, &n);
    struct gen_event *ev = gen_events(ops, n, &events_count);
    gen_compute(ops, ev, events_count);
    gen_record(h, ops, ev, events_count, corrupt);
    free(ev);
    gen_ops_free(ops, n);
}

static struct lincheck_report check_random(const struct gen_params *gp, long corrupt)
{
    struct lincheck_history *h = history_new();
    gen_history(h, gp, corrupt);
    struct lincheck_report r;
    CHECK_EQ(lincheck_check(h, NULL, &r), 0);
    if (getenv("LINCHECK_VERBOSE") != NULL) {
        fprintf(stderr, "    seed %llu corrupt %ld: %s, %llu ops, %llu steps, %zu bytes\n%s",
                (unsigned long long)gp->seed, corrupt, lincheck_verdict_name(r.verdict),
                (unsigned long long)r.ops_count, (unsigned long long)r.steps,
                r.memory_bytes_peak, r.explanation);
    }
    history_delete(h);
    return r;
}

/* A brute-force checker for small histories: every order that respects real time, every
 * unknown op applied anywhere after its invocation or never. */
static bool results_equal(const struct lincheck_result *a, const struct lincheck_result *b)
{
    if (a->kind != b->kind) {
        return false;
    }
    if (a->kind == LINCHECK_RESULT_INT) {
        return a->integer == b->integer;
    }
    if (a->kind == LINCHECK_RESULT_BULK) {
        return a->bulk.len == b->bulk.len && memcmp(a->bulk.data, b->bulk.data, a->bulk.len) == 0;
    }
    if (a->kind != LINCHECK_RESULT_ARRAY || a->items_count != b->items_count) {
        return a->kind != LINCHECK_RESULT_ARRAY;
    }
    for (size_t i = 0; i < a->items_count; i++) {
        if (a->items[i].len != b->items[i].len ||
            memcmp(a->items[i].data, b->items[i].data, a->items[i].len) != 0) {
            return false;
        }
    }
    return true;
}

/* Applies o to m; true when o is unknown or its result matches the recorded one. */
static bool brute_step(struct ref_model *m, const struct gen_op *o)
{
    struct gen_op tmp = *o;
    tmp.items = NULL;
    tmp.items_block = NULL;
    ref_apply(m, &tmp);
    bool ok = o->outcome != LINCHECK_OK || results_equal(&tmp.result, &o->result);
    free(tmp.items_block);
    free(tmp.items);
    return ok;
}

static bool brute_search(const struct gen_op *ops, size_t n, bool *used,
                         const struct ref_model *m, size_t definite_left)
{
    if (definite_left == 0) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        bool ready = !used[i] && ops[i].outcome != LINCHECK_FAILED;
        for (size_t j = 0; ready && j < n; j++) {
            ready = used[j] || ops[j].outcome != LINCHECK_OK || ops[j].return_ns >= ops[i].call_ns;
        }
        struct ref_model next = *m;
        if (!ready || !brute_step(&next, &ops[i])) {
            continue;
        }
        used[i] = true;
        bool found = brute_search(ops, n, used, &next, definite_left - (ops[i].outcome == LINCHECK_OK));
        used[i] = false;
        if (found) {
            return true;
        }
    }
    return false;
}

static bool brute_linearizable(const struct gen_op *ops, size_t n)
{
    bool used[64] = {false};
    size_t definite = 0;
    for (size_t i = 0; i < n; i++) {
        definite += ops[i].outcome == LINCHECK_OK;
    }
    struct ref_model *m = calloc(1, sizeof *m);
    bool found = brute_search(ops, n, used, m, definite);
    free(m);
    return found;
}

/* Changes the result of one completed op to a nearby plausible one. */
static void mutate_result(struct gen_op *o, struct prng *p)
{
    static const char *const values[] = {"0", "1", "2", "v0", "v1"};
    switch (o->result.kind) {
    case LINCHECK_RESULT_INT:
        o->result.integer += prng_chance(p, 500000) ? 1 : -1;
        break;
    case LINCHECK_RESULT_BULK:
    case LINCHECK_RESULT_NIL: {
        const char *v = values[prng_below(p, 5)];
        memcpy(o->bulk, v, strlen(v));
        o->result = lincheck_result_bulk(o->bulk, strlen(v));
        break;
    }
    case LINCHECK_RESULT_ARRAY:
        o->result.items_count = o->result.items_count > 0 ? o->result.items_count - 1 : 0;
        break;
    case LINCHECK_RESULT_OK:
        o->result = lincheck_result_nil();
        break;
    default:
        o->result = lincheck_result_int(1);
        break;
    }
}

/* Generates a small history, maybe mutates one result, and returns both verdicts. */
static void cross_check(uint64_t seed, enum lincheck_verdict *fast, bool *brute)
{
    struct prng p;
    prng_seed(&p, seed ^ 0x5eed);
    struct gen_params gp = {seed, 2 + (uint32_t)prng_below(&p, 2), 2 + (uint32_t)prng_below(&p, 4),
                            150000, 100000, false, prng_chance(&p, 300000)};
    size_t n, events_count;
    struct gen_op *ops = gen_ops(&gp, &n);
    struct gen_event *ev = gen_events(ops, n, &events_count);
    gen_compute(ops, ev, events_count);
    if (prng_chance(&p, 600000)) {
        struct gen_op *o = &ops[prng_below(&p, n)];
        if (o->outcome == LINCHECK_OK) {
            mutate_result(o, &p);
        }
    }
    struct lincheck_history *h = history_new();
    gen_record(h, ops, ev, events_count, -1);
    *fast = check(h);
    *brute = brute_linearizable(ops, n);
    if (*fast != (*brute ? LIN : NOT_LIN)) {
        struct lincheck_report r;
        lincheck_check(h, NULL, &r);
        fprintf(stderr, "%s", r.explanation);
        for (size_t i = 0; i < n; i++) {
            const struct gen_op *o = &ops[i];
            fprintf(stderr, "    c%u %s %s outcome %d [%llu, %llu] effect %llu applies %d result kind %d "
                            "int %lld bulk %.*s\n", o->client, lincheck_op_kind_name(o->kind), o->arg,
                    o->outcome, (unsigned long long)o->call_ns, (unsigned long long)o->return_ns,
                    (unsigned long long)o->effect_ns, o->applies, o->result.kind,
                    (long long)o->result.integer,
                    o->result.kind == LINCHECK_RESULT_BULK ? (int)o->result.bulk.len : 0,
                    o->result.kind == LINCHECK_RESULT_BULK ? (const char *)o->result.bulk.data : "");
        }
    }
    history_delete(h);
    free(ev);
    gen_ops_free(ops, n);
}

TEST(checker_agrees_with_brute_force_on_small_random_histories)
{
    int linearizable = 0, not_linearizable = 0;
    for (uint64_t seed = 1; seed <= 4000; seed++) {
        enum lincheck_verdict fast;
        bool brute;
        cross_check(seed, &fast, &brute);
        if (fast != (brute ? LIN : NOT_LIN)) {
            fprintf(stderr, "    seed %llu: checker says %s, brute force %s\n",
                    (unsigned long long)seed, lincheck_verdict_name(fast),
                    brute ? "linearizable" : "not linearizable");
        }
        CHECK_EQ(fast, brute ? LIN : NOT_LIN);
        linearizable += brute;
        not_linearizable += !brute;
    }
    if (getenv("LINCHECK_VERBOSE") != NULL) {
        fprintf(stderr, "    %d linearizable, %d not\n", linearizable, not_linearizable);
    }
    CHECK(linearizable > 1000 && not_linearizable > 1000); /* both kinds were exercised */
}

TEST(random_register_histories_are_linearizable_and_a_corrupted_read_is_caught)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct gen_params gp = {seed, 5, 40, 50000, 20000, true};
        CHECK_EQ(check_random(&gp, -1).verdict, LIN);
        CHECK_EQ(check_random(&gp, (long)(seed * 7 % 60)).verdict, NOT_LIN);
    }
}

TEST(random_mixed_histories_are_linearizable_and_a_corrupted_read_is_caught)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct gen_params gp = {seed, 5, 60, 50000, 20000, false};
        CHECK_EQ(check_random(&gp, -1).verdict, LIN);
        CHECK_EQ(check_random(&gp, (long)(seed * 11 % 60)).verdict, NOT_LIN);
    }
}

/* 10 clients x 1,000 ops on one key, 1% failed outcomes, the last op of every client never
 * completed. */
TEST(large_random_history_is_linearizable_within_budget_and_corruption_is_caught)
{
    struct gen_params gp = {42, 10, 1000, 0, 10000, false, true};
    struct lincheck_report r = check_random(&gp, -1);
    CHECK_EQ(r.verdict, LIN);
    CHECK(r.ops_count > 9000);
    struct lincheck_report bad = check_random(&gp, 2500);
    CHECK_EQ(bad.verdict, NOT_LIN);
    /* The failing prefix ends exactly at the corrupted read. */
    const char *culprit = strstr(bad.explanation, "completes:\n");
    CHECK(culprit != NULL);
    CHECK(strncmp(strstr(culprit, "->"), "-> \"never\"", 10) == 0);
}

/* 10 clients spread over 4 keys, recorded interleaved: each key is checked on its own,
 * and a corrupted read is blamed on its key. */
TEST(interleaved_keys_are_separated_and_the_corrupted_key_is_named)
{
    struct gen_params gp = {11, 10, 400, 10000, 10000, false, true, 4};
    struct lincheck_report r = check_random(&gp, -1);
    CHECK_EQ(r.verdict, LIN);
    CHECK_EQ(r.keys_count, 4);
    for (long corrupt = 100; corrupt < 1000; corrupt += 300) {
        struct lincheck_history *h = history_new();
        gen_history(h, &gp, corrupt);
        uint32_t key = UINT32_MAX;
        for (size_t i = 0; i < h->ops_count && key == UINT32_MAX; i++) {
            const struct lincheck_op *o = &h->ops[i];
            bool read = o->kind == LINCHECK_GET || o->kind == LINCHECK_LRANGE;
            if (read && o->outcome == LINCHECK_OK && o->result_kind == LINCHECK_RESULT_BULK &&
                o->result_len == 5 && memcmp(h->bytes.data + o->result_offset, "never", 5) == 0) {
                key = o->key_id;
            }
        }
        struct lincheck_report bad;
        CHECK_EQ(lincheck_check(h, NULL, &bad), 0);
        CHECK_EQ(bad.verdict, NOT_LIN);
        CHECK_EQ(bad.keys_failed_count, 1);
        CHECK_EQ(bad.key_id, key);
        history_delete(h);
    }
}

TEST(verdict_and_step_count_are_deterministic)
{
    struct gen_params gp = {7, 8, 200, 30000, 10000, false};
    struct lincheck_report a = check_random(&gp, 100);
    struct lincheck_report b = check_random(&gp, 100);
    CHECK_EQ(a.verdict, b.verdict);
    CHECK_EQ(a.steps, b.steps);
    CHECK(strcmp(a.explanation, b.explanation) == 0);
}

TEST(search_budget_exhaustion_reports_unknown)
{
    struct lincheck_history *h = history_new();
    struct gen_params gp = {3, 10, 300, 0, 0, false};
    gen_history(h, &gp, 1500);
    struct lincheck_limits tiny = {.steps_max = 1000};
    struct lincheck_report r;
    CHECK_EQ(lincheck_check(h, &tiny, &r), 0);
    CHECK_EQ(r.verdict, LINCHECK_VERDICT_UNKNOWN);
    CHECK_EQ(r.keys_unknown_count, 1);
    CHECK(strstr(r.explanation, "steps") != NULL);
    struct lincheck_limits small_memory = {.memory_bytes_max = 64 * 1024};
    CHECK_EQ(lincheck_check(h, &small_memory, &r), 0);
    CHECK_EQ(r.verdict, LINCHECK_VERDICT_UNKNOWN);
    CHECK(strstr(r.explanation, "memory") != NULL);
    history_delete(h);
}
