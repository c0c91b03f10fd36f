#!/usr/bin/python3
"""Trade-off plots of a run (the paper's figures): one curve per method across its control
parameter (the encoding ratio r, `strength`; FlexIT's `iterations`; ILVR's `factor` when r is
fixed), the other grid parameters
(e.g. DiffEdit's mask threshold) as a second family of curves; methods without one (Copy,
Retrieve) are single points. Reads DIR/summary.json, writes <out>/tradeoff_<x>_vs_<y>.png and .pdf for every pair of
metrics the run has. Needs Debian's python3-matplotlib (run with /usr/bin/python3).

Usage: plot_tradeoffs.py SUMMARY.json OUT_DIR
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (x, y, x label, y label): fidelity on x, edit strength / quality on y.
PAIRS = [
    ("lpips", "csfid", "LPIPS (to input) \u2193", "CSFID \u2193"),
    ("clip_score", "fid", "CLIPScore \u2191", "FID \u2193"),
    ("unedited_psnr_db", "edit_success", "PSNR outside the edit region (dB) \u2191", "edit success \u2191"),
    ("lpips", "clip_score", "LPIPS (to input) \u2193", "CLIPScore \u2191"),
]


# The parameter a method's curve runs along, the first of these in its grid: the encoding ratio r,
# FlexIT's iteration count, ILVR's downsampling factor.
CONTROLS = ("strength", "iterations", "factor")


def parse_setting(name):
    if name == "default":
        return {}
    out = {}
    for part in name.split(","):
        key, _, value = part.partition("=")
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


def curves(metrics, x, y):
    """{curve label: [(control value, x, y), ...]} sorted by the control value."""
    out = {}
    for method, settings in metrics.items():
        for setting, values in settings.items():
            if x not in values or y not in values:
                continue
            grid = parse_setting(setting)
            strength = None
            for control in CONTROLS:
                if control in grid:
                    strength = grid.pop(control)
                    break
            family = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(grid.items()))
            label = method + (f" ({family})" if family else "")
            out.setdefault(label, []).append((strength, values[x], values[y]))
    return {k: sorted(v, key=lambda p: -1 if p[0] is None else p[0]) for k, v in out.items()}


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    summary = json.load(open(sys.argv[1]))
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for x, y, xl, yl in PAIRS:
        c = curves(summary.get("metrics", {}), x, y)
        if not c:
            continue
        fig, ax = plt.subplots(figsize=(5.5, 4.2))
        for label, points in c.items():
            xs, ys = [p[1] for p in points], [p[2] for p in points]
            ax.plot(xs, ys, marker="o", label=label)
            for s, px, py in points:
                if s is not None:
                    ax.annotate(f"{s:g}", (px, py), textcoords="offset points", xytext=(3, 3), fontsize=7)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(f"{summary.get('name', '')}: {y} vs {x} (labels: r, iterations or factor)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        for ext in ("png", "pdf"):
            path = os.path.join(out_dir, f"tradeoff_{x}_vs_{y}.{ext}")
            fig.savefig(path, dpi=120)
            written.append(path)
        plt.close(fig)
    for p in written:
        print(p)


if __name__ == "__main__":
    main()
