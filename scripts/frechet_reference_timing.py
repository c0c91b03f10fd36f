#!/usr/bin/python3
"""Times pytorch-fid's Fréchet distance (scipy.linalg.sqrtm of the covariance product) on two
d-dimensional statistics and writes them as HDF5 stats files for `diffedit metrics fid`, so both
paths are timed on the same machine and compared on the same numbers.

Needs Debian's python3-numpy, python3-scipy and python3-h5py (run with /usr/bin/python3):
    /usr/bin/python3 scripts/frechet_reference_timing.py --dim 2048 --out /tmp/fd
    build/src/diffedit metrics fid --stats /tmp/fd/a.h5 --stats /tmp/fd/b.h5
The statistics are made like the fixture README's timing anchor: 10000 correlated ReLU features
per side. The reference algorithm is restated here from pytorch-fid's published behaviour
(FD = |mu1-mu2|^2 + tr S1 + tr S2 - 2 tr sqrtm(S1 S2), eps offset retry when non-finite).
"""
import argparse
import os
import time

import h5py
import numpy as np
from scipy import linalg


def frechet_pytorch_fid_style(mu1, sigma1, mu2, sigma2, eps=1e-6):
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def stats(rng, mix, n, shift):
    feats = np.maximum(rng.standard_normal((n, mix.shape[0])) @ mix + shift, 0.0)
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((a.dim, a.dim)) / np.sqrt(a.dim)
    mu1, s1 = stats(rng, mix, a.n, 0.0)
    mu2, s2 = stats(rng, mix, a.n, 0.1)
    os.makedirs(a.out, exist_ok=True)
    for name, mu, sigma in (("a", mu1, s1), ("b", mu2, s2)):
        with h5py.File(os.path.join(a.out, name + ".h5"), "w") as f:
            f["mu"] = mu
            f["sigma"] = sigma
            f.attrs["n"] = np.int64(a.n)
            f.attrs["feature_net"] = np.string_("synthetic")
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        fd = frechet_pytorch_fid_style(mu1, s1, mu2, s2)
        times.append(time.perf_counter() - t0)
    print(f"scipy sqrtm path: d={a.dim} median {sorted(times)[len(times) // 2]:.2f} s over {a.runs} runs {['%.2f' % t for t in times]}")
    print(f"fd {fd!r}")


if __name__ == "__main__":
    main()
