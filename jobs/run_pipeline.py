"""The whole chain, one command: corpus -> ingest -> pretrain -> chunk embedder -> embed ->
aggregator -> labels -> regressions -> benchmarks -> report.

Local (what `make demo` runs: the bundled sample corpus, tiny presets, 2 CPUs):
    python -m jobs.run_pipeline --out demo

On a Ray cluster: the same chain runs as one Ray job whose driver attaches to the
cluster (every step's Ray work then spreads over it); `--out` must be on storage
every node sees, e.g. NFS or a mounted bucket:
    python -m jobs.run_pipeline --address http://HEAD:8265 --out /shared/run1 \\
        --preset base --workers 4 --gpus-per-worker 1 --embed-gpus 4 --input /shared/filings/10-K
which is `ray job submit --address http://HEAD:8265 --working-dir . -- python -m jobs.run_pipeline --out … `
plus waiting for the job and streaming its log.

Layout of --out (the report job reads the same layout with `--pipeline OUT`):
    corpus/            the generated sample corpus (unless --input is given)
    store/             the store (DuckDB + LanceDB + registry)
    runs/pretrain/     jobs.pretrain run;   runs/embedder/, runs/aggregator/ likewise
    results/benchmark.json, results/regression.json
    results/report.html  (the report)

Every step is idempotent (ingest skips known content, training resumes from its
last checkpoint, embedding skips rows it has), so re-running after a failure or
a kill continues where the chain stopped; `--steps` runs a subset.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jobs.cli_types import positive_int

STEPS = ("corpus", "ingest", "pretrain", "embedder", "embed", "aggregator", "embed_doc",
         "labels", "regress", "benchmark", "report", "queries")


@dataclass
class PipelineConfig:
    out: Path
    inputs: list[Path] = field(default_factory=list)   # real filings; empty: the generated sample corpus
    companies: int = 120                                # planted-signal sample: companies (2 10-Ks each)
    signal: bool = True
    seed: int = 0
    preset: str = "tiny"
    pretrain_steps: int = 600
    embedder_steps: int = 150
    aggregator_steps: int = 150
    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    embed_gpus: int = 0
    n_boot: int = 1000
    num_cpus: int | None = None
    steps: tuple[str, ...] = STEPS
    progress: bool = True

    @property
    def corpus(self) -> Path:
        return self.out / "corpus"

    @property
    def store(self) -> Path:
        return self.out / "store"

    def run_dir(self, name: str) -> Path:
        return self.out / "runs" / name

    @property
    def results(self) -> Path:
        return self.out / "results"


def _quiet(cfg: PipelineConfig) -> list[str]:
    return [] if cfg.progress else ["--no-progress"]


def _train_args(cfg: PipelineConfig) -> list[str]:
    return ["--preset", cfg.preset, "--workers", str(cfg.workers), "--gpus-per-worker", str(cfg.gpus_per_worker),
            "--cpus-per-worker", str(cfg.cpus_per_worker)]


def _call(module: str, argv: Sequence[str]) -> None:
    """Run one job's `main(argv)` in this process; a non-zero exit stops the chain."""
    import importlib
    argv = [str(a) for a in argv]
    print(f"\n$ python -m {module} {' '.join(argv)}", flush=True)
    rc = importlib.import_module(module).main(argv)
    if rc not in (0, None):
        raise SystemExit(f"step python -m {module} failed with exit code {rc}; fix it and re-run "
                         f"the pipeline (finished steps are skipped or resumed)")


# -- steps ----------------------------------------------------------------------------

def step_corpus(cfg: PipelineConfig) -> None:
    if cfg.inputs:
        print(f"using the given filings: {', '.join(map(str, cfg.inputs))}")
        return
    from etl.sample_accounts import write_bulk_zip
    from etl.signal_corpus import write_signal_corpus
    from etl.site_corpus import write_sites
    corpus = write_signal_corpus(cfg.corpus / "sec", n_companies=cfg.companies, signal=cfg.signal, seed=cfg.seed)
    bulk = write_bulk_zip(cfg.corpus / "companies_house", n=6, seed=cfg.seed)
    sites = write_sites(cfg.corpus / "websites", n_companies=3, seed=cfg.seed)
    print(f"sample corpus in {cfg.corpus}: {len(corpus.filings)} 10-Ks of {cfg.companies} companies "
          f"(growth cue planted: {cfg.signal}, realised Spearman {corpus.realised_spearman():.3f}), "
          f"a Companies House bulk zip ({bulk.name}), {len(sites)} crawled websites")


