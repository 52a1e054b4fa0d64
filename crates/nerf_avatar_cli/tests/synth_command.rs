//! `nerf-avatar synth`, run as a binary: it writes a loadable dataset, is deterministic,
//! and reports bad arguments as `error: …` with a failing exit status.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use nerf_avatar_data::{Dataset, Split};

fn synth(out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nerf-avatar"))
        .arg("synth")
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("the binary runs")
}

/// Every file under `folder`, as (relative path, bytes), sorted.
fn files(folder: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["", "images", "masks"] {
        for entry in fs::read_dir(folder.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let name = path.strip_prefix(folder).unwrap().display().to_string();
                out.push((name, fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn synth_writes_a_valid_dataset_deterministically() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    for out in [&a, &b] {
        let result = synth(out, &["--frames", "6", "--size", "48", "--seed", "3"]);
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
    let dataset = Dataset::load(&a).unwrap();
    let t = &dataset.transforms;
    assert_eq!((t.width, t.height, t.frames.len()), (48, 48, 6));
    assert_eq!(
        t.frames.iter().filter(|f| f.split == Split::Test).count(),
        1
    );
    let mask = dataset.read_mask(0).unwrap();
    assert_eq!(mask.get_pixel(24, 24).0, [255]);
    assert_eq!(mask.get_pixel(0, 0).0, [0]);
    let written = files(&a);
    assert_eq!(written.len(), 2 + 2 * 6);
    assert_eq!(written, files(&b));

    let other_seed = root.path().join("c");
    assert!(
        synth(
            &other_seed,
            &["--frames", "6", "--size", "48", "--seed", "4"]
        )
        .status
        .success()
    );
    assert_ne!(
        fs::read(a.join("transforms.json")).unwrap(),
        fs::read(other_seed.join("transforms.json")).unwrap()
    );
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let root = tempfile::tempdir().unwrap();
    let blocked = root.path().join("a-file");
    fs::write(&blocked, "not a folder").unwrap();
    for (out, extra) in [
        (root.path().join("one"), vec!["--frames", "1"]),
        (root.path().join("tiny"), vec!["--size", "2"]),
        (blocked.clone(), vec!["--frames", "2", "--size", "16"]),
        (blocked.join("below"), vec!["--frames", "2", "--size", "16"]),
    ] {
        let result = synth(&out, &extra);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success(), "{extra:?} succeeded");
        assert!(stderr.starts_with("error: "), "{extra:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{extra:?}: {stderr}");
    }
}
