"""Benchmark embedders side by side, and pick the embedder checkpoint the benchmarks prefer.

Local (no Ray needed; MiniLM runs the sentence sets in ~10 s on a CPU):
    python -m jobs.benchmark --store stores/main --models tiny-random runs/tiny runs/embedder \\
        --n-chunks 2000 --out runs/embedder/benchmarks.json
    python -m jobs.benchmark --select --store stores/main --checkpoints runs/emb-a runs/emb-b \\
        --models runs/tiny --record stores/main/models/selected_embedder.json

On a cluster (store and run folders on shared storage):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.benchmark --store /shared/stores/main --models /shared/runs/base /shared/runs/embedder \\
            --device cuda --out /shared/runs/embedder/benchmarks.json

What runs (see `models.benchmarks` for the metrics and the frozen sentence sets):
paraphrase retrieval (recall@1, MRR, both directions), numeric ordering
accuracy on anchor/near/far triplets, and the geometry (participation ratio,
mean pairwise cosine, raw and whitened) of a seeded sample of `--n-chunks`
stored chunks, the same sample for every model. Every run includes
all-MiniLM-L6-v2 (`minilm`), and for a chunk embedder that names the encoder
it was initialised from (`init_path`), that encoder's mean-pooled hidden
states ("before embedder training"), so each model is read next to both.

`--models` takes what `models.embedding_models.load_embedder` takes: `minilm`,
`tiny-random`, a pretrain run folder, a saved encoder, a chunk embedder
checkpoint. With `--select`, the `--checkpoints` are the candidates and
`--models` only comparison rows; the winner (numeric accuracy + paraphrase
recall@1, tie-break by participation ratio; never the validation loss) is
written to `--record` (default `<store>/models/selected_embedder.json`), which
the embed job can read: {"selected", "path", "model_version", "score", ...}.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from jobs.cli_types import positive_int
from models.benchmarks import (SELECTION_CRITERION, BenchmarkResult, ChunkSample, TextEmbedder, run_benchmarks,
                               select_checkpoint, select_sample)

MINILM = "minilm"                       # the offline all-MiniLM-L6-v2 baseline, always benchmarked
BUILTIN_NAMES = (MINILM, "tiny-random")  # names load_embedder resolves without a folder
SELECTED_FILE = "selected_embedder.json"
BEFORE_TRAINING_SUFFIX = " (before embedder training)"


# --- inputs -------------------------------------------------------------------------

def read_chunk_sample(store, n: int, seed: int) -> ChunkSample:
    """A seeded sample of `n` stored chunks (all if fewer) with their number rows."""
    from featurestore import CHUNKS, NUMBERS

    all_ids = [r[0] for r in store.keys(CHUNKS, ["chunk_id"])]
    if not all_ids:
        raise ValueError(f"store {store.path} has no chunks to measure the geometry on; ingest filings first "
                         f"(python -m jobs.ingest) or leave out --store for the sentence benchmarks only")
    ids = select_sample(all_ids, n, seed)
    where, params = "chunk_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
    texts = {r["chunk_id"]: r["text"] for r in store.read(CHUNKS, ["chunk_id", "text"], where, params).to_pylist()}
    numbers: dict[str, list[tuple[int, int, float]]] = {i: [] for i in ids}
    for r in store.read(NUMBERS, ["chunk_id", "char_start", "char_end", "value"], where, params).to_pylist():
        if r["value"] is not None:
            numbers[r["chunk_id"]].append((r["char_start"], r["char_end"], r["value"]))
    return ChunkSample(ids, [texts[i] for i in ids], [sorted(numbers[i]) for i in ids], seed, str(store.path),
                       len(all_ids))


def display_name(ref: str) -> str:
    """What a table calls a model: the name, or the folder's name (a run's `model/` takes the run's)."""
    path = Path(ref)
    if not path.is_dir():
        return ref
    path = path.resolve()
    name = path.parent.name if path.name == "model" and path.parent.name else path.name
    # a run folder called like a built-in model (runs/minilm is a minilm-preset run) must not pass for it
    return f"{name} (run)" if name in BUILTIN_NAMES else name


def init_reference(embedder: Any) -> str | None:
    """The encoder a chunk embedder was initialised from, so its "before embedder training" state can be
    benchmarked beside it: the embedder's `init_path`, else "init" in the run's run_config.json
    (`jobs.train_embedder` writes it beside `model/`). None for other models or a fresh init."""
    from models.pretraining import RUN_CONFIG_FILE

    if getattr(embedder, "kind", None) != "chunk_embedder":
        return None
    ref = getattr(embedder, "init_path", None)
    if ref:
        return str(ref)
    path = getattr(embedder, "path", None)
    if not path:
        return None
    for folder in (Path(path), Path(path).parent):
        cfg = folder / RUN_CONFIG_FILE
        if cfg.is_file():
            init = json.loads(cfg.read_text()).get("init")
            # "fresh <preset> encoder" is written when there was no starting checkpoint
            return str(init) if init and Path(init).is_dir() else None
    return None


def _is_minilm(embedder: Any) -> bool:
    """The off-the-shelf all-MiniLM-L6-v2, however it was named (not a model trained from it)."""
    from models.embedding_models import minilm_folder

    folder = getattr(embedder, "folder", None)
    return getattr(embedder, "kind", None) == "baseline" and folder is not None and \
        Path(folder).resolve() == minilm_folder().resolve()


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    out, k = name, 2
    while out in taken:
        out, k = f"{name}#{k}", k + 1
    return out


