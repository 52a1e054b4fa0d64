//! `nerf-avatar train` end to end on a tiny synthetic dataset: the same seed gives the same
//! avatar (LPIPS patches included), also into an --out folder that does not exist yet; a run killed with SIGKILL and resumed from its checkpoint ends with exactly the
//! parameters of an uninterrupted run; Ctrl-C stops cleanly and still writes the avatar;
//! bad datasets are clear errors: a path that leaves the dataset folder is refused, and a
//! damaged `transforms.json` or frame is named with its cause printed once (`eval` too).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nerf_avatar::Avatar;
use nerf_avatar_data::synthetic::SyntheticHead;
use serde_json::Value;

mod common;
use common::nerf_avatar;

fn synth(dir: &Path) -> String {
    let data = dir.join("data");
    let out = nerf_avatar(&[
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--frames",
        "6",
        "--size",
        "32",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    data.to_string_lossy().into_owned()
}

fn train_args<'a>(data: &'a str, out: &'a str, steps: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        data,
        "--out",
        out,
        "--steps",
        steps,
        "--rays",
        "64",
        "--occupancy-resolution",
        "16",
        "--checkpoint-every",
        "4",
        // Exactly reproducible: the CPU backend (GPU atomics sum in varying order).
        "--backend",
        "cpu",
    ]
}

fn params(path: &Path) -> Vec<f32> {
    Avatar::read(path).expect("the avatar loads").params.data
}

#[test]
fn same_seed_gives_the_same_avatar() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth(dir.path());
    // `b` goes into folders that do not exist yet: train makes them before it starts.
    let (a, b) = (
        dir.path().join("a.avatar.safetensors"),
        dir.path().join("new/folder/b.avatar.safetensors"),
    );
    for out in [&a, &b] {
        let result = nerf_avatar(&train_args(&data, out.to_str().unwrap(), "12"));
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
    assert_eq!(params(&a), params(&b));
    let trained = Avatar::read(&a).unwrap();
    let summary = trained.training.unwrap();
    assert_eq!(summary.steps, Some(12));
    assert!(!summary.curve.is_empty());
    assert_ne!(
        trained.expression_max,
        vec![1.0; 7],
        "ranges come from the dataset"
    );
}

#[test]
fn resume_after_kill_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth(dir.path());
    let steps = "120";
    let whole = dir.path().join("whole.avatar.safetensors");
    let mut uninterrupted = train_args(&data, whole.to_str().unwrap(), steps);
    uninterrupted.push("--no-lpips");
    let result = nerf_avatar(&uninterrupted);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );

    let killed = dir.path().join("killed.avatar.safetensors");
    let checkpoint = dir.path().join("killed.checkpoint.safetensors");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nerf-avatar"))
        .args(train_args(&data, killed.to_str().unwrap(), steps))
        .arg("--no-lpips")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !checkpoint.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        checkpoint.exists(),
        "a checkpoint was written before the kill"
    );
    assert!(!killed.exists(), "the run was killed before it finished");

    let mut resume = train_args(&data, killed.to_str().unwrap(), steps);
    resume.extend(["--resume", "--no-lpips"]);
    let result = nerf_avatar(&resume);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(params(&whole), params(&killed));
}

#[test]
fn interrupt_stops_cleanly_and_writes_the_avatar() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth(dir.path());
    let out = dir.path().join("stopped.avatar.safetensors");
    let checkpoint = dir.path().join("stopped.checkpoint.safetensors");
    let child = Command::new(env!("CARGO_BIN_EXE_nerf-avatar"))
        .args(train_args(&data, out.to_str().unwrap(), "100000"))
        .arg("--no-lpips")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !checkpoint.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("stopped after"), "{stderr}");
    let avatar = Avatar::read(&out).unwrap();
    assert!(avatar.training.unwrap().steps.unwrap() < 100_000);
}

