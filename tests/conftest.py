"""Shared fixtures: the store over each backend, and the location of the 3GPP spec files."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mns.store import SqlStore, open_store

if TYPE_CHECKING:
    from mns.nrm.registry import Registry

ROOT = Path(__file__).resolve().parent.parent

POSTGRES_DSN_VAR = "MNS_TEST_POSTGRES_DSN"


def specs_dir() -> Path:
    """Where the official 3GPP files are: $MNS_3GPP_SPECS, by default ../shared/3gpp."""
    return Path(os.environ.get("MNS_3GPP_SPECS", ROOT.parent / "shared" / "3gpp")).resolve()


@pytest.fixture(scope="session")
def specs() -> Path:
    """The 3GPP spec folder; skips the test, saying why, when it is absent."""
    path = specs_dir()
    if not (path / "openapi").is_dir() or not (path / "yang").is_dir():
        pytest.skip(f"3GPP spec files not found at {path}: set MNS_3GPP_SPECS to their folder")
    return path


def _postgres_url() -> str:
    dsn = os.environ.get(POSTGRES_DSN_VAR)
    if not dsn:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_DSN_VAR} (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    return dsn


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    import psycopg

    dsn = _postgres_url()
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in dsn else "?"
    try:
        yield f"{dsn}{sep}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store location on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "twin.db")
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """An empty twin store on each backend."""
    s = open_store(store_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The shipped NRM class registry (``mns/nrm/registry.json``)."""
    from mns.nrm.registry import default_registry

    return default_registry()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app under uvicorn on a free loopback port; yields its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def twin_url(tmp_path: Path) -> Iterator[str]:
    """A real `mns serve`-equivalent server on loopback over a small generated network."""
    from mns.producers.app import create_app
    from mns.sim.generate import generate_network
    from mns.store import Create

    s = open_store(str(tmp_path / "served.db"))
    s.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(2, seed=3)), source="real")
    try:
        with serve(create_app(s)) as url:
            yield url
    finally:
        s.close()