def load_models(refs: Sequence[str], store=None, device: str | None = None,
                with_minilm: bool = True, with_init: bool = True) -> tuple[dict[str, TextEmbedder], dict[str, str]]:
    """(embedders by display name, reference each came from), MiniLM and before-training encoders added."""
    from models.embedding_models import load_embedder

    embedders: dict[str, TextEmbedder] = {}
    sources: dict[str, str] = {}

    def add(ref: str, name: str | None = None) -> TextEmbedder:
        emb = load_embedder(ref, store)
        if device and hasattr(emb, "to"):
            emb = emb.to(device)
        key = _unique(name or display_name(ref), embedders)
        embedders[key], sources[key] = emb, ref
        return emb

    loaded: set[str] = set()
    for ref in refs:
        emb = add(ref)
        loaded.add(str(Path(str(getattr(emb, "path", None) or ref)).resolve()))
    if with_init:
        for name, emb in list(embedders.items()):
            init = init_reference(emb)
            if init is not None and str(Path(init).resolve()) not in loaded:
                add(init, name + BEFORE_TRAINING_SUFFIX)
                loaded.add(str(Path(init).resolve()))
    if with_minilm and not any(s == MINILM or _is_minilm(e) for s, e in zip(sources.values(), embedders.values())):
        add(MINILM)
    return embedders, sources


# --- selection ----------------------------------------------------------------------

def selection_record(result: BenchmarkResult, candidates: Mapping[str, str]) -> dict[str, Any]:
    """The JSON the embed job reads: the chosen checkpoint among `candidates` (display name -> path)."""
    eligible = {n: r for n, r in result.models.items() if n in candidates}
    missing = sorted(set(candidates) - set(eligible))
    if missing:
        raise ValueError(f"no benchmark results for candidate checkpoints {missing}")
    chosen = select_checkpoint(eligible)
    r = eligible[chosen]
    return {
        "selected": chosen,
        "path": str(Path(candidates[chosen]).resolve()),
        "model_version": r.model_version,
        "score": r.score,
        "criterion": SELECTION_CRITERION,
        "candidates": {n: {"path": str(Path(candidates[n]).resolve()), "model_version": m.model_version,
                           "score": m.score, "numeric_accuracy": m.numeric.accuracy,
                           "paraphrase_recall_at_1": m.paraphrase.recall_at_1,
                           "participation_ratio": m.geometry.participation_ratio if m.geometry else None}
                       for n, m in eligible.items()},
        "references": {n: {"model_version": m.model_version, "score": m.score}
                       for n, m in result.models.items() if n not in candidates},
        "datasets": {k: v["sha256"] for k, v in result.datasets.items()},
        "sample": result.sample,
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write atomically (a reader never sees half a file); NaN becomes null."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(_clean(payload), indent=1) + "\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for everyone who reads the store
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _clean(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# --- the job ------------------------------------------------------------------------

def run(embedders: Mapping[str, TextEmbedder], store=None, n_chunks: int = 2000, seed: int = 0) -> BenchmarkResult:
    sample = read_chunk_sample(store, n_chunks, seed) if store is not None else None
    return run_benchmarks(embedders, sample)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.benchmark", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=None,
                    help="store whose chunks the geometry is measured on (and tiny-random is built from)")
    ap.add_argument("--models", nargs="*", default=[], help="models to benchmark (minilm is always added)")
    ap.add_argument("--n-chunks", type=positive_int, default=2000, help="geometry sample size (all if fewer)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the chunk sample")
    ap.add_argument("--out", type=Path, default=None, help="write every figure here (JSON)")
    ap.add_argument("--select", action="store_true", help="choose among --checkpoints and --record the winner")
    ap.add_argument("--checkpoints", nargs="*", default=[], help="candidate checkpoints for --select")
    ap.add_argument("--record", type=Path, default=None,
                    help=f"where --select writes its choice (default <store>/models/{SELECTED_FILE})")
    ap.add_argument("--device", default=None, help="torch device for the models (default: each model's own)")
    ap.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    a = ap.parse_args(argv)
    if a.select and not a.checkpoints:
        ap.error("--select needs the candidates: --checkpoints DIR1 DIR2 ...")
    if a.checkpoints and not a.select:
        ap.error("--checkpoints only means something with --select")
    record = a.record
    if a.select and record is None:
        if a.store is None:
            ap.error(f"--select needs --record FILE, or --store DIR to write <store>/models/{SELECTED_FILE}")
        record = a.store / "models" / SELECTED_FILE
    if a.threads:
        import torch
        torch.set_num_threads(a.threads)

    store = None
    if a.store is not None:
        from featurestore import Store
        store = Store(a.store)
    t0 = time.perf_counter()
    embedders, sources = load_models([*a.checkpoints, *a.models], store, a.device)
    candidates = {n: sources[n] for n in list(embedders)[:len(a.checkpoints)]} if a.select else {}
    result = run(embedders, store, a.n_chunks, a.seed)
    print(result.table())
    payload: dict[str, Any] = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
                               "sources": sources, **result.to_dict(), "table": result.table(),
                               "seconds": time.perf_counter() - t0}
    if a.select:
        chosen = selection_record(result, candidates)
        write_json(record, chosen)
        payload["selection"] = chosen
        print(f"selected {chosen['selected']} ({chosen['model_version']}, score {chosen['score']:.3f}); "
              f"wrote {record}")
    if a.out:
        write_json(a.out, payload)
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
