"""containers/ui/compose.yaml: the services flows and browsers are pointed at, wired to one
database, and reachable from this machine only (runs hold clinical artifacts)."""
from __future__ import annotations

from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML reads the compose file")
ROOT = Path(__file__).resolve().parents[2]


def _published(service: dict) -> dict[int, str]:
    """container port -> host address of each published port ("127.0.0.1:8080:8080")."""
    out = {}
    for spec in service.get("ports", []):
        host, _, container = str(spec).rpartition(":")
        out[int(container)] = host
    return out


def test_compose_wires_metadata_ui_backend_and_ui_to_one_database():
    compose = yaml.safe_load((ROOT / "containers" / "ui" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "metadata", "ui_backend", "ui"}
    db_env = services["db"]["environment"]
    for name in ("metadata", "ui_backend"):
        env = services[name]["environment"]
        assert env["MF_METADATA_DB_HOST"] == "db"
        assert env["MF_METADATA_DB_USER"] == db_env["POSTGRES_USER"]
        assert env["MF_METADATA_DB_NAME"] == db_env["POSTGRES_DB"]
        assert env["MF_METADATA_DB_PSWD"] == db_env["POSTGRES_PASSWORD"]
    for name, service in services.items():
        assert all(host.startswith("127.0.0.1") for host in _published(service).values()), name
    backend_port = next(iter(_published(services["ui_backend"])))
    assert services["ui"]["environment"]["METAFLOW_SERVICE"] == f"http://localhost:{backend_port}/"
    # flows reach the metadata service at METAFLOW_SERVICE_URL=http://localhost:8080: the port the
    # service listens on in its container, published on loopback under the same number
    assert _published(services["metadata"])[8080] == "127.0.0.1:8080"
