"""chorus-cli against a real three-node cluster: Status over the Admin RPC service on each
node's cluster UDP port (src/server/admin_rpc.c, src/client/cli.c)."""
import os
import re
import subprocess
import urllib.request

from conftest import ROOT, retry

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


def test_calls_raft_cannot_serve_yet_answer_unimplemented_on_every_member(cluster):
    cluster.leader()
    code, out, _ = run_cli("--peers", cluster.peers, "snapshot")
    assert code == 1
    table = rows(out)
    assert sorted(table) == [1, 2, 3]
    for line in table.values():
        assert line[2] == "RPC_UNIMPLEMENTED:"


def test_bad_usage_is_refused_with_exit_2():
    assert run_cli("status")[0] == 2
    assert run_cli("--peers", "nonsense", "status")[0] == 2
    assert run_cli("--peers", "1@127.0.0.1:1", "frobnicate")[0] == 2
    assert run_cli("--peers", "1@127.0.0.1:1")[0] == 2
