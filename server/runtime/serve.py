"""Running the server: granian in production, or one in-process request for `--get`.

`run` is what ``bjkg serve`` calls. It serves with granian, a Rust HTTP server, started
programmatically: its worker processes each call `bjkg.server.runtime.front.application`,
which creates the Flask app and puts the ASGI front (`bjkg.server.runtime.front`) before it.
The connections belong to granian's event loop, never to a Python thread; queries are
evaluated in evaluator processes (`bjkg.server.sparql.workers`), never in the process that
holds the connections, forked from the server's one data process, which `run` starts
before granian (`_ServerData`: the store opened once for every HTTP worker; restarted if
it dies, moved to the new build on SIGHUP, ended with the server). With ``--get PATH``
it answers one GET in-process through the test client, prints the body and exits
non-zero on an error status (Datasette's --get), which makes smoke tests and scripts easy.

Why granian: measured on this 2-core machine, the seed entity page at 8 connections (wrk,
5 s, the same minutes): gunicorn's threaded worker (the previous design) 317 req/s, granian
WSGI 380, granian ASGI with this front 467, gunicorn's gevent worker 137; uvicorn needs
an ASGI adapter too and reads headers in Python without a deadline. granian reads request
headers in Rust with a deadline (HEADER_TIMEOUT), keeps idle connections without a thread,
and restarts a worker that dies. Its workers run their event loop on uvloop (granian's
`uvloop` extra), not asyncio's own: the front and the query lane wait on the loop for every
request, and at 1M triples on 2 cores uvloop gave the two-hop join family +3 % and the
series family +5 % (entity lookups +1 %), two servers measured in turns in the same minutes.

Sizing: one HTTP worker process per core (at least two; `WORKERS`): page rendering is
Python, one thread at a time per process. Each has a page lane of PAGE_THREADS threads and
a query lane with a thread for every query slot and queue place (`lanes`); the slots, the
queue and the per-client shares are the whole server's (`_shared_admission`), and so is
the data process. An in-memory dataset (``--empty``) is served by one HTTP worker (its
data lives in the data process, which outlives a crashed worker). Over a remote
store (``--sparql-endpoint``) the processes hold no data at all, so any number of them, on
any number of machines, can serve one store (docs/deploy.md).
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click


def _settings(build_dir: str | None, update_token: str | None, workers: int | None,
              extra: Mapping[str, Any] | None) -> dict[str, Any]:
    settings: dict[str, Any] = dict(extra or {})
    if build_dir is None:
        settings["EMPTY"] = True
    else:
        settings["BUILD_DIR"] = build_dir
    if update_token:
        settings["UPDATE_TOKEN"] = update_token
    if workers:
        settings["WORKERS"] = workers
    return settings


def run(build_dir: str | None, host: str = "127.0.0.1", port: int = 8000, update_token: str | None = None,
        workers: int | None = None, get_path: str | None = None,
        settings: Mapping[str, Any] | None = None) -> None:
    """Serve a build (`build_dir`) read-only, or an empty writable dataset when it is None.

    This process only supervises (granian's main process, the data process, the
    preparation): it never imports Flask or pyoxigraph. What needs them before the workers
    start — the build's checks, the data process's spec, the query pool's sizes — is done
    in a child (`plan_in_child`); the HTTP workers import them for themselves. (Imported
    here, they cost the supervisor ≈ 25 MB of resident memory for as long as it runs.)"""
    from bjkg.server.core.settings import SettingsError, load_settings

    overrides = _settings(build_dir, update_token, workers, settings)
    try:
        resolved = load_settings(overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    remote = resolved["SPARQL_ENDPOINT"] and not resolved["EMPTY"]
    remote_writable = remote and (resolved["UPDATE_ENDPOINT"] or resolved["GRAPH_STORE"])
    if resolved["UPDATE_TOKEN"] and not resolved["EMPTY"] and not remote_writable:
        raise click.UsageError("--update-token needs --empty, or a remote store with --update-endpoint "
                               "or --graph-store: a build is always served read-only (rebuild it to "
                               "change it).")
    if resolved["EMPTY"]:
        overrides["WORKERS"] = 1

    if get_path is not None:
        _get_once(overrides, resolved, get_path)
        return

    processes = workers_for(resolved, workers)
    _check_address(host, port)
    # a damaged build or a store that cannot be served: one line and exit 1, no traceback
    plan = plan_in_child(resolved, check=True)
    if resolved["EMPTY"]:
        mode = "empty in-memory dataset" + (" (writable with the token)" if resolved["UPDATE_TOKEN"] else "")
    elif remote:
        mode = f"the store at {resolved['SPARQL_ENDPOINT']}" + (
            " (writes passed on with the token)" if resolved["UPDATE_TOKEN"] else " (read-only)")
    else:
        mode = f"build {resolved['BUILD_DIR']} (read-only)"
    root = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    click.echo(f"bjkg: serving {mode} on {root} (SPARQL endpoint: {root}sparql)", err=True)
    _granian(host, port, processes, overrides, resolved, plan,
             prepare=not resolved["EMPTY"] and not resolved.get("SPARQL_ENDPOINT"))


def _check_address(host: str, port: int) -> None:
    """A one-line error, before anything starts, for an address this server cannot listen on.
    granian binds with SO_REUSEPORT, so a second `bjkg serve` on a port already served did not
    fail: both listened, and the kernel shared the connections between the two servers. A
    bind without it (SO_REUSEADDR only, so a previous server's TIME_WAIT connections do not
    count) finds the port taken."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise click.ClickException(f"cannot listen on {host!r}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is in use by another process (another bjkg serve?); "
                    "stop it, or choose another --port.") from None
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _granian(host: str, port: int, processes: int, overrides: Mapping[str, Any],
             resolved: Mapping[str, Any], plan: Mapping[str, Any], prepare: bool = False) -> None:
    """Run granian until it is stopped; each worker builds the app from `overrides`. With
    `prepare`, the build's tables are prepared meanwhile (`_prepare_in_background`)."""
    import json
    import os

    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    os.environ[SERVER_PID_ENV] = str(os.getpid())
    os.environ[SETTINGS_ENV] = json.dumps(  # WORKERS: how many there are (their share of QUERY_CPUS)
        {k: v for k, v in {**overrides, "WORKERS": processes}.items() if isinstance(v, (str, int, float, bool))})
    connections = _connections_per_worker(_raise_descriptor_limit())
    shared = _shared_admission(plan["limits"])
    grace = max(5, int(resolved["QUERY_TIMEOUT"]) + 5)  # what granian gives a worker to finish
    # on reload the old data process serves until the last old worker has ended (at most this long)
    data = _ServerData(resolved, plan["spec"], shared, processes * (RELOAD_STAGGER + grace) + 1)
    preparing = None
    try:
        data.start()  # before the workers, which inherit its name
        preparing = _prepare_in_background(overrides, os.path.join(shared, "prepared")) if prepare else None
        server = Granian(
            "bjkg.server.runtime.front:application", factory=True, address=host, port=port,
            interface=Interfaces.ASGI, workers=processes, loop=Loops.uvloop,
            # HTTP/1.1 only: the deadlines and limits above are hyper's HTTP/1 settings, and a
            # browser speaks HTTP/2 only over TLS, which a proxy in front terminates
            http=HTTPModes.http1,
            http1_settings=HTTP1Settings(header_read_timeout=min(60_000, max(1, int(resolved["HEADER_TIMEOUT"] * 1000))),
                                         keep_alive=True),
            backlog=2048, backpressure=connections, log_access=bool(resolved["ACCESS_LOG"]),
            respawn_failed_workers=True, respawn_interval=RELOAD_STAGGER,
            workers_kill_timeout=grace)
        server.on_reload(data.reload)
        server.serve()
    finally:
        import shutil

        data.stop()
        if preparing is not None and preparing.poll() is None:
            preparing.stopped = True  # by us: not a failure to report
            preparing.terminate()
            try:
                preparing.wait(5)
            except Exception:  # noqa: BLE001 - it is killed then
                preparing.kill()
        shutil.rmtree(shared, ignore_errors=True)


