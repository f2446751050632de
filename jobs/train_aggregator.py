"""Train the document aggregator (autoencoder through the chunk decoder) with Ray Train.

Local (starts a private Ray cluster), from a chunk-embedder run:
    python -m jobs.train_aggregator --store stores/demo --embedder runs/embedder-tiny --out runs/aggregator-tiny \\
        --preset tiny --max-steps 200

On a cluster (4 GPU workers; --store, --embedder and --out on shared storage):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.train_aggregator --store /shared/stores/main --embedder /shared/runs/embedder-base \\
            --out /shared/runs/aggregator-base --preset base --workers 4 --gpus-per-worker 1

Chunk vectors come from the frozen chunk encoder, computed once on the driver and cached in
<out>/{train,eval}_chunk_vectors.npz (keyed by the embedder's model version). Writes to --out:
data_report.json, model/ (aggregator_config.json + model.safetensors, loadable with
models.aggregator.load_aggregator), decoder.safetensors (with --train-decoder), metrics.json,
metrics.jsonl, metrics.csv, loss_curve.png and ray_results/ (checkpoints). Running the same command
again resumes; a larger --max-steps continues.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jobs.cli_types import positive_int
from jobs.ray_session import init_ray, shutdown_ray
from models.aggregator_training import AggregatorJob, run_aggregator_training
from models.embedder_config import PRESETS, preset


def parse_args(argv: list[str] | None = None) -> tuple[AggregatorJob, int | None]:
    ap = argparse.ArgumentParser(prog="python -m jobs.train_aggregator", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, type=Path, help="store folder with ingested chunks")
    ap.add_argument("--embedder", required=True, type=Path, help="chunk-embedder run folder (or its model/)")
    ap.add_argument("--out", required=True, type=Path, help="run folder (model, metrics, checkpoints)")
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--layers", type=positive_int, default=None, help="aggregator layers")
    ap.add_argument("--train-decoder", action="store_true", help="train the chunk decoder too (default: frozen)")
    ap.add_argument("--docs-per-batch", type=positive_int, default=None)
    ap.add_argument("--crop-prob", type=float, default=None, help="share of views that are a contiguous crop")
    ap.add_argument("--chunk-drop-rate", type=float, default=None, help="chance each chunk of a view is dropped")
    ap.add_argument("--target-anywhere", action="store_true",
                    help="denoise any chunk of the document, not only one in the aggregator's view")
    ap.add_argument("--workers", type=positive_int, default=1, help="Ray Train workers (DDP ranks)")
    ap.add_argument("--gpus-per-worker", type=float, default=0.0)
    ap.add_argument("--cpus-per-worker", type=float, default=1.0)
    ap.add_argument("--max-steps", type=positive_int, default=None)
    ap.add_argument("--warmup-steps", type=int, default=None)
    ap.add_argument("--eval-every", type=positive_int, default=None)
    ap.add_argument("--checkpoint-every", type=positive_int, default=None)
    ap.add_argument("--log-every", type=positive_int, default=None)
    ap.add_argument("--run-name", default="aggregator")
    ap.add_argument("--storage-path", type=Path, default=None)
    ap.add_argument("--resume-from", type=Path, default=None)
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster (local runs only)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    # Absolute paths: Ray Train workers run in their own working directory.
    for name in ('store', 'embedder', 'out', 'storage_path', 'resume_from'):
        if getattr(a, name, None) is not None:
            setattr(a, name, Path(getattr(a, name)).resolve())
    p = preset(a.preset)
    t = p.aggregator_train
    for name, value in (("max_steps", a.max_steps), ("warmup_steps", a.warmup_steps), ("eval_every", a.eval_every),
                        ("checkpoint_every", a.checkpoint_every), ("log_every", a.log_every),
                        ("docs_per_batch", a.docs_per_batch), ("crop_prob", a.crop_prob),
                        ("chunk_drop_rate", a.chunk_drop_rate)):
        if value is not None:
            setattr(t, name, value)
    t.train_decoder = t.train_decoder or a.train_decoder
    t.target_in_view = t.target_in_view and not a.target_anywhere
    t.__post_init__()
    if a.layers is not None:
        p.aggregator.num_layers = a.layers
    job = AggregatorJob(store=a.store, out=a.out, embedder=a.embedder, preset=p, workers=a.workers,
                        cpus_per_worker=a.cpus_per_worker, gpus_per_worker=a.gpus_per_worker, run_name=a.run_name,
                        storage_path=a.storage_path, resume_from=a.resume_from, progress=not a.no_progress)
    return job, a.num_cpus


def main(argv: list[str] | None = None) -> int:
    job, num_cpus = parse_args(argv)
    init_ray(num_cpus)
    try:
        res = run_aggregator_training(job)
    finally:
        shutdown_ray()
    last = res.history[-1] if res.history else {}
    evals = [r for r in res.history if "eval_mlm" in r]
    print(f"train_aggregator ({job.preset.aggregator.name}, {job.preset.aggregator.num_layers} layers, decoder "
          f"{'trained' if job.preset.aggregator_train.train_decoder else 'frozen'}) -> {res.model_dir} "
          f"in {res.seconds:.0f} s")
    keys = ("train_documents", "eval_documents", "chunk_model_version", "chunks_per_document_p50", "embed_seconds")
    print(f"  data      {json.dumps({k: res.data[k] for k in keys})}")
    print(f"  last step {last.get('step')}: loss {last.get('train_loss', float('nan')):.3f}")
    if evals:
        e = evals[-1]
        print(f"  eval      text acc with the document vector {e['eval_mlm_acc']:.1%}, with another document's "
              f"{e['eval_mlm_acc_other_doc']:.1%}, with the chunk's own CLS {e['eval_mlm_acc_own_chunk']:.1%} "
              f"(mlm {e['eval_mlm']:.3f} / {e['eval_mlm_other_doc']:.3f} / {e['eval_mlm_own_chunk']:.3f})")
    print(f"  metrics   {res.metrics_json}" + (f", {res.loss_curve}" if res.loss_curve else ""))
    for note in res.notes:
        print(f"  note      {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
