import socket
import subprocess
import time
from pathlib import Path

from imgsim_stack.processes import ManagedProcess, port_in_use


def test_spawned_process_is_found_and_its_whole_group_stopped(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", tmp_path / "run" / "s.pid", tmp_path / "s.log")
    # The child starts a grandchild: stopping must end both.
    pid = process.spawn(["sh", "-c", "sleep 300 & sleep 300"], {"PATH": "/usr/bin:/bin"}, tmp_path)

    assert process.pid() == pid and process.alive()
    assert process.stop(timeout_s=5)
    assert process.pid() is None
    time.sleep(0.2)
    table = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True).stdout
    group = [line.split()[1] for line in table.splitlines() if line.split()[0] == str(pid)]
    assert all(state.startswith("Z") for state in group), group


def test_a_recycled_pid_is_never_taken_for_ours(tmp_path: Path) -> None:
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        pidfile = tmp_path / "x.pid"
        pidfile.write_text(f"{stranger.pid} 12345\n")  # same pid, another start time
        process = ManagedProcess("x", pidfile, tmp_path / "x.log")

        assert process.pid() is None
        assert not process.stop(timeout_s=1)
        assert stranger.poll() is None, "down must not touch a process it did not start"
    finally:
        stranger.kill()
        stranger.wait()


def test_port_in_use_sees_a_listener() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        assert port_in_use("127.0.0.1", port)
    assert not port_in_use("127.0.0.1", port)
