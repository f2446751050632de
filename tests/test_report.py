"""The report job: every section rendered from real inputs, and a clear note for each missing one.

The store is real (generated filings parsed by the ETL and written through
`Store`, without Ray, as tests/test_models_evaluate.py does; the Ray ingest is
covered by tests/test_pipeline.py), the registry is a real SQLite file, the
embeddings a real Lance table mirrored into DuckDB, the encoder a tiny random
one saved and reloaded by `models.model_files`. Benchmark and regression
JSONs are written here in their contract formats.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from etl.documents import parse_filing
from etl.records import filing_tables
from etl.sample_corpus import generate_corpus
from featurestore import CHUNKS, FILINGS, NUMBERS, SECTIONS, Store
from jobs.report import (ReportInputs, annotate_chunk, benchmark_tables, build_report, loss_columns, main,
                         pipeline_inputs, read_metrics, regression_table, report_path, ExampleNumber)
from jobs.report_html import esc, fmt_compact, fmt_interval, fmt_num, table

PNG = "data:image/png;base64,"
EVIL = "<script>alert('x')</script>"
HEADINGS = ("Corpus", "Training curves", "Embedding benchmarks", "Growth regressions",
            "Worked example: masked numbers in one filing", "Lineage")


# --- fixtures ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    """Two generated companies x two years, parsed by the ETL into a real store."""
    path = tmp_path_factory.mktemp("report") / "store"
    store = Store(path, create=True)
    with store.transaction() as tx:
        for f in generate_corpus(2, 2, seed=5):
            p = parse_filing(f.html.encode(), Path(f.file_name), json.dumps(f.sidecar).encode(), max_tokens=128)
            t = filing_tables(p, f.file_name, len(f.html))
            tx.upsert(FILINGS.name, t[FILINGS.name])
            for tbl in (SECTIONS, CHUNKS, NUMBERS):
                tx.replace_partitions(tbl.name, [p.filing_id], t[tbl.name])
    return path


@pytest.fixture(scope="module")
def inputs(store_dir, tmp_path_factory) -> ReportInputs:
    """Every input of the report: a pretrain run with a tiny model, an embedder run, results, registry, vectors."""
    import torch

    from featurestore.registry import Registry
    from featurestore.vectors import EmbeddingWriter
    from models.config import NumberConfig, tiny
    from models.model_files import build_encoder, save_encoder
    from models.pretraining import read_chunks, write_metrics
    from models.tokenizer import NumberTokenizer

    torch.set_flush_denormal(True)
    root = tmp_path_factory.mktemp("inputs")
    shutil.copytree(store_dir, root / "store")  # registry and vectors go into a copy: `store_dir` stays bare
    store = Store(root / "store")
    chunks = read_chunks(store)
    companies = sorted({c.company_id for c in chunks})
    held = companies[-1]

    # pretrain run folder: a tiny random encoder (untrained: rendering only), its split, real metrics files
    run = root / "runs" / "pretrain"
    tok = NumberTokenizer.train_bpe([c.text for c in chunks if c.company_id != held], vocab_size=500, max_length=128)
    p = tiny()
    p.encoder.backbone_config = dict(p.encoder.backbone_config, num_hidden_layers=1, hidden_size=32,
                                     intermediate_size=48, num_attention_heads=2)
    p.encoder.max_length = 128
    p.encoder.number = NumberConfig(n_bins=32)
    save_encoder(build_encoder(p.encoder, tok, seed=0), run / "model", tok)
    (run / "data_report.json").write_text(json.dumps({"train_chunks": 10, "eval_chunks": 4,
                                                       "eval_companies": [held]}))
    (run / "run_config.json").write_text(json.dumps({"encoder": p.encoder.to_dict(), "train": p.train.to_dict()}))
    history = [{"step": s, "epoch": 0, "train_loss": 9.0 - s / 10, "train_mlm": 6.0 - s / 20,
                "train_number_excess": 2.0 - s / 50} for s in range(10, 60, 10)]
    history[-1].update({"eval_mlm": 5.25, "eval_number_excess": 1.5, "eval_abs_log10_err": 1.8125})
    write_metrics(history, run)

    # an embedder run that logs a CSV with other column names
    emb = root / "runs" / "embedder"
    emb.mkdir(parents=True)
    (emb / "metrics.csv").write_text("step,train_loss,val_loss,val_recall_at_1\n1,2.5,2.75,0.25\n2,2.0,2.5,0.5\n"
                                     "3,1.5,,\n")

    bench = root / "results" / "benchmark.json"
    bench.parent.mkdir(parents=True)
    bench.write_text(json.dumps({
        "models": {
            "minilm": {"model_version": "minilm-v1", "dim": 384,
                       "paraphrase": {"recall_at_1": 0.734, "mrr": 0.812, "ranks_s2p": [1, 2, 1]},
                       "numeric": {"accuracy": 0.615, "by_category": {"scale": {"n": 12, "accuracy": 0.5}},
                                   "correct": {"t1": True, "t2": False}},
                       "geometry": {"participation_ratio": 41.7, "mean_cosine": 0.123}},
            EVIL: {"model_version": "tiny-1", "dim": 32, "paraphrase": {"recall_at_1": 0.0625, "mrr": 0.111},
                   "numeric": {"accuracy": 0.503}},
        },
        "notes": ["benchmarked on the frozen sets"], "selection_criterion": "numeric accuracy + recall@1"}))

    regression = root / "results" / "regression.json"
    rng = np.random.default_rng(0)
    preds = []
    for split in ("company_kfold", "walk_forward_2022"):
        for model in ("ridge", "persistence"):
            for i in range(6):
                y = float(rng.normal(0.05, 0.1))
                preds.append({"model": model, "split": split, "company_id": f"c{i}", "window_start": "2020-12-31",
                              "window_end": "2021-12-31", "y_true": y, "y_pred": y + float(rng.normal(0, 0.05))})
    regression.write_text(json.dumps({
        "rows": [
            {"model": "ridge", "features": "doc_embeddings:tiny-1/mean", "split": "company_kfold", "n_train": 40,
             "n_test": 10, "pearson": [0.412, 0.301, 0.520], "spearman": [0.388, 0.25, 0.49],
             "r2": [0.151, -0.02, 0.27], "mae": [0.0734, 0.061, 0.088], "alpha": 10.0},
            {"model": "persistence", "features": "last growth", "split": "company_kfold", "n_train": 40,
             "n_test": 10, "pearson": [0.256, None, None], "spearman": [0.2], "r2": [0.05, -0.1, 0.2],
             "mae": [0.0912, 0.08, 0.1], "baseline": True},
        ],
        "predictions": preds,
        "persistence_correlation": {"value": 0.3125, "n": 77, "lag": "1 window"},
        "label_method": "wlog-v1-clip1.0", "interval": "95% bootstrap over companies",
        "notes": ["labels from inline XBRL facts"]}))

    # registry: the ETL version, the model, a run that wrote embeddings and the Lance version it produced
    rows = store.sql("SELECT c.chunk_id, c.filing_id, f.company_id, f.form, f.filed_at, c.section_id, c.seq, "
                     "c.etl_version FROM chunks c JOIN filings f USING (filing_id) ORDER BY chunk_id")
    vectors = np.random.default_rng(1).normal(size=(rows.num_rows, 8)).astype(np.float32)
    rows = rows.append_column("vector", pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 8))
    with Registry.for_store(store) as reg:  # what the ingest and embed jobs record
        reg.register_etl_version("etl-0.1", "sample corpus, test")
        reg.register_model("tiny-1", "encoder", run / "model", config=p.encoder.to_dict(), etl_version="etl-0.1")
        with reg.run("embed", inputs={"store": str(store_dir)}, params={"level": "chunk"},
                     model_version="tiny-1", etl_version="etl-0.1") as handle:
            writer = EmbeddingWriter(store, "chunk", "tiny-1", 8)
            handle.row_counts["chunk_embeddings"] = writer.write(rows)
            handle.record_table_version(writer.name, writer.lance_version())
    return ReportInputs(store=root / "store", runs=[emb], benchmark=bench, regression=regression, pretrain=run,
                        title=f"Report {EVIL}", max_example_numbers=40)


# --- the whole report --------------------------------------------------------------

def test_full_report_renders_every_section_from_its_inputs(inputs):
    html, sections = build_report(inputs)
    assert [s.title for s in sections] == list(HEADINGS)
    assert all(s.available for s in sections), [(s.title, s.body[:1]) for s in sections if not s.available]
    assert "Could not build" not in html
    for h in HEADINGS:
        assert f">{esc(h)}</h2>" in html and f'href="#' in html  # heading and its contents entry
    # self-contained: embedded PNGs (2 training curves, 2 regression scatters, 1 example scatter), no external assets
    assert html.count(PNG) >= 5
    assert not re.search(r'(src|href)="(https?:)?//', html)
    # escaped text: the title and a model name carrying markup never become markup
    assert EVIL not in html and esc(EVIL) in html

    store = Store(inputs.store)
    # corpus counts are the store's
    n_numbers = store.count("numbers")
    assert f"<td>numbers</td><td class=\"num\">{n_numbers:,}</td>" in html
    # benchmark numbers, one column per numeric leaf (lists and booleans skipped)
    for text in ("0.734", "0.812", "0.615", "41.7", "0.123", "0.0625", "by_category.scale.accuracy"):
        assert text in html
    assert "ranks_s2p" not in html and "correct.t1" not in html
    # regression estimates with intervals; a missing interval shows the estimate alone
    for text in ("0.412 [0.301, 0.520]", "0.0734 [0.0610, 0.0880]", "0.256</td>", "0.312", "wlog-v1-clip1.0",
                 "95% bootstrap over companies", "alpha", "Predicted vs actual: company_kfold",
                 "Predicted vs actual: walk_forward_2022", 'class="baseline"'):
        assert text in html, text
    # training curves of both runs: pretraining's metrics.json and the embedder's CSV
    assert "metrics.json" in html and "metrics.csv" in html and "1.81" in html
    # worked example: a held-out filing, numbers shown as true -> predicted with an error class
    held = json.loads((inputs.pretrain / "data_report.json").read_text())["eval_companies"][0]
    assert "held out" in html and held in html
    marked = re.findall(r'<span class="n (e[0-3])" title="[^"]*">([^<]*)</span>', html)
    assert 0 < len(marked) <= 40 and all("\u2192" in label for _cls, label in marked)
    assert "e-skip" in html  # numbers past the 40-number cap are shown unpredicted
    assert "log10 MAE" in html and "order-of-magnitude acc." in html
    # lineage: ETL version, model version, the run with its row count and Lance table version
    for text in ("etl-0.1", "sample corpus, test", "tiny-1", "embed", "succeeded", "chunk_embeddings__tiny_1",
                 "registered as"):
        assert text in html, text
    assert re.search(r"chunk_embeddings__tiny_1[^ ]* v\d+", html)


def test_missing_inputs_give_not_available_notes(store_dir, tmp_path):
    html, sections = build_report(ReportInputs(store=store_dir, benchmark=tmp_path / "nope.json"))
    state = {s.title: s.available for s in sections}
    assert state == {"Corpus": True, "Training curves": False, "Embedding benchmarks": False,
                     "Growth regressions": False, "Worked example: masked numbers in one filing": False,
                     "Lineage": True}
    assert html.count("Not available: ") >= 4
    assert f"{tmp_path / 'nope.json'} does not exist; run `python -m jobs.benchmark --store {store_dir}" in html
    assert "no --regression given; run `python -m jobs.regress" in html
    assert "no --pretrain given; run `python -m jobs.pretrain" in html
    assert "no registry at" in html  # this store's registry was never made by a job
    assert "(not available)" in html  # marked in the contents list too


def test_no_store_at_all_still_writes_a_report(tmp_path):
    out = tmp_path / "r" / "x.html"
    assert main(["--store", str(tmp_path / "missing"), "--out", str(out)]) == 0
    html = out.read_text()
    assert "no store at" in html and "python -m jobs.ingest" in html
    for h in HEADINGS:
        assert f">{esc(h)}</h2>" in html


def test_pipeline_layout_and_printed_path(store_dir, tmp_path, capsys):
    root = tmp_path / "pipe"
    shutil.copytree(store_dir, root / "store")
    (root / "results").mkdir()
    (root / "results" / "benchmark.json").write_text("{not json")
    assert main(["--pipeline", str(root), "--max-example-numbers", "5"]) == 0
    written = Path(capsys.readouterr().out.strip())
    assert written == root / "results" / "report.html" and written.is_file()
    html = written.read_text()
    assert "filings by source and form".lower() in html.lower()
    assert f"run folder {root / 'runs' / 'embedder'} does not exist; run `python -m jobs.train_embedder" in html
    assert f"{root / 'runs' / 'pretrain'} holds no trained encoder" in html
    assert "is not valid JSON" in html and "Could not build this part" in html  # one bad file, one red note
    assert f"{root / 'results' / 'regression.json'} does not exist" in html


# --- pieces ------------------------------------------------------------------------

def test_number_formatting():
    assert fmt_num(1234567) == "1,234,567" and fmt_num(0.41234) == "0.412" and fmt_num(12.345) == "12.3"
    assert fmt_num(0.0734) == "0.0734" and fmt_num(1e-7) == "1.00e-07" and fmt_num(None) == "\u2013"
    assert fmt_num(float("nan")) == "\u2013" and fmt_num(4321.7) == "4,322" and fmt_num(True) == "yes"
    assert fmt_compact(1_234_000) == "1.23M" and fmt_compact(-4.5e9) == "-4.5bn" and fmt_compact(999_999) == "1M"
    assert fmt_compact(0.25) == "0.250" and fmt_compact(980) == "980" and fmt_compact(2023.0) == "2023"
    assert fmt_compact(98_100) == "98.1k" and fmt_compact(12.25) == "12.2"
    assert fmt_interval([0.5, 0.25, 0.75]) == "0.500 [0.250, 0.750]" and fmt_interval([0.5, None, None]) == "0.500"


def test_table_escapes_cells_and_checks_widths():
    html = table(["a", "b"], [["<b>", 3]])
    assert "&lt;b&gt;" in html and '<td class="num">3</td>' in html
    with pytest.raises(ValueError, match="row 0 has 1 cells but there are 2 headers"):
        table(["a", "b"], [["x"]])


def test_read_metrics_in_every_format(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.json").write_text(json.dumps({"history": [{"step": 1, "train_loss": 2.0, "note": "x"}]}))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "metrics.jsonl").write_text('{"step": 1, "loss": 3.0}\n\n{"step": 2, "loss": 2.0}\n')
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "metrics.csv").write_text("epoch,val_loss,acc\n0,1.5,0.5\n1,,0.75\n")
    assert read_metrics(tmp_path / "a")[0] == [{"step": 1.0, "train_loss": 2.0}]
    assert [r["loss"] for r in read_metrics(tmp_path / "b")[0]] == [3.0, 2.0]
    recs, src = read_metrics(tmp_path / "c")
    assert src.name == "metrics.csv" and recs == [{"epoch": 0.0, "val_loss": 1.5, "acc": 0.5},
                                                  {"epoch": 1.0, "acc": 0.75}]
    assert loss_columns(recs + [{"train_loss": 1.0, "eval_mlm": 2.0, "eval_mlm_acc": 0.3}]) == \
        ["train_loss", "val_loss", "eval_mlm"]
    with pytest.raises(FileNotFoundError, match="holds none of metrics.json"):
        read_metrics(tmp_path)


def test_benchmark_tables_flatten_nested_numbers_generically():
    groups = benchmark_tables({
        "m1": {"dim": 4, "name": "m1", "paraphrase": {"mrr": 0.5, "ranks": [1]}, "x": {"y": {"z": 1.5}},
               "flags": {"ok": True}},
        "m2": {"paraphrase": {"mrr": 0.25, "new_metric": 0.125}},
    })
    got = {g: (cols, rows) for g, cols, rows in groups}
    assert got["overall"] == (["dim"], [["m1", 4]])
    assert got["paraphrase"] == (["mrr", "new_metric"], [["m1", 0.5, None], ["m2", 0.25, 0.125]])
    assert got["x"] == (["y.z"], [["m1", 1.5]]) and "flags" not in got
    wide = benchmark_tables({"m": {"g": {f"c{i}": float(i) for i in range(15)}}})
    assert [g for g, _c, _r in wide] == ["g", "g (continued)"] and len(wide[1][1]) == 3


def test_regression_table_shows_intervals_and_extra_columns():
    headers, cells, classes = regression_table([
        {"model": "ridge", "features": "f", "split": "s", "n_train": 5, "n_test": 2, "pearson": [0.5, 0.25, 0.75],
         "extra_metric": [1.0, 0.5, 1.5], "comment": "text is not a column"},
        {"model": "mean", "split": "s", "baseline": True, "mae": 0.125}])
    assert headers[-1] == "extra_metric" and "comment" not in headers and "baseline" not in headers
    assert cells[0][headers.index("pearson")] == "0.500 [0.250, 0.750]"
    assert cells[1][headers.index("mae")] == "0.125" and cells[1][headers.index("pearson")] == "\u2013"
    assert cells[1][headers.index("features")] == "\u2013" and classes == [None, "baseline"]


def test_annotate_chunk_marks_each_number_and_escapes_text():
    text = ("In <number>2023</number> revenue <b> was <number>$1.2</number> million & <number>25%</number> up, "
            "<number>3</number> plants")
    starts = [m.start(1) for m in re.finditer(r"<number>(.*?)</number>", text)]
    nums = {starts[0]: ExampleNumber("c", starts[0], "2023", 2023.0, "year", 2019.6, 0.3),
            starts[1]: ExampleNumber("c", starts[1], "$1.2", 1.2e6, "amount", 1.1e6, 0.04),
            starts[2]: ExampleNumber("c", starts[2], "25%", 0.25, "percent", 25.0, 2.0),
            starts[3]: ExampleNumber("c", starts[3], "3", 3.0, "count", None, None)}
    html = annotate_chunk(text, nums)
    assert html.startswith("In <span") and " revenue &lt;b&gt; was " in html and "&amp;" in html
    assert "<number>" not in html
    assert '<span class="n e1"' in html and "2023 \u2192 2020" in html  # years stay whole numbers
    assert '<span class="n e0"' in html and "1.2M \u2192 1.1M" in html
    assert '<span class="n e3"' in html and "0.250 \u2192 25<" in html
    assert '<span class="n e-skip"' in html and ">3</span>" in html


def test_pipeline_inputs_and_report_path(tmp_path):
    i = pipeline_inputs(tmp_path)
    assert i.store == tmp_path / "store" and i.benchmark == tmp_path / "results" / "benchmark.json"
    assert [p.name for p in i.all_runs()] == ["pretrain", "embedder", "aggregator"]  # pretrain listed once
    assert report_path(tmp_path / "a.html") == tmp_path / "a.html"
    assert report_path(tmp_path / "dir") == tmp_path / "dir" / "report.html"


@pytest.mark.ray
def test_report_on_a_store_written_by_the_ray_ingest(ray_cluster, tmp_path, capsys):
    from etl.pipeline import IngestConfig, run_ingest
    from etl.sample_corpus import write_corpus

    root = tmp_path / "pipeline"
    write_corpus(tmp_path / "corpus", n_companies=2, n_years=1, seed=7)
    summary = run_ingest(IngestConfig(inputs=[tmp_path / "corpus"], store=root / "store", progress=False, workers=1))
    assert summary.filings_written == 2
    assert main(["--pipeline", str(root)]) == 0
    html = Path(capsys.readouterr().out.strip()).read_text()
    n_chunks = Store(root / "store").count("chunks")
    assert f"<td>chunks</td><td class=\"num\">{n_chunks:,}</td>" in html
    assert "<td>sec</td><td>10-K</td><td class=\"num\">2</td>" in html  # 2 filings of 2 companies
    assert html.count("Not available: ") >= 5  # runs, results and the example are not there yet
