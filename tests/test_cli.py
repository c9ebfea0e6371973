"""The `mns` command: serve with a demo network, load, history, diff, and clear errors."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from mns.cli import app
from mns.store import Update, open_store

CELL = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00001,GNBDUFunction=1,NRCellDU=1"


def test_load_history_diff(tmp_path: Path) -> None:
    db = str(tmp_path / "twin.db")
    runner = CliRunner()
    result = runner.invoke(app, ["load", "2", "--db", db, "--seed", "4"])
    assert result.exit_code == 0, result.output
    store = open_store(db)
    try:
        count = store.count()
        assert count > 50
        store.commit([Update(CELL, {"userLabel": "changed"})], source="oss", author="cli-test")
    finally:
        store.close()
    again = runner.invoke(app, ["load", "2", "--db", db])
    assert again.exit_code == 0
    assert "already holds revision 2" in again.output
    history = runner.invoke(app, ["history", CELL, "--db", db], env={"COLUMNS": "200"})
    assert history.exit_code == 0, history.output
    assert "cli-test" in history.output
    diff = runner.invoke(app, ["diff", "1", "2", "--db", db], env={"COLUMNS": "200"})
    assert diff.exit_code == 0, diff.output
    assert "changed" in diff.output
    assert "modified" in diff.output


def test_errors_name_the_object_and_rule(tmp_path: Path) -> None:
    db = str(tmp_path / "empty.db")
    result = CliRunner().invoke(app, ["history", "SubNetwork=Nowhere", "--db", db])
    assert result.exit_code == 2
    assert "SubNetwork=Nowhere" in result.output
    assert "rule: not-found" in result.output
    bad = CliRunner().invoke(app, ["diff", "yesterday", "--db", db])
    assert bad.exit_code == 2
    assert "asOf" in bad.output


def test_serve_demo_answers_provmns(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "mns.cli", "serve", "--demo", "3", "--port", str(port), "--db", str(tmp_path / "t.db")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                index = httpx.get(base + "/", timeout=2).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "mns serve did not come up"
                time.sleep(0.2)
        assert index["roots"] == ["SubNetwork=RAN"]
        assert index["revision"] == 1
        r = httpx.get(f"{base}/ProvMnS/v1800/" + CELL.replace(",", "/"), timeout=5)
        assert r.status_code == 200
        assert r.json()["objectClass"] == "NRCellDU"
        assert r.headers["x-twin-revision"] == "1"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/ProvMnS/v1800/SubNetwork=RAN" in out


def test_serve_delivers_notifications_from_its_worker_process(tmp_path: Path) -> None:
    from conftest import serve
    from test_notify_e2e import Recipient

    rec = Recipient()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = str(tmp_path / "t.db")
    cmd = [sys.executable, "-m", "mns.cli", "serve", "--demo", "1", "--port", str(port), "--db", db]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/ProvMnS/v1800/SubNetwork=RAN"
    try:
        with serve(rec.app) as rurl:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, "mns serve ended"
                try:
                    httpx.get(base, timeout=2).raise_for_status()
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "mns serve did not come up"
                    time.sleep(0.2)
            sub = {"notificationRecipientAddress": f"{rurl}/ntf", "scope": [{"scopeType": "BASE_ALL"}]}
            r = httpx.put(f"{base}/NtfSubscriptionControl=w", json={"attributes": sub}, timeout=10)
            assert r.status_code == 201, r.text
            for label in ("one", "two"):
                r = httpx.patch(
                    base + "/" + CELL.split(",", 1)[1].replace(",", "/"),
                    json={"attributes": {"userLabel": label}},
                    headers={"content-type": "application/merge-patch+json"},
                    timeout=10,
                )
                assert r.status_code == 204, r.text
            deadline = time.monotonic() + 30
            while len(rec.of("notifyMOIAttributeValueChanges")) < 2:
                assert time.monotonic() < deadline, f"notifications not delivered: {rec.received}"
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    labels = [b["attributeListValueChanges"][0]["userLabel"] for b in rec.of("notifyMOIAttributeValueChanges")]
    assert labels == ["one", "two"]
    deadline = time.monotonic() + 10
    while subprocess.run(["pgrep", "-f", f"mns.notify.worker --db {db}"], check=False, capture_output=True).stdout:
        assert time.monotonic() < deadline, "the worker process outlived mns serve"
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_mirrors_its_sim_and_says_where(tmp_path: Path) -> None:
    port, sim_port = _free_port(), _free_port()
    cmd = [sys.executable, "-m", "mns.cli", "demo", "--gnbs", "2", "--port", str(port), "--sim-port", str(sim_port)]
    cmd += ["--db", str(tmp_path / "t.db"), "--drift-per-min", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        status: dict[str, object] = {}
        while status.get("state") != "mirroring":
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, f"the demo's twin did not mirror its sim: {status}"
            with contextlib.suppress(httpx.HTTPError):
                status = httpx.get(f"{base}/TwinMnS/v1/mirror", timeout=2).json()
            time.sleep(0.2)
        sim_cell = httpx.get(f"http://127.0.0.1:{sim_port}/ProvMnS/v1800/" + CELL.replace(",", "/"), timeout=5)
        twin_cell = httpx.get(f"{base}/ProvMnS/v1800/" + CELL.replace(",", "/"), timeout=5)
        assert twin_cell.status_code == sim_cell.status_code == 200
        assert twin_cell.json()["attributes"] == sim_cell.json()["attributes"]
        assert status["producer"] == f"http://127.0.0.1:{sim_port}"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{sim_port}/ProvMnS/v1800/SubNetwork=RAN" in out
    assert f"{base}/TwinMnS/v1/mirror" in out


def test_mirror_once_copies_then_reconciles(tmp_path: Path) -> None:
    from test_sim import running

    from mns.sim.server import Sim, SimConfig
    from mns.store import open_store

    sim = Sim(open_store(str(tmp_path / "sim.db")), SimConfig(gnbs=1, seed=4))
    db = str(tmp_path / "twin.db")
    with running(sim.asgi) as url:
        first = CliRunner().invoke(app, ["mirror", "--from", url, "--twin", db, "--once"])
        assert first.exit_code == 0, first.output
        assert "full (first sync)" in first.output
        twin = open_store(db)
        cell = twin.get(CELL)
        assert cell is not None
        assert cell.attrs == sim.store.get(CELL).attrs
        twin.commit([Update(CELL, {"userLabel": "changed in the twin"})], source="oss")
        again = CliRunner().invoke(app, ["mirror", "--from", url, "--twin", db, "--once"])
        assert again.exit_code == 0, again.output
        assert "0 / 1 / 0" in again.output
        assert "twin-changed" in again.output
        assert twin.get(CELL).attrs == sim.store.get(CELL).attrs  # type: ignore[union-attr]
        twin.close()
    refused = CliRunner().invoke(app, ["mirror", "--from", "http://127.0.0.1:9", "--twin", db, "--once"])
    assert refused.exit_code == 2
    assert "error" in refused.output
