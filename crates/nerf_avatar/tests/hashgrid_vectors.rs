//! The blended hash encoding reproduces `tests/data/hashgrid.json`: reference values from an
//! independent float64 implementation of tiny-cuda-nn's formula
//! (`tools/hashgrid_reference.py`, which `--check`s the file), in f32 arithmetic to within
//! 1e-3.

use nerf_avatar::config::HashGridConfig;
use nerf_avatar::hashgrid::{HashGridLayout, blend_tables};
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("data/hashgrid.json");
    serde_json::from_str(text).expect("hashgrid.json parses")
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[test]
fn blended_encoding_matches_the_reference_vectors() {
    let vectors = vectors();
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let c = &case["config"];
        let get = |k: &str| c[k].as_u64().unwrap() as u32;
        let config = HashGridConfig {
            levels: get("levels"),
            log2_table_size: get("log2_table_size"),
            features_per_level: get("features"),
            base_resolution: get("base_resolution"),
            finest_resolution: get("finest_resolution"),
        };
        let layout = HashGridLayout::new(&config);
        assert_eq!(
            layout.entries as u64,
            case["entries_per_table"].as_u64().unwrap()
        );
        for (level, expected) in layout.levels.iter().zip(case["levels"].as_array().unwrap()) {
            assert_eq!(level.scale, expected["scale"].as_f64().unwrap());
            assert_eq!(
                u64::from(level.resolution),
                expected["resolution"].as_u64().unwrap()
            );
            assert_eq!(u64::from(level.size), expected["size"].as_u64().unwrap());
            assert_eq!(
                u64::from(level.offset),
                expected["offset"].as_u64().unwrap()
            );
            assert_eq!(level.hashed, expected["hashed"].as_bool().unwrap());
        }

        let k = get("blendshapes") as usize;
        let f = layout.features;
        let table_len = layout.table_len();
        let tables: Vec<f32> = (0..=k)
            .flat_map(|t| {
                (0..table_len).map(move |i| {
                    let (e, feature) = ((i / f) as f64, (i % f) as f64);
                    let amplitude = if t == 0 { 1.0 } else { 0.5 / t as f64 };
                    ((0.37 * e + 1.3 * feature + 0.71 * t as f64).sin() * amplitude) as f32
                })
            })
            .collect();
        let weights: Vec<f32> = numbers(&case["weights"])
            .iter()
            .map(|w| *w as f32)
            .collect();
        let mut blended = vec![0.0f32; table_len];
        blend_tables(&tables, &weights, &mut blended);

        let points = case["points"].as_array().unwrap();
        let features = case["features"].as_array().unwrap();
        assert_eq!(points.len(), features.len());
        let mut out = vec![0.0f32; layout.output_width()];
        for (point, expected) in points.iter().zip(features) {
            let p = numbers(point);
            layout.encode(&blended, [p[0] as f32, p[1] as f32, p[2] as f32], &mut out);
            let expected = numbers(expected);
            assert_eq!(out.len(), expected.len());
            for (i, (got, want)) in out.iter().zip(&expected).enumerate() {
                assert!(
                    (f64::from(*got) - want).abs() < 1e-3,
                    "point {p:?}, output {i}: {got} vs {want}"
                );
            }
        }
    }
}
