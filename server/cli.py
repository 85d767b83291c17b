"""The `bjkg` command: build, validate, inspect, query, serve and publish the graph.

One click group, Datasette-style. Build-side commands import only `graph`; `serve`
imports the server lazily so that building never loads Flask.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

DEFAULT_OUT = "_build"
DEFAULT_SOURCES = "../shared/sources"


@click.group()
@click.version_option(package_name="bjkg")
def main() -> None:
    """bjkg: Beijing government work reports as a linked-data knowledge graph."""


def _repo_root() -> Path:
    """The folder holding ontology/, graph/ and shapes/ (this checkout)."""
    return Path(__file__).resolve().parent.parent


@main.command()
@click.option("--out", "out_dir", default=DEFAULT_OUT, show_default=True,
              type=click.Path(file_okay=False), help="Folder to write the built graph into.")
@click.option("--sources", "sources_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help=f"Corpus folder for the quote check [default: {DEFAULT_SOURCES}, "
                   "relative to the checkout, or $BJKG_SOURCES].")
@click.option("--base", default=None, help="Base IRI [default: https://w3id.org/bjkg/ or $BJKG_BASE].")
def build(out_dir: str, sources_dir: str | None, base: str | None) -> None:
    """Build the graph from the curated records into OUT (atomically)."""
    from bjkg.graph.build import BuildError, build_dataset

    _end_cleanly_on_signals()
    try:
        summary = build_dataset(_repo_root(), Path(out_dir), sources=_sources(sources_dir),
                                base=base, log=lambda m: click.echo(m, err=True), progress=True)
    except BuildError as exc:
        click.echo(f"build failed: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:  # the output folder cannot be written (a read-only or missing parent)
        click.echo(f"build failed: {exc.strerror or exc}: {exc.filename or out_dir}; the previous build, "
                   "if any, is untouched", err=True)
        sys.exit(1)
    quotes = summary["quotes"]
    check = "passed" if quotes["verified"] else "NOT verified (no corpus; see the warning above)"
    click.echo(f"built {summary['triples']} triples in {len(summary['graphs'])} graphs "
               f"into {out_dir} (hash {summary['hash'][:12]}); quote check: {check}")
    _done()


# Set by `program`, the `bjkg` command itself (not when `main` is invoked in-process, e.g.
# by click's test runner): a finished build may then end the process at once.
_OWN_PROCESS = False


def _done() -> None:
    """End the `bjkg build` process now that everything is written, flushed and closed.

    The build leaves a few million rdflib objects in reference cycles; tearing the
    interpreter down collects and frees every one of them (≈0.25 s, a twentieth of the
    build), for nothing. As mypy does, skip that and exit directly."""
    if _OWN_PROCESS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _end_cleanly_on_signals() -> None:
    """SIGTERM and SIGHUP (a `kill`, a closed terminal, a CI job cancelled) end a build as
    Ctrl-C does: SystemExit is raised where the build is, so its staging folder is removed
    and the previous build stays as it was. By default Python ends at once on them and left
    a `.OUT.building-*` folder, up to a whole build's size (swept by the next build)."""
    import signal

    if not _OWN_PROCESS:
        return  # invoked in-process (click's test runner): that process's signals are its own

    def end(signum, _frame) -> None:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, end)


def program() -> None:
    """The `bjkg` command (and `python -m bjkg.server.cli`)."""
    global _OWN_PROCESS
    _OWN_PROCESS = True
    main()


@main.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--graph", "graph_iri", default=None,
              help="Named graph: <base>graph/external/<name> [default: from --name or the file name].")
@click.option("--format", "fmt", default=None,
              type=click.Choice(["turtle", "ntriples", "nquads", "trig", "rdfxml", "jsonld", "csvw"]),
              help="Input format [default: from the file extension].")
