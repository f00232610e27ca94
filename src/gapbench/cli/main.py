"""Entry point. Imports only click: every command imports what it needs when it runs, so
`gapbench --help` stays instant."""

from __future__ import annotations

import sys
from typing import Any

import click

from gapbench import __version__


class GapbenchGroup(click.Group):
    """Turns the library's errors into one clear line and the right exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from gapbench.errors import GapbenchError

        try:
            return super().invoke(ctx)
        except GapbenchError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo(
                "Interrupted: finished samples are stored; rerun the same command to resume.",
                err=True,
            )
            sys.exit(130)


@click.group(cls=GapbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gapbench")
def main() -> None:
    """Measure the gap between language models: fresh tasks, confidence intervals, paired
    verdicts, speed and cost, from one run on your own hardware.

    \b
    Quick start:
      gapbench demo                      three small offline models on the quick suite
      gapbench run --model smollm2-135m-instruct --suite quick --n 20
      gapbench leaderboard               what the database holds
      gapbench compare MODEL_A MODEL_B   a paired verdict with a 95% CI and a p-value
      gapbench gap                       the best CN model against the best US model
    """


def _register() -> None:
    from gapbench.cli import catalog_cmds, gap_cmds, read_cmds, report_cmds, run_cmds

    main.add_command(run_cmds.run)
    main.add_command(run_cmds.demo)
    main.add_command(read_cmds.leaderboard)
    main.add_command(read_cmds.compare)
    main.add_command(gap_cmds.gap)
    main.add_command(catalog_cmds.models)
    main.add_command(catalog_cmds.tasks)
    main.add_command(report_cmds.report)
    main.add_command(report_cmds.serve)
    main.add_command(report_cmds.export)


_register()
