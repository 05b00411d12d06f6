"""What the built-in runtime's steps share: its start error, the stdio it is given, its report."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass


class StartError(Exception):
    """The container's process could not be started; the message says why, and the exit
    code is a shell's for it (127: no such command, 126: it cannot be run)."""

    def __init__(self, message: str, exit_code: int = 127):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Stdio:
    stdin: int     # fds the init dup2s onto 0, 1, 2 (not used with a terminal)
    stdout: int
    stderr: int
    tty: bool
    # With a terminal: a unix socket the init sends the pty's master over. The pty is made
    # inside the container's own devpts, so the container sees a terminal of its own.
    console: int = -1


def report(fd: int, message: str) -> None:
    """Write why the start failed to the shim's error pipe (best effort: it may be gone)."""
    try:
        os.write(fd, message.encode(errors="replace")[:65000])
    except OSError:
        pass


def read_to_end(fd: int) -> bytes:
    """All a pipe gives until its writers are gone (a started process's error pipe ends at
    its exec); the fd is closed."""
    data = b""
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
    finally:
        os.close(fd)
    return data


def exec_or_report(args: list[str], environ: dict, err_w: int) -> None:
    """Exec the process; if it cannot be, say why on the error pipe and exit with a shell's
    code for it (127: no such command, 126: it cannot be run)."""
    try:
        os.execvpe(args[0], args, environ)
    except FileNotFoundError:
        report(err_w, f'exec: "{args[0]}": executable file not found in $PATH')
        os._exit(127)
    except PermissionError:
        report(err_w, f'exec: "{args[0]}": permission denied')
        os._exit(126)


def default_signals() -> None:
    """Every signal at its default and none blocked, as a process is to be exec'd with: an
    ignored signal survives exec, and a shell cannot trap one it was started ignoring."""
    for number in range(1, signal.NSIG):
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(number, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
