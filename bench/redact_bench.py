"""Redaction benchmark: ``redact`` on adversarial text at 10 KB and 100 KB, side by side.

Usage: python bench/redact_bench.py [--repeat 5]

Error texts come from upstreams (redirect targets, server messages quoted by requests), so
``redact`` must run in linear time on anything. For each shape it prints the best time at
10 KB and at 100 KB and their ratio: linear is about 10; it exits 1 if a ratio is above 20.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import best_cpu_time  # noqa: E402

from syndicate.redact import redact  # noqa: E402

#: Pieces repeated to the wanted size: runs of delimiters, keys without values, nested
#: authorities, long values, and ordinary prose with a URL now and then.
SHAPES = {
    "question marks": "?",
    "ampersands": "&",
    "keys without =": "?aaaaaaa",
    "empty values": "?a=&",
    "long value": "?k=" + "v" * 50,
    "slashes": "/",
    "authorities without @": "//aaaaaa",
    "at signs": "//a@",
    "userinfo runs": "//" + "u:p" * 20,
    "prose with URLs": "cannot fetch https://u:p@h.example/f?apikey=S&x=1 之后重试；",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    worst = 0.0
    print(f"{'shape':<24}{'10 KB':>12}{'100 KB':>12}{'ratio':>8}")
    for name, piece in SHAPES.items():
        small = (piece * (10_000 // len(piece) + 1))[:10_000]
        large = (piece * (100_000 // len(piece) + 1))[:100_000]
        t_small = best_cpu_time(redact, small, args.repeat)
        t_large = best_cpu_time(redact, large, args.repeat)
        ratio = t_large / t_small if t_small else 0.0
        worst = max(worst, ratio)
        print(f"{name:<24}{t_small * 1e3:>10.3f}ms{t_large * 1e3:>10.3f}ms{ratio:>8.1f}")
    print(f"worst ratio {worst:.1f} (linear is about 10; the limit is 20)")
    return 1 if worst > 20 else 0


if __name__ == "__main__":
    sys.exit(main())
