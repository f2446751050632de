"""Pretrain the number-aware encoder (MLM on text and numbers) on a store's chunks with Ray Train.

Local (starts a private Ray cluster; the tiny preset trains in minutes on 2 CPUs):
    python -m jobs.pretrain --store stores/demo --out runs/tiny --preset tiny --workers 2 --cpus-per-worker 1

On a cluster (ModernBERT-base, 4 GPU workers, NCCL + bf16; --out and --store on shared storage):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.pretrain --store /shared/stores/main --out /shared/runs/base \\
            --preset base --workers 4 --gpus-per-worker 1

Writes to --out: tokenizer/ (reused when the run resumes), data_report.json (split, padding
waste), model/ (the final encoder: encoder_config.json + model.safetensors + tokenizer/),
metrics.json, metrics.csv, loss_curve.png (when matplotlib is installed) and ray_results/
(Ray Train checkpoints). Running the same command again resumes from the last checkpoint;
a larger --max-steps continues training. --numeracy-mix 0.1 makes 10% of the training
sequences generated numeracy items (models.numeracy; "16 plus 24 gives 40", growth and margin
percentages). Evaluate with python -m jobs.eval_numbers --store ... --model <out>.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jobs.ray_session import init_ray, shutdown_ray
from models.config import PRESETS, preset
from models.pretraining import PretrainJob, run_pretrain


def parse_args(argv: list[str] | None = None) -> tuple[PretrainJob, int | None]:
    ap = argparse.ArgumentParser(prog="python -m jobs.pretrain", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, type=Path, help="store folder with ingested chunks")
    ap.add_argument("--out", required=True, type=Path, help="run folder (model, metrics, checkpoints)")
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--workers", type=int, default=1, help="Ray Train workers (DDP ranks)")
    ap.add_argument("--gpus-per-worker", type=float, default=0.0, help="0: CPU with gloo; >0: GPU with NCCL + bf16")
    ap.add_argument("--cpus-per-worker", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int, default=None, help="override the preset's step count")
    ap.add_argument("--token-budget", type=int, default=None, help="override padded tokens per batch per worker")
    ap.add_argument("--warmup-steps", type=int, default=None, help="override the preset's warmup (short runs)")
    ap.add_argument("--lr", type=float, default=None, help="override the backbone learning rate")
    ap.add_argument("--number-lr", type=float, default=None, help="override the number modules' learning rate")
    ap.add_argument("--number-loss-weight", type=float, default=None,
                    help="override the weight of the number losses (bins + sign) against the text MLM loss")
    ap.add_argument("--number-loss", choices=("two_hot", "hl_gauss"), default=None,
                    help="override the soft target of the number bins")
    ap.add_argument("--number-mask-rate", type=float, default=None,
                    help="share of numbers selected for MLM (default: the text rate, 15%%); more number targets per step")
    ap.add_argument("--max-length", type=int, default=None,
                    help="override tokens per sequence (shorter sequences: more steps per minute on CPU)")
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--checkpoint-every", type=int, default=None)
    ap.add_argument("--run-name", default="pretrain")
    ap.add_argument("--storage-path", type=Path, default=None,
                    help="Ray Train storage (default <out>/ray_results; shared storage on a cluster)")
    ap.add_argument("--resume-from", type=Path, default=None, help="start from this checkpoint folder")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster (local runs only)")
    ap.add_argument("--numeracy-mix", type=float, default=0.0,
                    help="share of training sequences that are generated numeracy items (models.numeracy), in [0, 1)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    p = preset(a.preset)
    for field, value in (("max_steps", a.max_steps), ("token_budget", a.token_budget),
                         ("warmup_steps", a.warmup_steps), ("lr", a.lr), ("number_lr", a.number_lr),
                         ("number_loss_weight", a.number_loss_weight),
                         ("number_mlm_probability", a.number_mask_rate),
                         ("eval_every", a.eval_every), ("checkpoint_every", a.checkpoint_every)):
        if value is not None:
            setattr(p.train, field, value)
    if a.number_loss is not None:
        p.encoder.number.loss = a.number_loss
    if a.max_length is not None:
        p.encoder.max_length = a.max_length
    job = PretrainJob(store=a.store, out=a.out, preset=p, workers=a.workers, cpus_per_worker=a.cpus_per_worker,
                      gpus_per_worker=a.gpus_per_worker, run_name=a.run_name, storage_path=a.storage_path,
                      resume_from=a.resume_from, progress=not a.no_progress, numeracy_mix=a.numeracy_mix)
    return job, a.num_cpus


def main(argv: list[str] | None = None) -> int:
    job, num_cpus = parse_args(argv)
    init_ray(num_cpus)
    try:
        res = run_pretrain(job)
    finally:
        shutdown_ray()
    last = res.history[-1] if res.history else {}
    evals = [r for r in res.history if "eval_number_excess" in r]
    print(f"pretrain ({job.preset.encoder.name}, {job.workers} workers) -> {res.model_dir} in {res.seconds:.0f} s")
    print(f"  data      {json.dumps({k: res.data[k] for k in ('train_chunks', 'numeracy_items', 'eval_chunks', 'eval_companies', 'vocab_size', 'train_tokens')})}")
    pad = res.data["padding"]
    print(f"  padding   token-budget batches {pad['budget_padding_waste']:.1%} vs random fixed-size "
          f"{pad['fixed_padding_waste']:.1%} (batch size {pad['fixed_batch_size']})")
    print(f"  last step {last.get('step')}: loss {last.get('train_loss', float('nan')):.3f}, "
          f"{last.get('tokens_per_s', float('nan')):.0f} tokens/s")
    if evals:
        e0, e1 = evals[0], evals[-1]
        print(f"  eval      mlm {e0['eval_mlm']:.3f} -> {e1['eval_mlm']:.3f}, number excess "
              f"{e0['eval_number_excess']:.3f} -> {e1['eval_number_excess']:.3f}, "
              f"|log10 err| {e1['eval_abs_log10_err']:.2f}, sign acc {e1['eval_sign_acc']:.1%}")
    print(f"  metrics   {res.metrics_json}, {res.metrics_csv}" + (f", {res.loss_curve}" if res.loss_curve else ""))
    for note in res.notes:
        print(f"  note      {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
