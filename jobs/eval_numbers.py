"""Masked-number evaluation of a pretrained encoder on held-out filings and on generated numeracy items.

Local (no Ray needed; a few minutes on CPU for 2000 numbers):
    python -m jobs.eval_numbers --store stores/demo --model runs/tiny --split eval --json runs/tiny/eval_numbers.json

On a cluster (the store and the run folder on shared storage):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.eval_numbers --store /shared/stores/main --model /shared/runs/base \\
            --json /shared/runs/base/eval_numbers.json --device cuda

The filings are split by company exactly as the pretraining split them
(`models.pretraining.split_by_company` with the seed and eval_fraction in the run's
run_config.json), so `--split eval` scores companies the model never saw. Up to
`--max-numbers` numbers (a fixed seeded sample, the same for every method) are
masked one at a time and predicted by the model's number head and by two
baselines fitted on the training split: the median magnitude per number kind,
and the nearest other number in the same chunk. The numeracy set is generated
by `models.numeracy.generate` with a seed of its own (never the training mix's).
Prints a table (method x metric) per set and writes everything to --json.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models import numeracy
from models.evaluate import Case, Evaluation, MedianBaseline, cases_from_chunks, cases_from_numeracy, evaluate, \
    sample_cases
from models.model_files import CONFIG_FILE, load_pretrained

NUMERACY_EVAL_SEED = 1_000_003          # the training mix derives its seed from the run's seed instead
DESIGN_REFERENCE = ("design reference: about 10% median relative error on numeracy items after "
                    "30 GPU-minutes on a 150M model")


def resolve_run(path: Path) -> tuple[Path, Path]:
    """(run folder, model folder) from either of them."""
    path = Path(path)
    if (path / "model" / CONFIG_FILE).is_file():
        return path, path / "model"
    if (path / CONFIG_FILE).is_file():
        return path.parent, path
    raise FileNotFoundError(f"{path} holds neither model/{CONFIG_FILE} nor {CONFIG_FILE}: pass a run folder "
                            f"written by python -m jobs.pretrain (or its model/ folder)")


def split_settings(run_dir: Path) -> tuple[int, float, list[str], str]:
    """(seed, eval_fraction, eval companies recorded by the run or [], where the settings came from)."""
    from models.config import TrainConfig
    from models.pretraining import RUN_CONFIG_FILE, TRAIN_STATE_FILE

    recorded = []
    report = run_dir / "data_report.json"
    if report.is_file():
        recorded = list(json.loads(report.read_text()).get("eval_companies", []))
    cfg_path = run_dir / RUN_CONFIG_FILE
    if cfg_path.is_file():
        train = json.loads(cfg_path.read_text())["train"]
        return int(train["seed"]), float(train["eval_fraction"]), recorded, str(cfg_path)
    states = sorted(run_dir.glob(f"ray_results/**/{TRAIN_STATE_FILE}"), key=lambda p: p.stat().st_mtime)
    if states:
        train = json.loads(states[-1].read_text())["train"]
        return int(train["seed"]), float(train["eval_fraction"]), recorded, str(states[-1])
    d = TrainConfig.__dataclass_fields__
    return int(d["seed"].default), float(d["eval_fraction"].default), recorded, "TrainConfig defaults"


def filing_cases(store_dir: Path, seed: int, eval_fraction: float, split: str
                 ) -> tuple[list[Case], MedianBaseline, dict[str, Any]]:
    """Cases of the chosen split, and the median baseline fitted on the training split."""
    from featurestore import NUMBERS, Store
    from models.pretraining import read_chunks, split_by_company

    store = Store(store_dir)
    chunks = read_chunks(store)
    if not chunks:
        raise ValueError(f"store {store_dir} has no chunks; ingest filings first (python -m jobs.ingest)")
    train, held, eval_companies = split_by_company(chunks, eval_fraction, seed)
    kinds = {(r["chunk_id"], r["char_start"]): r["kind"]
             for r in store.read(NUMBERS, ["chunk_id", "char_start", "kind"]).to_pylist()}
    train_vals = [v for c in train for _a, _b, v in c.numbers]
    train_kinds = [kinds.get((c.chunk_id, a)) or "unknown" for c in train for a, _b, _v in c.numbers]
    baseline = MedianBaseline.fit(train_vals, train_kinds)
    chosen = {"eval": held, "train": train, "all": chunks}[split]
    cases = cases_from_chunks((c.chunk_id, c.company_id, c.text,
                               [(a, b, v, kinds.get((c.chunk_id, a)) or "unknown") for a, b, v in c.numbers])
                              for c in chosen)
    info = {"chunks": len(chosen), "companies": sorted({c.company_id for c in chosen}),
            "eval_companies": eval_companies, "numbers": len(cases), "train_numbers": len(train_vals),
            "median_per_kind": baseline.per_kind, "train_numbers_per_kind": baseline.counts}
    return cases, baseline, info


def run(store: Path, model: Path, split: str = "eval", max_numbers: int = 2000, numeracy_items: int = 1000,
        sample_seed: int = 0, device: str = "cpu", token_budget: int = 8192) -> dict[str, Any]:
    t0 = time.perf_counter()
    run_dir, model_dir = resolve_run(model)
    seed, eval_fraction, recorded, source = split_settings(run_dir)
    encoder, tokenizer = load_pretrained(model_dir, map_location=device)
    cases, baseline, info = filing_cases(store, seed, eval_fraction, split)
    notes = []
    if recorded and split == "eval" and sorted(recorded) != info["eval_companies"]:
        notes.append(f"the run recorded eval companies {recorded} but this split gives {info['eval_companies']}: "
                     f"is this the store the run trained on?")
    sample = sample_cases(cases, max_numbers, sample_seed)
    results: dict[str, Evaluation] = {}
    if sample:
        results["filings"] = evaluate(encoder, tokenizer, sample, baseline,
                                      name=f"masked numbers, {split} split ({len(info['companies'])} companies)",
                                      token_budget=token_budget, device=device)
    else:
        notes.append(f"the {split} split holds no numbers (too few companies to hold one out?)")
    if numeracy_items > 0:
        items = numeracy.generate(numeracy_items, NUMERACY_EVAL_SEED)
        results["numeracy"] = evaluate(encoder, tokenizer, cases_from_numeracy(items), baseline,
                                       name=f"numeracy items ({numeracy_items}, seed {NUMERACY_EVAL_SEED})",
                                       token_budget=token_budget, device=device)
        results["numeracy"].notes.append(DESIGN_REFERENCE)
    return {
        "store": str(store), "model": str(model_dir), "split": split, "split_seed": seed,
        "eval_fraction": eval_fraction, "split_settings_from": source, "sample_seed": sample_seed,
        "max_numbers": max_numbers, "data": info, "notes": notes,
        "results": {k: v.to_dict() for k, v in results.items()},
        "tables": {k: v.table() for k, v in results.items()},
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.eval_numbers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, type=Path)
    ap.add_argument("--model", required=True, type=Path, help="run folder of jobs.pretrain (or its model/)")
    ap.add_argument("--split", default="eval", choices=("eval", "train", "all"))
    ap.add_argument("--max-numbers", type=int, default=2000, help="fixed random sample of masked numbers")
    ap.add_argument("--numeracy-items", type=int, default=1000, help="generated numeracy items (0: skip)")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--token-budget", type=int, default=8192)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", type=Path, default=None, help="write the full report here")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.device == "cpu":
        torch.set_flush_denormal(True)
    report = run(a.store, a.model, a.split, a.max_numbers, a.numeracy_items, a.sample_seed, a.device,
                 a.token_budget)
    for key, table in report["tables"].items():
        print(table)
        print(kind_table(report["results"][key]["by_kind"]))
        for note in report["results"][key]["notes"]:
            print(f"  note: {note}")
        print()
    for note in report["notes"]:
        print(f"note: {note}")
    print(f"split from {report['split_settings_from']} (seed {report['split_seed']}, eval_fraction "
          f"{report['eval_fraction']}); {report['data']['numbers']} numbers in {report['data']['chunks']} chunks "
          f"of {report['data']['companies']}; {report['seconds']:.0f} s")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(report, indent=1, default=_json_default) + "\n")
        print(f"wrote {a.json}")
    return 0


def kind_table(by_kind: dict, metric: str = "log10_mae") -> str:
    """One line per number kind: its count and each method's `metric`."""
    if not by_kind:
        return ""
    methods = list(next(iter(by_kind.values())))
    lines = [f"  {metric} by kind".ljust(22) + "n".rjust(6) + "".join(m.rjust(18) for m in methods)]
    for kind, ms in by_kind.items():
        n = next(iter(ms.values()))["n"]
        lines.append(f"    {kind}".ljust(22) + f"{n:6d}" + "".join(f"{ms[m][metric]:18.3f}" for m in methods))
    return "\n".join(lines)


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and math.isnan(x):
        return None
    return str(x)


if __name__ == "__main__":
    sys.exit(main())
