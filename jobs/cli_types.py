"""argparse value types shared by the jobs' command lines."""
from __future__ import annotations

import argparse
import sys
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


def report_downloads(title: str, summary, verb: str = "resume") -> int:
    """Print a download run's summary; exit status 1 when any file failed."""
    print(title)
    for line in summary.lines():
        print("  " + line)
    if not summary.ok:
        print(f"error: {len(summary.failed)} download(s) failed (listed above); run the same command "
              f"again to {verb} them: complete files are skipped", file=sys.stderr)
        return 1
    return 0
