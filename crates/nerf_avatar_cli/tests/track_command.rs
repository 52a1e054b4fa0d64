//! `nerf-avatar track`, run as a binary: a folder of a user's frames (here: frames of
//! franck.mp4 saved as PNG) and the video itself become loadable datasets; a video with no
//! face, a corrupt file and an unreadable path each fail with a clear `error: …`.

use std::path::Path;
use std::process::{Command, Output};

use nerf_avatar::blendshapes::ARKIT_BLENDSHAPES;
use nerf_avatar_data::{Dataset, Split};
use nerf_avatar_track::video::VideoDecoder;

mod common;
use common::{franck, has_ffmpeg, text};

fn track(input: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nerf-avatar"))
        .arg("track")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("the binary runs")
}

#[test]
fn an_unreadable_path_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("no-such-video.mp4");
    let output = track(&missing, &root.path().join("out"), &[]);
    assert!(!output.status.success());
    let message = text(&output.stderr);
    assert!(message.starts_with("error:"), "{message}");
    assert!(
        message.contains("cannot read") && message.contains("no-such-video.mp4"),
        "{message}"
    );
}

#[test]
fn a_corrupt_video_is_a_clear_error() {
    if !has_ffmpeg() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let corrupt = root.path().join("corrupt.mp4");
    std::fs::write(
        &corrupt,
        b"\x00\x00\x00\x18ftypmp42 this is not really a video",
    )
    .unwrap();
    let output = track(&corrupt, &root.path().join("out"), &[]);
    assert!(!output.status.success());
    let message = text(&output.stderr);
    assert!(
        message.contains("corrupt.mp4") && message.contains("is not a readable video"),
        "{message}"
    );
}

#[test]
fn a_video_without_a_face_is_a_clear_error() {
    if !has_ffmpeg() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let video = root.path().join("blue.mp4");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=160x120:d=0.5",
        ])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&video)
        .status()
        .expect("ffmpeg runs");
    assert!(made.success());
    let output = track(&video, &root.path().join("out"), &[]);
    assert!(!output.status.success());
    let message = text(&output.stderr);
    assert!(
        message.contains("no face was found in any of the"),
        "{message}"
    );
    assert!(!root.path().join("out/transforms.json").exists());
}

#[test]
fn a_folder_of_frames_and_the_video_become_datasets() {
    let Some(video) = franck() else { return };
    let root = tempfile::tempdir().unwrap();
    // A "user's own video" as a folder of frames, with one frame that shows no face.
    let frames = root.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    let mut source = VideoDecoder::open(&video, Some(12)).unwrap();
    while let Some((index, frame)) = source.next_frame().unwrap() {
        frame
            .save(frames.join(format!("frame_{index:03}.png")))
            .unwrap();
    }
    image::RgbImage::from_pixel(360, 288, image::Rgb([20, 40, 180]))
        .save(frames.join("frame_012.png"))
        .unwrap();
    let out = root.path().join("from_frames");
    let output = track(&frames, &out, &["--size", "128", "--test-frames", "2"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("no face in 1 frame(s), skipped: 12"),
        "{}",
        text(&output.stderr)
    );
    let dataset = Dataset::load(&out).expect("the dataset loads and validates");
    let t = &dataset.transforms;
    assert_eq!(t.blendshapes, ARKIT_BLENDSHAPES.map(str::to_owned).to_vec());
    assert_eq!((t.width, t.height), (128, 128));
    assert_eq!(t.frames.len(), 12);
    let tests = t.frames.iter().filter(|f| f.split == Split::Test).count();
    assert_eq!(tests, 2);
    assert!(t.frames.iter().all(|f| f.source_frame < 12));
    let mask = dataset.read_mask(0).unwrap();
    let head = mask.pixels().filter(|p| p.0[0] > 127).count();
    assert!(
        head > 128 * 128 / 10 && head < 128 * 128 * 7 / 10,
        "head covers {head} pixels"
    );

    let out = root.path().join("from_video");
    let output = track(&video, &out, &["--max-frames", "20", "--size", "96"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let dataset = Dataset::load(&out).expect("the dataset loads and validates");
    assert_eq!(dataset.transforms.frames.len(), 20);
    let tests = dataset
        .transforms
        .frames
        .iter()
        .filter(|f| f.split == Split::Test)
        .count();
    assert_eq!(tests, 2, "10% held out by default");
}
