"""The ``syndicate`` command: a few lines over the core for each subcommand."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from . import metrics
from .core import ImportReport, Syndicate
from .errors import SyndicateError
from .model import Outcome
from .redact import redact
from .settings import REGISTRY, base_url_hint, is_set, load_settings, served_origin

BASE_URL_SETTING = next(s for s in REGISTRY if s.name == "BASE_URL")
DEFAULT_BASE_URL = BASE_URL_SETTING.default

#: Demo posts shipped in the package, written for it in the old site's format.
DEMO = Path(__file__).with_name("demo")


def make_core() -> Syndicate:
    return Syndicate(load_settings())


def fail(message: str) -> NoReturn:
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


@main.command("import", help="Import Jekyll post files or folders (recursively). Posts are "
                             "committed in batches as they are read: after an interruption, "
                             "run the same command again to finish.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar with the rate and time left (default: only on a terminal).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processes parsing files (default: one per core for large imports).")
def import_(paths: tuple[Path, ...], progress: bool | None, workers: int | None) -> None:
    core = make_core()
    core.init()
    report = ImportReport()
    plan = core.plan_import(paths, report)
    show = sys.stderr.isatty() if progress is None else progress
    rate = _Rate()
    try:
        with click.progressbar(length=plan.total, label="Importing", file=sys.stderr,
                               hidden=not show, item_show_func=rate.show) as bar:
            rate.bar = bar
            core.run_import(plan, report, progress=rate.step, workers=workers)
            rate.flush()
    except SyndicateError as error:
        # Posts saved in earlier batches stay; running the import again adds the rest.
        fail(f"Import stopped: {error}")
    core.close()  # deliver the WebSub pings before exiting (undelivered ones stay queued)
    for origin, message in report.failures:
        click.echo(f"FAILED {origin}: {message}", err=True)
    click.echo(f"{plan.total} files: {report.summary()}")
    if not report.changed:
        click.echo("Nothing changed: every readable post was already up to date.")
    if report.counts[Outcome.FAILED]:
        sys.exit(1)


class _Rate:
    """Advance the progress bar a few times a second (not per file: a million redraws cost
    seconds) and show the files per second so far; the bar shows the time left itself."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.started = self.shown = time.monotonic()
        self.done = self.unshown = 0

    def step(self, _path: Path) -> None:
        self.done += 1
        self.unshown += 1
        if time.monotonic() - self.shown >= 0.2:
            self.flush()

    def flush(self) -> None:
        self.bar.update(self.unshown, self.done)
        self.unshown, self.shown = 0, time.monotonic()

    def show(self, done: int | None) -> str:
        elapsed = time.monotonic() - self.started
        return f"{done / elapsed:,.0f} files/s" if done and elapsed > 0 else ""


@main.command(help="Print the short share URL of a post; with --stats, its share links and "
                   "their clicks and link-preview fetches per day.")
