"""``medtx serve``: what --model resolves to and what is passed to the server."""
from __future__ import annotations

import json
from types import SimpleNamespace

from medtx.cli.main import main


def _config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"env": "test", "registry": {"path": str(tmp_path / "reg"),
                                                            "group": "medtx-cli"}}))
    return str(path)


def test_a_registry_version_serves_its_group_and_version(tmp_path, monkeypatch, package_dir):
    served, resolved = [], []
    monkeypatch.setattr("medtx.serving.server.serve", lambda *a: served.append(a) or 0)
    monkeypatch.setattr("medtx.registry.factory.open_registry", lambda s: SimpleNamespace(
        resolve=lambda ref: SimpleNamespace(group="medtx-cli", version=4)))
    monkeypatch.setattr("medtx.registry.refs.resolve_model_ref",
                        lambda ref, s: resolved.append(ref) or package_dir)
    assert main(["serve", "--model", "approved", "--port", "9999", "--config", _config(tmp_path)]) == 0
    (pkg, settings, host, port, group, version), = served
    assert (pkg, host, port, group, version) == (package_dir, None, 9999, "medtx-cli", 4)
    assert resolved == ["4"]  # the version resolved once, so the folder is the one named


def test_a_folder_is_served_as_is(tmp_path, monkeypatch, package_dir):
    served = []
    monkeypatch.setattr("medtx.serving.server.serve", lambda *a: served.append(a) or 0)
    assert main(["serve", "--model", str(package_dir), "--host", "127.0.0.1",
                 "--config", _config(tmp_path)]) == 0
    (pkg, settings, host, port, group, version), = served
    assert (pkg, host, port, group, version) == (package_dir, "127.0.0.1", None, None, None)
    assert settings.registry.group == "medtx-cli"


def test_an_unknown_model_is_one_error_line(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "nope"), "--config", _config(tmp_path)]) == 2
    assert "neither an existing path nor a registry reference" in capsys.readouterr().err
