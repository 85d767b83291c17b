"""Every server setting, declared once: name, default, help.

The table feeds `create_app` (defaults → ``BJKG_<NAME>`` environment variables → the
mapping passed to `create_app`), `bjkg serve --setting NAME VALUE` and
`bjkg serve --help-settings`, and the HTML side's settings page (`public_settings`, which
hides secrets). Handlers read `current_app.config[NAME]`, never the environment.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "BJKG_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the setting."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _positive_float(value: Any) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return number


def _positive_int(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"must be at least 1, got {value!r}")
    return number


def _non_negative_int(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"must be 0 or more, got {value!r}")
    return number


def _choice(*names: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in names:
            raise ValueError(f"expected one of {', '.join(names)}, got {value!r}")
        return text
    return parse


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text or None


def _public_url(value: Any) -> str:
    """An absolute http(s) URL ending in a slash, or "" (derived)."""
    from urllib.parse import urlsplit

    text = str(value or "").strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("an absolute http(s) URL without query or fragment, e.g. https://bjkg.example.org/")
    return text if text.endswith("/") else text + "/"


def _iri_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    else:
        items = [str(v) for v in value or ()]
    for item in items:
        if ":" not in item:
            raise ValueError(f"{item!r} is not an absolute IRI")
    return tuple(items)


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[Any], Any] = str
    secret: bool = False
    # A folder of the server machine: public views say only whether it is set, since an
    # absolute path tells a visitor the builder's user name and layout and serves nobody.
    local_path: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name


SETTINGS: tuple[Setting, ...] = (
    Setting("BASE_IRI", "https://w3id.org/bjkg/",
            "Base IRI of the dataset; entity IRIs under it are served on this host, and "
            "relative IRIs in queries and updates resolve against it."),
    Setting("PUBLIC_URL", "",
            "The server's public root URL, used for every absolute link it writes (catalogue, "
            "VoID, service description, dumps, Location); never the request's Host header. "
            "Empty: `bjkg serve` uses http://HOST:PORT/ of its bind address; otherwise BASE_IRI.",
            _public_url),
    Setting("BUILD_DIR", "_build",
            "Built graph folder to serve read-only (the output of `bjkg build --out DIR`); "
            "with SPARQL_ENDPOINT, optional (empty: none).", local_path=True),
    Setting("EMPTY", False,
            "Serve an empty in-memory dataset instead of BUILD_DIR (writable with UPDATE_TOKEN). "
            "Its data lives in a process that applies authorised writes and never evaluates a "
            "query; queries run in processes forked from it, under the same limits as a build's.",
            _bool),
    Setting("QUERY_TIMEOUT", 30.0,
            "Seconds a query may take from the request's arrival, waiting for a slot "
            "included; the evaluator process is then ended and the client gets 503 Service "
            "Unavailable with Retry-After. With --empty, also the time an update that "
            "evaluates patterns may take (503 past it, nothing written).", _positive_float),
    Setting("MAX_ROWS", 0,
            "Most result rows (or triples) one query may return; 0 (the default): no limit, "
            "answers are streamed whole. A longer answer is refused with 400 naming this "
            "setting, never cut.", _non_negative_int),
    Setting("MAX_QUERY_LENGTH", 100_000,
            "Most characters in one query or update (414 for GET, 413 for POST).", _positive_int),
    Setting("MAX_NESTING", 256,
            "Deepest nesting a query or update may have, as counted by a scan of its text "
            "before it is parsed (brackets, braces, parentheses, property paths, `!`, and "
            "chains such as OPTIONAL, UNION or `||` that the engine folds into nested trees), "
            "and a Graph Store body (JSON-LD braces, RDF/XML elements, Turtle `[ ( <<`); "
            "deeper requests get 400. The engine parses and evaluates recursively, and a text "
            "nested a few thousand levels deep would overflow its stack and kill the process.",
            _positive_int),
    Setting("MAX_BODY_BYTES", 10 * 1024 * 1024,
            "Largest request body accepted (413 beyond).", _positive_int),
    Setting("SERVICE_ALLOWLIST", (),
            "SERVICE endpoints queries may call (IRIs separated by spaces or commas). Empty: "
            "SERVICE is refused and the server never makes an outbound request.", _iri_list),
    Setting("SERVICE_TIMEOUT", 10.0,
            "Seconds an allow-listed SERVICE endpoint may take to answer one call (the call "
            "then fails; SERVICE SILENT turns that into no rows).", _positive_float),
    Setting("SERVICE_MAX_ROWS", 10000,
            "Most rows taken from one SERVICE call; a longer answer fails the call (SERVICE "
            "SILENT: no rows from it), it is never cut.", _positive_int),
    Setting("SPARQL_ENDPOINT", None,
            "Serve an existing SPARQL 1.1 store at this query endpoint instead of BUILD_DIR "
            "(e.g. Virtuoso's http://host:8890/sparql); the dataset is what `bjkg publish` "
            "recorded there. BUILD_DIR, if also set, must be that build (its dumps are served).",
            _optional_str),
    Setting("UPDATE_ENDPOINT", None,
            "SPARQL Update endpoint of the remote store; with UPDATE_TOKEN, updates sent to "
            "/sparql are passed on to it.", _optional_str),
    Setting("GRAPH_STORE", None,
            "Graph Store Protocol URL of the remote store; with UPDATE_TOKEN, /graph-store "
            "writes are passed on to it.", _optional_str),
    Setting("REMOTE_USER", None,
            "User name for the remote store (HTTP Digest or Basic authentication).", _optional_str),
    Setting("REMOTE_PASSWORD", None, "Password of REMOTE_USER for the remote store.",
            _optional_str, secret=True),
    Setting("REMOTE_TOKEN", None, "Bearer token for the remote store (instead of a user).",
            _optional_str, secret=True),
    Setting("UPDATE_TOKEN", None,
            "Bearer token that allows SPARQL Update and Graph Store writes (needs EMPTY, or a "
            "remote store with UPDATE_ENDPOINT or GRAPH_STORE). "
            "Unset: the server is read-only.", _optional_str, secret=True),
    Setting("CORS_ORIGIN", "*",
            "Access-Control-Allow-Origin sent on every response; empty disables CORS.",
            lambda v: "" if v is None else str(v)),
    Setting("CACHE_MAX_AGE", 300,
            "Cache-Control max-age (seconds) for GET answers from a build; ETags derive from "
            "the build hash so clients can revalidate cheaply.", int),
    Setting("WORKERS", 0,
            "HTTP worker processes (granian), each opening the read-only store once; 0 means "
            "one per CPU core, at least 2 (Python runs one thread at a time per "
            "process; queries are evaluated elsewhere). "
            "Forced to 1 with EMPTY, whose data lives in memory.",
            _non_negative_int),
    Setting("ACCESS_LOG", "",
            "Any value turns on granian's access log (one line per request on standard "
            "error); empty: none, the default (a line per request costs about as much as a "
            "small query).", lambda v: "" if v is None else str(v)),
    Setting("QUERY_MODE", "auto",
            "Where build queries run: `pool` (and `auto`, the default) in evaluator processes "
            "under the limits above; `inline` in the calling thread with QUERY_TIMEOUT checked "
            "only between rows — for offline use (`bjkg serve` itself never serves inline).",
            _choice("auto", "inline", "pool")),
    Setting("IN_MEMORY_MAX_TRIPLES", 250_000,
            "A build with at most this many triples is read by each HTTP worker into memory "
            "(from its bjkg.nq, ~0.35 KB per triple) instead of from the on-disk store: "
            "entity pages then cost about a third less. 0: always read the on-disk store.",
            _non_negative_int),
    Setting("CACHE_DIR", "",
            "Folder for what the server derives once per build (the search index); empty: "
            "$XDG_CACHE_HOME/bjkg, else ~/.cache/bjkg.", lambda v: "" if v is None else str(v),
            local_path=True),
    Setting("QUERY_WORKERS", 0,
            "Query slots of the server: queries evaluated at once, each in an evaluator "
            "process forked from the data process that holds the store (never in the process "
            "that holds the connections). A query that has used half a second of CPU drops to "
            "a lower CPU priority, so short queries and pages go first. 0 means 4 per CPU "
            "core, at least 16: eight clients' runaway queries still leave room for everyone "
            "else's. Evaluators are forked as queries need them; those beyond one per core of an HTTP "
            "worker's share of QUERY_CPUS end after 10 s idle. Memory: at most QUERY_WORKERS x QUERY_MEMORY_MB "
            "beyond the store.",
            _non_negative_int),
    Setting("QUERY_CPUS", 0,
            "Queries evaluated at once on a core, in the whole server (shared out among the "
            "HTTP workers); each holds its core until answered, or a tenth of a second at "
            "most, and the next waits for one in turn (its time counting against "
            "QUERY_TIMEOUT). More at once than there are cores costs each query more CPU. "
            "0 means one per CPU core.", _non_negative_int),
    Setting("QUERY_QUEUE", 0,
            "Queries that may wait for a slot, in the whole server; beyond, 503 with "
            "Retry-After at once. Waiting counts against QUERY_TIMEOUT, which runs from the "
            "request's arrival. 0 means 4 x QUERY_WORKERS.", _non_negative_int),
    Setting("QUERY_CLIENT_SLOTS", 0,
            "Query slots one client (its IP address) may hold at once in the whole server "
            "(more, up to half the slots, only while at least half stay free: a lone "
            "client's parallel queries do not queue on an idle server); as many more may "
            "wait, behind everyone else's; beyond, 429 with Retry-After at once. 0 means "
            "a quarter of QUERY_WORKERS (at least 1).", _non_negative_int),
    Setting("QUERY_MEMORY_MB", 512,
            "Memory one query may take, in MB, on top of what its evaluator holds when it "
            "starts (RLIMIT_AS of the evaluator process); past it the evaluator dies alone and "
            "the client gets 503 naming this setting. With --empty, also the memory an update "
            "that evaluates patterns may take (tried first in a forked copy of the data: 503 "
            "past it, nothing written). 0: no cap.", _non_negative_int),
    Setting("HEADER_TIMEOUT", 10.0,
            "Seconds a client may take to send a request's line and headers; the connection "
            "is then closed. The HTTP front (granian) reads them; no Python thread waits.",
            _positive_float),
    Setting("BODY_TIMEOUT", 30.0,
            "Seconds a client may take to send a request's body once its headers are in; "
            "then 408. The whole body is read before the application sees the request.",
            _positive_float),
    Setting("PAGE_THREADS", 0,
            "Threads per HTTP worker process for everything but SPARQL queries and Graph Store "
            "reads (pages, search, VoID, dumps): their own capacity, which heavy SPARQL cannot "
            "take. 0 means 2 over a build (Python runs one thread at a time per process) and "
            "8 over a remote store (threads wait on it).", _non_negative_int),
)

BY_NAME = {s.name: s for s in SETTINGS}


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults, then ``BJKG_*`` environment variables, then `overrides`, all validated.

    Keys of `overrides` are matched case-insensitively against the setting names; keys that
    are not settings are passed through untouched (Flask's own config, e.g. TESTING).
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    for setting in SETTINGS:
        if setting.env in environ:
            values[setting.name] = _parse(setting, environ[setting.env], setting.env)
    for key, value in (overrides or {}).items():
        setting = BY_NAME.get(key.upper())
        if setting is None:
            values[key] = value
        else:
            values[setting.name] = _parse(setting, value, setting.name)
    return values


def _parse(setting: Setting, value: Any, source: str) -> Any:
    if value is None and setting.default is None:
        return None
    try:
        return setting.parse(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {source}: {exc}") from None


def public_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings and their current values, secrets and local folders shown only as
    set/unset."""
    out: dict[str, Any] = {}
    for setting in SETTINGS:
        value = config.get(setting.name, setting.default)
        if setting.secret or setting.local_path:
            value = "(set)" if value else None
        elif isinstance(value, tuple):
            value = list(value)
        out[setting.name] = value
    return out


def describe_settings() -> str:
    """Plain-text table of the settings for `bjkg serve --help-settings`."""
    lines = []
    for s in SETTINGS:
        default = "" if s.default in (None, ()) else f" (default: {s.default})"
        lines.append(f"{s.name}{default}\n    {s.help}\n    environment: {s.env}")
    return "\n".join(lines)
