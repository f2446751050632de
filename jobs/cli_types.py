"""argparse value types shared by the jobs' command lines."""
from __future__ import annotations

import argparse
from datetime import date


def iso_date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a YYYY-MM-DD date") from None


def positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"{s!r} is not a whole number >= 1")
    return v
