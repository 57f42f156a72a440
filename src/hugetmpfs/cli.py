"""The ``hugetmpfs`` command line (DESIGN.md §4).

Exit status: 0 success, 1 a finding (a divergence, a violation), 2 bad input.  Bad input is
reported on one line of stderr, never with a traceback, and no results are written.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from hugetmpfs._version import __version__
from hugetmpfs.errors import (
    HugetmpfsError,
    InputError,
    KernelRunnerError,
    ModelBug,
    ScenarioError,
    TraceError,
)
from hugetmpfs.sim.strategy.pct import MAX_PCT_DEPTH

if TYPE_CHECKING:
    from collections.abc import Callable

    from hugetmpfs.trace import Trace
    from hugetmpfs.trace.results import Result


def _guarded(fn: Callable[[], int]) -> int:
    """Run a command body, turning our exceptions into one line on stderr and an exit status."""
    try:
        return fn()
    except (TraceError, ScenarioError) as e:  # exactly `file:line: reason` (DESIGN.md §3.5)
        click.echo(str(e), err=True)
        return 2
    except (InputError, KernelRunnerError) as e:
        click.echo(f"hugetmpfs: {e}", err=True)
        return 2
    except ModelBug as e:
        click.echo(f"hugetmpfs: internal error: {e}", err=True)
        return 3
    except KeyboardInterrupt:  # Ctrl-C: 128+SIGINT, not click's "Aborted!" and status 1
        click.echo("hugetmpfs: interrupted", err=True)
        return 130
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
        from hugetmpfs.trace.files import Output
        from hugetmpfs.trace.results import write_results

        parsed = parse_file(trace)
        # Checked before the run: a --kernel run would otherwise do all its work first.
        destination = None if out is None else Output(out, "--out", {"trace": trace})
        if kernel:
            results = _run_kernel(parsed)
        else:
            results = _run_model(parsed, "use --kernel to replay on the real kernel")
        write_results(results, destination)
        return 0

    sys.exit(_guarded(body))


@cli.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@click.argument("a", required=False, type=click.Path(dir_okay=False))
@click.argument("b", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--context",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many ops before a divergence to show.",
)
@click.option("--skipped", is_flag=True, help="Also list the skipped lines and fields.")
def diff(trace: str, a: str | None, b: str | None, context: int, skipped: bool) -> None:
    """Compare the results of TRACE on the kernel and the model, or the stored results A and B.

    Shows the first divergence with the ops before it.  Exit status 0 when they agree, 1 on a
    divergence, 2 on bad input.
    """
    if (a is None) != (b is None):
        raise click.UsageError("give both stored result files A and B, or neither")

    def body() -> int:
        from hugetmpfs.trace import parse_file
        from hugetmpfs.trace.diff import compare, format_comparison, format_skipped
        from hugetmpfs.trace.results import read_results

        parsed = parse_file(trace)
        if a is not None and b is not None:
            labels = (a, b)
            left, right = read_results(a), read_results(b)
        else:
            labels = ("kernel", "model")
            # The model first: it is fast, and the kernel run needs root and a mount.
            right = _run_model(parsed, "give two stored result files: hugetmpfs diff TRACE A B")
            left = _run_kernel(parsed)
        comparison = compare(parsed, left, right)
        if skipped and comparison.skipped:
            click.echo(format_skipped(parsed, comparison, labels))
        click.echo(format_comparison(parsed, comparison, labels, context))
        return 0 if comparison.agrees else 1

    sys.exit(_guarded(body))


@cli.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the counters as one JSON object.")
def stats(trace: str, as_json: bool) -> None:
    """Replay TRACE on the model and show recovery's 26 counters as it left them (patch
    28's debugfs files), with the consistency relations between them."""

    def body() -> int:
        import json

        from hugetmpfs.shmem.recovery_stats import recovery_stats, stats_relations
        from hugetmpfs.trace import parse_file
        from hugetmpfs.trace.model_runner import run_model_machine

        _, machine = run_model_machine(parse_file(trace))
        counters = recovery_stats(machine)
        if as_json:
            click.echo(json.dumps(counters))
            return 0
        width = max(map(len, counters))
        for name, value in counters.items():
            click.echo(f"{name:<{width}}  {value:>10}")
        click.echo("")
        for text, holds in stats_relations(counters):
            click.echo(f"{'holds ' if holds else 'BROKEN'}  {text}")
        return 0

    sys.exit(_guarded(body))


def _run_kernel(trace: Trace) -> list[Result]:
    from hugetmpfs.trace.kernel_runner import run_kernel

    return run_kernel(trace)


def _run_model(trace: Trace, advice: str) -> list[Result]:
    from hugetmpfs.trace.model_runner import run_model

    return run_model(trace)


_SCALE = click.Choice(["1", "2", "4", "8", "16", "32", "64"])