# On `kill -HUP` granian replaces the HTTP workers one at a time: it starts the new one, waits
# this long, then stops the old one. On Linux each worker binds its own SO_REUSEPORT socket
# only once the app is created (store opened, query workers started: 1-2 s), so with a
# shorter wait every old worker could be gone before the first new one listens, and
# connections were refused (tests/server/test_reload.py). Crashed workers are replaced at once.
RELOAD_STAGGER = 3.0  # seconds


def _shared_admission(limits: Mapping[str, int]) -> str:
    """Make the file through which every HTTP worker admits queries against the same
    slots, queue and per-client shares (bjkg.server.sparql.admission; `limits` from
    `query_limits`), and name it in the environment the workers inherit. Returns its
    folder, removed when the server stops."""
    import os
    import tempfile

    from bjkg.server.sparql.admission import ENV, create_shared

    folder = tempfile.mkdtemp(prefix="bjkg-serve-")
    path = os.path.join(folder, "admission")
    create_shared(path, limits["size"], limits["queue"])
    os.environ[ENV] = path
    return folder


class _ServerData:
    """The server's one data process (bjkg.server.sparql.data_process.SharedDataProcess), on a
    Unix socket in the server's private folder (mode 0700), named in the environment the
    HTTP workers inherit (DATA_ENV), so that every worker's query pool connects to it.

    It is started again if it dies; for ``--empty`` its data is then lost, and the log says
    so. On SIGHUP (granian's reload: docs/deploy.md switches a symlink to a new build, then
    sends it) a build's server starts a new data process on the build the settings name now,
    before granian starts the new workers, and ends the old one once the old workers have
    ended (or after `grace` seconds); an in-memory dataset keeps its data process."""

    def __init__(self, resolved: Mapping[str, Any], spec: dict | None, folder: str, grace: float) -> None:
        self.resolved = resolved
        self.spec = spec  # `data_process_spec` for the settings (None: no data process)
        self.folder = folder
        self.grace = grace
        self.current = None
        self.retiring: list = []
        self._count = 0

    def start(self) -> bool:
        """Start the data process; False when the settings need none (a remote store)."""
        self.current = self._new(self.spec)
        return self.current is not None

    def _new(self, spec: dict | None):
        import os

        from bjkg.server.sparql.data_process import DATA_ENV, SharedDataProcess, StoreUnavailable

        if spec is None:
            return None
        self._count += 1
        data = SharedDataProcess(spec, os.path.join(self.folder, f"data-{self._count}"),
                                 on_exit=self._on_exit, on_fatal=self._on_fatal)
        try:
            data.start()
        except StoreUnavailable as exc:
            raise click.ClickException(str(exc)) from None
        os.environ[DATA_ENV] = data.path
        return data

    def reload(self) -> None:
        """granian's reload hook, run before it starts the new workers."""
        if self.current is None or self.resolved["EMPTY"]:
            return
        try:  # the build the settings name now (a symlink switched), read in a child
            fresh = self._new(plan_in_child(self.resolved)["spec"])
        except click.ClickException as exc:
            click.echo(f"bjkg: ERROR: no new data process on reload ({exc.message}); the old one serves on",
                       err=True)
            return
        old, self.current = self.current, fresh
        self.retiring.append(old)
        old.retire(self.grace)

    def stop(self) -> None:
        for data in [self.current, *self.retiring]:
            if data is not None:
                data.stop()

    def _on_exit(self, status: int) -> None:
        how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        if self.resolved["EMPTY"]:
            click.echo(f"bjkg: ERROR: the data process of the in-memory dataset ended ({how}): the data "
                       "written to it is LOST; starting a new, empty one", err=True)
        else:
            click.echo(f"bjkg: ERROR: the data process ended ({how}); starting a new one "
                       "(queries meanwhile get 503)", err=True)

    @staticmethod
    def _on_fatal(message: str) -> None:
        click.echo(f"bjkg: ERROR: the data process cannot serve queries: {message}", err=True)


