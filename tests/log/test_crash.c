/* Crash-point enumeration (STYLE.md rule 19): a scripted run of appends, syncs,
 * truncations, term/vote saves, snapshot saves and compactions is cut by a power failure
 * after every single mutating disk operation and, for writes, at every byte prefix of
 * it; the disk then crashes keeping all, none or a random part of its unsynced state,
 * and the log is recovered and checked:
 *   - the recovered entries agree with a state of the log that existed since the last
 *     durability point (a prefix of what was written, never a mix of old and new);
 *   - everything acknowledged as synced is there (or covered by the snapshot);
 *   - term and vote are the last saved pair or the one being saved, never older;
 *   - the snapshot is the old one or the new one, whole;
 *   - a crash alone is never reported as corruption, and the log accepts writes again.
 * A second enumeration flips every bit position class of every byte of every file of a
 * finished run: corruption must be reported, never silently skipped.
 * The known-wrong variants (CHORUS_MUTANTS) must each fail at least one of these runs. */
#include "log_model.h"

#define SEG_BYTES 160

static const struct step script[] = {
    {S_TERMVOTE, 1, 1, 0}, {S_APPEND, 1, 3, 1},    {S_SYNC, 0, 0, 0},     {S_APPEND, 4, 8, 1},
    {S_SYNC, 0, 0, 0},     {S_TERMVOTE, 2, 2, 0},  {S_APPEND, 9, 11, 2},  {S_TRUNC, 9, 0, 0},
    {S_APPEND, 9, 12, 2},  {S_SYNC, 0, 0, 0},      {S_SNAP, 6, 1, 0},     {S_COMPACT, 6, 0, 0},
    {S_APPEND, 13, 15, 2}, {S_SYNC, 0, 0, 0},      {S_TRUNC, 14, 0, 0},   {S_TERMVOTE, 3, 0, 0},
    {S_APPEND, 14, 16, 3}, {S_SYNC, 0, 0, 0},      {S_SNAP, 14, 3, 0},    {S_COMPACT, 14, 0, 0},
    {S_APPEND, 17, 18, 3}, {S_SNAP, 18, 3, 0},     {S_COMPACT, 18, 0, 0}, {S_APPEND, 19, 20, 3},
    {S_SYNC, 0, 0, 0},     {S_APPEND, 21, 30, 3},  {S_SYNC, 0, 0, 0},     {S_TRUNC, 23, 0, 0},
    {S_APPEND, 23, 24, 4}, {S_SYNC, 0, 0, 0},      {S_APPEND, 25, 26, 4},
};

/* Runs the first steps_count steps of the script, or until the first error (the power
 * cut). */
static void run_script_n(struct log *l, struct model *m, size_t steps_count)
{
    memset(m, 0, sizeof *m);
    window_reset(m);
    for (size_t i = 0; i < ARRAY_COUNT(script) && i < steps_count; i++) {
        if (run_step(l, m, &script[i]) != 0) {
            return;
        }
    }
}

static void run_script(struct log *l, struct model *m) { run_script_n(l, m, SIZE_MAX); }

/* After recovery the log must take writes again and keep them. */
static const char *check_writable(struct disk *d, struct log **lp)
{
    struct log *l = *lp;
    uint64_t next = log_last_index(l) + 1;
    if (append_range(l, next, next, 9) != 0 || log_sync(l, NULL) != 0) {
        return "recovered log refuses writes";
    }
    log_close(l);
    struct log_config cfg = {SEG_BYTES, LOG_MUTANT_NONE};
    struct log_recovery rep;
    *lp = NULL;
    if (log_open(lp, d, &cfg, &rep) != 0 || log_last_index(*lp) != next || !entry_is(*lp, next, 9)) {
        return "entry written after recovery was lost";
    }
    return NULL;
}

struct crash_point {
    uint64_t op;
    size_t keep_bytes;
    enum disk_sim_crash_mode mode;
    uint64_t seed;
};

