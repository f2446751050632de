"""The number finder on hand cases: value, sign, scale, kind, unit and span."""
from __future__ import annotations

import pytest

from etl.numbers import (
    CellRole, TableContext, find_numbers, format_tagged, strip_markers, table_context,
)


def one(text, **kw):
    nums = find_numbers(text, **kw)
    assert len(nums) == 1, nums
    n = nums[0]
    assert text[n.start:n.end] == n.raw
    return n


@pytest.mark.parametrize("text,raw,value,kind,unit,scale", [
    ("sales were $2.3 billion in", "$2.3 billion", 2.3e9, "amount", "USD", 9),
    ("about 1.1 trillion tokens", "1.1 trillion", 1.1e12, "count", None, 12),
    ("a loss of $(45) million", "$(45) million", -45e6, "amount", "USD", 6),
    ("a loss of ($45) million", "($45) million", -45e6, "amount", "USD", 6),
    ("net (1,234) total", "(1,234)", -1234.0, "count", None, 0),
    ("changed -3.5% on", "-3.5%", -0.035, "percent", "percent", -2),
    ("grew 25% in", "25%", 0.25, "percent", "percent", -2),
    ("grew 12 percent in", "12 percent", 0.12, "percent", "percent", -2),
    ("margin (12.5%) here", "(12.5%)", -0.125, "percent", "percent", -2),
    ("paid $0.96 per share", "$0.96", 0.96, "per_share", "USD", 0),
    ("about 12,400 employees", "12,400", 12400.0, "count", None, 0),
    ("in fiscal 2024 we", "2024", 2024.0, "year", None, 0),
    ("cost £450,000 to", "£450,000", 450000.0, "amount", "GBP", 0),
    ("worth €1.5bn now", "€1.5bn", 1.5e9, "amount", "EUR", 9),
    ("rate of .5 points", ".5", 0.5, "count", None, 0),
])
def test_prose_numbers(text, raw, value, kind, unit, scale):
    n = one(text)
    assert (n.raw, n.kind, n.unit, n.scale) == (raw, kind, unit, scale)
    assert n.value == pytest.approx(value, rel=1e-12)


def test_date_is_one_number_with_decimal_year():
    n = one("the year ended September 28, 2024.")
    assert n.raw == "September 28, 2024" and n.kind == "date"
    assert n.value == pytest.approx(2024 + 271 / 366)


@pytest.mark.parametrize("text", ["Form 10-K annual", "Item 1A. Risk", "a 12-month period", "FY2024 plan", "5M model"])
def test_codes_glued_to_letters_are_not_numbers(text):
    assert find_numbers(text) == []


def test_unbalanced_parentheses_stay_outside_the_number():
    nums = find_numbers("(see Note 5) and (in 2023")
    assert [(n.raw, n.value) for n in nums] == [("5", 5.0), ("2023", 2023.0)]


def test_dash_alone_in_a_table_cell_is_zero():
    role = CellRole(TableContext(scale=6, currency="USD"))
    n = one("—", role=role)
    assert (n.value, n.kind, n.unit) == (0.0, "amount", "USD")
    assert find_numbers("— in prose —") == []


def test_table_scale_applies_to_whole_value_cells_only():
    ctx = TableContext(scale=6, currency="USD")
    assert one("(1,234)", role=CellRole(ctx)).value == -1234e6
    label = find_numbers("Notes due 2030 at 4.5%", role=CellRole(ctx, whole_cell=False))
    assert [(n.raw, n.value) for n in label] == [("2030", 2030.0), ("4.5%", 0.045)]


def test_per_share_rows_and_percent_cells_are_not_scaled():
    ctx = TableContext(scale=6, currency="USD")
    assert one("6.08", role=CellRole(ctx, per_share_row=True)).value == 6.08
    n = one("46.2%", role=CellRole(ctx))
    assert (n.value, n.kind) == (pytest.approx(0.462), "percent")


def test_shares_in_thousands_inside_a_millions_table():
    ctx = table_context("(In millions, except number of shares, which are reflected in thousands, and per-share amounts)", "")
    assert (ctx.scale, ctx.share_scale) == (6, 3)
    assert one("15,343,783", role=CellRole(ctx, shares_row=True)).value == 15_343_783e3


@pytest.mark.parametrize("caption,scale,currency", [
    ("(in millions, except per share data)", 6, None),
    ("($ in thousands)", 3, "USD"),
    ("Dollars in billions", 9, "USD"),
    ("£'000", 3, "GBP"),
    ("(in thousands of U.S. dollars)", 3, "USD"),
    ("Amounts in millions of dollars", 6, "USD"),
    ("Selected data", 0, None),
])
def test_table_context_from_captions(caption, scale, currency):
    ctx = table_context(caption, "")
    assert (ctx.scale, ctx.currency) == (scale, currency)


def test_inline_xbrl_hint_overrides_heuristics():
    text, hints = strip_markers("Revenue \x016|ixt:num-dot-decimal\x02391,035\x03 and \x010|ixt-sec:numwordsen\x02three\x03 segments")
    assert text == "Revenue 391,035 and three segments"
    nums = find_numbers(text, hints)
    assert [(n.raw, n.value) for n in nums] == [("391,035", 391_035e6), ("three", 3.0)]


def test_inline_xbrl_zero_dash_and_percent_hints():
    text, hints = strip_markers("\x01-2|\x0225\x03 and \x010|ixt:fixed-zero\x02—\x03")
    nums = find_numbers(text, hints, role=CellRole(TableContext(scale=6, currency="USD")))
    assert [(n.raw, n.value, n.kind) for n in nums] == [("25", 0.25, "percent"), ("—", 0.0, "amount")]


def test_format_tagged_spans_point_at_raw():
    text = "up 12% to $5 billion"
    nums = find_numbers(text)
    tagged, spans = format_tagged(text, nums)
    assert tagged == "up <number>12%</number> to <number>$5 billion</number>"
    assert [tagged[a:b] for a, b in spans] == ["12%", "$5 billion"]


def test_currency_amounts_inside_a_label_take_the_table_scale_but_par_values_do_not():
    ctx = TableContext(scale=6, currency="USD")
    nums = find_numbers("Net change, net of tax of $(134) and $63; $0.001 par value",
                        role=CellRole(ctx, whole_cell=False))
    assert [(n.raw, n.value, n.kind) for n in nums] == [
        ("$(134)", -134e6, "amount"), ("$63", 63e6, "amount"), ("$0.001", 0.001, "per_share")]


def test_row_label_roles():
    from etl.numbers import label_role
    assert label_role("Diluted earnings per share") == "per_share"
    assert label_role("Shares used in computing earnings per share:") == "shares"
    assert label_role("Dividends and dividend equivalents declared ($2.00 per share)") is None
    assert label_role("Weighted-average shares outstanding") == "shares"
    assert label_role("Net sales") is None
    assert label_role("Weighted average grant-date fair value per share") == "per_share"
    assert label_role("Net income used in computing diluted net income per share") is None
    assert label_role("Anti-dilutive equity awards excluded from diluted net income per share") is None


def test_a_range_dash_is_not_a_minus_sign():
    assert [(n.raw, n.value) for n in find_numbers("rates of 3.6%-5.4% and 70-80% over 2023-2024")] == [
        ("3.6%", 0.036), ("5.4%", 0.054), ("70", 70.0), ("80%", 0.8), ("2023", 2023.0), ("2024", 2024.0)]
    assert [(n.raw, n.value) for n in find_numbers("a change of -5.4% (loss -$3)")] == [("-5.4%", -0.054), ("-$3", -3.0)]
