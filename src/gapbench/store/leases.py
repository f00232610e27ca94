"""Claims on samples in flight, the leases that keep them, and telling a dead run from a live one.

Two runs over the same instances must not generate the same sample twice. Before generating a
batch, a run claims its samples: one write transaction that, per sample, skips it when a success
is stored, inserts a claim when none exists, and takes over a claim only when it has expired (an
upsert whose update is conditional: `INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE
claims.expires_at < now`, which PostgreSQL runs as written). The holder renews its claims and its
run's lease every RENEW_SECONDS from a thread while its process lives, deletes each claim in the
transaction that stores the sample, and deletes the rest when it finishes. A run killed outright
(SIGKILL, out of memory, power cut) leaves claims that expire after LEASE_SECONDS, so a later run
takes the work; on the same machine it does not wait for that, since the kernel can say for sure
that the process is gone. On PostgreSQL, where runs on several machines claim at once without one
lock over the whole database, claims are taken as store/postgres.py `claim` says; the statements
below that are plain SQL serve both databases.

Telling for sure: a run records its host identity (host name, boot id, pid namespace), its pid
and the kernel's start time of that process. On the same host, boot and namespace, a pid that no
longer exists, exists as a zombie, or belongs to a process started at another time means the run's
process is gone. Elsewhere only the lease can tell: a run whose lease expired has stopped renewing
it, and its claims are already free.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from gapbench.store.dbapi import Connection
from gapbench.store.records import RunHolder, SampleKey
from gapbench.store.schema import KEY_COLUMNS, key_values

LEASE_SECONDS = 60.0
"""How long a claim holds without renewal: four missed renewals, so that a process that is busy
(a long prompt, a slow disk) never loses its claims, while a dead one frees them within a minute."""
RENEW_SECONDS = 15.0

_KEY_MATCH = " AND ".join(f"{col} = ?" for col in KEY_COLUMNS)


@lru_cache(maxsize=1)
def host_identity() -> str:
    """This host as a pid's context: the name, the boot id and the pid namespace (where Linux
    exposes them). Two containers with one host name still differ by namespace."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        pass  # not Linux: the host name alone, and no pid will be trusted (see holder_is_gone)
    return "/".join(parts)


def process_started(pid: int) -> str | None:
    """The kernel's start time of process `pid` (clock ticks after boot), '' where /proc cannot
    tell, None when there is no such live process (none, or a zombie: killed, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    # The command name, in parentheses, may itself hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def this_process(lease_expires_at: float | None = None) -> RunHolder:
    """The holder record of the current process."""
    pid = os.getpid()
    started = process_started(pid) if Path("/proc/self/ns/pid").exists() else ""
    return RunHolder(host_identity(), pid, started or "", lease_expires_at)


def holder_is_gone(holder: RunHolder, now: float) -> bool:
    """True only when the process that ran a run is certainly gone: by the kernel on this host,
    else by a lease that expired without renewal."""
    if holder.host == host_identity() and holder.process_started:
        return process_started(holder.pid) != holder.process_started
    return holder.lease_expires_at is not None and holder.lease_expires_at < now


@dataclass(frozen=True)
class ClaimOutcome:
    """What a claim found, key by key."""

    claimed: tuple[SampleKey, ...]
    """Now held by the claiming run: generate these."""
    done: tuple[SampleKey, ...]
    """Already stored successfully (by another run since planning): nothing to do."""
    held: tuple[SampleKey, ...]
    """Held by another live run's unexpired claim: check again later."""


_CLAIM = (
    f"INSERT INTO claims ({', '.join(KEY_COLUMNS)}, run_id, expires_at) "
    f"VALUES ({', '.join('?' for _ in KEY_COLUMNS)}, ?, ?) "
    f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET "
    "run_id = excluded.run_id, expires_at = excluded.expires_at "
    "WHERE claims.expires_at < ? OR claims.run_id = excluded.run_id"
)


