/* log-bench: throughput of the durable log on real files, next to the raw fdatasync
 * rate of the same disk, measured by the same program in the same run.
 *
 * In a fresh directory under /tmp (or the one given with -d), for DURATION seconds each:
 *   1. raw: append 100 bytes to a file and fdatasync it, in a loop (one writer); then
 *      the same overwriting zeros written beforehand (the WAL's zero-filled room);
 *   2. log with P proposer threads (P = 1 and 64): each proposer hands one 100-byte
 *      entry to a single writer thread and waits until it is durable, then proposes the
 *      next; the writer takes every entry queued so far, appends them with one
 *      log_append and makes them durable with one log_sync (group commit);
 *   3. raw with three writers at once, each on its own file, appending and in written
 *      room: what three cluster members sharing one disk (a local cluster,
 *      bench/compare.sh) get from it together;
 *   4. raw again, since a shared disk's speed drifts during the run.
 * Reported: durable appends per second, fdatasyncs (log_sync calls) per second, entries
 * per sync, and the commit latency seen by proposers (p50, p99).
 * Usage: log-bench [-t seconds] [-d dir] */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/errors.h"
#include "io/disk_posix.h"
#include "log/log.h"

#define ENTRY_BYTES 100
#define PROPOSERS_MAX 64
#define LATENCIES_MAX (1u << 22)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes written ahead (zeros, synced) for a raw loop that overwrites, as the WAL does in
 * its zero-filled room; the loop wraps around inside them. */
#define RAW_ROOM_BYTES (8u << 20)

/* fdatasync/s of a loop of 100-byte pwrites, each followed by fdatasync, on its own file
 * (raw<writer>): appending (the file grows at every write) or, with in_room, overwriting
 * zeros written beforehand, so no write changes the file's size. */
static double raw_fdatasync_per_s(const char *dir, int writer, bool in_room, double seconds)
{
    char path[512];
    uint8_t data[ENTRY_BYTES];
    memset(data, 'r', sizeof data);
    snprintf(path, sizeof path, "%s/raw%d", dir, writer);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        exit(1);
    }
    if (in_room) {
        static const uint8_t zeros[64 * 1024];
        for (size_t off = 0; off < RAW_ROOM_BYTES; off += sizeof zeros) {
            if (pwrite(fd, zeros, sizeof zeros, (off_t)off) != (ssize_t)sizeof zeros) {
                perror("raw room");
                exit(1);
            }
        }
        if (fsync(fd) != 0) {
            perror("raw room");
            exit(1);
        }
    }
    uint64_t n = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < seconds) {
        uint64_t off = n * sizeof data;
        if (in_room) {
            off %= RAW_ROOM_BYTES - RAW_ROOM_BYTES % sizeof data;
        }
        if (pwrite(fd, data, sizeof data, (off_t)off) != (ssize_t)sizeof data ||
            fdatasync(fd) != 0) {
            perror("raw write");
            exit(1);
        }
        n++;
        t = now_s();
    }
    close(fd);
    unlink(path);
    return (double)n / (t - t0);
}

#define RAW_WRITERS 3

struct raw_writer {
    pthread_t thread;
    const char *dir;
    int id;
    bool in_room;
    double seconds;
    double rate; /* fdatasync/s of this writer */
};

static void *raw_writer_main(void *arg)
{
    struct raw_writer *w = arg;
    w->rate = raw_fdatasync_per_s(w->dir, w->id, w->in_room, w->seconds);
    return NULL;
}

/* RAW_WRITERS raw loops at once; prints their sum and the slowest and fastest one. */
static void raw_concurrent(const char *dir, bool in_room, double seconds)
{
    struct raw_writer w[RAW_WRITERS];
    for (int i = 0; i < RAW_WRITERS; i++) {
        w[i] = (struct raw_writer){.dir = dir, .id = i, .in_room = in_room, .seconds = seconds};
        if (pthread_create(&w[i].thread, NULL, raw_writer_main, &w[i]) != 0) {
            perror("pthread_create");
            exit(1);
        }
    }
    double sum = 0, lo = 0, hi = 0;
    for (int i = 0; i < RAW_WRITERS; i++) {
        pthread_join(w[i].thread, NULL);
        sum += w[i].rate;
        lo = i == 0 || w[i].rate < lo ? w[i].rate : lo;
        hi = w[i].rate > hi ? w[i].rate : hi;
    }
    char label[64];
    snprintf(label, sizeof label, "raw, %d at once, %s", RAW_WRITERS, in_room ? "in room" : "growing");
    printf("%-28s %12.0f fdatasync/s in all (%.0f to %.0f each)\n", label, sum, lo, hi);
}

struct group {
    pthread_mutex_t mu;
    pthread_cond_t writer_cv;
    pthread_cond_t done_cv;
    uint8_t queued[PROPOSERS_MAX][ENTRY_BYTES];
    size_t queued_count;
    uint64_t next_index;   /* assigned at enqueue, so the queue is contiguous */
    uint64_t durable_index;
    int proposers_active;
    bool stop;
    struct log *log;
    uint64_t syncs;
    double *latencies_s; /* one per durable proposal, up to LATENCIES_MAX */
    size_t latency_count;
};

