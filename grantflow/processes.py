"""The local stack's child processes: waited for with a deadline, stopped by signal then
by force with whatever they started; and the French errors an operator reads."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

STOP_TIMEOUT = 30.0


class StackError(RuntimeError):
    """Something an operator must fix before the stack can run (message in French)."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while starting."""


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def wait_until(condition: Callable[[], bool], what: str, timeout: float,
               process: subprocess.Popen[bytes] | None = None, log: Path | None = None,
               interrupted: Callable[[], bool] = lambda: False) -> float:
    """Seconds it took; StackError if `process` dies or time runs out, Interrupted on Ctrl-C."""
    started = time.monotonic()
    while True:
        if interrupted():
            raise Interrupted
        if condition():
            return time.monotonic() - started
        if process is not None and process.poll() is not None:
            raise StackError(f"{what} : le processus s'est arrêté (code {process.returncode})" + tail(log))
        if time.monotonic() - started > timeout:
            raise StackError(f"{what} : toujours pas prêt après {timeout:.0f} s" + tail(log))
        time.sleep(0.25)


def stop_process(process: subprocess.Popen[bytes] | None, sig: int, timeout: float = STOP_TIMEOUT) -> bool:
    """Signal the process, wait for it, kill its process group if it does not go. True if it went by itself."""
    if process is None:
        return True
    gone_by_itself = True
    if process.poll() is None:
        try:
            process.send_signal(sig)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            gone_by_itself = False
            _kill_group(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # What it started in its session (a flow run still going) goes with it.
    _kill_group(process.pid, signal.SIGKILL)
    return gone_by_itself


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tail(log: Path | None, lines: int = 15) -> str:
    """The end of a child's log, to show with the error it explains."""
    if log is None or not log.exists():
        return ""
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return f"\n--- fin de {log} ---\n" + "\n".join(text)
