"""Training throughput of medtx's own training step (samples/s and MFU).

Times :class:`medtx.modeling.train.TrainStep` (the object ``finetune`` runs: forward under autocast,
class-weighted loss, backward, clipping, AdamW, schedule) fed by ``WindowData`` batches, on
random-init DistilBERT-base-size and MiniLM-size classifiers with full-length windows.

    python bench/train_throughput.py                       # auto device, seq 512
    python bench/train_throughput.py --device cpu --steps 2
    python bench/train_throughput.py --device cuda --compile on --batch 32 --steps 50

MFU = 6 * parameters * tokens/s / peak FLOP/s. Peak on a GPU: bf16 dense from a table of
known GPUs (H100 SXM 989e12) or a measured bf16 matmul peak; on CPU: a measured fp32 matmul
peak (this is said in the ``peak_source`` column). ``mfu_attn`` also counts attention FLOPs
and leaves out embedding parameters (6 * N_non_embedding + 12 * layers * hidden * seq).
"""
from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import medtx  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from medtx.config import TrainSettings  # noqa: E402
from medtx.modeling.features import Encoded  # noqa: E402
from medtx.modeling.runtime import pick_device, pick_precision  # noqa: E402
from medtx.modeling.train import train_step_factory  # noqa: E402
from medtx.modeling.windows import WindowData  # noqa: E402

N_LABELS, VOCAB = 12, 30522
GPU_BF16_PEAK = [("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12),
                 ("B200", 2250e12), ("A100", 312e12), ("L40S", 362e12), ("L4", 121e12),
                 ("A10G", 70e12), ("A10", 125e12)]


def build_model(kind: str):
    """Random-init classifier: ``distilbert`` (DistilBERT-base size) or ``minilm`` (MiniLM-L6)."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    if kind == "distilbert":
        cfg = DistilBertConfig(vocab_size=VOCAB, n_layers=6, dim=768, n_heads=12,
                               hidden_dim=3072, num_labels=N_LABELS, attn_implementation="sdpa")
        return DistilBertForSequenceClassification(cfg), (6, 768)
    if kind == "minilm":
        cfg = BertConfig(vocab_size=VOCAB, num_hidden_layers=6, hidden_size=384,
                         num_attention_heads=12, intermediate_size=1536, num_labels=N_LABELS,
                         attn_implementation="sdpa")
        return BertForSequenceClassification(cfg), (6, 384)
    raise ValueError(f"unknown model kind {kind!r}")


def measured_matmul_peak(device: torch.device, dtype: torch.dtype, seconds: float = 1.5) -> float:
    """FLOP/s of a large square matmul, best of a short run."""
    n = 4096 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        _sync(device)
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - t0))
    return best


@functools.cache
def peak_flops(device: torch.device, precision: str) -> tuple[float, str]:
    """Peak FLOP/s for MFU (measured once per device and precision, before any model runs)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peak in GPU_BF16_PEAK:
            if key in name:
                scale = 1.0 if precision == "bf16" else 0.5  # TF32 dense is half of bf16
                return peak * scale, f"table bf16 dense ({key}){'' if scale == 1 else ' x0.5 tf32'}"
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        return measured_matmul_peak(device, dtype), f"measured {precision} matmul ({name})"
    return measured_matmul_peak(device, torch.float32), "measured fp32 matmul (CPU)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_one(kind: str, device: torch.device, args: argparse.Namespace) -> dict:
    """Warm up, then time ``args.steps`` product training steps on random full windows."""
    torch.manual_seed(0)
    model, (layers, hidden) = build_model(kind)
    n_params = sum(p.numel() for p in model.parameters())
    n_embed = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    compile_on = args.compile == "on" or (args.compile == "auto" and device.type == "cuda")
    settings = replace(TrainSettings(), batch_size=args.batch, precision=args.precision,
                       compile=compile_on, learning_rate=5e-5, warmup_ratio=0.01)
    n_batches = args.warmup + args.steps
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, VOCAB, size=(n_batches * args.batch, args.seq)).tolist()
    enc = Encoded(ids, list(range(len(ids))), len(ids))
    data = WindowData(enc, rng.integers(0, N_LABELS, len(ids)), pad_id=0)
    step = train_step_factory(model, settings, device, total_steps=n_batches)
    model.train()
    batches = data.batches(args.batch, np.random.default_rng(1))
    for idx in batches[:args.warmup]:
        step(data.collate(idx, device))
    _sync(device)
    t0 = time.perf_counter()
    loss = None
    for idx in batches[args.warmup:]:
        loss = step(data.collate(idx, device))
    _sync(device)
    seconds = time.perf_counter() - t0
    samples_s = args.steps * args.batch / seconds
    tokens_s = samples_s * args.seq
    peak, source = peak_flops(device, step.precision)
    flops_6n = 6 * n_params * tokens_s
    flops_attn = (6 * (n_params - n_embed) + 12 * layers * hidden * args.seq) * tokens_s
    return {"model": kind, "params": n_params, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
            else platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "precision": step.precision,
            "compile": compile_on, "batch": args.batch, "seq": args.seq, "steps": args.steps,
            "seconds": seconds, "samples_per_s": samples_s, "tokens_per_s": tokens_s,
            "peak_flops": peak, "peak_source": source, "mfu": flops_6n / peak,
            "mfu_attn": flops_attn / peak, "final_loss": float(loss.item())}


def print_table(rows: list[dict]) -> None:
    head = f"{'model':<11}{'params':>8} {'device':<7}{'prec':<6}{'compile':<8}{'batch':>6}" \
           f"{'seq':>5}{'samples/s':>11}{'MFU':>8}{'MFU*':>8}  peak"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['model']:<11}{r['params'] / 1e6:>7.1f}M {r['device']:<7}{r['precision']:<6}"
              f"{str(r['compile']):<8}{r['batch']:>6}{r['seq']:>5}{r['samples_per_s']:>11.1f}"
              f"{r['mfu']:>8.1%}{r['mfu_attn']:>8.1%}  {r['peak_source']}")
    print("MFU = 6*params*tokens/s / peak;  MFU* = (6*non-embedding params + attention) / peak")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--batch", type=int, default=None, help="default: 32 on GPU, 4 on CPU")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 50 GPU, 2 CPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps (default 10 GPU, 1 CPU)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument("--compile", default="auto", choices=["auto", "on", "off"],
                   help="torch.compile the step (auto: on for CUDA only)")
    p.add_argument("--models", default="distilbert,minilm")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train_throughput.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    gpu = device.type == "cuda"
    args.batch = args.batch or (32 if gpu else 4)
    args.steps = args.steps or (50 if gpu else 2)
    args.warmup = args.warmup if args.warmup is not None else (10 if gpu else 1)
    peak_flops(device, pick_precision(args.precision, device))
    rows = []
    for kind in args.models.split(","):
        rows.append(run_one(kind.strip(), device, args))
        print(f"{kind}: {rows[-1]['samples_per_s']:.1f} samples/s", file=sys.stderr)
    print_table(rows)
    import transformers

    report = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "torch": torch.__version__, "transformers": transformers.__version__,
              "python": platform.python_version(), "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
