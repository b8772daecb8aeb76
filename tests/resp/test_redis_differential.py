#!/usr/bin/env python3
"""Differential test: Chorus's request parser against a real redis-server.

Random inline lines (quotes, escapes, tabs, vertical tabs) and malformed multibulk headers
go to both: each inline line is sent to Redis inside `RPUSH L x <line>` and read back
with LRANGE; the same line goes through resp_dump (our parser). The arguments, or the
protocol error text, must agree. Skipped (exit 77) when redis-server is not installed.
Usage: test_redis_differential.py RESP_DUMP [CASES]"""
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77


def start_redis():
    exe = shutil.which("redis-server")
    if exe is None:
        print("redis-server not installed: skipped")
        sys.exit(SKIP)
    workdir = tempfile.mkdtemp(prefix="chorus-resp-diff-")
    for _ in range(20):
        port = random.randint(20000, 60000)
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", workdir],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return proc, port, workdir
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
        proc.kill()
        proc.wait()
    sys.exit("could not start redis-server")


def read_reply(f):
    """Reads one RESP2 reply; returns ('err', text), ('int', n), ('arr', [bytes]) ..."""
    line = f.readline()
    if not line:
        return ("closed", None)
    kind, body = line[:1], line[1:-2]
    if kind == b"-":
        return ("err", body.decode())
    if kind in (b":", b"+"):
        return ("int" if kind == b":" else "str", body)
    if kind == b"$":
        n = int(body)
        return ("bulk", None if n < 0 else f.read(n + 2)[:-2])
    if kind == b"*":
        return ("arr", [read_reply(f)[1] for _ in range(int(body))])
    raise ValueError(line)


def redis_inline(port, line):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(b"DEL L\r\nRPUSH L x " + line + b"\r\nLRANGE L 0 -1\r\n")
    f = s.makefile("rb")
    read_reply(f)
    kind, value = read_reply(f)
    if kind == "err":
        s.close()
        return ("error", value)
    kind, value = read_reply(f)
    s.close()
    return ("args", value[1:])


def redis_raw(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(data)
    f = s.makefile("rb")
    kind, value = read_reply(f)
    s.close()
    return ("error", value) if kind == "err" else (kind, value)


def ours(dump, cases):
    """Runs every case through resp_dump at once; returns one result per case."""
    stdin = b"".join(b"%d\n" % len(c) + c for c in cases)
    out = subprocess.run([dump], input=stdin, capture_output=True, check=True).stdout.decode()
    results, lines = [], []
    for line in out.splitlines():
        if line != "END":
            lines.append(line)
            continue
        if lines and lines[-1].startswith("ERROR "):
            results.append(("error", lines[-1][len("ERROR "):]))
        else:
            words = lines[0].split()[1:] if lines else []
            results.append(("args", [b"" if w == "-" else bytes.fromhex(w) for w in words]))
        lines = []
    assert len(results) == len(cases)
    return results


def random_word(rng):
    """A plain, double-quoted or single-quoted word, or a random jumble of the same bytes."""
    r = rng.random()
    if r < 0.25:
        return b"".join(rng.choice([b"a", b"b", b"x", b"4", b"f", b'"', b"'"])
                        for _ in range(rng.randint(1, 4)))
    if r < 0.55:
        items = [b"a", b" ", b"'", b"\t", b"\\n", b"\\r", b"\\t", b"\\b", b"\\a", b'\\"',
                 b"\\\\", b"\\q", b"\\x41", b"\\xfF", b"\\x4g", b"\\x"]
        body = b"".join(rng.choice(items) for _ in range(rng.randint(0, 4)))
        return b'"' + body + (b'"' if rng.random() < 0.9 else b"") + \
            (rng.choice([b"z", b"'"]) if rng.random() < 0.1 else b"")
    if r < 0.8:
        items = [b"a", b" ", b'"', b"\\", b"\\'", b"\\n"]
        body = b"".join(rng.choice(items) for _ in range(rng.randint(0, 4)))
        return b"'" + body + (b"'" if rng.random() < 0.9 else b"") + \
            (rng.choice([b"z", b'"']) if rng.random() < 0.1 else b"")
    alphabet = [b"a", b" ", b"\t", b'"', b"'", b"\\", b"x", b"4", b"n", b"\x0b"]
    return b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))


def random_line(rng):
    # No NUL: Redis looks for the line end with strchr, never finds it past a NUL and
    # waits for more bytes; Chorus ends the line's words at the NUL (see docs/resp.md).
    seps = [b" ", b"  ", b"\t", b" \x0b "]
    words = [random_word(rng) for _ in range(rng.randint(0, 4))]
    return rng.choice([b"", b" "]) + rng.choice(seps).join(words) + rng.choice([b"", b" ", b"\t"])


def main():
    dump = sys.argv[1]
    cases = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    proc, port, workdir = start_redis()
    failures = 0
    try:
        rng = random.Random(1234)
        lines = [random_line(rng) for _ in range(cases)]
        got_all = ours(dump, [b"RPUSH L x " + line + b"\r\n" for line in lines])
        for line, got in zip(lines, got_all):
            want = redis_inline(port, line)
            if got[0] == "args":
                got = ("args", got[1][3:])
            if got != want:
                failures += 1
                print(f"inline {line!r}: redis {want} ours {got}")
        headers = [b"*abc\r\n", b"*\r\n", b"*01\r\n", b"*-\r\n", b"*1\r\nx3\r\nfoo\r\n",
                   b"*1\r\n$-1\r\n", b"*1\r\n$abc\r\n", b"*1\r\n$03\r\nfoo\r\n",
                   b"*1\r\n$\r\n", b"*3000000000\r\n", b"*1\r\n\r\n\r\n", b"*1\r\n:1\r\n"]
        for data, got in zip(headers, ours(dump, headers)):
            want = redis_raw(port, data)
            if got != want:
                failures += 1
                print(f"multibulk {data!r}: redis {want} ours {got}")
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{cases} inline lines and {len(headers)} headers compared, {failures} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
