/* libFuzzer target: arbitrary bytes as the log's files (segments, metadata, snapshot)
 * on the simulated disk, through log_open, entry reads, snapshot loading, repair of any
 * reported corruption and one more append. Nothing may crash, hang, leak or trip a
 * sanitizer, and once repaired the log must reopen clean.
 *
 * Input: chunks of [kind u8][arg u8][length u16 LE][length bytes]; kind % 3 selects
 * "meta", "snapshot" or the segment "log-<arg + 1>". Seeds in
 * fuzz/corpus/fuzz_log_recovery/ are dumps of real runs. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/assertions.h"
#include "base/buf.h"
#include "log/format.h"
#include "log/log.h"
#include "sim/disk_sim.h"

static void put_files(struct disk_sim *s, const uint8_t *data, size_t size)
{
    size_t o = 0;
    while (o + 4 <= size) {
        uint8_t kind = data[o], arg = data[o + 1];
        size_t len = le_load_u16(data + o + 2);
        o += 4;
        len = len <= size - o ? len : size - o;
        char name[LOG_SEGMENT_NAME_SIZE];
        if (kind % 3 == 0) {
            snprintf(name, sizeof name, "%s", LOG_META_NAME);
        } else if (kind % 3 == 1) {
            snprintf(name, sizeof name, "%s", LOG_SNAPSHOT_NAME);
        } else {
            log_fmt_segment_name(name, (uint64_t)arg + 1);
        }
        ASSERT(disk_sim_put_file(s, name, data + o, len) == 0);
        o += len;
    }
}

static void exercise(struct log *l)
{
    struct buf b;
    struct log_record rec;
    struct log_snapshot snap;
    buf_init(&b, 0);
    log_check_invariants(l);
    for (uint64_t i = log_first_index(l); i <= log_last_index(l); i++) {
        ASSERT(log_read(l, i, &rec, &b) == 0);
        ASSERT(rec.index == i && rec.term == log_term_at(l, i));
    }
    buf_free(&b);
    if (log_snapshot_load(l, &snap) == 0) {
        ASSERT(snap.meta.index == log_snapshot_meta(l).index);
        log_snapshot_free(&snap);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct prng prng;
    struct disk_sim_config dcfg = {0};
    struct log_config cfg = {4096, LOG_MUTANT_NONE};
    struct log_recovery rep;
    struct log *l = NULL;
    prng_seed(&prng, 1);
    struct disk_sim *s = disk_sim_create(&prng, &dcfg);
    ASSERT(s != NULL);
    put_files(s, data, size);
    if (log_open(&l, disk_sim_disk(s), &cfg, &rep) == 0) {
        exercise(l);
        uint64_t from = 0;
        bool repaired = !log_damaged(l, &from) || log_truncate_suffix(l, from) == 0;
        uint64_t next = log_last_index(l) + 1;
        const uint8_t payload[] = {1, 2, 3};
        struct log_record r = {7, next, 1, payload, sizeof payload};
        bool appended = repaired && log_append(l, &r, 1) == 0 && log_sync(l, NULL) == 0;
        log_close(l);
        if (appended) {
            ASSERT(log_open(&l, disk_sim_disk(s), &cfg, &rep) == 0);
            ASSERT(!rep.corrupt && !rep.torn_tail && log_last_index(l) == next);
            exercise(l);
            log_close(l);
        }
    }
    disk_sim_destroy(s);
    return 0;
}