def claim(
    conn: sqlite3.Connection,
    run_id: int,
    keys: Sequence[SampleKey],
    now: float,
    expires_at: float,
) -> ClaimOutcome:
    """Claim `keys` for `run_id`; call inside one write transaction."""
    claimed: list[SampleKey] = []
    done: list[SampleKey] = []
    held: list[SampleKey] = []
    for key in keys:
        values = key_values(key)
        stored = conn.execute(
            f"SELECT 1 FROM samples WHERE {_KEY_MATCH} AND error IS NULL", values
        ).fetchone()
        if stored is not None:
            done.append(key)
            continue
        before = conn.total_changes
        conn.execute(_CLAIM, (*values, run_id, expires_at, now))
        (claimed if conn.total_changes > before else held).append(key)
    return ClaimOutcome(tuple(claimed), tuple(done), tuple(held))


def release_claim(conn: Connection, run_id: int, key: SampleKey) -> None:
    """Drop `run_id`'s claim on one key (its sample is being stored in the same transaction)."""
    conn.execute(
        f"DELETE FROM claims WHERE {_KEY_MATCH} AND run_id = ?", (*key_values(key), run_id)
    )


def release_claims(conn: Connection, run_id: int) -> None:
    conn.execute("DELETE FROM claims WHERE run_id = ?", (run_id,))


def renew(conn: Connection, run_id: int, expires_at: float) -> None:
    """Extend a live run's lease and claims; call inside one write transaction, and never after
    the run finished. A run found 'interrupted' here had let its lease lapse (so another command
    took it for dead) and is alive after all: it is 'running' again."""
    conn.execute("UPDATE claims SET expires_at = ? WHERE run_id = ?", (expires_at, run_id))
    conn.execute(
        "UPDATE runs SET lease_expires_at = ?, status = 'running', finished_at = NULL "
        "WHERE id = ? AND status IN ('running', 'interrupted')",
        (expires_at, run_id),
    )


def running_holders(conn: Connection) -> list[tuple[int, RunHolder]]:
    """Runs marked 'running' whose process is recorded (older gapbench recorded none)."""
    rows = conn.execute(
        "SELECT id, host, pid, process_started, lease_expires_at FROM runs "
        "WHERE status = 'running' AND host IS NOT NULL"
    ).fetchall()
    return [(int(r[0]), RunHolder(r[1], int(r[2]), r[3] or "", r[4])) for r in rows]


def dead_runs(
    conn: Connection, now: float, is_gone: Callable[[RunHolder, float], bool]
) -> list[int]:
    """Ids of runs marked 'running' whose process is certainly gone."""
    return [run_id for run_id, holder in running_holders(conn) if is_gone(holder, now)]


def mark_interrupted(conn: Connection, run_ids: Sequence[int], now: float) -> None:
    """Mark runs 'interrupted' and free their claims; call inside one write transaction."""
    for run_id in run_ids:
        conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?, lease_expires_at = NULL "
            "WHERE id = ? AND status = 'running'",
            (now, run_id),
        )
        release_claims(conn, run_id)


def reap_if_writable(db: Path, now: float) -> list[int]:
    """mark_interrupted for the dead runs of `db` through a connection of its own, for commands
    that hold the file read-only. Never creates the file, never migrates it (a schema this
    gapbench would have to upgrade, or does not know, is left alone), waits at most half a second
    for the lock, and gives up silently on any failure: the next `gapbench run` marks them."""
    from urllib.parse import quote

    from gapbench.errors import StoreError
    from gapbench.store.migrations import check_not_newer, read_state

    try:
        conn = sqlite3.connect(
            f"file:{quote(str(db.resolve()))}?mode=rw", uri=True, timeout=0.5, isolation_level=None
        )
    except (sqlite3.Error, OSError):
        return []
    try:
        state = read_state(conn)
        check_not_newer(state, str(db))
        if state.pending():
            return []
        conn.execute("BEGIN IMMEDIATE")
        dead = dead_runs(conn, now, holder_is_gone)
        mark_interrupted(conn, dead, now)
        conn.execute("COMMIT")
        return dead
    except (sqlite3.Error, OSError, StoreError):
        return []
    finally:
        conn.close()
