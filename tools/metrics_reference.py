"""Reference values for the image metrics of `nerf_avatar::metrics::image`.

Writes `crates/nerf_avatar_eval/tests/data/image_metrics.json`: a few small 8-bit RGB image
pairs and head masks (stored as integers, so both sides read exactly the same pixels)
with MSE, L1, PSNR and SSIM computed independently by NumPy and scikit-image, over the
full frame and over the mask.

SSIM follows scikit-image's `structural_similarity` with
`gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1`
(the settings that match Wang et al. 2004 and pytorch-msssim): a per-channel map computed
with a reflect-padded 11×11 Gaussian window; the full-frame value is the mean over the
pixels at least 5 pixels from every border, averaged over the channels; the masked value
is the mean of the channel-averaged map over the mask pixels.

Usage (in a throwaway virtual environment):

    python3 -m venv /tmp/metrics-venv
    /tmp/metrics-venv/bin/pip install numpy scikit-image
    /tmp/metrics-venv/bin/python tools/metrics_reference.py

Tested with numpy 2.4.6 and scikit-image 0.26.0.
"""

import json
import pathlib

import numpy as np
import skimage
from skimage.metrics import structural_similarity

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/nerf_avatar_eval/tests/data/image_metrics.json"


def make_case(rng, width, height, noise):
    """A smooth image with texture, and a noisy, slightly shifted copy of it."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack(
        [
            0.5 + 0.4 * np.sin(x / 3.0 + c) * np.cos(y / 4.0 - c)
            for c in range(3)
        ],
        axis=-1,
    )
    base += rng.uniform(-0.1, 0.1, base.shape)
    truth = np.clip(np.round(base * 255.0), 0, 255).astype(np.uint8)
    other = base + 0.02 + rng.normal(0.0, noise, base.shape)
    render = np.clip(np.round(other * 255.0), 0, 255).astype(np.uint8)
    cx, cy = width * 0.5, height * 0.45
    mask = ((x - cx) / (0.35 * width)) ** 2 + ((y - cy) / (0.4 * height)) ** 2 <= 1.0
    return truth, render, mask


def metrics(truth, render, mask):
    a = truth.astype(np.float64) / 255.0
    b = render.astype(np.float64) / 255.0
    diff = a - b
    ssim_full, ssim_map = structural_similarity(
        a,
        b,
        channel_axis=-1,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    pixel_ssim = ssim_map.mean(axis=-1)
    mse = float(np.mean(diff**2))
    mse_head = float(np.mean(diff[mask] ** 2))
    return {
        "mse": mse,
        "l1": float(np.mean(np.abs(diff))),
        "psnr": float(10.0 * np.log10(1.0 / mse)),
        "ssim": float(ssim_full),
        "head": {
            "mse": mse_head,
            "l1": float(np.mean(np.abs(diff[mask]))),
            "psnr": float(10.0 * np.log10(1.0 / mse_head)),
            "ssim": float(pixel_ssim[mask].mean()),
        },
    }


def main():
    rng = np.random.default_rng(20240601)
    cases = []
    for width, height, noise in [(16, 13, 0.03), (24, 20, 0.08), (11, 11, 0.01), (40, 32, 0.2)]:
        truth, render, mask = make_case(rng, width, height, noise)
        cases.append(
            {
                "width": width,
                "height": height,
                "truth": truth.reshape(-1).tolist(),
                "render": render.reshape(-1).tolist(),
                "mask": mask.astype(np.uint8).reshape(-1).tolist(),
                "expected": metrics(truth, render, mask),
            }
        )
    document = {
        "generator": "tools/metrics_reference.py",
        "numpy": np.__version__,
        "scikit_image": skimage.__version__,
        "cases": cases,
    }
    OUT.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