static void *proposer_main(void *arg)
{
    struct group *g = arg;
    uint8_t entry[ENTRY_BYTES];
    memset(entry, 'p', sizeof entry);
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        uint64_t index = g->next_index++;
        memcpy(g->queued[g->queued_count++], entry, sizeof entry);
        pthread_cond_signal(&g->writer_cv);
        double t0 = now_s();
        while (g->durable_index < index) {
            pthread_cond_wait(&g->done_cv, &g->mu);
        }
        if (g->latency_count < LATENCIES_MAX) {
            g->latencies_s[g->latency_count++] = now_s() - t0;
        }
    }
    g->proposers_active--;
    pthread_cond_signal(&g->writer_cv);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static void *writer_main(void *arg)
{
    struct group *g = arg;
    static uint8_t batch[PROPOSERS_MAX][ENTRY_BYTES];
    struct log_record recs[PROPOSERS_MAX];
    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (g->queued_count == 0 && g->proposers_active > 0) {
            pthread_cond_wait(&g->writer_cv, &g->mu);
        }
        if (g->queued_count == 0) {
            break;
        }
        size_t n = g->queued_count;
        uint64_t first = g->next_index - n;
        memcpy(batch, g->queued, n * ENTRY_BYTES);
        g->queued_count = 0;
        pthread_mutex_unlock(&g->mu);
        for (size_t i = 0; i < n; i++) {
            recs[i] = (struct log_record){1, first + i, 1, batch[i], ENTRY_BYTES};
        }
        uint64_t durable = 0;
        int rc = log_append(g->log, recs, n);
        rc = rc != 0 ? rc : log_sync(g->log, &durable);
        if (rc != 0) {
            fprintf(stderr, "log-bench: %s\n", err_str(rc));
            exit(1);
        }
        pthread_mutex_lock(&g->mu);
        g->syncs++;
        g->durable_index = durable;
        pthread_cond_broadcast(&g->done_cv);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

struct result {
    double appends_per_s;
    double syncs_per_s;
    double p50_ms;
    double p99_ms;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static double percentile_ms(double *v, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    size_t i = (size_t)(p * (double)(n - 1));
    return 1000.0 * v[i];
}

static struct result run_log(const char *dir, int proposers, double seconds)
{
    char sub[512];
    snprintf(sub, sizeof sub, "%s/log-p%d", dir, proposers);
    struct disk d;
    struct log_config cfg = {0, LOG_MUTANT_NONE};
    struct log_recovery rep;
    struct group g = {.next_index = 1, .proposers_active = proposers};
    g.latencies_s = malloc(LATENCIES_MAX * sizeof *g.latencies_s);
    if (g.latencies_s == NULL) {
        fprintf(stderr, "log-bench: out of memory\n");
        exit(1);
    }
    if (disk_posix_open(&d, sub) != 0 || log_open(&g.log, &d, &cfg, &rep) != 0) {
        fprintf(stderr, "log-bench: cannot open the log in %s\n", sub);
        exit(1);
    }
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.writer_cv, NULL);
    pthread_cond_init(&g.done_cv, NULL);
    pthread_t writer, threads[PROPOSERS_MAX];
    double t0 = now_s();
    pthread_create(&writer, NULL, writer_main, &g);
    for (int i = 0; i < proposers; i++) {
        pthread_create(&threads[i], NULL, proposer_main, &g);
    }
    struct timespec pause = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&pause, NULL);
    pthread_mutex_lock(&g.mu);
    g.stop = true;
    pthread_mutex_unlock(&g.mu);
    for (int i = 0; i < proposers; i++) {
        pthread_join(threads[i], NULL);
    }
    pthread_join(writer, NULL);
    double elapsed = now_s() - t0;
    qsort(g.latencies_s, g.latency_count, sizeof *g.latencies_s, cmp_double);
    struct result r = {(double)g.durable_index / elapsed, (double)g.syncs / elapsed,
                       percentile_ms(g.latencies_s, g.latency_count, 0.50),
                       percentile_ms(g.latencies_s, g.latency_count, 0.99)};
    free(g.latencies_s);
    log_close(g.log);
    disk_posix_close(&d);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sub);
    if (system(cmd) != 0) {
        fprintf(stderr, "log-bench: could not remove %s\n", sub);
    }
    return r;
}

int main(int argc, char **argv)
{
    double seconds = 3.0;
    char dir[512] = "/tmp/chorus-log-bench-XXXXXX";
    bool own_dir = true;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-t") == 0) {
            seconds = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "-d") == 0) {
            snprintf(dir, sizeof dir, "%s", argv[i + 1]);
            own_dir = false;
        }
    }
    if (own_dir && mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    printf("log-bench: %s, %.1f s per run, %d-byte entries\n", dir, seconds, ENTRY_BYTES);
    double raw = raw_fdatasync_per_s(dir, 0, false, seconds);
    printf("%-28s %12.0f fdatasync/s\n", "raw pwrite+fdatasync", raw);
    printf("%-28s %12.0f fdatasync/s\n", "raw, in written room",
           raw_fdatasync_per_s(dir, 0, true, seconds));
    const int proposer_counts[] = {1, 64};
    for (size_t i = 0; i < 2; i++) {
        struct result r = run_log(dir, proposer_counts[i], seconds);
        printf("log, %2d proposer%s           %12.0f appends/s %10.0f fsyncs/s %7.1f entries/sync "
               "commit p50 %.2f ms p99 %.2f ms\n",
               proposer_counts[i], proposer_counts[i] == 1 ? " " : "s", r.appends_per_s,
               r.syncs_per_s, r.appends_per_s / (r.syncs_per_s > 0 ? r.syncs_per_s : 1), r.p50_ms,
               r.p99_ms);
    }
    raw_concurrent(dir, false, seconds);
    raw_concurrent(dir, true, seconds);
    /* The disk is shared and its speed drifts: measure the raw rate again afterwards. */
    printf("%-28s %12.0f fdatasync/s\n", "raw pwrite+fdatasync again",
           raw_fdatasync_per_s(dir, 0, false, seconds));
    if (own_dir) {
        rmdir(dir);
    }
    return 0;
}
