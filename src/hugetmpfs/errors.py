"""The exceptions hugetmpfs raises, under one root.

A finding (a divergence, an invariant violation, a deadlock) is a result value, never an
exception: exceptions here mean bad input or a bug.
"""

from __future__ import annotations


class HugetmpfsError(Exception):
    """Root of every exception hugetmpfs raises on purpose."""


class InputError(HugetmpfsError):
    """Bad input from the user: a trace, a scenario, a command-line argument.

    The command line prints the message on one line to stderr and exits with status 2,
    without writing any results.  Fix the input the message names and run again.
    """

    exit_status = 2


class TraceError(InputError):
    """A malformed trace line: printed as ``file:line: reason``.

    Raised before anything runs, so a malformed trace never produces partial results.
    """

    def __init__(self, path: str, line: int, reason: str) -> None:
        # line 0: the file as a whole (it cannot be read), so there is no line to name.
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class ScenarioError(InputError):
    """A malformed scenario file: printed as ``file:line: key.path: reason``.

    The line is the one that holds the key when it can be known, else only the file and
    the key path are named.  Raised before the machine is built: nothing is written.
    """

    def __init__(self, path: str, line: int, where: str, reason: str) -> None:
        place = f"{path}:{line}" if line else path
        super().__init__(f"{place}: {where}: {reason}" if where else f"{place}: {reason}")
        self.path = path
        self.line = line
        self.where = where
        self.reason = reason


class KernelRunnerError(HugetmpfsError):
    """The real-kernel runner could not do its job (not root, mount refused, executor died).

    Not a finding about tmpfs: the environment is unsuitable.  The message says what to change.
    """

    exit_status = 2


BUG_ADVICE = (
    "this is a bug in hugetmpfs; please report it with the trace or schedule file that led to it"
)


class ModelBug(HugetmpfsError):
    """An assertion inside the model failed (the model's VM_BUG_ON).

    The model's own code is wrong, not the input.  The message carries a page dump in the
    shape of mm/debug.c's ``__dump_page`` and the advice to report it with the schedule.
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}\n{BUG_ADVICE}")