/* One run: script, power cut, crash, recovery, checks. NULL when everything held. */
static const char *run_crash_point(const struct crash_point *cp, enum log_mutant mutant)
{
    struct tdisk t;
    struct model m;
    struct log *l = NULL;
    struct log_recovery rep;
    struct log_config cfg = {SEG_BYTES, mutant};
    const char *why = NULL;
    tdisk_init(&t, cp->seed, NULL);
    ASSERT(log_open(&l, t.disk, &cfg, &rep) == 0);
    disk_sim_halt_at(t.sim, cp->op, cp->keep_bytes);
    run_script(l, &m);
    log_close(l);
    disk_sim_crash(t.sim, cp->mode);
    cfg.mutant = LOG_MUTANT_NONE; /* recovery of the mutants' files by the real code */
    if (mutant == LOG_MUTANT_MIDLOG_CORRUPTION_AS_END) {
        cfg.mutant = mutant;
    }
    if (log_open(&l, t.disk, &cfg, &rep) != 0) {
        why = "recovery failed";
    } else {
        log_check_invariants(l);
        why = check_recovered(l, &rep, &m);
        why = why != NULL ? why : check_writable(t.disk, &l);
        log_close(l);
    }
    tdisk_free(&t);
    return why;
}

struct op_trace {
    size_t lens[4096];
    enum disk_sim_op ops[4096];
    uint64_t count;
};

static void trace_op(void *arg, uint64_t op_no, enum disk_sim_op op, size_t len)
{
    struct op_trace *tr = arg;
    if (op_no <= ARRAY_COUNT(tr->lens)) {
        tr->lens[op_no - 1] = len;
        tr->ops[op_no - 1] = op;
        tr->count = op_no;
    }
}

static void trace_script(struct op_trace *tr)
{
    struct tdisk t;
    struct model m;
    struct log *l = NULL;
    struct log_recovery rep;
    struct log_config cfg = {SEG_BYTES, LOG_MUTANT_NONE};
    memset(tr, 0, sizeof *tr);
    tdisk_init(&t, 1, NULL);
    ASSERT(log_open(&l, t.disk, &cfg, &rep) == 0);
    disk_sim_set_observer(t.sim, trace_op, tr);
    run_script(l, &m);
    ASSERT(m.cur.last == 26);
    log_close(l);
    tdisk_free(&t);
}

/* Enumerates every crash point; returns the number of failing runs (printing the first
 * few when verbose). */
static size_t enumerate(enum log_mutant mutant, bool verbose, size_t *runs_out)
{
    static struct op_trace tr;
    trace_script(&tr);
    size_t failures = 0, runs = 0;
    const enum disk_sim_crash_mode modes[] = {DISK_SIM_CRASH_KEEP_ALL, DISK_SIM_CRASH_LOSE_UNSYNCED,
                                              DISK_SIM_CRASH_RANDOM};
    for (uint64_t op = 1; op <= tr.count; op++) {
        size_t keeps = tr.ops[op - 1] == DISK_SIM_OP_WRITE ? tr.lens[op - 1] : 1;
        for (size_t keep = 0; keep <= keeps; keep++) {
            for (size_t mi = 0; mi < ARRAY_COUNT(modes); mi++) {
                struct crash_point cp = {op, keep, modes[mi], op * 100003 + keep * 7 + mi};
                const char *why = run_crash_point(&cp, mutant);
                runs++;
                if (why != NULL && verbose && failures < 5) {
                    printf("    crash at op %" PRIu64 " keeping %zu bytes, mode %d: %s\n", op, keep,
                           (int)modes[mi], why);
                }
                failures += why != NULL;
            }
        }
    }
    if (runs_out != NULL) {
        *runs_out = runs;
    }
    return failures;
}

TEST(every_crash_point_recovers_a_prefix_with_everything_synced)
{
    size_t runs = 0;
    size_t failures = enumerate(LOG_MUTANT_NONE, true, &runs);
    printf("    %zu crash points checked\n", runs);
    CHECK(runs > 1000);
    CHECK_EQ(failures, 0);
}

struct names {
    char v[32][DISK_NAME_SIZE_MAX];
    size_t count;
};

static int collect(void *arg, const char *name)
{
    struct names *n = arg;
    if (n->count < ARRAY_COUNT(n->v)) {
        snprintf(n->v[n->count++], DISK_NAME_SIZE_MAX, "%s", name);
    }
    return 0;
}

/* Runs the whole script, crashes losing unsynced data, flips one bit of file
 * `file_no` at byte `byte` and recovers. *skip is set when there is no such byte. */
