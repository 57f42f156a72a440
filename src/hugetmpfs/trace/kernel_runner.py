"""Run a trace on the real kernel's tmpfs (DESIGN.md §3.3–3.4): the oracle the model is diffed with.

Design: the calling process is only a supervisor.  It makes an empty temporary directory and
forks an *executor* child, which moves itself into a private mount namespace, mounts a fresh
tmpfs on that directory, runs the ops (``_kernel_exec``) and streams one JSON line per result
back over a pipe.  The mount exists only in the child's namespace, so it vanishes whenever the
child dies, even by SIGKILL; the supervisor reaps the child and removes the directory on every
exit path.  SIGINT, SIGTERM and SIGHUP reaching the supervisor kill the child, clean up, and
then take their usual course (KeyboardInterrupt, or death by the signal).  A SIGKILLed
supervisor takes the child along (PR_SET_PDEATHSIG) but leaves its empty directory behind.
Nothing host-wide is changed.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import tempfile
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from hugetmpfs.errors import KernelRunnerError
from hugetmpfs.trace import _syscalls as sc
from hugetmpfs.trace._kernel_exec import execute, mount_private_tmpfs

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from hugetmpfs.trace.parse import Trace
    from hugetmpfs.trace.results import Result

    Send = Callable[[Any], None]
    Body = Callable[[str, Send], None]

T = TypeVar("T")

#: Signals that end a run early: the supervisor cleans up first, then lets them take effect.
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def probe_kernel() -> str | None:
    """None when this process can run traces on the kernel, else a one-line reason.

    Really mounts a small huge tmpfs and touches it through /proc/self/mem, in a short-lived
    child with its own mount namespace, so this process is not changed.
    """
    try:
        run_in_executor(_probe_body)
    except KernelRunnerError as e:
        return str(e)
    return None


def run_kernel(trace: Trace) -> list[Result]:
    """Run *trace* on a fresh real tmpfs; one result per op, in order (root only).

    Raises :class:`KernelRunnerError` when not root, when the mount is refused, or when the
    executor dies; there are never partial results.
    """

    def body(mount_dir: str, send: Send) -> None:
        execute(trace, mount_dir, send)

    return run_in_executor(body, trace)


def run_in_executor(body: Body, trace: Trace | None = None) -> list[Any]:
    """Run ``body(mount_dir, send)`` in a fresh executor child and return what it sent.

    *mount_dir* is an empty temporary directory for the child to mount on (see
    ``_kernel_exec.mount_private_tmpfs``); *send* streams one JSON value back.  *trace* only
    names the op in progress when the child dies.  Root only.
    """
    _require_root()
    return _forwarding_signals(lambda ignored: _supervise(body, trace, ignored))


def _require_root() -> None:
    if platform.system() != "Linux":
        raise KernelRunnerError(f"the kernel runner needs Linux, not {platform.system()}")
    if os.geteuid() != 0:
        raise KernelRunnerError(
            f"the kernel runner needs root to mount a private tmpfs (running as uid "
            f"{os.geteuid()}); run it as root, or replay on the model without --kernel"
        )


def _probe_body(mount_dir: str, send: Send) -> None:
    """Mount as a trace would, then check that a touch through /proc/self/mem reaches the page."""
    mount_private_tmpfs(mount_dir, "always", 4 << 20)
    fd = os.open(os.path.join(mount_dir, "probe"), os.O_RDWR | os.O_CREAT, 0o600)
    os.ftruncate(fd, 4096)
    addr = sc.mmap(4096, sc.PROT_READ | sc.PROT_WRITE, sc.MAP_SHARED, fd, 0)
    try:
        mem = os.open("/proc/self/mem", os.O_RDWR)
        os.pwrite(mem, b"\x5a", addr)
    except OSError as e:
        raise KernelRunnerError(f"cannot touch memory through /proc/self/mem: {e.strerror}") from e
    if os.pread(fd, 1, 0) != b"\x5a":
        raise KernelRunnerError("a write through /proc/self/mem did not reach the tmpfs page")


# -- the supervisor ---------------------------------------------------------------------------


class _Interrupted(BaseException):
    """A forwarded signal reached the supervisor (a BaseException: nothing may swallow it)."""

    def __init__(self, signo: int) -> None:
        super().__init__(signo)
        self.signo = signo


def _raise_interrupted(signo: int, _frame: object) -> None:
    raise _Interrupted(signo)


@contextmanager
def _blocked() -> Iterator[None]:
    """Hold the forwarded signals back (pending) while a step must not be interrupted."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _forwarding_signals(run: Callable[[frozenset[int]], T]) -> T:
    """Call run(ignored signals) with the forwarded signals turned into cleanup, then re-sent."""
    if threading.current_thread() is not threading.main_thread():
        return run(frozenset())  # only the main thread may handle signals; the child still dies
    previous = {s: signal.getsignal(s) for s in _FORWARDED}
    ignored = frozenset(s for s, h in previous.items() if h is signal.SIG_IGN)
    # A handler installed outside Python (None) cannot be restored, so it is left alone.
    watched = [s for s, h in previous.items() if h is not None and s not in ignored]
    for s in watched:
        signal.signal(s, _raise_interrupted)
    try:
        return run(ignored)
    except _Interrupted as e:
        interrupted = e
    finally:
        for s in watched:
            signal.signal(s, previous[s])
    _redeliver(interrupted.signo, previous[interrupted.signo])