@click.option("--name", default=None, help="Dataset name (a slug) [default: from --graph].")
@click.option("--title", default=None, help="Dataset title in English [default: the name].")
@click.option("--licence", "--license", "licence", default=None, help="Licence IRI.")
@click.option("--publisher", default=None, help="Who publishes the data.")
@click.option("--source", default=None, help="Where the files were obtained (URL).")
@click.option("--retrieved", default=None, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Date the files were obtained [default: today].")
@click.option("--mapping", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSVW metadata for a CSV table [default: <file>-metadata.json].")
@click.option("--out", "out_dir", default=DEFAULT_OUT, show_default=True,
              type=click.Path(file_okay=False), help="The build to load into (replaced atomically).")
@click.option("--sources", "sources_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Corpus folder for the quote check.")
@click.option("--base", default=None, help="Base IRI [default: the build's, else https://w3id.org/bjkg/].")
@click.option("--rebuild", is_flag=True,
              help="Rebuild OUT whole even when only the new dataset needs adding.")
def load(files: tuple[Path, ...], graph_iri: str | None, fmt: str | None, name: str | None,
         title: str | None, licence: str | None, publisher: str | None, source: str | None,
         retrieved, mapping: Path | None, out_dir: str, sources_dir: str | None,
         base: str | None, rebuild: bool) -> None:
    """Add FILES as an external dataset: append it to graph/external.toml and add it to OUT.

    RDF (Turtle, N-Triples, N-Quads, TriG, RDF/XML, JSON-LD with embedded contexts) or a
    CSV table with its CSVW metadata. When OUT is what `bjkg build` would write from this
    checkout, only the new dataset is read, checked and added (to a copy, swapped in);
    otherwise OUT is rebuilt whole. Either way the result is what `bjkg build` writes from
    the new manifest. If a file fails to parse or validate, the manifest and the build stay
    as they were and the error names the file and line.
    """
    from bjkg.graph.build import BuildError
    from bjkg.graph.load import load_files

    _end_cleanly_on_signals()
    try:
        summary = load_files(_repo_root(), Path(out_dir), _sources(sources_dir), list(files),
                             graph=graph_iri, fmt=fmt, name=name, title=title, licence=licence,
                             publisher=publisher, mapping=mapping, source=source,
                             retrieved=retrieved.date() if retrieved else None, base=base,
                             log=lambda m: click.echo(m, err=True), progress=True, rebuild=rebuild)
    except BuildError as exc:
        click.echo(f"load failed: {exc}", err=True)
        sys.exit(1)
    entry = summary["external"][-1]
    click.echo(f"loaded {entry['triples']} triples into {entry['graph']}; the build now has "
               f"{summary['triples']} triples (hash {summary['hash'][:12]})")


@main.command()
@click.option("--sources", "sources_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Corpus folder for the quote check.")
@click.option("--base", default=None, help="Base IRI.")
def validate(sources_dir: str | None, base: str | None) -> None:
    """Check the curated records, quotes and SHACL shapes without writing anything."""
    from bjkg.graph.build import BuildError, compile_dataset

    try:
        result = compile_dataset(_repo_root(), sources=_sources(sources_dir), base=base,
                                 log=lambda m: click.echo(m, err=True))
    except BuildError as exc:
        click.echo(f"invalid: {exc}", err=True)
        sys.exit(1)
    click.echo(f"valid: {result.triples} triples; quote check: {result.quote_check.summary}; SHACL conforms")


@main.command()
@click.option("--build", "build_dir", default=DEFAULT_OUT, show_default=True,
              type=click.Path(file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def stats(build_dir: str, as_json: bool) -> None:
    """Counts per class and per named graph of a built graph."""
    from bjkg.server.stores.integrity import BuildNotFound, load_manifest

    try:  # a damaged build.json: one line naming it, not a traceback
        manifest = load_manifest(Path(build_dir))
    except BuildNotFound as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({k: manifest.get(k, {}) for k in ("triples", "graphs", "classes")},
                              ensure_ascii=False, indent=2))
        return
    click.echo(f"triples: {manifest['triples']}")
    click.echo("graphs:")
    for iri, n in manifest["graphs"].items():
        click.echo(f"  {n:>7}  {iri}")
    click.echo("classes:")
    for iri, n in manifest.get("classes", {}).items():
        click.echo(f"  {n:>7}  {iri}")


@main.command()
@click.argument("sparql")
@click.option("--build", "build_dir", default=DEFAULT_OUT, show_default=True,
              type=click.Path(file_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
def query(sparql: str, build_dir: str, fmt: str) -> None:
    """Run a SPARQL query over the built store (default graph = union of all graphs)."""
    from bjkg.graph.query import QueryError, run_query
    from bjkg.server.sparql.evaluate import in_query_order

    sparql = in_query_order(sparql, options={"use_default_graph_as_union": True})  # as the endpoint
    try:
        out = run_query(Path(build_dir), sparql, fmt)
    except QueryError as exc:
        click.echo(f"query failed: {exc}", err=True)
        sys.exit(1)
    click.echo(out, nl=not out.endswith("\n"))


def _help_settings(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from bjkg.server.core.settings import describe_settings

    click.echo(describe_settings())
    ctx.exit()


@main.command()
@click.option("--build", "build_dir", default=DEFAULT_OUT, show_default=True,
              type=click.Path(file_okay=False), help="Built graph folder to serve (read-only).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--empty", is_flag=True, help="Serve an empty in-memory dataset instead of a build.")
@click.option("--update-token", default=None, envvar="BJKG_UPDATE_TOKEN",
              help="Bearer token that allows SPARQL Update and Graph Store writes (with --empty).")
@click.option("--workers", default=None, type=int, help="Server worker processes.")
@click.option("--get", "get_path", default=None,
              help="Answer one GET request for this path in-process, print it and exit.")
@click.option("--setting", "-s", "settings", type=(str, str), multiple=True, metavar="NAME VALUE",
              help="Set a server setting, e.g. -s QUERY_TIMEOUT 10 (see --help-settings).")
@click.option("--help-settings", is_flag=True, expose_value=False, is_eager=True,
              callback=_help_settings, help="List the server settings and exit.")
@click.option("--sparql-endpoint", default=None,
              help="Serve an existing SPARQL store at this query endpoint instead of a build folder "
                   "(publish into it first with `bjkg publish`).")
@click.option("--update-endpoint", default=None,
              help="The remote store's SPARQL Update endpoint (writes need --update-token).")
@click.option("--graph-store", default=None,
              help="The remote store's Graph Store Protocol URL (writes need --update-token).")
@click.pass_context
def serve(ctx: click.Context, build_dir: str, host: str, port: int, empty: bool, update_token: str | None,
          workers: int | None, get_path: str | None, settings: tuple[tuple[str, str], ...],
          sparql_endpoint: str | None, update_endpoint: str | None, graph_store: str | None) -> None:
    """Serve the graph: SPARQL endpoint, entity pages and search."""
    from bjkg.server.runtime.serve import run

    overrides = _known_settings(settings)
    if ctx.get_parameter_source("build_dir") is click.core.ParameterSource.DEFAULT:
        # the build folder as a setting (-s BUILD_DIR, BJKG_BUILD_DIR) when --build is not given;
        # over a remote store a build folder is optional: only one named explicitly is used
        named = overrides.get("BUILD_DIR", os.environ.get("BJKG_BUILD_DIR", ""))
        build_dir = named if named or sparql_endpoint else build_dir
    if sparql_endpoint:
        overrides["SPARQL_ENDPOINT"] = sparql_endpoint
    for name, value in (("UPDATE_ENDPOINT", update_endpoint), ("GRAPH_STORE", graph_store)):
        if value:
            overrides[name] = value
    if not overrides.get("PUBLIC_URL") and not os.environ.get("BJKG_PUBLIC_URL") and not get_path:
        # absolute links name the address the server listens on, never a request's Host header
        shown = f"[{host}]" if ":" in host else host
        overrides["PUBLIC_URL"] = f"http://{shown}:{port}/"
    run(build_dir=None if empty else build_dir, host=host, port=port,
        update_token=update_token, workers=workers, get_path=get_path, settings=overrides)


def _known_settings(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The `-s NAME VALUE` pairs by their settings' names; a name that is no setting is a
    usage error naming the closest ones (a misspelt `-s QUERY_TIMOUT 10` did nothing)."""
    import difflib

    from bjkg.server.core.settings import BY_NAME

    known: dict[str, str] = {}
    for name, value in pairs:
        setting = BY_NAME.get(name.upper())
        if setting is None:
            close = difflib.get_close_matches(name.upper(), list(BY_NAME), n=3)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise click.UsageError(f"-s {name}: no such setting{hint}; bjkg serve --help-settings lists them")
        known[setting.name] = value
    return known


@main.command()
@click.option("--build", "build_dir", default=DEFAULT_OUT, show_default=True,
              type=click.Path(file_okay=False, exists=True), help="Built graph folder to publish.")
@click.option("--to", "endpoint", required=True,
              help="The store's SPARQL endpoint: updates are sent there (unless --graph-store is "
                   "given) and the counts are read back from it.")
@click.option("--graph-store", default=None,
              help="The store's Graph Store Protocol URL: each named graph is then PUT there.")
@click.option("--user", default=None, envvar="BJKG_PUBLISH_USER",
              help="User for HTTP Digest/Basic authentication [env: BJKG_PUBLISH_USER].")
@click.option("--password", default=None, envvar="BJKG_PUBLISH_PASSWORD",
              help="Password of --user [env: BJKG_PUBLISH_PASSWORD].")
@click.option("--token", default=None, envvar="BJKG_PUBLISH_TOKEN",
              help="Bearer token instead of a user [env: BJKG_PUBLISH_TOKEN].")
@click.option("--timeout", default=600.0, show_default=True, type=float,
              help="Seconds the whole publication may take.")
def publish(build_dir: str, endpoint: str, graph_store: str | None, user: str | None,
            password: str | None, token: str | None, timeout: float) -> None:
    """Push a built graph (every named graph) into a SPARQL store, replacing what was there."""
    from bjkg.server.stores.publish import PublishError, publish as run_publish
    from bjkg.server.sparql.client import (Credentials, SparqlClient, StoreHTTPError, StoreTimeout,
                                      StoreUnreachable)

    client = SparqlClient(endpoint, update_url=endpoint, graph_store_url=graph_store,
                          credentials=Credentials(user, password, token))
    try:
        report = run_publish(Path(build_dir), client, timeout=timeout, log=lambda m: click.echo(m, err=True))
    except (PublishError, StoreHTTPError, StoreTimeout, StoreUnreachable) as exc:
        click.echo(f"publish failed: {exc}", err=True)
        sys.exit(1)
    total = sum(report.graphs.values())
    dropped = f"; dropped {len(report.dropped)} stale graphs" if report.dropped else ""
    click.echo(f"published {total} triples in {len(report.graphs)} graphs to {endpoint} "
               f"({'Graph Store PUT' if report.method == 'gsp' else 'SPARQL Update'}, "
               f"{report.seconds:.1f} s){dropped}")


def _sources(option: str | None) -> Path:
    """Resolve the corpus folder: option, then $BJKG_SOURCES, then ../shared/sources."""
    import os

    if option:
        return Path(option)
    if os.environ.get("BJKG_SOURCES"):
        return Path(os.environ["BJKG_SOURCES"])
    return (_repo_root() / DEFAULT_SOURCES).resolve()


if __name__ == "__main__":
    program()
