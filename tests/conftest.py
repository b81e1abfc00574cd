"""Shared fixtures: settings, the real dataset (skipped when absent), a moto server on loopback,
and the one tiny-BERT factory (``word_tokenizer``, ``tiny_bert``, ``save_hf_folder``) that the
model and flow fixtures build on.

Tests that read the real Medical Transcriptions file get it only from ``real_data_path`` and
carry the ``real_data`` marker (added here to any test that asks for the fixture, as a net).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("MEDTX_REAL_DATA", ROOT.parent / "shared" / "data" / "mtsamples.csv"))

os.environ.setdefault("USER", "medtx-tests")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# every AWS call medtx makes in this session (subprocesses included) is logged here and checked
# against the IAM policies under iam/ by tests/unit/test_iam_policies.py, which runs last
if "MEDTX_AWS_AUDIT" not in os.environ:
    import tempfile

    os.environ["MEDTX_AWS_AUDIT"] = str(Path(tempfile.mkdtemp(prefix="medtx-aws-audit-")) / "calls.jsonl")


def _loopback_only() -> None:
    """Refuse, in this test process, any connection to an address that is not loopback: tests
    talk to 127.0.0.1 servers (moto, medtx's own, stand-ins) and nothing else."""
    import ipaddress
    import socket

    connect = socket.socket.connect

    def guarded(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise ConnectionRefusedError(f"tests may only connect to loopback, not {host}")
        return connect(sock, address)

    socket.socket.connect = guarded


_loopback_only()


@pytest.fixture
def settings():
    from medtx.config import load_settings

    return load_settings(ROOT / "configs" / "local.json")


# Tests run in parallel (pytest-xdist, ``--dist loadgroup``); these fixtures pin their users to
# one worker each, so one process builds each expensive session fixture and sees its whole story:
# every user of the moto server (and the AWS audit, last) shares one worker, and every check of
# the shared train -> deploy -> monitor run shares another.
WORKER_GROUPS = {"moto_endpoint": "aws", "loop": "loop"}


def pytest_itemcollected(item):
    """Tests that use a fixture of WORKER_GROUPS join its group, and ``aws_audit`` tests join the
    AWS group; this runs as each test is collected, before xdist reads the groups."""
    names = getattr(item, "fixturenames", ())
    groups = {group for fixture, group in WORKER_GROUPS.items() if fixture in names}
    if item.get_closest_marker("aws_audit") is not None:
        groups.add("aws")
    if len(groups) > 1:
        raise pytest.UsageError(f"{item.nodeid} uses fixtures pinned to different workers: {sorted(groups)}")
    for group in groups:
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_modifyitems(config, items):
    """Any test that asks for ``real_data_path`` carries ``real_data``, so ``-m "not real_data"``
    always leaves the real file alone; ``aws_audit`` tests move to the end of the session."""
    for item in items:
        if "real_data_path" in getattr(item, "fixturenames", ()) and item.get_closest_marker("real_data") is None:
            item.add_marker(pytest.mark.real_data)
    items.sort(key=lambda item: item.get_closest_marker("aws_audit") is not None)


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    """The real Medical Transcriptions CSV (``../shared/data/mtsamples.csv``, or the file named
    by MEDTX_REAL_DATA); skips the test when it is absent."""
    if not REAL_DATA.is_file():
        pytest.skip(f"real dataset not found at {REAL_DATA} (set MEDTX_REAL_DATA to its path)")
    return REAL_DATA


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on 127.0.0.1 (random free port) with fake credentials; yields its URL."""
    from moto.server import ThreadedMotoServer

    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(scope="session")
def word_tokenizer():
    """``make(vocab_words, folder) -> BertTokenizerFast``: a lower-casing WordPiece tokenizer over
    exactly ``vocab_words`` (BERT's special tokens are put first when missing), written to
    ``folder/vocab.txt``."""
    def make(vocab_words, folder: Path):
        from transformers import BertTokenizerFast

        vocab = [w for w in BERT_SPECIALS if w not in vocab_words] + list(vocab_words)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
        return BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)

    return make


@pytest.fixture(scope="session")
def tiny_bert():
    """``make(vocab_words, labels=None, seed=0, max_positions=64)``: a random-init 2-layer BERT
    (hidden 64, 2 heads) sized to ``vocab_words`` (a list of tokens, or a tokenizer).

    With ``labels`` it is a ``BertForSequenceClassification`` whose id2label/label2id name them;
    without, a bare ``BertModel`` encoder (what a pretrained checkpoint folder holds)."""
    def make(vocab_words, labels=None, seed: int = 0, max_positions: int = 64):
        import torch
        from transformers import BertConfig, BertForSequenceClassification, BertModel

        vocab_size = len(vocab_words.get_vocab()) if hasattr(vocab_words, "get_vocab") else len(vocab_words)
        extra = {} if labels is None else {
            "id2label": dict(enumerate(labels)), "label2id": {name: i for i, name in enumerate(labels)}}
        config = BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=128,
                            max_position_embeddings=max_positions, attn_implementation="sdpa", **extra)
        torch.manual_seed(seed)
        return BertModel(config) if labels is None else BertForSequenceClassification(config)

    return make


@pytest.fixture(scope="session")
def save_hf_folder():
    """``save(model, tokenizer, out) -> out``: model and tokenizer saved together like a
    Hugging Face checkpoint folder (loadable with ``from_pretrained(out)``)."""
    def save(model, tokenizer, out: Path) -> Path:
        out = Path(out)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        return out

    return save