def _redeliver(signo: int, handler: object) -> NoReturn:
    """The executor is dead and its mount gone: let the signal do what it would have done."""
    if handler is signal.default_int_handler:
        raise KeyboardInterrupt
    os.kill(os.getpid(), signo)  # SIG_DFL: we die of it here, with the conventional status
    raise KernelRunnerError(f"interrupted by {signal.Signals(signo).name}")


def _supervise(body: Body, trace: Trace | None, ignored: frozenset[int]) -> list[Any]:
    """Run *body* in an executor child on a fresh temporary directory; return its results."""
    mount_dir: str | None = None
    child = _Child()
    try:
        with _blocked():  # no window where the directory exists but is not yet ours to remove
            mount_dir = tempfile.mkdtemp(prefix="hugetmpfs-kernel-")
        child.start(body, mount_dir, ignored)
        return _collect(child, trace)
    finally:
        with _blocked():  # a second signal must not cut the cleanup short
            child.stop()
            if mount_dir is not None:
                _remove_dir(mount_dir)


def _remove_dir(path: str) -> None:
    """Remove the (empty) mount point; the tmpfs itself lived only in the child's namespace."""
    try:
        os.rmdir(path)
    except OSError as e:
        message = f"cannot remove the temporary mount point {path}: {e.strerror}"
        raise KernelRunnerError(message) from e


def _collect(child: _Child, trace: Trace | None) -> list[Any]:
    results: list[Any] = []
    finished, refused, fatal = False, None, None
    for kind, payload in child.messages():
        if kind == "result":
            results.append(payload)
        elif kind == "end":
            finished = True
        elif kind == "refused":
            refused = payload
        else:
            fatal = payload
    status = child.wait()
    if finished and status == 0:
        return results
    if refused is not None:  # an environment problem (the mount), already phrased
        raise KernelRunnerError(refused)
    where = _where(trace, len(results))
    if fatal is not None:
        raise KernelRunnerError(f"kernel executor failed {where}: {fatal}")
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        raise KernelRunnerError(f"kernel executor died with {name} {where}")
    code = os.WEXITSTATUS(status)
    raise KernelRunnerError(f"kernel executor exited with status {code} {where}")


def _where(trace: Trace | None, i: int) -> str:
    if trace is None:
        return "while probing"
    if i < len(trace.ops):
        return f"at op {i} (line {trace.ops[i].line})"
    return "after the last op"


class _Child:
    """The executor child: a forked process sending ``[kind, payload]`` JSON lines on a pipe."""

    def __init__(self) -> None:
        self.pid: int | None = None  # set until reaped
        self.rfd: int | None = None
        self.status = 0

    def start(self, body: Body, mount_dir: str, ignored: frozenset[int]) -> None:
        parent = os.getpid()
        rfd, wfd = os.pipe()
        self.rfd = rfd
        try:
            with _blocked():  # the pid is recorded before any signal can unwind this frame
                pid = os.fork()
                if pid == 0:
                    _child_main(body, mount_dir, rfd, wfd, parent, ignored)
                self.pid = pid
        finally:
            os.close(wfd)  # the child's copy is its own: EOF here means the child is gone

    def messages(self) -> Iterator[tuple[str, Any]]:
        assert self.rfd is not None
        pending = b""
        while chunk := os.read(self.rfd, 1 << 16):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                kind, payload = json.loads(line)
                yield kind, payload

    def wait(self) -> int:
        assert self.pid is not None
        _, self.status = os.waitpid(self.pid, 0)
        self.pid = None
        return self.status

    def stop(self) -> None:
        """Kill the child if it still runs, reap it, and close the pipe."""
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()
        if self.rfd is not None:
            os.close(self.rfd)
            self.rfd = None


def _child_main(
    body: Body, mount_dir: str, rfd: int, wfd: int, parent: int, ignored: frozenset[int]
) -> NoReturn:
    """The executor child's whole life; it never returns into the caller's code."""
    code = 1
    try:
        os.close(rfd)
        for s in _FORWARDED:  # die at once on a signal: the namespace, and the mount, go with us
            signal.signal(s, signal.SIG_IGN if s in ignored else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _FORWARDED)
        sc.set_parent_death_signal(signal.SIGKILL)  # a SIGKILLed supervisor takes us along
        if os.getppid() != parent:
            os._exit(1)
        # One CPU for the whole trace: per-CPU LRU batches (what MADV_PAGEOUT and reclaim
        # can isolate) then depend on the trace alone, as in the model, where the trace's
        # task runs on CPU 0.  This changes only our own affinity.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

        def send(message: Any) -> None:
            data = (json.dumps(message) + "\n").encode()
            while data:
                data = data[os.write(wfd, data) :]

        try:
            body(mount_dir, lambda payload: send(["result", payload]))
            send(["end", None])
            code = 0
        except KernelRunnerError as e:
            send(["refused", str(e)])
        except BaseException as e:  # a bug in the runner: report it, never unwind into the caller
            send(["fatal", f"{type(e).__name__}: {e}"])
    finally:
        os._exit(code)
