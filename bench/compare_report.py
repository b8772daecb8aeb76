"""compare_report.py: turns the raw outputs of one bench/compare.sh run into
docs/benchmarks.md (machine, versions, commands, medians, ratios, failures),
docs/benchmarks.tsv (every measurement of every repetition) and docs/benchmarks.png.

It owns the parsing of the three load generators' outputs (redis-benchmark --csv,
etcd-load's JSON line, chorus-bench's JSON object) and the arithmetic: medians over the
repetitions, and each ratio computed within one repetition (both systems measured minutes
apart under the same machine load) before the median of those ratios is taken.

Usage: compare_report.py --work DIR --out DIR   (DIR as left by compare.sh)
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys

SYSTEMS = ["chorus", "chorus-follower", "redis-always", "redis-everysec", "etcd"]
SYSTEM_TITLES = {
    "chorus": "Chorus 3 nodes (leader)",
    "chorus-follower": "Chorus 3 nodes (via follower)",
    "redis-always": "Redis appendfsync always",
    "redis-everysec": "Redis appendfsync everysec",
    "etcd": "etcd 3 members",
}
# Tests in table order: (operation, clients, pipeline).
TESTS = [("SET", 1, 1), ("GET", 1, 1), ("SET", 50, 1), ("GET", 50, 1),
         ("SET", 50, 16), ("GET", 50, 16), ("MIXED", 50, 1)]
# The targets: (label, test, metric, numerator, denominator, comparison, bound).
# Throughput ratios are "higher is better", p50 ratios "lower is better".
RATIOS = [
    ("SET 50 clients, throughput, Chorus / etcd", ("SET", 50, 1), "rps", "chorus", "etcd", ">=", 5.0),
    ("SET 50 clients, throughput, Chorus / Redis always", ("SET", 50, 1), "rps", "chorus", "redis-always", ">=", 0.8),
    ("SET 1 client, p50 latency, Chorus / Redis always", ("SET", 1, 1), "p50_ms", "chorus", "redis-always", "<=", 2.0),
    ("SET 1 client, p50 latency, Chorus / etcd", ("SET", 1, 1), "p50_ms", "chorus", "etcd", "<=", 0.5),
    ("GET 50 clients, throughput, Chorus / etcd", ("GET", 50, 1), "rps", "chorus", "etcd", ">=", 5.0),
    ("GET 50 clients, throughput, Chorus / Redis always", ("GET", 50, 1), "rps", "chorus", "redis-always", ">=", 0.8),
    ("SET 50 clients -P 16, throughput, Chorus / Redis always", ("SET", 50, 16), "rps", "chorus", "redis-always", ">=", 0.5),
    ("GET 1 client, p50 latency, Chorus / Redis always", ("GET", 1, 1), "p50_ms", "chorus", "redis-always", None, None),
    ("Mixed 90/10 zipfian, throughput, Chorus / Redis always", ("MIXED", 50, 1), "rps", "chorus", "redis-always", None, None),
    ("SET 50 clients, throughput, Chorus via follower / leader", ("SET", 50, 1), "rps", "chorus-follower", "chorus", None, None),
]


def read_meta(path):
    """key=value lines; a key may repeat (missing=, leader_change=, server_log_*=)."""
    meta = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            meta.setdefault(key, []).append(value)
    return meta


def parse_redis_benchmark(text):
    """redis-benchmark --csv: a header row, then one row per test (SET, GET)."""
    rows = list(csv.DictReader(text.splitlines()))
    return [(r["test"], float(r["rps"]), float(r["p50_latency_ms"]), float(r["p99_latency_ms"]), 0)
            for r in rows]


def parse_etcd_load(text):
    r = json.loads(text.strip().splitlines()[-1])
    op = {"put": "SET", "get": "GET"}[r["op"]]
    return [(op, r["throughput_rps"], r["p50_ms"], r["p99_ms"], r["errors"])]


def parse_chorus_bench(text):
    r = json.loads(text)
    lat = r["latency_us"]["all"]
    return [("MIXED", r["throughput_rps"], lat["p50"] / 1000, lat["p99"] / 1000, r["errors"])]


PARSERS = {"redis-benchmark": parse_redis_benchmark, "etcd-load-put": parse_etcd_load,
           "etcd-load-get": parse_etcd_load, "chorus-bench": parse_chorus_bench}


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def as_published(command, work):
    """A command as the doc shows it: the temporary directory as $TMP, paths in the
    checkout relative to it, so the doc does not change with where it was run."""
    return command.replace(work, "$TMP").replace(ROOT + "/", "")


def read_runs(work):
    """Every run in index.tsv: (measurements, failures, commands of the first repetition)."""
    measurements, failures, commands = [], [], []
    with open(os.path.join(work, "index.tsv")) as f:
        for line in f:
            rep, system, tool, clients, pipeline, status, raw, command = line.rstrip("\n").split("\t")
            if rep == "1":
                commands.append("%s   # %s" % (as_published(command, work), system))
            parsed = []
            if status == "ok":
                try:
                    with open(raw) as r:
                        parsed = PARSERS[tool](r.read())
                except (OSError, ValueError, KeyError, IndexError) as e:
                    status = "unparsable output (%s)" % e
            if status != "ok" or not parsed:
                err = ""
                if os.path.exists(raw[:-4] + ".err"):
                    with open(raw[:-4] + ".err") as r:
                        err = " ".join(r.read().split())[:300]
                failures.append((rep, system, as_published(command, work), status, err))
                continue
            for op, rps, p50, p99, errors in parsed:
                measurements.append({"rep": int(rep), "system": system, "op": op,
                                     "clients": int(clients), "pipeline": int(pipeline),
                                     "rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors})
    return measurements, failures, commands


def read_chorus_metrics(work):
    """Each node's /metrics at the end of the run: {node name: {metric: value}}.
    Labels are kept in the name (chorus_raft_role{role="leader"})."""
    nodes = {}
    for i in (1, 2, 3):
        path = os.path.join(work, "chorus-n%d.metrics" % i)
        if not os.path.exists(path):
            continue
        metrics = {}
        with open(path) as f:
            for line in f:
                name, _, value = line.strip().rpartition(" ")
                if name and not name.startswith("#"):
                    try:
                        metrics[name] = float(value)
                    except ValueError:
                        pass
        nodes["n%d" % i] = metrics
    return nodes


def chorus_metrics_rows(nodes):
    """One row per node: what its disk and links did over the whole run."""
    rows = []
    for name, m in sorted(nodes.items()):
        role = next((k.split('"')[1] for k in m if k.startswith("chorus_raft_role{")), "?")
        fsyncs = m.get("chorus_fsync_total", 0)
        proposals = m.get("chorus_proposals_total", 0)
        rows.append((name, role, "%.0f" % proposals, "%.0f" % fsyncs,
                     "%.2f" % (1000 * m.get("chorus_fsync_seconds_total", 0) / fsyncs) if fsyncs else "—",
                     "%.1f" % (1000 * m.get("chorus_fsync_seconds_max", 0)),
                     "%.1f" % (proposals / fsyncs) if fsyncs and proposals else "—",
                     "%.0f" % m.get("chorus_link_retransmissions_total", 0),
                     "%.0f" % (m.get("chorus_request_timeouts_total", 0) + m.get("chorus_proposals_failed_total", 0))))
    return rows


def values(measurements, system, test, metric, rep=None):
    op, clients, pipeline = test
    return [m[metric] for m in measurements
            if m["system"] == system and m["op"] == op and m["clients"] == clients
            and m["pipeline"] == pipeline and (rep is None or m["rep"] == rep)]


def median(xs):
    return statistics.median(xs) if xs else None


def test_label(test):
    op, clients, pipeline = test
    if op == "MIXED":
        return "90%% GET / 10%% SET zipfian, %d conns" % clients
    label = "%s, %d client%s" % (op, clients, "" if clients == 1 else "s")
    return label + (", -P %d" % pipeline if pipeline > 1 else "")


def fmt_rps(x):
    return "—" if x is None else "{:,.0f}".format(x)


def fmt_ms(x):
    return "—" if x is None else ("%.2f" % x if x < 10 else "%.1f" % x)


def ratio_rows(measurements, reps):
    rows = []
    for label, test, metric, num, den, cmp, bound in RATIOS:
        per_rep = []
        for rep in range(1, reps + 1):
            n, d = values(measurements, num, test, metric, rep), values(measurements, den, test, metric, rep)
            if n and d and d[0] > 0:
                per_rep.append(n[0] / d[0])
        m = median(per_rep)
        if m is None:
            verdict = "not measured"
        elif cmp is None:
            verdict = "(no target)"
        elif (m >= bound) if cmp == ">=" else (m <= bound):
            verdict = "met"
        else:
            verdict = "**not met**"
        target = "" if cmp is None else "%s %.1f" % ("≥" if cmp == ">=" else "≤", bound)
        spread = "" if not per_rep else "%.2f–%.2f" % (min(per_rep), max(per_rep))
        rows.append((label, "—" if m is None else "%.2f" % m, spread, target, verdict))
    return rows


def systems_present(measurements):
    return [s for s in SYSTEMS if any(m["system"] == s for m in measurements)]


def write_chart(measurements, systems, work, out_png):
    """A clustered bar chart, log scale: median throughput per test, one bar per system."""
    data = os.path.join(work, "chart.dat")
    with open(data, "w") as f:
        f.write("test " + " ".join('"%s"' % SYSTEM_TITLES[s] for s in systems) + "\n")
        for test in TESTS:
            row = [median(values(measurements, s, test, "rps")) for s in systems]
            if all(v is None for v in row):
                continue
            label = test_label(test).replace("zipfian, ", "zipf\\n").replace(", ", "\\n", 1)
            f.write('"%s" ' % label + " ".join("-" if v is None else "%.0f" % v for v in row) + "\n")
    script = os.path.join(work, "chart.gp")
    with open(script, "w") as f:
        f.write("""set terminal pngcairo size 1400,700 font 'sans,11'
