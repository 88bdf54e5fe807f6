"""Starting, finding and stopping the stack's processes, and nothing that is not theirs.

A pid file holds the pid and the kernel's start time of the process: `down` signals a process
group only when both still match, so a recycled pid never gets a signal meant for the stack.
"""

import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from imgsim_stack.errors import StackError

# Children of this launcher process, kept so that they are reaped and not reported as leaked.
_children: dict[int, subprocess.Popen[bytes]] = {}


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the start time is field 22.
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    pidfile: Path
    log: Path

    def pid(self) -> int | None:
        """The pid of this component's process when it is the one the launcher started."""
        try:
            pid_text, started = self.pidfile.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        return pid if _start_time(pid) == started else None

    def spawn(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        user: str | None = None,
    ) -> int:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(
                f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {self.name}\n".encode()
            )
            out.flush()
            try:
                process = subprocess.Popen(
                    list(command),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=dict(env),
                    cwd=cwd,
                    user=user,
                    start_new_session=True,
                )
            except OSError as e:
                raise StackError(self.name, f"cannot start {command[0]}: {e}", self.log) from e
        _children[process.pid] = process
        self.pidfile.write_text(f"{process.pid} {_start_time(process.pid)}\n")
        return process.pid

    def alive(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        _reap(pid)
        return not _is_zombie(pid)

    def wait_until(
        self, healthy: Callable[[], bool], timeout_s: float, poll_s: float = 0.5
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if healthy():
                return
            if not self.alive():
                raise StackError(self.name, "exited before it became healthy", self.log)
            time.sleep(poll_s)
        raise StackError(self.name, f"did not become healthy within {timeout_s:.0f} s", self.log)

    def rss_bytes(self) -> int | None:
        """Resident memory of the whole process group (Elasticsearch runs a launcher JVM too)."""
        pid = self.pid()
        if pid is None:
            return None
        page = os.sysconf("SC_PAGE_SIZE")
        total = 0
        for entry in _group_members(pid):
            try:
                total += int((entry / "statm").read_text().split()[1]) * page
            except (OSError, IndexError, ValueError):
                continue
        return total

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Stops the process group this launcher started; False when there was none."""
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.2)
        if _group_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _group_alive(pid):
                _reap(pid)
                time.sleep(0.1)
        _reap(pid)
        self.pidfile.unlink(missing_ok=True)
        return True


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_members(pgid: int) -> Iterator[Path]:
    """/proc entries of the live (not zombie) processes in a process group."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            yield entry


def _group_alive(pgid: int) -> bool:
    return next(_group_members(pgid), None) is not None


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _children[pid]
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
