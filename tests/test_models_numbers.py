"""Number embedding, number head and losses on hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch

from models.config import NumberConfig
from models.losses import (entropy, hl_gauss_target, mlm_loss, number_bin_loss, sign_loss, soft_cross_entropy,
                           two_hot_target)
from models.number_bins import bin_centers, bin_position, decode_log_magnitude, decode_values, median_bin
from models.number_embedding import NumberEmbedding
from models.number_head import NumberHead

# 17 bins over log10 -3..13: one bin per decade, centres at the integers.
CFG = NumberConfig(n_bins=17, log10_min=-3.0, log10_max=13.0)


def test_bin_centres_and_positions():
    assert bin_centers(CFG).tolist() == [float(k) for k in range(-3, 14)]
    lo, frac = bin_position(torch.tensor([100.0, -100.0, 10 ** 2.25, 1e20, 1e-9, 0.0, 1e13]), CFG)
    assert lo.tolist() == [5, 5, 5, 15, 0, 0, 15]
    assert frac.tolist() == pytest.approx([0.0, 0.0, 0.25, 1.0, 0.0, 0.0, 1.0], abs=1e-6)


def test_default_window_is_128_bins_over_sixteen_decades():
    c = bin_centers(NumberConfig())
    assert len(c) == 128 and c[0] == -3 and c[-1] == 13


@pytest.fixture
def emb():
    torch.manual_seed(0)
    return NumberEmbedding(8, CFG)


def test_embedding_at_a_bin_centre_is_that_bin_plus_sign(emb):
    out = emb(torch.tensor([100.0, -100.0, 1e6]))
    assert torch.equal(out[0], emb.bins[5] + emb.sign[0])
    assert torch.equal(out[1], emb.bins[5] + emb.sign[1])
    assert torch.equal(out[2], emb.bins[9] + emb.sign[0])


def test_embedding_interpolates_linearly_between_the_two_nearest_bins(emb):
    out = emb(torch.tensor([10 ** 2.25, -(10 ** 7.5)]))
    torch.testing.assert_close(out[0], 0.75 * emb.bins[5] + 0.25 * emb.bins[6] + emb.sign[0])
    torch.testing.assert_close(out[1], 0.5 * emb.bins[10] + 0.5 * emb.bins[11] + emb.sign[1])


def test_zero_masked_and_out_of_window_values(emb):
    out = emb(torch.tensor([0.0, 123.0, 1e20, 1e-9]), hidden=torch.tensor([False, True, False, False]))
    assert torch.equal(out[0], emb.zero)                       # dedicated zero embedding only
    assert torch.equal(out[1], emb.bins[CFG.n_bins])           # reserved bin, value unseen
    assert torch.equal(out[2], emb.bins[16] + emb.sign[0])     # clamps to the top bin
    assert torch.equal(out[3], emb.bins[0] + emb.sign[0])      # clamps to the bottom bin


def test_embedding_gradients_stay_finite_with_nan_values(emb):
    out = emb(torch.tensor([float("nan"), 5.0]), hidden=torch.tensor([True, False]))
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in emb.parameters())


def test_neighbouring_bins_start_more_similar_than_distant_ones():
    e = NumberEmbedding(256, NumberConfig())
    b = torch.nn.functional.normalize(e.bins[:128].detach(), dim=-1)
    near = (b[:-1] * b[1:]).sum(-1).mean()
    far = (b[:-64] * b[64:]).sum(-1).mean()
    assert near > 0.8 and far < 0.5


def test_two_hot_target_and_excess_loss_closed_form():
    logits = torch.tensor([[0.0, 1.0, 2.0, 0.5] + [0.0] * 13])
    value = torch.tensor([10 ** -1.75])  # 0.25 of the way from bin 1 (1e-2) to bin 2 (1e-1)
    target = two_hot_target(value, CFG)
    assert target[0, 1].item() == pytest.approx(0.75, abs=1e-6) and target[0, 2].item() == pytest.approx(0.25, abs=1e-6)
    assert target.sum().item() == pytest.approx(1.0)
    logz = math.log(sum(math.exp(x) for x in logits[0].tolist()))
    ce = -(0.75 * (1.0 - logz) + 0.25 * (2.0 - logz))
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    loss = number_bin_loss(logits, value, CFG)
    assert loss.ce.item() == pytest.approx(ce, rel=1e-5)
    assert loss.excess.item() == pytest.approx(ce - h, rel=1e-5)
    assert soft_cross_entropy(logits, target).item() == pytest.approx(ce, rel=1e-5)
    assert entropy(target).item() == pytest.approx(h, rel=1e-5)


def test_excess_loss_is_zero_for_a_perfect_prediction():
    value = torch.tensor([10 ** 3.4, 1e6])
    target = two_hot_target(value, CFG)
    logits = torch.log(target.clamp_min(1e-30))
    assert number_bin_loss(logits, value, CFG).excess.item() == pytest.approx(0.0, abs=1e-5)


def test_hl_gauss_target_is_a_discretised_normal():
    cfg = NumberConfig(n_bins=17, log10_min=-3.0, log10_max=13.0, loss="hl_gauss", sigma=0.75)
    t = hl_gauss_target(torch.tensor([100.0, 1e20]), cfg)
    assert t.sum(-1).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    # centre bin holds P(|z| < 0.5 / 0.75)
    p_centre = math.erf(0.5 / 0.75 / math.sqrt(2))
    assert t[0, 5].item() == pytest.approx(p_centre, abs=1e-6)
    assert t[0, 4].item() == pytest.approx(t[0, 6].item(), abs=1e-7)   # symmetric
    assert t[1].argmax().item() == 16                                  # clamped value at the top
    loss = number_bin_loss(torch.zeros(2, 17), torch.tensor([100.0, 1e20]), cfg)
    assert loss.ce.item() == pytest.approx(math.log(17), rel=1e-5)


def test_sign_and_mlm_losses_closed_form():
    logits = torch.tensor([2.0, -1.0, 0.0])
    values = torch.tensor([-5.0, 3.0, 0.0])  # labels 1, 0, 0
    expected = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-1.0)) + math.log(2)) / 3
    assert sign_loss(logits, values).item() == pytest.approx(expected, rel=1e-6)
    lg = torch.tensor([[1.0, 2.0, 3.0]])
    assert mlm_loss(lg, torch.tensor([2])).item() == pytest.approx(
        -(3.0 - math.log(math.exp(1) + math.exp(2) + math.exp(3))), rel=1e-6)


def test_head_shapes_and_decoding():
    head = NumberHead(16, CFG)
    bins, sign = head(torch.randn(3, 16))
    assert bins.shape == (3, 17) and sign.shape == (3,)
    # a sharp distribution on bin 8 (1e5) decodes to 1e5, sign from the logit
    logits = torch.full((2, 17), -50.0)
    logits[:, 8] = 50.0
    vals = decode_values(logits, torch.tensor([-3.0, 3.0]), CFG)
    assert vals.tolist() == pytest.approx([1e5, -1e5], rel=1e-6)
    # equal mass on bins 8 and 9 decodes to 10**5.5; a far-away bump is ignored (window 2)
    logits = torch.full((1, 17), -50.0)
    logits[0, 8] = logits[0, 9] = 5.0
    logits[0, 0] = 4.9
    assert decode_values(logits, torch.tensor([-1.0]), CFG).item() == pytest.approx(10 ** 5.5, rel=1e-4)


# --- decoding: what the evaluation scores ---------------------------------------------

def _logits_of(target: torch.Tensor) -> torch.Tensor:
    """Logits whose softmax is exactly `target` (zero entries get no mass)."""
    return torch.log(target.clamp_min(1e-30))


def _window_values(cfg: NumberConfig, n: int = 400) -> torch.Tensor:
    """Log-uniform magnitudes over the whole window (ends included), alternating signs, plus every bin centre."""
    logs = torch.cat([torch.linspace(cfg.log10_min, cfg.log10_max, n, dtype=torch.float64),
                      bin_centers(cfg).double(), bin_centers(cfg).double()[:-1] + cfg.bin_width / 2])
    signs = torch.where(torch.arange(len(logs)) % 2 == 0, 1.0, -1.0).double()
    return signs * torch.pow(10.0, logs)


@pytest.mark.parametrize("cfg", [CFG, NumberConfig()], ids=["17 bins", "default 128 bins"])
def test_two_hot_target_decodes_back_to_its_value_over_the_whole_window(cfg):
    v = _window_values(cfg)
    sign_logits = torch.where(v < 0, 8.0, -8.0)
    got = decode_values(_logits_of(two_hot_target(v, cfg)), sign_logits, cfg)
    assert got.dtype == torch.float64
    err = (torch.log10(got.abs()) - torch.log10(v.abs())).abs()
    assert err.max().item() < 1e-5, f"worst round trip {err.max().item():.2e} decades at {v[err.argmax()].item():.4g}"
    assert torch.equal(got < 0, v < 0)  # the sign comes from the sign logit alone


def test_hl_gauss_target_decodes_back_to_its_value_inside_the_window():
    cfg = NumberConfig(loss="hl_gauss", sigma=0.75)
    v = _window_values(cfg)
    inside = (torch.log10(v.abs()) > cfg.log10_min + 0.5) & (torch.log10(v.abs()) < cfg.log10_max - 0.5)
    got = decode_values(_logits_of(hl_gauss_target(v[inside], cfg)), torch.zeros(int(inside.sum())), cfg)
    err = (torch.log10(got) - torch.log10(v[inside].abs())).abs()
    assert err.max().item() < 0.01 * cfg.bin_width


def test_out_of_window_values_and_zero_decode_to_the_window_ends():
    cfg = NumberConfig()
    got = decode_values(_logits_of(two_hot_target(torch.tensor([0.0, 1e-7, 1e20]), cfg)), torch.zeros(3), cfg)
    assert got.tolist() == pytest.approx([1e-3, 1e-3, 1e13], rel=1e-9)


def test_decoding_takes_the_median_not_the_tallest_spike():
    """Zeros (and years) sit on one exact bin, so an uncertain prediction's tallest bin is often "zero":
    decoding around the argmax turned such predictions into 1e-3 for amounts in the millions."""
    cfg = NumberConfig()
    c = bin_centers(cfg)
    probs = torch.zeros(cfg.n_bins)
    spread = (c >= 6) & (c <= 9)                  # 70% spread over 1e6..1e9 (24 bins, ~3% each)
    probs[spread] = 0.7 / int(spread.sum())
    probs[0] = 0.3                                # a 30% spike on zero: the single tallest bin
    assert probs.argmax().item() == 0
    decoded = decode_log_magnitude(_logits_of(probs)[None], cfg).item()
    assert 6.0 < decoded < 9.0
    # and the median is where half the mass lies: 0.3 + 0.7 * (x - 6) / 3 = 0.5 -> x ~ 6.86
    assert decoded == pytest.approx(6 + 3 * (0.2 / 0.7), abs=2 * cfg.bin_width)


def test_median_bin_by_hand():
    p = torch.tensor([[0.1, 0.3, 0.15, 0.45], [0.5, 0.0, 0.0, 0.5], [0.0, 0.0, 0.0, 1.0], [0.2, 0.2, 0.2, 0.2]])
    assert median_bin(p).tolist() == [2, 0, 3, 1]  # unnormalised rows: half of their own total


def test_decoding_never_leaves_the_window_and_ignores_the_masked_bin():
    """The head predicts K magnitude bins and one sign logit; the reserved masked-number bin (row K of the
    embedding) is an input only, so no decoded magnitude can come from it."""
    cfg = NumberConfig(n_bins=32)
    head = NumberHead(16, cfg)
    bins, sign = head(torch.randn(50, 16) * 10)
    assert bins.shape == (50, cfg.n_bins) and sign.shape == (50,)
    torch.manual_seed(0)
    for logits in (bins.detach(), torch.randn(200, cfg.n_bins) * 30):
        lm = decode_log_magnitude(logits, cfg)
        assert ((lm >= cfg.log10_min - 1e-9) & (lm <= cfg.log10_max + 1e-9)).all()
