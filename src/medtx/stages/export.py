"""Write a run's model package, its SageMaker model.tar.gz and evaluation.json to disk."""
from __future__ import annotations

from pathlib import Path

from medtx.evaluation.document import write_evaluation
from medtx.modeling.package import make_tarball, package_from_bytes


def export_run(package: bytes, evaluation: dict, output_dir: str | Path, run_id: str) -> Path:
    """``<output_dir>/<run_id>/{model/, model.tar.gz, evaluation.json}``; returns the run folder."""
    root = Path(output_dir) / str(run_id)
    if root.exists():
        raise FileExistsError(f"export folder {root} already exists; choose another --output-dir")
    root.mkdir(parents=True)
    pkg = package_from_bytes(package, root / "model")
    make_tarball(pkg, root / "model.tar.gz")
    write_evaluation(evaluation, root / "evaluation.json")
    return root