static const char *run_flip(size_t steps_count, size_t file_no, uint64_t byte, enum log_mutant mutant,
                            bool *skip)
{
    struct tdisk t;
    struct model m;
    struct log *l = NULL;
    struct log_recovery rep;
    struct log_config cfg = {SEG_BYTES, LOG_MUTANT_NONE};
    struct names names = {.count = 0};
    const char *why = NULL;
    tdisk_init(&t, 5, NULL);
    ASSERT(log_open(&l, t.disk, &cfg, &rep) == 0);
    run_script_n(l, &m, steps_count);
    log_close(l);
    disk_sim_crash(t.sim, DISK_SIM_CRASH_LOSE_UNSYNCED);
    ASSERT(t.disk->list(t.disk->ctx, collect, &names) == 0);
    *skip = file_no >= names.count || disk_sim_flip_bit(t.sim, names.v[file_no], byte * 8 + byte % 8) != 0;
    if (*skip) {
        tdisk_free(&t);
        return NULL;
    }
    cfg.mutant = mutant;
    if (log_open(&l, t.disk, &cfg, &rep) != 0) {
        tdisk_free(&t);
        return "recovery failed on a flipped bit";
    }
    log_check_invariants(l);
    bool matched = false;
    for (size_t i = 0; i < m.window_count && !matched; i++) {
        matched = entries_match(l, &m.window[i]);
    }
    bool tv_ok = rep.term == m.tv[0] && rep.vote == m.tv[1];
    if (!rep.corrupt && !rep.meta_corrupt && !rep.snapshot_corrupt) {
        why = "a flipped bit went unreported";
    } else if (!matched) {
        why = "recovered entries include damaged data";
    } else if (!rep.meta_corrupt && !tv_ok) {
        why = "damaged term/vote believed";
    } else if (!rep.snapshot_corrupt && check_snapshot(l, &rep, &m) != NULL) {
        why = "damaged snapshot believed";
    } else if (!rep.corrupt && MAX(log_last_index(l), rep.snapshot_index) < m.durable) {
        why = "synced entries dropped without a corruption report";
    } else if (rep.corrupt && rep.corrupt_from_index != log_last_index(l) + 1) {
        why = "corruption reported at the wrong index";
    }
    log_close(l);
    tdisk_free(&t);
    return why;
}

/* Flips a bit in every byte of every file left by the first steps_count steps. */
static void flip_every_byte(size_t steps_count, enum log_mutant mutant, bool verbose,
                            size_t *failures, size_t *runs)
{
    for (size_t file_no = 0; file_no < 32; file_no++) {
        for (uint64_t byte = 0;; byte++) {
            bool skip = false;
            const char *why = run_flip(steps_count, file_no, byte, mutant, &skip);
            if (skip) {
                break;
            }
            (*runs)++;
            if (why != NULL && verbose && *failures < 5) {
                printf("    flip in file %zu byte %" PRIu64 ": %s\n", file_no, byte, why);
            }
            *failures += why != NULL;
        }
    }
}

static size_t enumerate_flips(enum log_mutant mutant, bool verbose, size_t *runs_out)
{
    /* After step 10 the log spans several segments; after the last, one after a compaction. */
    size_t failures = 0, runs = 0;
    flip_every_byte(10, mutant, verbose, &failures, &runs);
    flip_every_byte(SIZE_MAX, mutant, verbose, &failures, &runs);
    *runs_out = runs;
    return failures;
}

TEST(every_flipped_bit_is_reported_and_never_skipped)
{
    size_t runs = 0;
    size_t failures = enumerate_flips(LOG_MUTANT_NONE, true, &runs);
    printf("    %zu flipped bytes checked\n", runs);
    CHECK(runs > 500);
    CHECK_EQ(failures, 0);
}

#ifdef CHORUS_MUTANTS
static void expect_caught(const char *name, size_t failures, size_t runs)
{
    printf("    mutant %s fails %zu of %zu runs\n", name, failures, runs);
    CHECK(failures > 0);
}

TEST(crash_enumeration_catches_ack_before_fsync)
{
    size_t runs = 0;
    size_t failures = enumerate(LOG_MUTANT_ACK_BEFORE_FSYNC, false, &runs);
    expect_caught("ACK_BEFORE_FSYNC", failures, runs);
}

TEST(crash_enumeration_catches_skipped_directory_fsync_of_new_segment)
{
    size_t runs = 0;
    size_t failures = enumerate(LOG_MUTANT_SKIP_DIR_FSYNC, false, &runs);
    expect_caught("SKIP_DIR_FSYNC", failures, runs);
}

TEST(flip_enumeration_catches_midlog_corruption_taken_as_end)
{
    size_t runs = 0;
    size_t failures = enumerate_flips(LOG_MUTANT_MIDLOG_CORRUPTION_AS_END, false, &runs);
    expect_caught("MIDLOG_CORRUPTION_AS_END", failures, runs);
}
#endif
