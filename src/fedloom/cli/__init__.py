"""The ``fedloom`` command line.

Every :class:`~fedloom.core.errors.FedloomError` becomes one red line naming the party, component
and field, and the exit code of its class (``core.errors.EXIT_CODES``); ``--verbose`` adds the
traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from fedloom import __version__
from fedloom.cli.bench import app as bench_app
from fedloom.cli.data import app as data_app
from fedloom.cli.datasets import app as datasets_app
from fedloom.cli.demo import demo_command
from fedloom.cli.flow import init_command
from fedloom.cli.job import app as job_app
from fedloom.cli.model import app as model_app
from fedloom.cli.nn import app as nn_app
from fedloom.cli.run import run_command
from fedloom.cli.server import app as server_app
from fedloom.cli.table import app as table_app
from fedloom.cli.tracking import app as tracking_app
from fedloom.core.errors import FedloomError, exit_code

app = typer.Typer(
    name="fedloom",
    help="Federated learning where every party keeps its raw data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(bench_app, name="bench")
app.add_typer(data_app, name="data")
app.add_typer(table_app, name="table")
app.add_typer(datasets_app, name="datasets")
app.add_typer(nn_app, name="nn")
app.command("run")(run_command)
app.command("demo")(demo_command)
app.command("init")(init_command)
app.add_typer(job_app, name="job")
app.add_typer(server_app, name="server")
app.add_typer(model_app, name="model")
app.add_typer(tracking_app, name="tracking")
app.add_typer(tracking_app, name="component", help="Alias of `tracking` (FATE-Flow's name).")

_state = {"verbose": False}
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fedloom {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks of errors."),
) -> None:
    """fedloom: vertical and horizontal federated learning over gRPC and Paillier."""
    _state["verbose"] = verbose


def main() -> None:
    """Console-script entry point."""
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)  # click returns a command's typer.Exit(code) here instead of raising it
    except FedloomError as exc:
        if _state["verbose"]:
            err_console.print_exception()
        # escape: "[guest:9999 / reader_0]" would otherwise be read as rich markup and vanish
        err_console.print(
            f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(exit_code(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
