"""The planted-signal check end to end on a dozen companies: corpus, ingest and embedding on the session's
Ray cluster, revenue labels, the regression and the verdict (the figures need hundreds of companies; this
checks the wiring and the contract of signal_check.json)."""
from __future__ import annotations

import json

import pytest

from featurestore.growth import LabelConfig, select_metrics
from jobs import signal_check


@pytest.mark.ray
def test_signal_check_runs_both_variants_and_writes_its_verdict(ray_cluster, tmp_path, capsys):
    out = tmp_path / "check"
    rc = signal_check.main(["--out", str(out), "--companies", "12", "--model", "tiny-random", "--n-boot", "20"])
    assert rc == 0
    result = json.loads((out / "signal_check.json").read_text())
    assert result["config"]["metrics"] == ["revenue"] and result["config"]["companies"] == 12
    revenue = LabelConfig(metrics=select_metrics(["revenue"]), years=(1,)).method
    for variant in ("signal", "shuffled"):
        assert (out / variant / "store" / "filingstore.duckdb").is_file()
        reg = json.loads((out / variant / "regression.json").read_text())
        assert reg["label_method"] == revenue                    # labels of the planted metric, not the mix
        assert reg["dataset"]["rows"] == 12                      # one cue window per company
    truth = result["truth"]
    assert truth["signal"]["signal"] is True and truth["shuffled"]["signal"] is False
    assert truth["signal"]["rows_with_cue"] == 12
    rows = {(r["model"], r["features"]) for r in result["rows"]}
    first = "chunk_embeddings:<model>/section-first[7]"
    assert {("ridge", first), ("ridge_whitened", first), ("ridge", "facts")} <= rows
    v = result["verdict"]
    assert v["min_spearman"] == 0.5 and isinstance(v["passed"], bool)
    assert {p["model"] for p in v["feature_sets"]} >= {"ridge", "ridge_whitened"}
    printed = capsys.readouterr().out
    assert "planted cue: population Spearman" in printed and "ACCEPTANCE" in printed
    # re-running on the same folder reuses the stores: nothing is ingested or embedded twice
    assert signal_check.main(["--out", str(out), "--companies", "12", "--model", "tiny-random",
                              "--n-boot", "20"]) == 0
    again = json.loads((out / "signal_check.json").read_text())
    assert again["datasets"] == result["datasets"]
    assert "already in store  24" in capsys.readouterr().out
