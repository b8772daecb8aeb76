"""Tests of bench/compare_report.py, the part of bench/compare.sh that turns raw load
generator output into the published numbers: each parser on real output of its tool,
medians over repetitions, ratios taken within one repetition, failed runs listed rather
than dropped, and a clean refusal of a directory compare.sh did not make. The benchmark
itself is not run here (it takes minutes and measures, it does not assert)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPORT = os.path.join(ROOT, "bench", "compare_report.py")
sys.path.insert(0, os.path.join(ROOT, "bench"))
import compare_report  # noqa: E402

REDIS_BENCHMARK_CSV = """\
"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","{set_rps}","6.914","1.216","{p50}","19.263","35.583","50.143"
"GET","{get_rps}","1.900","0.424","1.343","4.159","12.231","27.151"
"""
ETCD_LOAD_JSON = ('{{"tool":"etcd-load","op":"{op}","clients":50,"conns":10,"requests":5000,'
                  '"errors":{errors},"duration_s":1.3,"throughput_rps":{rps},"p50_ms":11.7,'
                  '"p99_ms":31.06,"max_ms":47.6}}\n')
CHORUS_BENCH_JSON = """{
  "tool": "chorus-bench", "host": "127.0.0.1", "port": 42037, "resp": 2,
  "clients": 50, "pipeline": 1, "read_ratio": 0.900, "keys": 100000, "distribution": "zipfian", "zipf_theta": 0.990, "value_bytes": 100, "seed": 1,
  "requests": 41095, "errors": 0, "duration_s": 2.003, "throughput_rps": 20517,
  "latency_us": {
    "all": {"count": 41095, "mean": 2432.6, "p50": 1589.2, "p90": 4259.8, "p99": 17301.5, "p999": 32243.7, "max": 38875.3},
    "read": {"count": 37015, "mean": 1870.8, "p50": 1490.9, "p90": 3211.3, "p99": 10354.7, "p999": 18612.2, "max": 23351.1},
    "write": {"count": 4080, "mean": 7529.6, "p50": 5374.0, "p90": 16515.1, "p99": 32243.7, "p999": 37224.4, "max": 38875.3}
  }
}
"""


def test_redis_benchmark_csv_gives_set_and_get_rows():
    rows = compare_report.parse_redis_benchmark(
        REDIS_BENCHMARK_CSV.format(set_rps="6631.30", get_rps="19531.25", p50="4.775"))
    assert rows == [("SET", 6631.30, 4.775, 35.583, 0), ("GET", 19531.25, 1.343, 12.231, 0)]


def test_etcd_load_put_is_reported_as_set_with_its_errors():
    rows = compare_report.parse_etcd_load(ETCD_LOAD_JSON.format(op="put", rps=3820.3, errors=2))
    assert rows == [("SET", 3820.3, 11.7, 31.06, 2)]


def test_chorus_bench_latencies_are_converted_from_us_to_ms():
    [(op, rps, p50, p99, errors)] = compare_report.parse_chorus_bench(CHORUS_BENCH_JSON)
    assert (op, rps, errors) == ("MIXED", 20517, 0)
    assert p50 == pytest.approx(1.5892) and p99 == pytest.approx(17.3015)


def make_work_dir(tmp_path):
    """Two repetitions of Chorus, Redis always and etcd at 50 clients, as compare.sh leaves
    them, with the Redis run of repetition 2 failed."""
    work = tmp_path / "work"
    (work / "runs").mkdir(parents=True)
    (work / "meta").write_text("reps=2\nquick=0\ncpu=Test CPU\nmissing=etcd: a test reason\n")
    index = []

    def run(rep, system, tool, text, status="ok"):
        raw = work / "runs" / ("%d-%s-%s.out" % (rep, system, tool))
        raw.write_text(text)
        (work / "runs" / ("%d-%s-%s.err" % (rep, system, tool))).write_text(
            "Error from server: TRYAGAIN\n" if status != "ok" else "")
        index.append("\t".join([str(rep), system, tool, "50", "1", status, str(raw),
                                "load --port %s" % system]))

    # Chorus SET: 10,000 then 30,000; Redis: 20,000 in rep 1 (ratio 0.5), failed in rep 2.
    run(1, "chorus", "redis-benchmark", REDIS_BENCHMARK_CSV.format(set_rps="10000", get_rps="50000", p50="4"))
    run(2, "chorus", "redis-benchmark", REDIS_BENCHMARK_CSV.format(set_rps="30000", get_rps="50000", p50="2"))
    run(1, "redis-always", "redis-benchmark", REDIS_BENCHMARK_CSV.format(set_rps="20000", get_rps="100000", p50="1"))
    run(2, "redis-always", "redis-benchmark", "", status="failed")
    # etcd PUT: 2,000 then 10,000 (3 requests failed), so Chorus / etcd is 5 then 3.
    run(1, "etcd", "etcd-load-put", ETCD_LOAD_JSON.format(op="put", rps=2000, errors=0))
    run(2, "etcd", "etcd-load-put", ETCD_LOAD_JSON.format(op="put", rps=10000, errors=3))
    (work / "index.tsv").write_text("\n".join(index) + "\n")
    (work / "chorus-n2.metrics").write_text(
        '# TYPE chorus_raft_role gauge\nchorus_raft_role{role="leader"} 2\n'
        "chorus_proposals_total 3000\nchorus_fsync_total 100\nchorus_fsync_seconds_total 0.25\n"
        "chorus_fsync_seconds_max 0.0123\nchorus_link_retransmissions_total 7\n"
        "chorus_request_timeouts_total 1\nchorus_proposals_failed_total 2\n")
    return work


def test_report_shows_medians_per_repetition_ratios_and_failures(tmp_path):
    work = make_work_dir(tmp_path)
    out = tmp_path / "out"
    subprocess.run([sys.executable, REPORT, "--work", str(work), "--out", str(out)], check=True)
    md = (out / "benchmarks.md").read_text()
    # Median Chorus SET throughput of 10,000 and 30,000.
    assert "| SET, 50 clients | 20,000 |" in md
    # Chorus / etcd per repetition: 10,000/2,000 = 5 and 30,000/10,000 = 3; median 4.00
    # (the ratio of the medians, 20,000 / 6,000, would be 3.33).
    assert "| SET 50 clients, throughput, Chorus / etcd | 4.00 | 3.00–5.00 | ≥ 5.0 | **not met** |" in md
    # Chorus / Redis always exists only in repetition 1: 10,000 / 20,000.
    assert "| SET 50 clients, throughput, Chorus / Redis always | 0.50 | 0.50–0.50 | ≥ 0.8 | **not met** |" in md
    # p50 at 1 client was never measured: said, not invented.
    assert "| SET 1 client, p50 latency, Chorus / Redis always | — |  | ≤ 2.0 | not measured |" in md
    assert "Repetition 2, redis-always: failed — `load --port redis-always`: Error from server: TRYAGAIN" in md
    assert "Repetition 2, etcd SET 50 clients: 3 requests failed." in md
    assert "Not measured: etcd: a test reason." in md
    assert "CPU | Test CPU" in md
    # 3,000 proposals over 100 fsyncs of 2.5 ms each on average.
    assert "| n2 | leader | 3000 | 100 | 2.50 | 12.3 | 30.0 | 7 | 3 |" in md
    tsv = (out / "benchmarks.tsv").read_text().splitlines()
    assert len(tsv) == 1 + 2 * 2 + 1 * 2 + 2  # header, chorus SET+GET x2, redis x1, etcd x2


def test_a_directory_without_an_index_is_refused(tmp_path):
    r = subprocess.run([sys.executable, REPORT, "--work", str(tmp_path), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "has no index.tsv" in r.stderr
