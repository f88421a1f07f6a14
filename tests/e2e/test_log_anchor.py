"""The event log's head as `serve` writes it to its own log: the anchor outside the database that
`strongroom admin log verify --expect-head` checks. It moves with the log, not with the jobs'
interval, and is written once more at a graceful shutdown, so a tail cut after the last written
head is detected (issue 9, finding 10)."""

from __future__ import annotations

import re
import sqlite3

import srkit

# The jobs would otherwise be the only thing that ran within a test's time: an hour between
# rounds shows the head does not wait for them.
SLOW_JOBS = {"STRONGROOM_JOBS__INTERVAL_SECONDS": "3600"}
HEAD_RE = re.compile(r"event log head( at shutdown)?\s+head=(\d+):([0-9a-f]{64})")


def written_heads(server: srkit.Server) -> list[tuple[str, bool]]:
    """Every head the server wrote to its log, oldest first, with whether it was the shutdown one."""
    text = srkit.ANSI_RE.sub("", server.stderr_text())
    return [(f"{m.group(2)}:{m.group(3)}", bool(m.group(1))) for m in HEAD_RE.finditer(text)]


def db_head(server: srkit.Server) -> str:
    out = server.cli("admin", "log", "verify").stdout
    m = re.fullmatch(r"event log intact: \d+ entries, head (\d+:[0-9a-f]{64})\n", out)
    assert m, out
    return m.group(1)


def cut_tail(server: srkit.Server, from_seq: int) -> None:
    sql = f"DELETE FROM events WHERE seq >= {from_seq}"
    if server.backend.database:
        srkit.pg_exec(server.backend.database, sql)
    else:
        db = sqlite3.connect(server.data_dir / "strongroom.db")
        db.execute(sql)
        db.commit()
        db.close()


def test_head_is_written_when_the_log_moves_not_at_the_next_jobs_round(strongroom, backend_kind):
    server = strongroom(backend_kind, env=SLOW_JOBS)
    token = server.user_with_token("anchor")
    srkit.ok_upload(server, token, srkit.make_wheel("anchor-pkg", "1.0"))
    head = db_head(server)
    # Generous: the server checks every second; the jobs' next round is an hour away.
    assert srkit.wait_until(lambda: head in [h for h, _ in written_heads(server)], timeout=30), (
        head, written_heads(server), server.stderr_text()[-3000:])
    srkit.ok_upload(server, token, srkit.make_wheel("anchor-pkg", "1.1"))
    moved = db_head(server)
    assert moved != head
    assert srkit.wait_until(lambda: moved in [h for h, _ in written_heads(server)], timeout=30), (
        moved, written_heads(server))


def test_shutdown_writes_the_final_head_so_a_cut_tail_is_detected(strongroom, backend_kind):
    server = strongroom(backend_kind, env=SLOW_JOBS)
    token = server.user_with_token("anchor")
    srkit.ok_upload(server, token, srkit.make_wheel("anchor-pkg", "1.0"))
    # The last event comes right before SIGTERM: the shutdown write covers it whatever the
    # periodic check saw.
    srkit.ok_upload(server, token, srkit.make_wheel("anchor-pkg", "1.1"))
    server.stop()
    assert server.proc.returncode == 0, server.stderr_text()[-3000:]
    final = db_head(server)
    heads = written_heads(server)
    assert heads and heads[-1] == (final, True), (final, heads)

    # The last written head is what an operator kept; cut the newest entry off the end.
    seq = int(final.split(":")[0])
    cut_tail(server, seq)
    assert server.cli("admin", "log", "verify").returncode == 0  # the chain alone cannot tell
    proc = server.cli("admin", "log", "verify", "--expect-head", heads[-1][0], check=False)
    assert proc.returncode == 1, proc.stdout
    assert f"recorded head entry {seq} is gone" in proc.stdout, proc.stdout