@click.argument("post_id")
@click.option("--stats", is_flag=True, help="Show share links and counts per day.")
@click.option("--json", "as_json", is_flag=True, help="With --stats: print JSON, as the API does.")
def share(post_id: str, stats: bool, as_json: bool) -> None:
    core = make_core()
    try:
        if not stats:
            click.echo(core.share_url(core.post(post_id)))
            return
        found = core.shares.stats(post_id)
    except SyndicateError as error:
        fail(str(error))
    if as_json:
        click.echo(json.dumps(found.as_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(f"code:       {found.code}\nshort_url:  {found.short_url}\n"
               f"legacy_url: {found.legacy_url}\nclicks:     {found.clicks}\n"
               f"previews:   {found.previews}")
    if found.by_day:
        click.echo("\nday         clicks  previews")
        for day in found.by_day:
            click.echo(f"{day.day}  {day.clicks:>6}  {day.previews:>8}")


@main.command(help="Write the site into DIR as static files for any static host or CDN: pages, "
                   "feeds with their archives, QR codes, sitemaps, OPML, robots.txt, 404/410 "
                   "pages and redirect maps (_redirects, nginx). DIR is created; files an "
                   "earlier export wrote there are replaced, other files are left alone. "
                   "Prints files and bytes per kind.")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--base-url", metavar="URL",
              help="Public origin written into every absolute URL (default: SYNDICATE_BASE_URL). "
                   "Required when no origin is configured, so that files never point at "
                   "the local default.")
def export(directory: Path, base_url: str | None) -> None:
    from .web import create_app
    from .web.export import export_site

    config: dict[str, Any] = {"STATIC_EXPORT": True}
    if base_url is not None:
        try:
            config["BASE_URL"] = BASE_URL_SETTING.parse(base_url)
        except ValueError as error:
            fail(f"--base-url {base_url!r}: {error}")
    elif not is_set("BASE_URL", load_settings().instance_path):
        fail(NO_ORIGIN)
    try:
        app = create_app(config)
        core = app.extensions["syndicate"]
        core.init()
        report = export_site(app, directory)
    except SyndicateError as error:
        fail(f"Export failed: {error}")
    core.store.dispose()
    click.echo(report.summary())
    if report.refused:
        fail(f"{len(report.refused)} documents were refused: their files would lie outside "
             "their folder (see Refused above)")


NO_ORIGIN = (
    "Export refused: no public origin is configured, so every link, feed and share URL in "
    f"the files would point at {DEFAULT_BASE_URL}. Set the origin the files will be served "
    "from: export SYNDICATE_BASE_URL=https://news.example.com (or base_url in "
    "instance/syndicate.toml), or pass --base-url https://news.example.com.")


@main.command(help="Serve the site with a production WSGI server until SIGTERM or Ctrl-C, "
                   "which let requests in flight finish and write share counts and WebSub "
                   "pings before exiting.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on; 127.0.0.1 keeps it private behind a proxy.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port.")
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Worker processes (default: SYNDICATE_WORKERS, else the CPU cores).")
@click.option("--server", type=click.Choice(["granian", "gunicorn"]), default="granian",
              show_default=True, help="WSGI server (granian measured faster; see README).")
@click.option("--access-log/--no-access-log", default=None,
              help="Log one line per request (Combined Log Format) to standard output "
                   "(default: SYNDICATE_ACCESS_LOG, on).")
def serve(host: str, port: int, workers: int | None, server: str,
          access_log: bool | None) -> None:
    from .serve import PortInUse, ServeOptions, run

    settings = load_settings()
    origin = served_origin(settings, host, port)
    if origin:
        # Unconfigured: links should at least point at the address being served.
        os.environ["SYNDICATE_BASE_URL"] = origin
        click.echo(base_url_hint(origin), err=True)
    core = Syndicate(settings)
    core.init()
    core.store.dispose()
    options = ServeOptions(host, port, workers or settings.workers, server,
                           settings.access_log if access_log is None else access_log,
                           settings.shutdown_timeout, settings.metrics)
    # The workers read their settings anew: pass the flag on.
    os.environ["SYNDICATE_ACCESS_LOG"] = "on" if options.access_log else "off"
    try:
        run(options)
    except PortInUse as error:
        fail(str(error))


# -- categories ---------------------------------------------------------------------------


@main.group(invoke_without_command=True,
            help="List the categories: slug, posts, who named it, and the name readers see. "
                 "A name comes from the category's own posts (the media of their <媒体>新闻 "
                 "tag) unless an operator set one with `syndicate categories rename`.")
@click.pass_context
def categories(ctx: click.Context) -> None:
    if ctx.invoked_subcommand is not None:
        return
    core = make_core()
    core.init()
    infos = core.category_infos()
    if not infos:
        click.echo("No categories yet: import or fetch some posts first.")
        return
    width = max(len("slug"), *(len(info.slug) for info in infos))
    # The name goes last: CJK characters are two columns wide in a terminal.
    click.echo(f"{'slug':<{width}}  {'posts':>6}  {'named by':<8}  name")
    for info in infos:
        named = "operator" if info.named_by_operator else "posts"
        extra = f" (from posts: {info.derived_name})" if info.named_by_operator else ""
        click.echo(f"{info.slug:<{width}}  {info.posts:>6}  {named:<8}  {info.name}{extra}")


@categories.command(help="Set the name readers see for category SLUG; it wins over the name "
                         "derived from the posts and stays through later imports. Feeds, pages "
                         "and the OPML show it at once. With --derived, drop the operator's "
                         "name and show the derived one again.")
@click.argument("slug")
@click.argument("name", required=False)
@click.option("--derived", is_flag=True, help="Go back to the name derived from the posts.")
def rename(slug: str, name: str | None, derived: bool) -> None:
    if (name is None) == (not derived):
        fail("give a NAME, or --derived to show the name derived from the posts again (not both)")
    core = make_core()
    core.init()
    try:
        renamed = core.rename_category(slug, None if derived else name)
    except SyndicateError as error:
        fail(str(error))
    finally:
        core.close()
    if renamed.before == renamed.after:
        click.echo(f"{slug}: named {renamed.after} (unchanged).")
    else:
        click.echo(f"{slug}: named {renamed.after} (was {renamed.before}); "
                   f"{len(renamed.feeds)} feeds updated.")


# -- upstream sources ---------------------------------------------------------------------


def _sources(core: Syndicate):  # type: ignore[no-untyped-def]
    try:
        return core.sources()
    except SyndicateError as error:
        fail(redact(str(error)))


@main.command(help="Poll upstream sources once now (default: all of them) and print what each did. "
                   "Exits 1 if any source failed.")
@click.argument("names", nargs=-1)
def fetch(names: tuple[str, ...]) -> None:
    from .ingest.poll import Status, make_poller

    core = make_core()
    core.init()
    sources = _sources(core)
    known = {source.name for source in sources}
    for name in names:
        if name not in known:
            fail(f"no source named {name!r} in {core.settings.sources} "
                 f"(known: {', '.join(sorted(known)) or 'none'})")
    results = make_poller(core, sources).poll(names or None)
    for result in results:
        click.echo(redact(result.line()))
        for problem in result.item_errors:
            click.echo(f"  {redact(problem)}", err=True)
    if any(result.status is Status.FAILED for result in results):
        sys.exit(1)


@main.command(help="Poll each source on its schedule until stopped (SIGTERM or Ctrl-C); "
                   "run as many as you like, on one machine or several.")
@click.option("--quiet", is_flag=True, help="Print only failures.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve Prometheus metrics (poll outcomes per source) on this port of "
                   "--metrics-host, for a Prometheus server to scrape (default: none).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Interface for --metrics-port.")
def worker(quiet: bool, metrics_port: int | None, metrics_host: str) -> None:
    import signal
    import threading

    from .ingest.poll import Status, make_poller

    core = make_core()
    core.init()
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        click.echo(f"Stopping after the requests in flight ({signal.Signals(signum).name}).",
                   err=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    poller = make_poller(core, _sources(core), stop=stop)
    click.echo(f"Worker {poller.worker}: polling {len(poller.sources)} sources.", err=True)
    if metrics_port is not None:
        try:
            metrics.serve_http(metrics_port, metrics_host)
        except OSError as error:
            fail(f"--metrics-port {metrics_port}: cannot listen on {metrics_host}: "
                 f"{error.strerror}")
        click.echo(f"Metrics at http://{metrics_host}:{metrics_port}/metrics", err=True)

    def report(result: Any) -> None:
        if metrics_port is not None:
            metrics.poll_outcome(result.name, str(result.status))
        if result.status is Status.SKIPPED or (quiet and result.status is not Status.FAILED):
            return
        click.echo(redact(result.line()))

    poller.run(report=report)
    click.echo("Worker stopped.", err=True)


@main.command("sources", help="List the configured sources and the state of their polling.")
def sources_() -> None:
    core = make_core()
    core.init()
    try:
        status = core.source_status()
    except SyndicateError as error:
        fail(redact(str(error)))
    if not status:
        click.echo(f"No sources in {core.settings.sources}.")
    for source, state in status:
        click.echo(f"{source.name} ({source.kind}, every {_duration(source.every)}): "
                   f"{redact(state.url if state else source.url)}")
        if state is None or state.last_poll is None:
            click.echo("  never polled")
            continue
        click.echo(f"  last success: {_when(state.last_success)}; "
                   f"next poll: {_when(state.next_poll)}")
        if state.last_error:
            click.echo(f"  last error: {_when(state.last_error_at)}: {redact(state.last_error)}"
                       + (f" ({state.failures} failures in a row)" if state.failures else ""))
        click.echo(f"  posts: {state.posts_new} new, {state.posts_updated} updated")


def _when(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %z") if value else "never"


def _duration(value: Any) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@main.command(help="Delete posts published longer ago than --older-than; their pages and share "
                   "links then answer 410 Gone. Feeds keep the newest posts anyway: pruning is "
                   "optional.")
@click.option("--older-than", "older_than", required=True,
              help="Age such as 365d, 12h or 90m (posts older than this are deleted).")
def prune(older_than: str) -> None:
    from datetime import UTC, datetime

    from .sources import parse_duration

    try:
        age = parse_duration(older_than)
    except ValueError as error:
        fail(f"--older-than: {error}")
    core = make_core()
    core.init()
    now = datetime.now(UTC)
    deleted = core.prune(age, now)
    click.echo(f"Deleted {deleted} posts published before {_when(now - age)}.")
