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

/// A free UDP port on the loopback interface.
fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

/// A Live Link Face packet with frame number `frame` and the jaw open by `jaw`.
fn live_link_packet(frame: i32, jaw: f32) -> Vec<u8> {
    use nerf_avatar_live::livelink::{LIVE_LINK_BLENDSHAPES, encode};
    let mut blendshapes = [0.0; 52];
    let jaw_open = LIVE_LINK_BLENDSHAPES.iter().position(|n| *n == "jawOpen");
    blendshapes[jaw_open.unwrap()] = jaw;
    encode(&nerf_avatar_live::Packet {
        device_id: "test-phone".into(),
        subject_name: "performer".into(),
        frame_time: nerf_avatar_live::FrameTime {
            frame,
            sub_frame: 0.0,
            rate_numerator: 60,
            rate_denominator: 1,
        },
        blendshapes,
        pose: nerf_avatar_live::HeadPose::default(),
    })
}

#[test]
fn live_link_packets_drive_reenact_and_hostile_ones_are_counted_and_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    let port = free_udp_port();
    let avatar = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/sample.avatar.safetensors"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_nerf-avatar"))
        .args(["reenact", avatar, "--driver"])
        .arg(format!("livelink://127.0.0.1:{port}"))
        .arg("--out")
        .arg(&frames)
        .args(["--max-frames", "3", "--size", "24x24", "--backend", "cpu"])
        .args(["--calibrate", "2", "--idle-timeout", "120"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = ("127.0.0.1", port);
    let started = std::time::Instant::now();
    let mut frame = 1000;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed().as_secs() < 180, "reenact did not finish");
        // Before every real packet, a hostile one: garbage, then a truncated packet.
        let real = live_link_packet(frame, (frame % 10) as f32 / 10.0);
        let hostile: Vec<u8> = if frame % 2 == 0 {
            b"not a packet".to_vec()
        } else {
            real[..real.len() / 2].to_vec()
        };
        sender.send_to(&hostile, target).unwrap();
        sender.send_to(&real, target).unwrap();
        frame += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    let written = std::fs::read_dir(&frames).unwrap().count();
    assert_eq!(written, 3, "{stderr}");
    assert!(
        stderr.contains("calibrated the rest face over 2 frames"),
        "{stderr}"
    );
    let malformed: u64 = stderr
        .split(" malformed")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no count of malformed packets in {stderr}"));
    assert!(
        malformed >= 5,
        "{malformed} malformed packets counted: {stderr}"
    );
}

#[test]
fn a_live_link_driver_that_is_not_an_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let avatar = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/sample.avatar.safetensors"
    );
    let out = dir.path().join("frames").to_string_lossy().into_owned();
    let stderr = fail(&[
        "reenact",
        avatar,
        "--driver",
        "livelink://phone",
        "--out",
        &out,
    ]);
    assert!(
        stderr.contains("livelink://phone: not an IP address and port"),
        "{stderr}"
    );
}
