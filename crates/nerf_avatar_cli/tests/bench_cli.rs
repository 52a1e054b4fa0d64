//! `nerf-avatar bench --quick` runs end to end on the tiny preset and on an avatar file, and
//! writes its JSON file.

mod common;

use std::path::Path;

use common::{fail, succeed};

/// Runs `bench --quick` with `args` and returns its JSON document, every value checked to be
/// a positive number, and the table it printed.
fn quick_bench(args: &[&str], json: &Path) -> (serde_json::Value, String) {
    let json_arg = json.to_str().unwrap();
    let mut all = vec!["bench", "--quick", "--json", json_arg];
    all.extend(args);
    let output = common::nerf_avatar(&all);
    assert!(output.status.success(), "{output:?}");
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let lines = document["report"]["lines"].as_array().unwrap();
    assert!(lines.len() >= 8);
    for line in lines {
        let value = line["value"].as_f64().unwrap();
        assert!(value.is_finite() && value > 0.0, "{line}");
    }
    (document, common::text(&output.stdout))
}

/// The value of the line named `name`.
fn line_value(document: &serde_json::Value, name: &str) -> f64 {
    let lines = document["report"]["lines"].as_array().unwrap();
    let line = lines.iter().find(|line| line["name"] == name);
    line.unwrap_or_else(|| panic!("no line `{name}`"))["value"]
        .as_f64()
        .unwrap()
}

#[test]
fn quick_bench_of_the_tiny_preset_prints_a_table_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let (document, table) = quick_bench(&["--preset", "tiny"], &json);
    assert!(table.contains("| hash blend"), "{table}");
    assert_eq!(document["preset"], "tiny");
    assert!(document["avatar"].is_null());
}

#[test]
fn bench_of_an_avatar_file_marches_its_grid_as_render_does() {
    let dir = tempfile::tempdir().unwrap();
    let avatar = dir.path().join("avatar.safetensors");
    let avatar = avatar.to_str().unwrap();
    common::init_tiny_avatar(avatar, "jawOpen,eyeBlinkLeft");
    let (document, _) = quick_bench(&["--avatar", avatar], &dir.path().join("bench.json"));
    assert_eq!(document["preset"], "tiny");
    assert_eq!(document["avatar"], avatar);
    let (fresh, _) = quick_bench(&["--preset", "tiny"], &dir.path().join("fresh.json"));

    // `render` of the same view and expression (each coefficient halfway through the
    // fresh avatar's range 0..1) marches as many samples as the bench's frame.
    let stderr = succeed(&[
        "render",
        avatar,
        "--out",
        dir.path().join("frame.png").to_str().unwrap(),
        "--size",
        "256x256",
        "--expression",
        "jawOpen=0.5,eyeBlinkLeft=0.5",
        "--backend",
        "cpu",
    ]);
    let per_pixel = stderr
        .split('(')
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap_or_else(|| panic!("no samples/pixel in `{stderr}`"));
    let name = "render samples per ray";
    assert_eq!(format!("{:.1}", line_value(&document, name)), per_pixel);
    // The file's grid is full (a fresh avatar's); the preset's scene has a head-shaped one.
    assert!(line_value(&document, name) > 2.0 * line_value(&fresh, name));
}

#[test]
fn bench_of_a_missing_avatar_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.safetensors");
    let stderr = fail(&["bench", "--quick", "--avatar", missing.to_str().unwrap()]);
    assert!(stderr.contains("missing.safetensors"), "{stderr}");
    let stderr = fail(&[
        "bench",
        "--avatar",
        missing.to_str().unwrap(),
        "--preset",
        "tiny",
    ]);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
