"""Train the chunk embedder (CLS autoencoder with memory slots + contrastive or JEPA/SIGReg term) with Ray Train.

Local (starts a private Ray cluster), from a pretraining run:
    python -m jobs.train_embedder --store stores/demo --init runs/tiny --out runs/embedder-tiny --preset tiny \\
        --max-steps 200

On a cluster (ModernBERT-base encoder, 4 GPU workers; --store, --init and --out on shared storage):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.train_embedder --store /shared/stores/main --init /shared/runs/base \\
            --out /shared/runs/embedder-base --preset base --workers 4 --gpus-per-worker 1

--init takes a pretraining run folder (its model/) or a saved encoder folder; without it the
encoder preset (--encoder-preset, default: the same name as --preset) starts fresh (minilm: the
offline all-MiniLM-L6-v2 weights). Writes to --out: init/ (the starting embedder, reused when the
run resumes), data_report.json (split, document batching), model/ (embedder_config.json +
model.safetensors + tokenizer/, loadable with models.embedder.load_chunk_embedder), metrics.json,
metrics.jsonl, metrics.csv, loss_curve.png, bottleneck_probe.json (decoder reconstruction with the
true CLS vs another chunk's vs none, at mask rates 15/50/80%) and ray_results/ (checkpoints).
Running the same command again resumes; a larger --max-steps continues.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jobs.cli_types import positive_int
from jobs.ray_session import init_ray, shutdown_ray
from models.bottleneck_probe import format_probe
from models.config import PRESETS as ENCODER_PRESETS
from models.embedder_config import OBJECTIVES, PRESETS, SEMANTIC_LOSSES, preset
from models.embedder_training import EmbedderJob, run_embedder_training


def parse_args(argv: list[str] | None = None) -> tuple[EmbedderJob, int | None]:
    ap = argparse.ArgumentParser(prog="python -m jobs.train_embedder", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, type=Path, help="store folder with ingested chunks")
    ap.add_argument("--out", required=True, type=Path, help="run folder (model, metrics, probe, checkpoints)")
    ap.add_argument("--init", type=Path, default=None, help="pretraining run folder or saved encoder folder")
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--encoder-preset", default=None, choices=sorted(ENCODER_PRESETS),
                    help="encoder preset for a fresh start without --init (default: --preset)")
    ap.add_argument("--objective", default=None, choices=OBJECTIVES,
                    help="contrastive (supervised-contrastive over same-document chunks) or sigreg "
                         "(JEPA view agreement + SIGReg)")
    ap.add_argument("--decoder-layers", type=positive_int, default=None, help="encoder layers copied into the decoder")
    ap.add_argument("--slots", type=positive_int, default=None, help="memory slots per decoder layer (>= 2)")
    ap.add_argument("--shared-slots", action="store_true", help="one slot projection for every decoder layer")
    ap.add_argument("--contrastive-weight", type=float, default=None)
    ap.add_argument("--temperature", type=float, default=None)
    ap.add_argument("--jepa-weight", type=float, default=None)
    ap.add_argument("--sigreg-lambda", type=float, default=None)
    ap.add_argument("--semantic-weight", type=float, default=None,
                    help="weight of the semantic anchor: keep chunk vectors near a frozen sentence embedder's "
                         "(0: off; the minilm preset anchors to MiniLM by default, weight 10)")
    ap.add_argument("--semantic-teacher", default=None,
                    help="the frozen sentence embedder of the anchor (default minilm; any name or folder "
                         "python -m jobs.embed --model takes)")
    ap.add_argument("--semantic-loss", default=None, choices=SEMANTIC_LOSSES,
                    help="cosine: vector by vector (same width); relational: the batch's similarity matrix")
    ap.add_argument("--semantic-sentences", type=int, default=None,
                    help="single prose sentences of the training chunks anchored per step with the chunks "
                         "(0: off; needs --semantic-weight > 0; the minilm preset's default is 32)")
    ap.add_argument("--lr", type=float, default=None, help="override the backbone learning rate")
    ap.add_argument("--seed", type=int, default=None,
                    help="initialisation, batch order, masks, sentence views (another seed measures the run-to-run "
                         "spread)")
    ap.add_argument("--min-chunks-per-doc", type=positive_int, default=None)
    ap.add_argument("--max-chunks-per-doc", type=positive_int, default=None)
    ap.add_argument("--min-docs-per-batch", type=positive_int, default=None)
    ap.add_argument("--workers", type=positive_int, default=1, help="Ray Train workers (DDP ranks)")
    ap.add_argument("--gpus-per-worker", type=float, default=0.0, help="0: CPU with gloo; >0: GPU with NCCL + bf16")
    ap.add_argument("--cpus-per-worker", type=float, default=1.0)
    ap.add_argument("--max-steps", type=positive_int, default=None, help="override the preset's step count")
    ap.add_argument("--token-budget", type=positive_int, default=None, help="padded tokens per batch per worker")
    ap.add_argument("--warmup-steps", type=int, default=None)
    ap.add_argument("--eval-every", type=positive_int, default=None)
    ap.add_argument("--checkpoint-every", type=positive_int, default=None)
    ap.add_argument("--log-every", type=positive_int, default=None)
    ap.add_argument("--run-name", default="embedder")
    ap.add_argument("--storage-path", type=Path, default=None,
                    help="Ray Train storage (default <out>/ray_results; shared storage on a cluster)")
    ap.add_argument("--resume-from", type=Path, default=None, help="start from this checkpoint folder")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster (local runs only)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    # Absolute paths: Ray Train workers run in their own working directory.
    for name in ('store', 'out', 'init', 'storage_path', 'resume_from'):
        if getattr(a, name, None) is not None:
            setattr(a, name, Path(getattr(a, name)).resolve())
    p = preset(a.preset)
    t = p.embedder_train
    for name, value in (("max_steps", a.max_steps), ("token_budget", a.token_budget),
                        ("warmup_steps", a.warmup_steps), ("eval_every", a.eval_every),
                        ("checkpoint_every", a.checkpoint_every), ("log_every", a.log_every),
                        ("objective", a.objective), ("contrastive_weight", a.contrastive_weight),
                        ("temperature", a.temperature), ("jepa_weight", a.jepa_weight),
                        ("sigreg_lambda", a.sigreg_lambda), ("min_chunks_per_doc", a.min_chunks_per_doc),
                        ("max_chunks_per_doc", a.max_chunks_per_doc), ("min_docs_per_batch", a.min_docs_per_batch),
                        ("semantic_weight", a.semantic_weight), ("semantic_teacher", a.semantic_teacher),
                        ("semantic_loss", a.semantic_loss), ("semantic_sentences", a.semantic_sentences),
                        ("lr", a.lr), ("seed", a.seed)):
        if value is not None:
            setattr(t, name, value)
    t.__post_init__()  # re-validate the overridden fields
    e = p.embedder
    if a.decoder_layers is not None:
        e.decoder_layers = a.decoder_layers
    if a.slots is not None:
        e.n_slots = a.slots
    e.shared_slots = e.shared_slots or a.shared_slots
    e.__post_init__()
    job = EmbedderJob(store=a.store, out=a.out, preset=p, init=a.init, encoder_preset=a.encoder_preset or a.preset,
                      workers=a.workers, cpus_per_worker=a.cpus_per_worker, gpus_per_worker=a.gpus_per_worker,
                      run_name=a.run_name, storage_path=a.storage_path, resume_from=a.resume_from,
                      progress=not a.no_progress)
    return job, a.num_cpus


def main(argv: list[str] | None = None) -> int:
    job, num_cpus = parse_args(argv)
    init_ray(num_cpus)
    try:
        res = run_embedder_training(job)
    finally:
        shutdown_ray()
    cfg = job.preset.embedder_train
    last = res.history[-1] if res.history else {}
    evals = [r for r in res.history if "eval_mlm" in r]
    b = res.data["batching"]
    print(f"train_embedder ({job.preset.embedder.name}, {cfg.objective}, decoder {job.preset.embedder.decoder_layers} "
          f"layers, {job.workers} workers) -> {res.model_dir} in {res.seconds:.0f} s")
    keys = ("train_chunks", "train_documents", "eval_chunks", "eval_documents", "init")
    print(f"  data      {json.dumps({k: res.data[k] for k in keys})}")
    print(f"  batching  {b['positive_share']:.1%} of anchors have a positive, padding waste {b['padding_waste']:.1%}, "
          f"{b['mean_docs_per_batch']:.1f} documents / {b['mean_chunks_per_batch']:.1f} chunks per batch, "
          f"{b['over_budget_batches']} of {b['batches']} batches over the token budget")
    print(f"  last step {last.get('step')}: loss {last.get('train_loss', float('nan')):.3f}, "
          f"{last.get('tokens_per_s', float('nan')):.0f} tokens/s")
    if evals:
        e0, e1 = evals[0], evals[-1]
        print(f"  eval      mlm {e0['eval_mlm']:.3f} -> {e1['eval_mlm']:.3f}, number excess "
              f"{e0['eval_number_excess']:.3f} -> {e1['eval_number_excess']:.3f}, same-document top-1 "
              f"{e0['eval_same_doc_top1']:.1%} -> {e1['eval_same_doc_top1']:.1%}"
              + (f", semantic anchor {e0['eval_semantic']:.3f} -> {e1['eval_semantic']:.3f}" if 'eval_semantic' in e1 else ""))
    print(format_probe(res.probe))
    print(f"  probe     {res.probe_json}")
    print(f"  metrics   {res.metrics_json}" + (f", {res.loss_curve}" if res.loss_curve else ""))
    for note in res.notes:
        print(f"  note      {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
