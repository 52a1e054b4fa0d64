//! `nerf-avatar reenact`, run as the built binary: a synthetic dataset driving the avatar
//! trained on it reproduces the avatar's own renders of its frames; CSV drivers with
//! unknown, missing or broken columns give warnings or clear errors.

use std::path::Path;
use std::process::Command;

use nerf_avatar::Avatar;
use nerf_avatar::field::Model;
use nerf_avatar::render::{Background, render_image};
use nerf_avatar_data::Dataset;

mod common;
use common::{fail, franck, has_ffmpeg, succeed};

/// A 10-frame 32² synthetic dataset and a tiny avatar trained on it for a few steps.
fn dataset_and_avatar(dir: &Path) -> (String, String) {
    let data = dir.join("data").to_string_lossy().into_owned();
    let avatar = dir
        .join("head.avatar.safetensors")
        .to_string_lossy()
        .into_owned();
    succeed(&["synth", "--out", &data, "--frames", "10", "--size", "32"]);
    succeed(&[
        "train",
        &data,
        "--out",
        &avatar,
        "--steps",
        "6",
        "--rays",
        "64",
        "--occupancy-resolution",
        "16",
        "--no-lpips",
    ]);
    (data, avatar)
}

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let squared: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum();
    let mse = squared / a.as_raw().len() as f64 / 255.0 / 255.0;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        -10.0 * mse.log10()
    }
}

#[test]
fn a_dataset_driving_its_own_avatar_reproduces_its_renders() {
    let dir = tempfile::tempdir().unwrap();
    let (data, avatar_path) = dataset_and_avatar(dir.path());
    let frames = dir.path().join("frames");
    let stderr = succeed(&[
        "reenact",
        &avatar_path,
        "--driver",
        &data,
        "--out",
        frames.to_str().unwrap(),
    ]);
    assert!(stderr.contains("reenacted 10 frames"), "{stderr}");

    let avatar = Avatar::read(&avatar_path).unwrap();
    let dataset = Dataset::load(Path::new(&data)).unwrap();
    let model = Model::new(&avatar.config);
    let intrinsics = dataset.transforms.intrinsics();
    for (i, frame) in dataset.transforms.frames.iter().enumerate() {
        let mut weights = frame.expression.clone();
        avatar.clamp_expression(&mut weights);
        let own = render_image(
            &model,
            &avatar.params,
            &weights,
            &avatar.occupancy,
            &intrinsics,
            &frame.pose(),
            Background::Solid([1.0; 3]),
        );
        let own = own.to_rgb8();
        let reenacted = image::open(frames.join(format!("frame_{i:05}.png")))
            .unwrap()
            .to_rgb8();
        let quality = psnr(&own, &reenacted);
        assert!(
            quality >= 50.0,
            "frame {i}: {quality:.1} dB against the avatar's own render"
        );
    }

    // Side by side: the driver's frame on the left, as wide as the avatar's.
    let pair = dir.path().join("pair");
    succeed(&[
        "reenact",
        &avatar_path,
        "--driver",
        &data,
        "--out",
        pair.to_str().unwrap(),
        "--side-by-side",
        "--max-frames",
        "2",
        "--poses",
        "fixed",
    ]);
    let first = image::open(pair.join("frame_00000.png")).unwrap();
    assert_eq!((first.width(), first.height()), (64, 32));
    assert!(!pair.join("frame_00002.png").exists());
}

#[test]
fn csv_drivers_warn_about_names_and_refuse_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (_, avatar) = dataset_and_avatar(dir.path());
    let csv = dir.path().join("capture.csv");
    std::fs::write(
        &csv,
        "Timecode,Time,JawOpen,EyeBlinkLeft,CheekPuff\n\
         a,0.0,0.0,0.0,0.1\nb,0.1,0.5,1.0,0.2\nc,0.2,0.9,0.2,0.3\n",
    )
    .unwrap();
    let out = dir.path().join("csv-frames");
    let stderr = succeed(&[
        "reenact",
        &avatar,
        "--driver",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("left out columns that are not blendshapes: Timecode"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no control for the driver's cheekPuff"),
        "{stderr}"
    );
    assert!(
        stderr.contains("does not move") && stderr.contains("browInnerUp"),
        "{stderr}"
    );
    assert!(stderr.contains("no head poses"), "{stderr}");
    assert!(out.join("frame_00004.png").exists());

    let broken = dir.path().join("broken.csv");
    std::fs::write(&broken, "jawOpen,eyeBlinkLeft\n0.1,0.2\n0.3,oops\n").unwrap();
    let stderr = fail(&[
        "reenact",
        &avatar,
        "--driver",
        broken.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("broken.csv") && stderr.contains("line 3"),
        "{stderr}"
    );

    let unrelated = dir.path().join("unrelated.csv");
    std::fs::write(&unrelated, "time,speed\n0,1\n").unwrap();
    let stderr = fail(&[
        "reenact",
        &avatar,
        "--driver",
        unrelated.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("no column named after an ARKit blendshape"),
        "{stderr}"
    );

    let stderr = fail(&[
        "reenact",
        &avatar,
        "--driver",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--side-by-side",
    ]);
    assert!(
        stderr.contains("--side-by-side needs a driver with frames"),
        "{stderr}"
    );
}

#[test]
fn a_video_is_encoded_when_ffmpeg_is_present() {
    if !has_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (data, avatar) = dataset_and_avatar(dir.path());
    let video = dir.path().join("reenact.mp4");
    succeed(&[
        "reenact",
        &avatar,
        "--driver",
        &data,
        "--out",
        video.to_str().unwrap(),
        "--side-by-side",
        "--fps",
        "10",
    ]);
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_frames,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&video)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(text.trim(), "64,32,10");
}

#[test]
fn a_video_driver_is_tracked_then_reenacted() {
    let Some(video) = franck() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_, avatar) = dataset_and_avatar(dir.path());
    let out = dir.path().join("franck-frames");
    let stderr = succeed(&[
        "reenact",
        &avatar,
        "--driver",
        video.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--max-frames",
        "6",
        "--side-by-side",
        "--size",
        "32x32",
    ]);
    assert!(stderr.contains("reenacted 6 frames"), "{stderr}");
    let tracked = Dataset::load(&dir.path().join("franck-frames.driver")).unwrap();
    assert_eq!(tracked.transforms.frames.len(), 6);
    let first = image::open(out.join("frame_00000.png")).unwrap();
    assert_eq!((first.width(), first.height()), (64, 32));
}
