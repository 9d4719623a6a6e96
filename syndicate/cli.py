"""The ``syndicate`` command: a few lines over the core for each subcommand."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .core import ImportReport, Syndicate
from .errors import SyndicateError
from .model import Outcome
from .settings import load_settings


#: Demo posts shipped in the package, written for it in the old site's format.
DEMO = Path(__file__).with_name("demo")


def make_core() -> Syndicate:
    return Syndicate(load_settings())


def fail(message: str) -> None:
    raise click.ClickException(message)


@click.group(help="syndicate: import news posts, serve pages, feeds and share links.")
@click.version_option(package_name="syndicate")
def main() -> None:
    pass


@main.command(help="Create or upgrade the database (safe to run again).")
@click.option("--demo", is_flag=True, help="Also import the bundled demo posts.")
def init(demo: bool) -> None:
    core = make_core()
    try:
        revision = core.init()
    except SyndicateError as error:
        fail(str(error))
    click.echo(f"Database ready at schema revision {revision}: {core.settings.database_url}")
    if demo:
        report = core.import_paths([DEMO])
        click.echo(f"Demo posts: {report.summary()}")


@main.command("import", help="Import Jekyll post files or folders (recursively).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: only on a terminal).")
def import_(paths: tuple[Path, ...], progress: bool | None) -> None:
    core = make_core()
    core.init()
    report = ImportReport()
    files = core.collect_files(paths, report)
    show = sys.stderr.isatty() if progress is None else progress
    with click.progressbar(length=len(files), label="Importing", file=sys.stderr,
                           hidden=not show) as bar:
        core.import_files(files, report, progress=lambda _path: bar.update(1))
    for origin, message in report.failures:
        click.echo(f"FAILED {origin}: {message}", err=True)
    click.echo(f"{len(files)} files: {report.summary()}")
    if not report.changed:
        click.echo("Nothing changed: every readable post was already up to date.")
    if report.counts[Outcome.FAILED]:
        sys.exit(1)


@main.command(help="Print the short share URL of a post.")
@click.argument("post_id")
def share(post_id: str) -> None:
    core = make_core()
    try:
        click.echo(core.share_url(core.post(post_id)))
    except SyndicateError as error:
        fail(str(error))


@main.command(help="Serve the site with a production WSGI server.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on; 127.0.0.1 keeps it private behind a proxy.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port.")
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Worker processes (default: SYNDICATE_WORKERS, 4).")
@click.option("--server", type=click.Choice(["granian", "gunicorn"]), default="granian",
              show_default=True, help="WSGI server (granian measured faster; see README).")
def serve(host: str, port: int, workers: int | None, server: str) -> None:
    from .serve import run

    settings = load_settings()
    core = Syndicate(settings)
    core.init()
    core.store.dispose()
    run(server, host, port, workers or settings.workers)
