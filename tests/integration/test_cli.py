"""chorus-cli against a real three-node cluster: Status and Snapshot of every member and
TransferLeader at the leader over the Admin RPC service on each node's cluster UDP port
(src/server/admin_rpc.c, src/client/cli.c), with and without a cluster key. Membership
verbs are exercised in test_membership.py."""
import os
import re
import subprocess
import time
import urllib.request

from conftest import ROOT, Cluster, retry

CLI = os.environ.get("CHORUS_CLI", os.path.join(ROOT, "build", "chorus-cli"))


def run_cli(*args, timeout_s=20):
    p = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout_s)
    return p.returncode, p.stdout, p.stderr


def rows(stdout):
    """The member lines of a status table, by node id."""
    lines = stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["ID", "ADDRESS"]
    return {int(line.split()[0]): line.split() for line in lines[1:]}


def test_status_shows_every_member_with_one_leader(cluster):
    leader = cluster.leader()
    assert retry(lambda: leader.client().set("k", "v")) is True
    code, out, err = run_cli("--peers", cluster.peers, "status")
    assert code == 0, err
    table = rows(out)
    assert sorted(table) == [1, 2, 3]
    roles = {i: r[2] for i, r in table.items()}
    assert list(roles.values()).count("LEADER") == 1
    assert roles[leader.id] == "LEADER"
    assert len({r[3] for r in table.values()}) == 1          # one term
    assert {int(r[4]) for r in table.values()} == {leader.id}  # everyone names the leader
    assert int(table[leader.id][5]) >= 2                      # commit: no-op + SET
    url = "http://127.0.0.1:%d/metrics" % leader.admin_port
    with urllib.request.urlopen(url, timeout=2) as r:
        metrics = r.read().decode()
    executed = re.search(r"^chorus_rpc_calls_executed_total (\d+)$", metrics, re.M)
    assert executed and int(executed.group(1)) >= 1


def test_status_names_an_unreachable_member_and_exits_1(cluster):
    cluster.leader()
    cluster.nodes[2].kill()
    code, out, _ = run_cli("--peers", cluster.peers, "--timeout-ms", "500", "status")
    assert code == 1
    table = rows(out)
    assert table[3][2] == "RPC_DEADLINE_EXCEEDED:"
    assert table[1][2] in ("LEADER", "FOLLOWER", "CANDIDATE")


def wait_applied(cluster, index, timeout_s=10):
    deadline = time.time() + timeout_s
    while not all(n.status()["apply_index"] >= index for n in cluster.nodes if n.proc):
        assert time.time() < deadline, "members did not apply %d in time" % index
        time.sleep(0.05)


def test_snapshot_is_taken_by_every_member(cluster):
    leader = cluster.leader()
    assert retry(lambda: leader.client().set("s", "1")) is True
    wait_applied(cluster, leader.status()["commit_index"])  # everyone has something new
    code, out, err = run_cli("--peers", cluster.peers, "snapshot")
    assert code == 0, out + err
    table = rows(out)
    assert sorted(table) == [1, 2, 3]
    for line in table.values():
        assert line[2] == "OK" and int(line[3]) >= 2  # the snapshot's index


def test_transfer_sent_to_a_follower_follows_the_redirect(cluster):
    leader = cluster.leader()
    target = next(n for n in cluster.nodes if n is not leader)
    follower_first = ",".join("%d@127.0.0.1:%d" % (n.id, n.cluster_port)
                              for n in sorted(cluster.nodes, key=lambda n: n is leader))
    code, out, err = run_cli("--peers", follower_first, "transfer", str(target.id))
    assert code == 0, out + err
    assert "transfer: OK (node %d" % leader.id in out  # answered by the leader
    assert cluster.leader() is target
    code, out, _ = run_cli("--peers", cluster.peers, "transfer", "9", "--wait-ms", "2000")
    assert code == 1 and "no node 9" in out


KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
WRONG = "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def test_with_a_cluster_key_only_sealed_calls_with_that_key_are_served(tmp_path):
    c = Cluster(tmp_path, 3, extra_args=("--cluster-key", KEY))
    c.start()
    try:
        leader = c.leader()
        code, out, err = run_cli("--peers", c.peers, "--cluster-key", KEY, "status")
        assert code == 0, err
        assert rows(out)[leader.id][2] == "LEADER"
        key_file = tmp_path / "key"
        key_file.write_text(KEY + "\n")
        target = next(n for n in c.nodes if n is not leader)
        code, out, err = run_cli("--peers", c.peers, "--cluster-key-file", str(key_file),
                                 "transfer", str(target.id))
        assert code == 0, out + err
        assert c.leader() is target
        # No key, or the wrong one: nothing is answered, nothing is done.
        for key_args in ((), ("--cluster-key", WRONG)):
            code, out, _ = run_cli("--peers", c.peers, *key_args, "--timeout-ms", "300",
                                   "status")
            assert code == 1
            assert all(r[2] == "RPC_DEADLINE_EXCEEDED:" for r in rows(out).values())
            code, out, _ = run_cli("--peers", c.peers, *key_args, "--timeout-ms", "300",
                                   "--wait-ms", "1000", "transfer", str(leader.id))
            assert code == 1
        assert c.leader() is target
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % target.admin_port,
                                    timeout=2) as r:
            metrics = r.read().decode()
        refused = re.search(r'^chorus_rpc_frames_refused_total\{reason="auth"\} (\d+)$',
                            metrics, re.M)
        assert refused and int(refused.group(1)) >= 2
    finally:
        c.stop()


def test_bad_usage_is_refused_with_exit_2():
    assert run_cli("status")[0] == 2
    assert run_cli("--peers", "nonsense", "status")[0] == 2
    assert run_cli("--peers", "1@127.0.0.1:1", "frobnicate")[0] == 2
    assert run_cli("--peers", "1@127.0.0.1:1")[0] == 2
    assert run_cli("--peers", "1@127.0.0.1:1", "promote", "x")[0] == 2
    assert run_cli("--peers", "1@127.0.0.1:1", "add-learner", "4")[0] == 2
    assert run_cli("--peers", "1@127.0.0.1:1", "add", "4", "localhost")[0] == 2
    assert run_cli("--peers", "1@127.0.0.1:1", "--cluster-key", "abc", "status")[0] == 2