def step_ingest(cfg: PipelineConfig) -> None:
    cpus = [] if cfg.num_cpus is None else ["--num-cpus", cfg.num_cpus]
    if cfg.inputs:
        _call("jobs.ingest", ["--input", *cfg.inputs, "--store", cfg.store, *cpus, *_quiet(cfg)])
        return
    _call("jobs.ingest", ["--input", cfg.corpus / "sec", cfg.corpus / "companies_house", "--store", cfg.store,
                          *cpus, *_quiet(cfg)])
    _call("jobs.ingest", ["--source", "website", "--input", cfg.corpus / "websites", "--store", cfg.store,
                          *cpus, *_quiet(cfg)])


def step_pretrain(cfg: PipelineConfig) -> None:
    _call("jobs.pretrain", ["--store", cfg.store, "--out", cfg.run_dir("pretrain"), *_train_args(cfg),
                            "--max-steps", cfg.pretrain_steps, *_quiet(cfg)])


def step_embedder(cfg: PipelineConfig) -> None:
    _call("jobs.train_embedder", ["--store", cfg.store, "--init", cfg.run_dir("pretrain"),
                                  "--out", cfg.run_dir("embedder"), *_train_args(cfg),
                                  "--max-steps", cfg.embedder_steps, *_quiet(cfg)])


def step_embed(cfg: PipelineConfig) -> None:
    _call("jobs.embed", ["--store", cfg.store, "--model", cfg.run_dir("embedder"), "--level", "both",
                         "--gpus", cfg.embed_gpus, *_quiet(cfg)])


def step_aggregator(cfg: PipelineConfig) -> None:
    _call("jobs.train_aggregator", ["--store", cfg.store, "--embedder", cfg.run_dir("embedder"),
                                    "--out", cfg.run_dir("aggregator"), *_train_args(cfg),
                                    "--max-steps", cfg.aggregator_steps, *_quiet(cfg)])


def step_embed_doc(cfg: PipelineConfig) -> None:
    _call("jobs.embed", ["--store", cfg.store, "--model", cfg.run_dir("embedder"), "--level", "doc",
                         "--aggregator", cfg.run_dir("aggregator"), "--gpus", cfg.embed_gpus, *_quiet(cfg)])


def step_labels(cfg: PipelineConfig) -> None:
    _call("jobs.labels", ["--store", cfg.store])


def step_regress(cfg: PipelineConfig) -> None:
    _call("jobs.regress", ["--store", cfg.store, "--all-models", "--n-boot", cfg.n_boot,
                           "--aggregator", cfg.run_dir("aggregator"),
                           "--out", cfg.results / "regression.json"])


def step_benchmark(cfg: PipelineConfig) -> None:
    _call("jobs.benchmark", ["--store", cfg.store, "--models", cfg.run_dir("embedder"),
                             "--out", cfg.results / "benchmark.json"])


def step_report(cfg: PipelineConfig) -> None:
    _call("jobs.report", ["--pipeline", cfg.out])


def step_queries(cfg: PipelineConfig) -> None:
    """A few of the questions users ask the store, printed."""
    from featurestore import Store
    from jobs.demo import show_store
    from jobs.query import format_rows
    store = Store(cfg.store)
    show_store(store)
    print("\nSQL: chunk and document vectors per model and method")
    print(format_rows(store.sql(
        "SELECT 'chunk' AS level, model_version, NULL AS method, count(*) AS n FROM chunk_embeddings GROUP BY ALL "
        "UNION ALL SELECT 'doc', model_version, method, count(*) FROM doc_embeddings GROUP BY ALL ORDER BY 1, 2, 3"), "table"))
    first = store.sql("SELECT filing_id FROM filings WHERE source = 'sec' ORDER BY filed_at, filing_id LIMIT 1")
    if first.num_rows:
        fid = first["filing_id"][0].as_py()
        _call("jobs.query", ["similar", "--store", cfg.store, "--model", cfg.run_dir("embedder"),
                             "--filing-id", fid, "--level", "doc", "-k", 5])
    _call("jobs.query", ["similar", "--store", cfg.store, "--model", cfg.run_dir("embedder"),
                         "--text", "order backlog rose and new customer contracts were signed", "-k", 5])


