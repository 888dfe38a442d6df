"""A command's keeper, where pid namespaces are not available (containment.py).

Run as ``python -I -S reaper.py PROGRAM ARGS...``, never imported: it makes itself a child
subreaper (``PR_SET_CHILD_SUBREAPER``), so that every process its command starts becomes its
child once that process's parent has died, however it detached (``setsid``, a double fork).
When the command exits, or when the gateway asks (SIGTERM, also sent by the kernel if the
gateway's thread that started it dies: ``PR_SET_PDEATHSIG``), it kills and reaps every child it
has, again until none is left, then exits as the command did (by SIGKILL when asked to end).

What it cannot stop: a descendant that SIGKILLs it first. The gateway's pid namespace mode has
no such gap (docs/tools.md has the measurements).
"""

import contextlib
import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_ASKED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class _Asked(Exception):
    pass


def _asked(signum, frame):
    raise _Asked(signum)


def _children():
    found = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as listing:
            found += [int(pid) for pid in listing.read().split()]
    return found


def _end_all():
    """Kills every child, reaps it (its own children become ours), until none is left. Only
    our own unreaped children are signalled: their pids cannot have been reused."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _ASKED)
    while True:
        children = _children()
        if not children:
            return
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def main(argv):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        os.write(2, b"reaper: PR_SET_CHILD_SUBREAPER failed\n")
        return 126
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    for signum in _ASKED:  # before the command starts: nothing can escape in between
        signal.signal(signum, _asked)
    command = os.fork()
    if command == 0:
        for signum in _ASKED:
            signal.signal(signum, signal.SIG_DFL)
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    status = None
    try:
        while status is None:
            pid, code = os.waitpid(-1, 0)  # the only spawner here: reaping any child is ours
            if pid == command:
                status = os.waitstatus_to_exitcode(code)
    except _Asked:
        status = -signal.SIGKILL
    _end_all()
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [-status])
        os.kill(os.getpid(), -status)
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
