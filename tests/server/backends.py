"""Store backends for the server tests: the embedded store, and Virtuoso Open Source.

`virtuoso` starts one private instance per test session with the launcher the benchmarks
use (`bench/virtuoso.py`: 127.0.0.1 only, its own ini and data folder in a tmp dir,
random ports) and stops it at the end. `virtuoso_tiny` publishes the tiny build into it
with `bjkg publish`'s code; `virtuoso_real` is a second instance holding a real build of
this checkout. Without Virtuoso the Virtuoso cases skip, saying how to install it —
unless ``BJKG_REQUIRE_VIRTUOSO=1`` (CI sets it), which makes that a failure.

`BACKENDS` parametrises a fixture over both stores: a test using it runs once per backend,
with the same assertions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench import virtuoso as launcher
from bjkg.server.app import create_app
from bjkg.server.stores.publish import publish
from bjkg.server.sparql.client import Credentials, SparqlClient

BACKENDS = ["embedded", "virtuoso"]


@dataclass
class PublishedStore:
    """A running Virtuoso holding a published build."""

    instance: launcher.Virtuoso
    build: Path

    @property
    def sparql(self) -> str:
        return self.instance.sparql_url

    def writer(self, *, graph_store: bool = True) -> SparqlClient:
        """A client allowed to write (digest authentication as the publisher)."""
        user, password = self.instance.publisher
        return SparqlClient(self.instance.sparql_auth_url, update_url=self.instance.sparql_auth_url,
                            graph_store_url=self.instance.graph_store_auth_url if graph_store else None,
                            credentials=Credentials(user, password))


def require_virtuoso() -> None:
    """Skip (or, with BJKG_REQUIRE_VIRTUOSO=1, fail) when Virtuoso is not installed."""
    if launcher.available():
        return
    reason = ("Virtuoso Open Source is not installed (apt-get install -y virtuoso-opensource); "
              "the tests over Virtuoso need virtuoso-t and isql-vt")
    if os.environ.get("BJKG_REQUIRE_VIRTUOSO") == "1":
        pytest.fail(reason + " and BJKG_REQUIRE_VIRTUOSO=1", pytrace=False)
    pytest.skip(reason)


def _start(tmp_path_factory, name: str) -> launcher.Virtuoso:
    require_virtuoso()
    return launcher.start(tmp_path_factory.mktemp(name))


@pytest.fixture(scope="session")
def virtuoso(tmp_path_factory):
    """A private Virtuoso instance for the session (no data of ours yet)."""
    instance = _start(tmp_path_factory, "virtuoso")
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def virtuoso_tiny(virtuoso, tiny_build) -> PublishedStore:
    """`virtuoso` holding the tiny build, published through the Graph Store Protocol."""
    store = PublishedStore(virtuoso, tiny_build)
    publish(tiny_build, store.writer())
    return store


@pytest.fixture(scope="session")
def virtuoso_real(tmp_path_factory, real_build) -> PublishedStore:
    """A second instance holding a real build of this checkout (the seed graph)."""
    instance = _start(tmp_path_factory, "virtuoso-real")
    try:
        store = PublishedStore(instance, real_build)
        publish(real_build, store.writer())
        yield store
    finally:  # a failed publication must not leave the instance running
        instance.stop()


def remote_app(store: PublishedStore, **settings):
    """An app serving the published store (and its build folder's dumps) read-only."""
    return create_app({"SPARQL_ENDPOINT": store.sparql, "BUILD_DIR": str(store.build), "TESTING": True,
                       **settings})


def backend_app(request, tiny_build, **settings):
    """An app over the tiny build for `request.param` ("embedded" or "virtuoso")."""
    if request.param == "virtuoso":
        return remote_app(request.getfixturevalue("virtuoso_tiny"), **settings)
    return create_app({"BUILD_DIR": str(tiny_build), "TESTING": True, **settings})