STEP_FUNCTIONS: dict[str, Callable[[PipelineConfig], None]] = {
    "corpus": step_corpus, "ingest": step_ingest, "pretrain": step_pretrain, "embedder": step_embedder,
    "embed": step_embed, "aggregator": step_aggregator, "embed_doc": step_embed_doc, "labels": step_labels,
    "regress": step_regress, "benchmark": step_benchmark, "report": step_report, "queries": step_queries,
}


def run_pipeline(cfg: PipelineConfig) -> dict[str, float]:
    """Run the configured steps in order in this process; return seconds per step."""
    from jobs.ray_session import init_ray, shutdown_ray
    cfg.out.mkdir(parents=True, exist_ok=True)
    cfg.results.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t_all = time.monotonic()
    init_ray(cfg.num_cpus)  # one Ray session for the whole chain (jobs reuse it)
    try:
        for name in STEPS:
            if name not in cfg.steps:
                continue
            print(f"\n=== {name} ({time.monotonic() - t_all:.0f} s into the pipeline) ===", flush=True)
            t0 = time.monotonic()
            STEP_FUNCTIONS[name](cfg)
            timings[name] = time.monotonic() - t0
    finally:
        shutdown_ray()
    print("\n=== pipeline finished ===")
    for name, s in timings.items():
        print(f"  {name:<11} {s:7.1f} s")
    print(f"  {'total':<11} {time.monotonic() - t_all:7.1f} s")
    report = cfg.out / "results" / "report.html"
    if report.exists():
        print(f"\nreport: {report.resolve()}")
    print(f"store:  {cfg.store.resolve()} (SQL: python -m jobs.query sql --store {cfg.store} \"SELECT …\")")
    return timings


def parse_args(argv: Sequence[str] | None) -> tuple[PipelineConfig, argparse.Namespace]:
    ap = argparse.ArgumentParser(prog="python -m jobs.run_pipeline", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="pipeline folder (corpus, store, runs, results, report)")
    ap.add_argument("--input", type=Path, nargs="*", default=[], help="real filings instead of the sample corpus")
    ap.add_argument("--companies", type=positive_int, default=120, help="sample corpus companies (2 10-Ks each)")
    ap.add_argument("--no-signal", action="store_true", help="sample corpus with the growth cue randomised")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="tiny", help="model preset: tiny (CPU), minilm, base (GPU)")
    ap.add_argument("--pretrain-steps", type=positive_int, default=600)
    ap.add_argument("--embedder-steps", type=positive_int, default=150)
    ap.add_argument("--aggregator-steps", type=positive_int, default=150)
    ap.add_argument("--workers", type=positive_int, default=1, help="Ray Train workers per training step")
    ap.add_argument("--gpus-per-worker", type=float, default=0.0)
    ap.add_argument("--cpus-per-worker", type=float, default=1.0)
    ap.add_argument("--embed-gpus", type=int, default=0, help="GPU actors for batch inference")
    ap.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap resamples of the regressions")
    ap.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS), help="run only these steps")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster (local runs only)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--address", default=None,
                    help="Ray Jobs API (http://HEAD:8265): submit this chain as a cluster job and wait for it")
    ap.add_argument("--working-dir", default=".", help="with --address: folder uploaded as the job's code")
    ap.add_argument("--job-python", default="python",
                    help="with --address: the Python that runs the job on the head (one with filingstore installed)")
    a = ap.parse_args(argv)
    cfg = PipelineConfig(
        out=a.out.resolve(), inputs=list(a.input), companies=a.companies, signal=not a.no_signal, seed=a.seed,
        preset=a.preset, pretrain_steps=a.pretrain_steps, embedder_steps=a.embedder_steps,
        aggregator_steps=a.aggregator_steps, workers=a.workers, gpus_per_worker=a.gpus_per_worker,
        cpus_per_worker=a.cpus_per_worker, embed_gpus=a.embed_gpus, n_boot=a.n_boot, num_cpus=a.num_cpus,
        steps=tuple(a.steps), progress=not a.no_progress)
    return cfg, a


def _without_address(argv: Sequence[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--address", "--working-dir", "--job-python"):
            skip = True
            continue
        if arg.startswith(("--address=", "--working-dir=", "--job-python=")):
            continue
        out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cfg, a = parse_args(argv)
    if a.address:
        from jobs.submission import Submission, default_env_vars, run
        run(Submission(address=a.address, entrypoint=[a.job_python, "-m", "jobs.run_pipeline", *_without_address(argv)],
                       working_dir=a.working_dir, env_vars=default_env_vars()))
        return 0
    run_pipeline(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