def _raise_descriptor_limit() -> int:
    """Raise the open-files limit to what the system allows, and return it: a connection that
    has sent nothing yet costs no thread but a descriptor until HEADER_TIMEOUT, so the
    default soft limit of 1,024 would be the number of silent connections (opened faster
    than they time out) that stop the server."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20), hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


DESCRIPTORS_KEPT = 512  # per HTTP worker, never taken by connections: the store's files, evaluator sockets, logs


def _connections_per_worker(descriptors: int) -> int:
    """The connections one HTTP worker holds at once (granian's `backpressure`; beyond it new
    ones wait in the listen backlog): what its descriptors allow, not granian's default of
    backlog ÷ workers, which let 2,048 silent connections from one client stop a 2-worker
    server however many descriptors it had. An idle connection costs granian ≈1.2 KB."""
    import resource

    if descriptors == resource.RLIM_INFINITY or descriptors > 1 << 20:
        descriptors = 1 << 20
    return max(64, descriptors - DESCRIPTORS_KEPT)


def _prepare_in_background(overrides: Mapping[str, Any], state: str):
    """Start preparing the build's tables (search index, catalogue counts, star aggregates,
    literal index, label table: bjkg.server.runtime.prepare) in one process beside the
    server, which answers meanwhile; they are cached per build hash in CACHE_DIR, so a
    restart finds them at once. When that process ends, a thread writes `state` (the file
    STATE_ENV names to every HTTP worker): "done", or "failed …" — each worker then builds
    its own search index and answers without the tables. Returns the process."""
    import json
    import os
    import subprocess
    import threading
    import time

    from bjkg.server.core.prepared import STATE_ENV

    os.environ[STATE_ENV] = state
    settings = {k: v for k, v in overrides.items() if isinstance(v, (str, int, float, bool))}
    started = time.monotonic()
    try:
        process = subprocess.Popen([sys.executable, "-m", "bjkg.server.runtime.prepare", json.dumps(settings)],
                                   env=dict(os.environ), stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    except OSError as exc:
        _write_state(state, f"failed: {exc}")
        click.echo(f"bjkg: could not prepare the search index and tables ({exc})", err=True)
        return None

    def wait() -> None:
        code = process.wait()
        if getattr(process, "stopped", False):
            return
        if code == 0:
            _write_state(state, "done")
            click.echo(f"bjkg: search index and tables prepared in {time.monotonic() - started:.1f} s", err=True)
        else:
            _write_state(state, f"failed: exit status {code}")
            click.echo(f"bjkg: could not prepare the search index and tables (exit status {code}); "
                       "each HTTP worker builds its own search index", err=True)

    threading.Thread(target=wait, name="bjkg-prepare", daemon=True).start()
    return process


def _write_state(path: str, text: str) -> None:
    import os

    tmp = f"{path}.{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(tmp, path)
    except OSError:
        pass


SETTINGS_ENV = "BJKG_SERVE_OVERRIDES"  # the settings `bjkg serve` resolved, for each HTTP worker
SERVER_PID_ENV = "BJKG_SERVE_PID"  # the process of `bjkg serve` (granian's main), which forks the HTTP workers


def workers_for(resolved: Mapping[str, Any], workers: int | None = None) -> int:
    """HTTP worker processes (0 in the settings means the default of the module's doc)."""
    if resolved["EMPTY"]:
        return 1
    return workers or resolved["WORKERS"] or default_workers()


def lanes(resolved: Mapping[str, Any]) -> tuple[int, int]:
    """(query lane threads, page lane threads) per HTTP worker: a thread for every query
    slot and queue place, plus a few to refuse more at once; PAGE_THREADS for the rest."""
    from bjkg.server.web.extension import query_limits

    limits = query_limits(resolved)
    remote = bool(resolved.get("SPARQL_ENDPOINT")) and not resolved["EMPTY"]
    query_threads = limits["size"] + limits["queue"] + 2
    if remote:  # the store queues itself; threads only wait on it
        query_threads = max(query_threads, 16)
    page_threads = resolved["PAGE_THREADS"] or (8 if remote else 2)
    return query_threads, page_threads


def default_workers() -> int:
    """HTTP worker processes when WORKERS is 0: one per core, at least two. A SPARQL query
    waits for its evaluator on the event loop (bjkg.server.runtime.lane), not in a thread,
    so a process per core keeps the cores busy: measured at 1M triples on 2 cores, 2
    processes answered the entity, series and join queries as fast as 3, and the seed's
    pages and search as fast or faster, with one process's memory less (the search index
    and per-build tables are held per process). (Before the lane, a request changed
    threads twice in its process and 2 processes were ≈20 % slower than 3.)"""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(2, cores)


def _warm(app):
    """Do, as the HTTP worker boots, what would otherwise fall on the first requests it
    serves: open the store or start the query workers, load what `bjkg serve` prepared
    for the build (search index, facet counts, string literals, labels), draw the locator
    map and compile every template. A cold worker answered its first few seconds of page
    requests several times slower.

    Under `bjkg serve` (STATE_ENV set) only the query workers are started here, so the
    server answers SPARQL as soon as its store is open; the rest is done by a thread of
    the worker (`_warm_rest`) while it serves, and the prepared tables are picked up as
    they appear (until then: the engine as written, labels from the store, the search a 503)."""
    import os
    import threading

    from bjkg.server.core.prepared import STATE_ENV

    from bjkg.server.sparql.workers import StoreUnavailable

    store = app.extensions["bjkg"].store
    start = getattr(store, "start", None) or getattr(getattr(store, "pool", None), "start", None)
    if start is not None:
        try:
            start()
        except StoreUnavailable as exc:  # e.g. the data process being restarted: the next query connects
            click.echo(f"bjkg: this worker's queries wait for the store ({exc})", err=True)
    state = os.environ.get(STATE_ENV)
    prepared = getattr(store, "manifest", None) is not None and not getattr(store, "writable", False)
    if state and prepared and hasattr(store, "prepared_pending"):
        from bjkg.server.web.search import PENDING_KEY

        store.prepared_pending = True
        app.extensions[PENDING_KEY] = True
        threading.Thread(target=_warm_rest, args=(app, state), name="bjkg-warm", daemon=True).start()
        return app
    _warm_rest(app, None)
    return app


PICK_UP_INTERVAL = 0.25  # seconds between looks for the prepared tables (a few stat calls)


def _warm_rest(app, state: str | None) -> None:
    """Open the store for pages, compile the templates, then load the prepared data —
    at once (`state` None), or each as it appears until the file `state` says the
    preparation has ended — and draw the locator map."""
    import os
    import time

    store = app.extensions["bjkg"].store
    try:
        local_store = getattr(store, "local_store", None)
        if local_store is not None:  # pages read the store's indexes in this process
            local_store()
        for name in app.jinja_env.list_templates(filter_func=lambda n: n.endswith(".html")):
            app.jinja_env.get_template(name)
        if getattr(store, "manifest", None) is not None and not getattr(store, "writable", False):
            from bjkg.server.views.pages import _locator
            from bjkg.server.web.search import pick_up_index

            load_prepared = getattr(store, "load_prepared", None)
            while True:
                final = state is None or os.path.exists(state)
                settled = load_prepared(final=final) if load_prepared is not None else True
                if pick_up_index(app, final) and settled:
                    break
                time.sleep(PICK_UP_INTERVAL)
            if hasattr(store, "prepared_pending"):
                store.prepared_pending = False
            with app.app_context():
                try:
                    _locator()
                except Exception as exc:  # noqa: BLE001 - a place page will draw it, or say why
                    click.echo(f"bjkg: the locator map is drawn on first use ({exc})", err=True)
    except Exception as exc:  # noqa: BLE001 - a background thread: say so, the requests still answer
        if state is None:
            raise
        from bjkg.server.web.search import PENDING_KEY

        store.prepared_pending = False  # what is not loaded is loaded on first use, as without `bjkg serve`
        app.extensions.pop(PENDING_KEY, None)
        click.echo(f"bjkg: warming this worker failed ({exc!r}); answering without the prepared tables", err=True)
    _settle_heap()


def _settle_heap() -> None:
    """Collect once and give the heap loading the prepared tables left free back to the
    system (3–7 MB per worker at 1M triples), then exempt what the worker holds for good
    (the search index, the label table: a quarter of a million objects) from the cycle
    collector. A full collection walks every tracked object — ≈ 65 ms on the seed graph, a
    pause for every request of the worker — and these objects never become garbage
    (`gc.freeze`)."""
    import gc

    from bjkg.server.core.memory import release_memory

    release_memory()
    gc.freeze()


def plan(resolved: Mapping[str, Any], check: bool = False) -> dict[str, Any]:
    """What the supervisor needs from modules it does not import (`run`): the data process's
    spec (`data_process_spec`, None when there is none) and the query pool's sizes
    (`query_limits`). With `check`, first the start-up checks: the build is whole
    (`verify_build`), or the remote store answers (`open_remote`). Their failures raise
    BuildNotFound (BuildDamaged) or RemoteStoreError."""
    from pathlib import Path

    from bjkg.server.web.extension import data_process_spec, query_limits

    remote = resolved["SPARQL_ENDPOINT"] and not resolved["EMPTY"]
    if check and remote:
        from bjkg.server.stores.remote import open_remote

        open_remote(resolved)
    elif check and not resolved["EMPTY"]:
        from bjkg.server.stores.integrity import verify_build

        verify_build(Path(resolved["BUILD_DIR"]))
    return {"spec": data_process_spec(resolved), "limits": query_limits(resolved)}


def plan_in_child(resolved: Mapping[str, Any], check: bool = False) -> dict[str, Any]:
    """`plan`, computed in a forked child that imports what it needs and exits, so that this
    process never holds Flask, pyoxigraph or a RocksDB opened to count the quads. A failed
    check is a ClickException with its one-line message; anything else the child raises is
    printed by it (a traceback) and a ClickException says so."""
    import json
    import os
    import traceback

    sys.stdout.flush()
    sys.stderr.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer on the pipe, then leave without running any exit handler
        os.close(read)
        code = 0
        try:
            from bjkg.server.stores.integrity import BuildNotFound
            from bjkg.server.stores.remote import RemoteStoreError

            try:
                answer = {"plan": plan(resolved, check)}
            except (BuildNotFound, RemoteStoreError) as exc:
                answer, code = {"error": str(exc)}, 1
            data = json.dumps(answer).encode()
        except BaseException:  # noqa: BLE001 - reported by the parent
            traceback.print_exc()
            sys.stderr.flush()
            data, code = b"", 2
        try:
            with os.fdopen(write, "wb") as pipe:
                pipe.write(data)
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    try:
        answer = json.loads(data) if data else {}
    except ValueError:
        answer = {}
    if "plan" in answer and os.waitstatus_to_exitcode(status) == 0:
        return answer["plan"]
    if "error" in answer:
        raise click.ClickException(answer["error"])
    if os.WIFSIGNALED(status):  # e.g. the engine crashed on a damaged store
        raise click.ClickException(f"checking the build and settings crashed (signal {os.WTERMSIG(status)}): "
                                   "if the build is damaged, rebuild it with `bjkg build --out`")
    raise click.ClickException("the build and settings could not be checked (the error is above)")


def _get_once(overrides: Mapping[str, Any], resolved: Mapping[str, Any], path: str) -> None:
    """``bjkg serve --get PATH``: the checks of `run`, then one request in this process."""
    from bjkg.server.app import create_app
    from bjkg.server.stores.integrity import BuildNotFound
    from bjkg.server.stores.remote import RemoteStoreError

    try:
        if not resolved["EMPTY"] and not resolved["SPARQL_ENDPOINT"]:
            plan(resolved, check=True)
        app = create_app(overrides)
    except (BuildNotFound, RemoteStoreError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        _get_response(app, path)
    finally:
        app.extensions["bjkg"].store.close()


def _get_response(app, path: str) -> None:
    client = app.test_client()
    response = client.get(path)
    body = response.get_data()
    sys.stdout.buffer.write(body)
    if body and not body.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()
    if response.status_code >= 400:
        click.echo(f"{response.status}", err=True)
        sys.exit(1)
