"""``medtx labels import`` into the monitor store, and labelled captured notes joining the next
training set with their provenance (capture files written here; no server)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from medtx.config import load_config_dict
from medtx.serving.capture import capture_record, hour_prefix

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
NOTE = "HISTORY: chest pain on exertion for two weeks. EXAM: regular rhythm, grade 2/6 murmur."


def _config(tmp_path, **monitor):
    raw = load_config_dict(ROOT / "configs" / "local.json")
    raw["serving"] = {"capture_to": str(tmp_path / "capture")}
    raw["monitor"] = {"state_dir": str(tmp_path / "monitor"), **monitor}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    return path


def _capture(tmp_path, n=4):
    folder = Path(hour_prefix(str(tmp_path / "capture"), "medtx-prod", "AllTraffic", WHEN))
    folder.mkdir(parents=True)
    out = json.dumps({"predictions": [{"label": "Cardiovascular / Pulmonary", "model_version": 1,
                                       "probabilities": {"Cardiovascular / Pulmonary": 0.7, "Orthopedic": 0.3}}]})
    with open(folder / "a.jsonl", "w") as fh:
        for i in range(n):
            fh.write(json.dumps(capture_record(json.dumps({"inputs": f"{NOTE} Visit {i}."}),
                                               "application/json", "JSON", out,
                                               inference_id=f"case-{i}", when=WHEN,
                                               event_id=f"ev-{i}")) + "\n")


def _judge(tmp_path, settings):
    """Record a judged window of the captured notes, as MonitorFlow would."""
    from medtx.monitor.capture_reader import CaptureReader
    from medtx.monitor.descriptors import note_hash
    from medtx.monitor.store import MonitorStore
    from medtx.stages.monitor import target_of

    target = target_of(settings)
    rows = CaptureReader(target.capture_prefix, tmp_path / "reader", target.endpoint,
                         target.variant).read(commit=False).rows
    preds = rows.drop(columns=["text"]).assign(note_hash=[note_hash(t) for t in rows["text"]])
    MonitorStore(target.state_dir).add_window(
        since=None, until="2026-12-02T00:00:00Z", status="judged", model_version=1,
        n_notes=len(rows), verdict="no drift", drifted=[], signals={}, quality={}, counts={},
        predictions=preds)
    return target


def _studio(tmp_path):
    tasks = [
        {"id": 1, "data": {"inference_id": "case-0"}, "annotations": [
            {"id": 11, "was_cancelled": False, "result": [
                {"from_name": "specialty", "to_name": "text", "type": "choices",
                 "value": {"choices": ["Cardiovascular / Pulmonary"]}}]}]},
        {"id": 2, "data": {"inference_id": "case-1"}, "annotations": [
            {"id": 21, "was_cancelled": True, "result": []},
            {"id": 22, "was_cancelled": False, "result": [
                {"type": "choices", "value": {"choices": ["Orthopedic"]}}]}]},
        {"id": 3, "data": {"inference_id": "never-served"}, "annotations": [
            {"id": 31, "was_cancelled": False, "result": [
                {"type": "choices", "value": {"choices": ["Orthopedic"]}}]}]},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    return path


def test_labels_import_counts_unknown_ids_and_cancelled_annotations(tmp_path, capsys):
    from medtx.cli.main import main
    from medtx.config import load_settings

    cfg = _config(tmp_path)
    _capture(tmp_path)
    _judge(tmp_path, load_settings(cfg))
    assert main(["labels", "import", str(_studio(tmp_path)), "--config", str(cfg), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["format"] == "label-studio" and got["endpoint"] == "medtx-prod"
    c = got["counts"]
    assert (c["ids"], c["added"], c["cancelled"], c["matching_predictions"], c["not_yet_matched"]) == (3, 3, 1, 2, 1)
    assert "training_notes" not in c  # labels_to_training is off by default
    assert main(["labels", "import", str(tmp_path / "missing.csv"), "--config", str(cfg)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_labelled_captured_notes_join_the_next_training_set(tmp_path, capsys):
    from medtx.cli.main import main
    from medtx.config import load_settings
    from medtx.stages import train

    cfg = _config(tmp_path, labels_to_training=True)
    _capture(tmp_path)
    settings = load_settings(cfg)
    target = _judge(tmp_path, settings)
    assert main(["labels", "import", str(_studio(tmp_path)), "--config", str(cfg), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["training_notes"] == 2
    files = list((Path(target.state_dir) / "labelled").glob("labels-*.csv"))
    assert len(files) == 1 and (files[0].stat().st_mode & 0o077) == 0  # clinical text: owner only
    raw, info = train.ingest(settings.with_overrides(data={"demo_notes": 600}))
    added = raw[raw["medtx_source"].notna()]
    assert len(added) == 2 and info.n_rows == len(raw) and info.extra[0]["rows"] == 2
    assert set(added["medtx_source"]) == {"capture:medtx-prod:ev-0#0", "capture:medtx-prod:ev-1#0"}
    assert dict(zip(added["medtx_source"], added["medical_specialty"]))["capture:medtx-prod:ev-1#0"] == "Orthopedic"
    assert list(raw["row_id"]) == list(range(len(raw)))
    report = train.validate(raw, settings)  # the same data checks as every other row
    kept = report.notes[report.notes["text"].str.startswith(NOTE)]
    assert sorted(kept["label"]) == ["Cardiovascular / Pulmonary", "Orthopedic"]