set output '%s'
set title 'Throughput, median of the repetitions (higher is better; log scale)'
set ylabel 'operations per second'
set format y '%%.0s%%c'
set logscale y
set yrange [100:*]
set grid ytics mytics
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set datafile missing '-'
set key outside top center horizontal
set bmargin 5
set xtics nomirror
plot for [i=2:%d] '%s' using i:xtic(1) title columnheader(i)
""" % (out_png, len(systems) + 1, data))
    try:
        subprocess.run(["gnuplot", script], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("compare_report: gnuplot failed: %s" % getattr(e, "stderr", e), file=sys.stderr)
        return False
    return True


def write_tsv(measurements, path):
    with open(path, "w") as f:
        f.write("rep\tsystem\top\tclients\tpipeline\tops_per_s\tp50_ms\tp99_ms\terrors\n")
        for m in measurements:
            f.write("%d\t%s\t%s\t%d\t%d\t%.0f\t%.3f\t%.3f\t%d\n" % (
                m["rep"], m["system"], m["op"], m["clients"], m["pipeline"], m["rps"],
                m["p50_ms"], m["p99_ms"], m["errors"]))


def table_by_test(w, systems, cell):
    """A Markdown table, one row per test, one column per system; cell(system, test) -> str.
    Tests no system ran are left out."""
    w("| test | " + " | ".join(SYSTEM_TITLES[s] for s in systems) + " |")
    w("|---|" + "---:|" * len(systems))
    for test in TESTS:
        cells = [cell(s, test) for s in systems]
        if any(c != "—" for c in cells):
            w("| %s | %s |" % (test_label(test), " | ".join(cells)))


def two_column_table(w, header, rows):
    w("| %s | %s |" % header)
    w("|---|---|")
    for row in rows:
        w("| %s | %s |" % row)


def one(meta, key, default="?"):
    return meta.get(key, [default])[0] or default


def write_markdown(work, meta, measurements, failures, commands, log_bench, chart_ok, path):
    reps = int(one(meta, "reps", "3"))
    systems = systems_present(measurements)
    out = []
    w = out.append
    w("# Benchmarks: Chorus beside Redis and etcd")
    w("")
    w("Generated by `bench/compare.sh`%s on %s; do not edit by hand, run it again."
      % (" (COMPARE_QUICK=1, a smoke run)" if one(meta, "quick") == "1" else "", one(meta, "date")))
    w("Every system ran on this one machine over loopback, in temporary directories, with the")
    w("same load, the systems taking turns group by group (the order rotating each repetition);")
    w("%d repetitions, medians shown. **The machine is shared with other engineers' builds, so" % reps)
    w("absolute numbers are noisy; compare systems by the ratios, each taken within one")
    w("repetition.** Every measurement of every repetition is in [benchmarks.tsv](benchmarks.tsv).")
    w("")
    w("## Machine")
    w("")
    two_column_table(w, ("", ""), [
        ("CPU", "%s, %s cores" % (one(meta, "cpu"), one(meta, "cores"))),
        ("memory", one(meta, "memory")),
        ("kernel", one(meta, "kernel")),
        ("file system", one(meta, "filesystem")),
        ("load average (1, 5, 15 min)", "%s at start, %s at end" % (one(meta, "loadavg_start"), one(meta, "loadavg_end"))),
        ("run duration", "%s s" % one(meta, "duration_s")),
    ])
    w("")
    w("The disk, measured by `build/log-bench -t 2` at the start of the same run (raw: 100-byte")
    w("pwrite + fdatasync in a loop on a growing file, or in zeros written beforehand; \"3 at")
    w("once\": three such loops together, as the three Chorus members share this disk; log:")
    w("Chorus's WAL with 1 and 64 proposers, group commit). With one proposer every append has")
    w("its own fdatasync, so its commit p50 is the disk's fdatasync p50 inside the WAL's")
    w("zero-filled room, which need not write a new file size (docs/log.md):")
    w("")
    w("```")
    w(log_bench.strip() or "log-bench produced no output")
    w("```")
    w("")
    w("## Versions")
    w("")
    two_column_table(w, ("system", "version"), [
        ("Chorus", "commit %s, `build/chorus-server` (make build: Release with debug info)" % one(meta, "chorus_version")),
        ("Redis", "%s (Debian redis-server), redis-benchmark %s" % (one(meta, "redis_version"), one(meta, "redis_benchmark_version"))),
        ("etcd", "%s (Debian etcd-server), load from `bench/etcd-load` built with %s" % (one(meta, "etcd_version"), one(meta, "go_version"))),
        ("chart", one(meta, "gnuplot_version")),
    ])
    w("")
    w("## Setup")
    w("")
    w("- **Chorus**: three `chorus-server` nodes, `--fsync always` (the leader and each")
    w("  follower fdatasync an entry before acknowledging it); linearizable reads (ReadIndex).")
    w("  Load goes to the leader; one row goes through a follower, which forwards to the leader.")
    w("- **Redis always / everysec**: one `redis-server`, `appendonly yes`, `appendfsync always`")
    w("  (one fdatasync per event-loop iteration before replying) or `everysec`; no replicas.")
    w("- **etcd**: three members; load to the leader's client URL. `bench/etcd-load` does what")
    w("  redis-benchmark does: PUT, or linearizable GET (clientv3's default), of 100-byte values")
    w("  on keys drawn uniformly from 100,000; each client one request at a time, clients sharing")
    w("  min(clients, 10) gRPC connections. etcd has no analogue of `-P 16`, and chorus-bench")
    w("  speaks RESP only, so those cells are empty.")
    w("- Requests per run: %s at 1 client, %s at 50 clients, %s pipelined; the mixed load runs %s s."
      % (one(meta, "requests_1c"), one(meta, "requests_50c"), one(meta, "requests_pipelined"), one(meta, "mixed_s")))
    w("")
    w("## Throughput (operations per second, median)")
    w("")
    table_by_test(w, systems, lambda s, test: fmt_rps(median(values(measurements, s, test, "rps"))))
    w("")
    w("## Latency (milliseconds, p50 / p99, medians)")
    w("")
    def latency_cell(system, test):
        p50 = median(values(measurements, system, test, "p50_ms"))
        p99 = median(values(measurements, system, test, "p99_ms"))
        return "—" if p50 is None else "%s / %s" % (fmt_ms(p50), fmt_ms(p99))
    table_by_test(w, systems, latency_cell)
    w("")
    if chart_ok:
        w("![Throughput by system and test](benchmarks.png)")
        w("")
    w("## Ratios (issue 8's targets)")
    w("")
    w("Each ratio is computed within one repetition, then the median of the %d is shown with" % reps)
    w("the range. Throughput ratios: higher is better for Chorus; latency ratios: lower is.")
    w("")
    w("| ratio | median | range | target | |")
    w("|---|---:|---:|---:|---|")
    for label, m, spread, target, verdict in ratio_rows(measurements, reps):
        w("| %s | %s | %s | %s | %s |" % (label, m, spread, target, verdict))
    w("")
    nodes = read_chorus_metrics(work)
    if nodes:
        w("## Inside Chorus")
        w("")
        w("Each node's `/metrics` at the end of the run, all repetitions together. On the")
        w("leader, proposals per fsync shows how much group commit batched.")
        w("")
        w("| node | role | proposals | fsyncs | fsync mean ms | fsync max ms | proposals / fsync | link retransmissions | timeouts + failed proposals |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for row in chorus_metrics_rows(nodes):
            w("| " + " | ".join(row) + " |")
        w("")
    w("## Failures and anomalies")
    w("")
    errors = [m for m in measurements if m["errors"]]
    anomalies = meta.get("missing", []) + meta.get("leader_change", [])
    if not failures and not errors and not anomalies:
        w("None: every run completed without errors, every system ran, and the Chorus leader")
        w("stayed the same node throughout.")
    for m in meta.get("missing", []):
        w("- Not measured: %s." % m)
    for c in meta.get("leader_change", []):
        w("- Chorus leader changed during the run (at %s)." % c)
    for rep, system, command, status, err in failures:
        w("- Repetition %s, %s: %s — `%s`%s" % (rep, system, status, command, (": " + err) if err else ""))
    for m in errors:
        w("- Repetition %d, %s %s %d clients: %d requests failed." % (m["rep"], m["system"], m["op"], m["clients"], m["errors"]))
    server_logs = [(k[len("server_log_"):], v) for k, vs in meta.items() if k.startswith("server_log_") for v in vs]
    if server_logs:
        w("")
        w("Error and warning lines in the server logs (at most three per server):")
        w("")
        w("```")
        for name, line in server_logs:
            w("%s: %s" % (name, line[:200]))
        w("```")
    w("")
    w("## Commands")
    w("")
    w("`bench/compare.sh` (environment: `COMPARE_QUICK=1` for a short smoke run,")
    w("`COMPARE_REPS=n`, `COMPARE_KEEP=1` to keep the temporary directory). The load of")
    w("repetition 1, as run from the top of the checkout (`$TMP` is the run's temporary")
    w("directory; ports are chosen free at start; the Chorus and etcd leaders are found")
    w("before each run):")
    w("")
    w("```")
    for c in commands:
        w(c)
    w("```")
    servers = os.path.join(work, "servers.txt")
    if os.path.exists(servers):
        w("")
        w("The servers, as started:")
        w("")
        w("```")
        with open(servers) as f:
            for line in f:
                w(as_published(line.rstrip("\n"), work))
        w("```")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="the temporary directory compare.sh filled")
    ap.add_argument("--out", required=True, help="where benchmarks.md, .tsv and .png go")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.work, "index.tsv")):
        sys.exit("compare_report: %s has no index.tsv; was it made by bench/compare.sh?" % a.work)
    meta = read_meta(os.path.join(a.work, "meta"))
    measurements, failures, commands = read_runs(a.work)
    log_bench = ""
    if os.path.exists(os.path.join(a.work, "log-bench.txt")):
        with open(os.path.join(a.work, "log-bench.txt")) as f:
            log_bench = "\n".join(l for l in f.read().splitlines() if not l.startswith("log-bench: /"))
    os.makedirs(a.out, exist_ok=True)
    write_tsv(measurements, os.path.join(a.out, "benchmarks.tsv"))
    chart_ok = write_chart(measurements, systems_present(measurements), a.work,
                           os.path.join(a.out, "benchmarks.png"))
    write_markdown(a.work, meta, measurements, failures, commands, log_bench, chart_ok,
                   os.path.join(a.out, "benchmarks.md"))


if __name__ == "__main__":
    main()
