"""One registry of settings: name, default and help in one place.

The same table feeds the configuration, ``syndicate --help`` texts and the README, and a
test checks that every setting is documented. Settings come from (lowest first): the
defaults here, an optional ``instance/syndicate.toml`` file, ``SYNDICATE_*`` environment
variables, and explicit overrides (tests).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .networks import DEFAULT_INTERNAL_NETWORKS, Network, parse_networks
from .sources import parse_duration

PREFIX = "SYNDICATE_"


def _split_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(part.strip() for part in str(value).replace("\n", ",").split(",") if part.strip())


def _positive_int(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be a positive whole number")
    return number


def _base_url(value: Any) -> str:
    text = str(value).strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise ValueError("must be an absolute http(s) URL such as https://news.example.com")
    return text


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be on or off (1/0, true/false, yes/no)")


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {value!r}") from error
    return str(value)


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[Any], Any] = str


REGISTRY: tuple[Setting, ...] = (
    Setting("DATABASE_URL", None,
            "SQLAlchemy database URL. Default: a SQLite file `syndicate.db` in the instance folder. "
            "PostgreSQL: `postgresql+psycopg://user@host/dbname`."),
    Setting("BASE_URL", "http://127.0.0.1:8000",
            "The public origin used in every absolute URL (feeds, share links, redirects). "
            "Never taken from the request's Host header. Unset, `syndicate serve` on another "
            "host or port uses the address it serves.", _base_url),
    Setting("SITE_TITLE", "金融消息", "The site's title, shown on pages and in feeds."),
    Setting("TIMEZONE", "Asia/Shanghai",
            "Site time zone: dates without an offset are read in it, pages show dates in it.",
            _timezone),
    Setting("FEED_SIZE", 50, "Entries per feed.", _positive_int),
    Setting("PAGE_SIZE", 20, "Posts per category or tag page.", _positive_int),
    Setting("FEED_MAX_AGE", 300, "Seconds feed readers may cache a feed (Cache-Control max-age).",
            _positive_int),
    Setting("ARCHIVE_SIZE", 50,
            "Entries per RFC 5005 archive page of a feed (in arrival order). Set it once: changing "
            "it renumbers every archive page readers may have stored.", _positive_int),
    Setting("TAG_AUTHORITY", "syndicate.invalid,2021",
            "Authority of the `tag:` URIs used as feed entry ids. Set it once, before the first "
            "feed is published, and never change it: readers would see every entry again.",),
    Setting("API_TOKENS", (), "Comma-separated bearer tokens allowed to write through the API.",
            _split_list),
    Setting("WEBSUB_HUBS", (), "Comma-separated WebSub hub URLs to advertise and ping.",
            _split_list),
    Setting("SOURCES", None,
            "Path of the upstream sources TOML file. Default: `sources.toml` in the instance folder."),
    Setting("FETCH_CONCURRENCY", 16,
            "Upstream requests `syndicate worker` and `fetch` make at once (at most 4 per host).",
            _positive_int),
    Setting("FETCH_TIMEOUT", 30,
            "Seconds an upstream may take to send each part of its answer (connect: at most 10); "
            "a whole response must arrive within twice that.", _positive_int),
    Setting("FETCH_MAX_BYTES", 10 * 1024 * 1024,
            "Largest upstream response read, in bytes; a larger one is recorded as a failure.",
            _positive_int),
    Setting("FETCH_INTERNAL_NETWORKS", DEFAULT_INTERNAL_NETWORKS,
            "Comma-separated CIDRs an upstream may never redirect or resolve into (checked on "
            "every resolved address of every hop, IPv4-mapped IPv6 included). A source whose "
            "configured URL resolves inside them may stay inside. Setting it replaces the "
            "default: loopback, private, link-local, unique-local, CGNAT and the other IANA "
            "special-purpose ranges.", parse_networks),
    Setting("FETCH_LEASE", 120,
            "Seconds a worker's claim on a source lasts (renewed while it works on it); a "
            "worker that dies holding one loses it after this long.", _positive_int),
    Setting("API_MAX_BYTES", 1024 * 1024,
            "Largest request body the publish API accepts, in bytes (larger: 413).", _positive_int),
    Setting("REDIS_URL", None, "Optional Redis URL for a cache shared by several workers or machines."),
    Setting("SHARE_COUNTING", True,
            "Count share link clicks and link-preview fetches per day (no IP address or user "
            "agent is stored; DNT and Sec-GPC are honoured). Off: nothing is counted.", _flag),
    Setting("FUTURE_LEAD", timedelta(days=2),
            "How far in the future a post's publish date may lie (`30m`, `6h`, `2d`): an item "
            "dated later, or before 1990-01-01, is refused with a reason naming the date field.",
            parse_duration),
    Setting("WORKERS", None,
            "Worker processes of `syndicate serve`. Default: the CPU cores the server may use.",
            _positive_int),
    Setting("ACCESS_LOG", True,
            "`syndicate serve` logs one line per request to standard output, in the Combined "
            "Log Format. Off: no access log (`--no-access-log`).", _flag),
    Setting("SHUTDOWN_TIMEOUT", 20,
            "Seconds `syndicate serve` lets requests in flight finish after SIGTERM or Ctrl-C "
            "before it kills a worker (counts and pings are written within them).",
            _positive_int),
    Setting("METRICS", False,
            "Serve Prometheus metrics at `/metrics` (requests and latency per route class, "
            "render cache, share-count flush lag, WebSub queue), added up over every worker. "
            "Off by default: keep /metrics away from the public (see README).", _flag),
)

_BY_NAME = {setting.name: setting for setting in REGISTRY}


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    base_url: str
    site_title: str
    timezone: str
    feed_size: int
    page_size: int
    feed_max_age: int
    tag_authority: str
    api_tokens: tuple[str, ...]
    websub_hubs: tuple[str, ...]
    sources: Path
    redis_url: str | None
    workers: int
    fetch_concurrency: int
    fetch_timeout: int
    fetch_max_bytes: int
    fetch_internal_networks: tuple[Network, ...]
    fetch_lease: int
    api_max_bytes: int
    archive_size: int
    share_counting: bool
    future_lead: timedelta
    access_log: bool
    shutdown_timeout: int
    metrics: bool

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity, not the machine's total)."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if count is not None:
        return int(count() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_instance_path() -> Path:
    """Return the instance folder: ``SYNDICATE_INSTANCE`` or ``./instance``."""
    return Path(os.environ.get(PREFIX + "INSTANCE", "instance")).resolve()


def _read_instance_file(instance_path: Path) -> dict[str, Any]:
    path = instance_path / "syndicate.toml"
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    return {str(key).upper(): value for key, value in data.items()}


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    instance_path: Path | None = None,
) -> Settings:
    """Build the settings from defaults, the instance file, the environment and overrides."""
    environ = os.environ if environ is None else environ
    instance_path = (instance_path or default_instance_path()).resolve()
    raw: dict[str, Any] = {s.name: s.default for s in REGISTRY}
    layers: list[tuple[str, Mapping[str, Any]]] = [
        (str(instance_path / "syndicate.toml"), _read_instance_file(instance_path)),
        ("environment", {k[len(PREFIX):]: v for k, v in environ.items() if k.startswith(PREFIX)}),
        ("overrides", {k.upper(): v for k, v in (overrides or {}).items()}),
    ]
    values: dict[str, Any] = dict(raw)
    for where, layer in layers:
        for name, value in layer.items():
            setting = _BY_NAME.get(name)
            if setting is None or value is None:
                continue
            try:
                values[name] = setting.parse(value)
            except (TypeError, ValueError) as error:
                label = PREFIX + name if where == "environment" else name
                raise ConfigError(f"Setting {label} ({where}): {error}") from error
    # Each setting is the Settings field of the same name in lower case; some need a value
    # derived when unset (from the instance folder, the machine's cores), networks parsing.
    fields = {setting.name.lower(): values[setting.name] for setting in REGISTRY}
    fields["database_url"] = values["DATABASE_URL"] or f"sqlite:///{instance_path / 'syndicate.db'}"
    fields["sources"] = Path(values["SOURCES"]) if values["SOURCES"] else instance_path / "sources.toml"
    fields["redis_url"] = values["REDIS_URL"] or None
    fields["fetch_internal_networks"] = parse_networks(values["FETCH_INTERNAL_NETWORKS"])
    fields["workers"] = values["WORKERS"] or _cpu_cores()
    return Settings(instance_path=instance_path, **fields)


def served_origin(settings: Settings, host: str, port: int) -> str | None:
    """The origin to use for a server on ``host:port`` when BASE_URL was left at its
    default and does not name that address; None when BASE_URL fits."""
    if settings.base_url != _BY_NAME["BASE_URL"].default:
        return None
    origin = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    return None if origin == settings.base_url else origin


def base_url_hint(origin: str) -> str:
    """What a server says when it fills in BASE_URL from the address it serves."""
    return (f"SYNDICATE_BASE_URL is not set; using {origin} in absolute URLs "
            "(set it to the public origin, e.g. https://news.example.com)")


def settings_table() -> str:
    """Return the settings as a Markdown table (for the README)."""
    rows = ["| variable | default | what |", "|---|---|---|"]
    for s in REGISTRY:
        default = "(see text)" if s.default is None else _shown(s.default)
        rows.append(f"| `{PREFIX}{s.name}` | `{default or '(none)'}` | {s.help} |")
    return "\n".join(rows)


def is_set(name: str, instance_path: Path, environ: Mapping[str, str] | None = None) -> bool:
    """Tell whether a setting is given in the environment or the instance file (whatever
    its value), as opposed to left at its default."""
    environ = os.environ if environ is None else environ
    return bool(environ.get(PREFIX + name)) or name in _read_instance_file(instance_path)


def _shown(default: Any) -> str:
    """A default as the README shows it (tuples joined, durations in days or seconds)."""
    if isinstance(default, tuple):
        return ", ".join(default)
    if isinstance(default, timedelta):
        days, rest = divmod(int(default.total_seconds()), 86400)
        return f"{days}d" if not rest else f"{int(default.total_seconds())}s"
    return str(default)