#[test]
fn bad_datasets_and_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth(dir.path());
    std::fs::remove_file(Path::new(&data).join("images/00001.png")).unwrap();
    let out = dir.path().join("x.avatar.safetensors");
    let result = nerf_avatar(&train_args(&data, out.to_str().unwrap(), "5"));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(
        stderr.contains("00001.png") && !stderr.contains("panicked"),
        "{stderr}"
    );

    let missing = nerf_avatar(&[
        "train",
        "/nonexistent/dataset",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        !missing.status.success() && stderr.contains("/nonexistent/dataset"),
        "{stderr}"
    );

    let cuda = nerf_avatar(&[
        "train",
        &data,
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cuda",
    ]);
    // Without a usable GPU, the reason; with one, the dataset's missing frame.
    let stderr = String::from_utf8_lossy(&cuda.stderr);
    assert!(!cuda.status.success());
    assert!(
        (stderr.contains("--backend cuda") || stderr.contains("00001.png"))
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn a_diverging_run_stops_with_a_clear_message_and_keeps_its_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth(dir.path());
    let out = dir.path().join("diverged.avatar.safetensors");
    let mut args = train_args(&data, out.to_str().unwrap(), "50");
    let every = args
        .iter()
        .position(|a| *a == "--checkpoint-every")
        .unwrap();
    args[every + 1] = "1";
    args.extend(["--lr", "1e30", "--no-lpips"]);
    let result = nerf_avatar(&args);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success(), "{stderr}");
    let diverged = stderr.contains("the loss became") || stderr.contains("the gradient became");
    assert!(diverged && !stderr.contains("panicked"), "{stderr}");
    assert!(!out.exists(), "no avatar is written from a diverged run");
    let checkpoint = dir.path().join("diverged.checkpoint.safetensors");
    let kept = nerf_avatar_train::checkpoint::read_checkpoint(&checkpoint).unwrap();
    assert!(kept.avatar.params.data.iter().all(|v| v.is_finite()));
}

#[test]
fn paths_that_leave_the_dataset_folder_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth(dir.path());
    let transforms = Path::new(&data).join("transforms.json");
    let original: Value = serde_json::from_str(&fs::read_to_string(&transforms).unwrap()).unwrap();
    // A real frame copied out of the dataset: only the path rule keeps `train` from reading it.
    let outside = dir.path().join("outside.png");
    fs::copy(Path::new(&data).join("images/00003.png"), &outside).unwrap();
    let out = dir.path().join("x.avatar.safetensors");
    for path in ["../outside.png", outside.to_str().unwrap()] {
        let mut edited = original.clone();
        edited["frames"][3]["image"] = path.into();
        fs::write(&transforms, edited.to_string()).unwrap();
        let result = nerf_avatar(&train_args(&data, out.to_str().unwrap(), "5"));
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success(), "{path}: {stderr}");
        let named = ["transforms.json", "frame 3", &format!("`{path}`"), "leaves"];
        assert!(
            named.iter().all(|name| stderr.contains(name)) && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}

/// Runs `args` and expects a failure whose message names `file` and holds `cause` once.
fn fails_naming_the_cause_once(args: &[&str], file: &str, cause: &str) {
    let result = nerf_avatar(args);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success(), "{args:?} succeeded");
    assert!(
        stderr.contains(file) && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches(cause).count(),
        1,
        "`{cause}` is not printed exactly once: {stderr}"
    );
}

#[test]
fn a_damaged_dataset_is_named_with_its_cause_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = synth(dir.path());
    let avatar = dir.path().join("tiny.avatar.safetensors");
    let avatar = avatar.to_str().unwrap();
    let controls = SyntheticHead::CONTROLS.join(",");
    let init = [
        "init",
        "--out",
        avatar,
        "--preset",
        "tiny",
        "--blendshapes",
        &controls,
    ];
    assert!(nerf_avatar(&init).status.success());
    let out = dir.path().join("x.avatar.safetensors");
    let train = train_args(&data, out.to_str().unwrap(), "5");
    let report = dir.path().join("report");
    let eval = [
        "eval",
        avatar,
        &data,
        "--report",
        report.to_str().unwrap(),
        "--split",
        "all",
        "--no-lpips",
    ];

    // A frame image cut short: its header (and so its size) reads, its pixels do not.
    let transforms = Path::new(&data).join("transforms.json");
    let text = fs::read_to_string(&transforms).unwrap();
    let metadata: Value = serde_json::from_str(&text).unwrap();
    let frames = metadata["frames"].as_array().unwrap();
    let training = frames.iter().find(|f| f["split"] == "train").unwrap();
    let image = training["image"].as_str().unwrap();
    let frame = Path::new(&data).join(image);
    let png = fs::read(&frame).unwrap();
    fs::write(&frame, &png[..png.len() / 2]).unwrap();
    let cause = image::open(&frame).unwrap_err().to_string();
    fails_naming_the_cause_once(&train, image, &cause);
    fails_naming_the_cause_once(&eval, image, &cause);
    fs::write(&frame, &png).unwrap();

    // `transforms.json` cut short.
    let truncated = &text[..200];
    fs::write(&transforms, truncated).unwrap();
    let cause = serde_json::from_str::<Value>(truncated)
        .unwrap_err()
        .to_string();
    fails_naming_the_cause_once(&train, "transforms.json", &cause);
    fails_naming_the_cause_once(&eval, "transforms.json", &cause);
}