@cli.command()
@click.argument("scenario", required=False)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Directory for the series, plots, page maps and report (default: out/SCENARIO).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False),
    help="Also write the self-contained HTML report to DIR/index.html.",
)
@click.option("--scale", type=_SCALE, default="1", help="Divide every size and access count.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override a scenario key (repeatable), e.g. machine.seed=3 or sysctl.vm.swappiness=100.",
)
@click.option("--list", "list_only", is_flag=True, help="List the built-in scenarios.")
@click.option("--quiet", is_flag=True, help="No progress bar or tables; print the paths only.")
def run(
    scenario: str | None,
    out_dir: str | None,
    report_dir: str | None,
    scale: str,
    overrides: tuple[str, ...],
    list_only: bool,
    quiet: bool,
) -> None:
    """Run a workload SCENARIO on a model machine: a built-in's name or a TOML file (the
    built-in default without one).  Exit status 1 if a byte read back differs or a phase
    failed, 2 on a bad scenario."""

    def body() -> int:
        from rich.console import Console

        from hugetmpfs.workload import cli_support

        if list_only:
            click.echo(cli_support.list_scenarios())
            return 0
        sc = cli_support.load(scenario, overrides, int(scale))
        out = out_dir or os.path.join("out", sc.name)
        cli_support.check_output_dir(out, "--out")
        if report_dir is not None:
            cli_support.check_output_dir(report_dir, "--report")
        console = Console(stderr=quiet, quiet=quiet)
        status, paths = cli_support.run_and_report(sc, console, out, report_dir)
        if quiet:
            click.echo("\n".join(paths.values()))
        else:
            click.echo(f"report: {os.path.relpath(paths['report'])}")
        return status

    sys.exit(_guarded(body))


@cli.command()
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Also draw both runs to this file (.png, .svg or .pdf).",
)
def compare(a: str, b: str, plot: str | None) -> None:
    """Show two runs side by side: A and B are the series.json files of two runs."""

    def body() -> int:
        from rich.console import Console

        from hugetmpfs.workload import cli_support

        console = Console(width=None if sys.stdout.isatty() else 140)
        return cli_support.compare_runs(a, b, console, plot)

    sys.exit(_guarded(body))


@cli.command()
@click.argument("scenario")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY.PATH=V1,V2,...",
    help="A scenario key and its values (repeatable): the grid is every combination.",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE", help="As for run.")
@click.option("--scale", type=_SCALE, default="1", help="Divide every size and access count.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Runs in parallel (forked processes).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Directory for the runs and the table (default: out/sweep-SCENARIO).",
)
def sweep(
    scenario: str,
    params: tuple[str, ...],
    overrides: tuple[str, ...],
    scale: str,
    workers: int,
    out_dir: str | None,
) -> None:
    """Run SCENARIO over a grid of parameters in parallel; one table of the results."""

    def body() -> int:
        from rich.console import Console

        from hugetmpfs.workload import cli_support

        console = Console(width=None if sys.stdout.isatty() else 200)
        return cli_support.sweep(scenario, params, overrides, int(scale), out_dir, workers, console)

    sys.exit(_guarded(body))


@cli.command()
@click.argument("scenario", required=False)
@click.option(
    "--strategy",
    type=click.Choice(["random", "pct", "dfs"]),
    default="random",
    show_default=True,
    help="How to choose interleavings.",
)
@click.option(
    "--schedules",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Executions at most.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the first execution (random, pct).",
)
@click.option(
    "--depth",
    type=click.IntRange(1, MAX_PCT_DEPTH),
    default=2,
    show_default=True,
    help="PCT's bug depth.",
)
@click.option(
    "--bound",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="DFS's preemption bound.",
)
@click.option("--variant", type=click.Choice(["v24", "v29"]), default="v24", show_default=True)
@click.option(
    "--disable-guard",
    "guards",
    multiple=True,
    metavar="NAME",
    help="Switch a race guard off (repeatable), e.g. base/R4.1.",
)
@click.option(
    "--replay",
    "replay_file",
    type=click.Path(dir_okay=False),
    help="Reproduce a finding from its schedule file.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes for random and PCT (same results as one).",
)
@click.option(
    "--no-prune",
    "no_prune",
    is_flag=True,
    help="DFS: explore states reached before again (states are still counted).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios.")
@click.option(
    "--self-test",
    "self_test",
    is_flag=True,
    help="Every guard off must be found, all guards on must not (DFS); of SCENARIO only "
    "when one is named.",
)
def explore(
    scenario: str | None,
    strategy: str,
    schedules: int,
    seed: int,
    depth: int,
    bound: int,
    variant: str,
    guards: tuple[str, ...],
    replay_file: str | None,
    workers: int,
    no_prune: bool,
    as_json: bool,
    list_only: bool,
    self_test: bool,
) -> None:
    """Explore interleavings of race SCENARIO, checking every invariant at every step.

    Exit status 1 when something is found; the schedule is saved to findings/ for --replay.
    """

    def body() -> int:
        from hugetmpfs.explore import cli_support

        ctx = click.get_current_context()
        modes = [
            flag
            for flag, on in (
                ("--list", list_only),
                ("--replay", replay_file is not None),
                ("--self-test", self_test),
            )
            if on
        ]
        if len(modes) > 1:
            raise InputError(f"{' and '.join(modes)} are separate modes: give one")
        if replay_file is not None:  # the file says how it was explored
            for name in ("strategy", "schedules", "seed", "depth", "bound", "variant", "guards"):
                if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
                    flag = "--disable-guard" if name == "guards" else f"--{name}"
                    raise InputError(f"--replay takes {flag} from the schedule file: drop it")
        if list_only:
            click.echo(cli_support.list_scenarios())
            return 0
        options = cli_support.options(
            strategy, schedules, seed, depth, bound, variant, guards, prune=not no_prune
        )
        if replay_file is not None:
            return cli_support.replay_file(replay_file, as_json, scenario)
        if self_test:
            source = ctx.get_parameter_source("schedules")
            given = source == click.core.ParameterSource.COMMANDLINE
            return cli_support.self_test(options, as_json, given_budget=given, scenario=scenario)
        if scenario is None:
            raise InputError("explore needs a SCENARIO (see hugetmpfs explore --list)")
        return cli_support.explore_scenario(scenario, options, as_json, workers)

    sys.exit(_guarded(body))


def main() -> None:
    """Entry point of the ``hugetmpfs`` script."""
    cli(prog_name="hugetmpfs")
