//! `nerf-avatar bench --quick` runs end to end on the tiny preset and writes its JSON file.

use std::process::Command;

#[test]
fn quick_bench_of_the_tiny_preset_prints_a_table_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_nerf-avatar"))
        .args(["bench", "--preset", "tiny", "--quick", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("| hash blend"), "{table}");
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(document["preset"], "tiny");
    let lines = document["report"]["lines"].as_array().unwrap();
    assert!(lines.len() >= 8);
    for line in lines {
        let value = line["value"].as_f64().unwrap();
        assert!(value.is_finite() && value > 0.0, "{line}");
    }
}
