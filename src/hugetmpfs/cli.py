"""The ``hugetmpfs`` command line (DESIGN.md §4).

Exit status: 0 success, 1 a finding (a divergence, a violation), 2 bad input.  Bad input is
reported on one line of stderr, never with a traceback, and no results are written.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from hugetmpfs._version import __version__
from hugetmpfs.errors import HugetmpfsError, InputError, KernelRunnerError, ModelBug

if TYPE_CHECKING:
    from collections.abc import Callable


def _guarded(fn: Callable[[], int]) -> int:
    """Run a command body, turning our exceptions into one line on stderr and an exit status."""
    try:
        return fn()
    except (InputError, KernelRunnerError) as e:
        click.echo(f"hugetmpfs: {e}", err=True)
        return 2
    except ModelBug as e:
        click.echo(f"hugetmpfs: internal error: {e}", err=True)
        return 3
    except HugetmpfsError as e:  # pragma: no cover - every subclass is handled above
        click.echo(f"hugetmpfs: {e}", err=True)
        return 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hugetmpfs")
def cli() -> None:
    """An executable model of Linux huge tmpfs and its recovery, checked against the kernel."""


@cli.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--kernel", is_flag=True, help="Run on a fresh real tmpfs mount (root only).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the results to FILE (atomically) instead of stdout.",
)
def replay(trace: str, kernel: bool, out: str | None) -> None:
    """Replay TRACE and print one JSON result line per operation."""

    def body() -> int:
        from hugetmpfs.trace import parse_file
        from hugetmpfs.trace.results import write_results

        parsed = parse_file(trace)
        if kernel:
            from hugetmpfs.trace.kernel_runner import run_kernel

            results = run_kernel(parsed)
        else:
            raise InputError(
                "the model runner is not built yet; use --kernel to replay on the real kernel"
            )
        write_results(results, out)
        return 0

    sys.exit(_guarded(body))


def main() -> None:
    """Entry point of the ``hugetmpfs`` script."""
    cli(prog_name="hugetmpfs")
