"""The `bjkg` command: build, validate, inspect, query and serve the graph.

One click group, Datasette-style. Build-side commands import only `graph`; `serve`
imports the server lazily so that building never loads Flask.
"""
from __future__ import annotations

import json
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
@click.option("--sources", "sources_dir", default=None, type=click.Path(file_okay=False),
              help=f"Corpus folder for the quote check [default: {DEFAULT_SOURCES}, "
                   "relative to the checkout, or $BJKG_SOURCES].")
@click.option("--base", default=None, help="Base IRI [default: https://w3id.org/bjkg/ or $BJKG_BASE].")
def build(out_dir: str, sources_dir: str | None, base: str | None) -> None:
    """Build the graph from the curated records into OUT (atomically)."""
    from graph.build import BuildError, build_dataset

    try:
        summary = build_dataset(_repo_root(), Path(out_dir), sources=_sources(sources_dir),
                                base=base, log=lambda m: click.echo(m, err=True))
    except BuildError as exc:
        click.echo(f"build failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"built {summary['triples']} triples in {len(summary['graphs'])} graphs "
               f"into {out_dir} (hash {summary['hash'][:12]}); quote check: {summary['quote_check']}")


@main.command()
@click.option("--sources", "sources_dir", default=None, type=click.Path(file_okay=False),
              help="Corpus folder for the quote check.")
@click.option("--base", default=None, help="Base IRI.")
def validate(sources_dir: str | None, base: str | None) -> None:
    """Check the curated records, quotes and SHACL shapes without writing anything."""
    from graph.build import BuildError, compile_dataset

    try:
        result = compile_dataset(_repo_root(), sources=_sources(sources_dir), base=base,
                                 log=lambda m: click.echo(m, err=True))
    except BuildError as exc:
        click.echo(f"invalid: {exc}", err=True)
        sys.exit(1)
    click.echo(f"valid: {result.triples} triples; quote check: {result.quote_check}; SHACL conforms")


@main.command()
@click.option("--build", "build_dir", default=DEFAULT_OUT, show_default=True,
              type=click.Path(file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def stats(build_dir: str, as_json: bool) -> None:
    """Counts per class and per named graph of a built graph."""
    manifest = json.loads((Path(build_dir) / "build.json").read_text(encoding="utf-8"))
    if as_json:
        click.echo(json.dumps({k: manifest[k] for k in ("triples", "graphs", "classes")},
                              ensure_ascii=False, indent=2))
        return
    click.echo(f"triples: {manifest['triples']}")
    click.echo("graphs:")
    for iri, n in manifest["graphs"].items():
        click.echo(f"  {n:>7}  {iri}")
    click.echo("classes:")
    for iri, n in manifest["classes"].items():
        click.echo(f"  {n:>7}  {iri}")


@main.command()
@click.argument("sparql")
@click.option("--build", "build_dir", default=DEFAULT_OUT, show_default=True,
              type=click.Path(file_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
def query(sparql: str, build_dir: str, fmt: str) -> None:
    """Run a SPARQL query over the built store (default graph = union of all graphs)."""
    from graph.query import QueryError, run_query

    try:
        out = run_query(Path(build_dir), sparql, fmt)
    except QueryError as exc:
        click.echo(f"query failed: {exc}", err=True)
        sys.exit(1)
    click.echo(out, nl=not out.endswith("\n"))


def _help_settings(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from server.settings import describe_settings

    click.echo(describe_settings())
    ctx.exit()


@main.command()
@click.option("--build", "build_dir", default=DEFAULT_OUT, show_default=True,
              type=click.Path(file_okay=False), help="Built graph folder to serve (read-only).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
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
def serve(build_dir: str, host: str, port: int, empty: bool, update_token: str | None,
          workers: int | None, get_path: str | None, settings: tuple[tuple[str, str], ...]) -> None:
    """Serve the graph: SPARQL endpoint, entity pages and search."""
    from server.serve import run

    run(build_dir=None if empty else build_dir, host=host, port=port,
        update_token=update_token, workers=workers, get_path=get_path, settings=dict(settings))


def _sources(option: str | None) -> Path:
    """Resolve the corpus folder: option, then $BJKG_SOURCES, then ../shared/sources."""
    import os

    if option:
        return Path(option)
    if os.environ.get("BJKG_SOURCES"):
        return Path(os.environ["BJKG_SOURCES"])
    return (_repo_root() / DEFAULT_SOURCES).resolve()


if __name__ == "__main__":
    main()
