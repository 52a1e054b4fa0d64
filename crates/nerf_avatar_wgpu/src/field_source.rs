//! The WGSL of one model's field, generated from its shape: the hash encoding with every
//! level's constants written in, and both MLPs as straight-line code over `vec4` values.
//!
//! A generic shader loops over levels, layers and inputs with the activations in an array
//! indexed at run time. Compilers for the CPU (llvmpipe, which runs each invocation in a SIMD
//! lane) keep such an array in memory and gather every element lane by lane; with the shape
//! known, every index is a constant, the activations stay in registers and every weight is
//! one read of the same address by all lanes (a uniform buffer where the weights fit one).
//! The functions keep the names of their CPU twins (hashgrid.rs, mlp.rs, field.rs).

use std::fmt::Write;

use nerf_avatar::field::Model;

use super::layout::WgpuModelLayout;
use super::precision::StoragePrecision;

/// Where the shader reads the MLP weights from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightBinding {
    /// A uniform buffer (a fixed-size array; every lane reads the same address).
    Uniform,
    /// A read-only storage buffer (for weights larger than a uniform binding).
    Storage,
}

/// Quads (groups of four values) of a width.
fn quads(width: usize) -> usize {
    width.div_ceil(4)
}

/// A WGSL f32 literal that reads back as exactly `value`.
fn literal(value: f32) -> String {
    format!("{value:?}f")
}

/// The generated part of the field shader for `model` (with `layout`, its GPU layout): the
/// bindings of the table (group 1, binding 0) and the weights (group 2, binding 0), then
/// `encode` and `field_forward`. `weight_vectors` is the length of the weight array in
/// `vec4` values of the chosen precision (four f32 or eight f16 weights each).
pub fn field_source(
    model: &Model,
    layout: &WgpuModelLayout,
    precision: StoragePrecision,
    binding: WeightBinding,
    weight_vectors: usize,
) -> String {
    let mut out = String::new();
    let element = match precision {
        StoragePrecision::F32 => "f32",
        StoragePrecision::F16 => "u32",
    };
    let weights = match binding {
        WeightBinding::Uniform => {
            format!("var<uniform> mlp_weights: array<vec4<{element}>, {weight_vectors}>")
        }
        WeightBinding::Storage => format!("var<storage, read> mlp_weights: array<vec4<{element}>>"),
    };
    let encoding_quads = quads(model.grid.output_width());
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "// Generated for this model (gpu/field_source.rs).\n\
         const ENCODING_QUADS: u32 = {encoding_quads}u;\n\
         // The frame's blended table ({precision:?}).\n\
         @group(1) @binding(0) var<storage, read> table: array<{element}>;\n\
         // Both MLPs' weights, rows padded to groups of four ({precision:?}).\n\
         @group(2) @binding(0) {weights};\n"
    );
    if precision == StoragePrecision::F16 {
        out.push_str(
            "// Value `i` of the table, two f16 to a word.\n\
             fn half_at(i: u32) -> f32 {\n    \
             return unpack2x16float(table[i >> 1u])[i & 1u];\n}\n\n\
             // Four f16 weights packed in two words.\n\
             fn unpack_quad(words: vec2<u32>) -> vec4<f32> {\n    \
             return vec4<f32>(unpack2x16float(words.x), unpack2x16float(words.y));\n}\n\n\
             // Weight quad `i`, two to a vector.\n\
             fn weight_quad_at(i: u32) -> vec4<f32> {\n    \
             let words = mlp_weights[i >> 1u];\n    \
             return unpack_quad(select(words.xy, words.zw, (i & 1u) == 1u));\n}\n\n",
        );
    }
    write_encode(&mut out, model, precision);
    write_field_forward(&mut out, model, layout, precision);
    out
}

/// The WGSL of one weight quad (four inputs of one output row) at quad index `index`.
fn weight_quad(precision: StoragePrecision, index: usize) -> String {
    match precision {
        StoragePrecision::F32 => format!("mlp_weights[{index}]"),
        StoragePrecision::F16 => {
            let half = if index.is_multiple_of(2) { "xy" } else { "zw" };
            format!("unpack_quad(mlp_weights[{}].{half})", index / 2)
        }
    }
}

/// The WGSL of the weight quad at the run-time quad index `index` (a WGSL expression).
fn weight_quad_at(precision: StoragePrecision, index: &str) -> String {
    match precision {
        StoragePrecision::F32 => format!("mlp_weights[{index}]"),
        StoragePrecision::F16 => format!("weight_quad_at({index})"),
    }
}

/// The WGSL of features `first .. first + count` (count ≤ 4) of the table entry `entry`.
fn features(precision: StoragePrecision, f: usize, first: usize, count: usize) -> String {
    let ty = if count == 1 {
        "f32".to_string()
    } else {
        format!("vec{count}<f32>")
    };
    let parts: Vec<String> = match precision {
        StoragePrecision::F32 => (first..first + count)
            .map(|k| format!("table[entry * {f}u + {k}u]"))
            .collect(),
        StoragePrecision::F16 if f.is_multiple_of(2) && count.is_multiple_of(2) => (first
            ..first + count)
            .step_by(2)
            .map(|k| format!("unpack2x16float(table[entry * {}u + {}u])", f / 2, k / 2))
            .collect(),
        StoragePrecision::F16 => (first..first + count)
            .map(|k| format!("half_at(entry * {f}u + {k}u)"))
            .collect(),
    };
    if parts.len() == 1 && (count == 1 || precision == StoragePrecision::F16) {
        parts[0].clone()
    } else {
        format!("{ty}({})", parts.join(", "))
    }
}

/// hashgrid.rs: `HashGridLayout::encode`, every level written out: `encode(x)` returns the
/// L · F values (level-major) in `vec4`s, zero past the end.
fn write_encode(out: &mut String, model: &Model, precision: StoragePrecision) {
    let f = model.grid.features;
    let chunks: Vec<(usize, usize)> = (0..f).step_by(4).map(|k| (k, (f - k).min(4))).collect();
    for (k, count) in &chunks {
        let ty = if *count == 1 {
            "f32".to_string()
        } else {
            format!("vec{count}<f32>")
        };
        let _ = writeln!(
            out,
            "fn entry_features_{k}(entry: u32) -> {ty} {{\n    return {};\n}}\n",
            features(precision, f, *k, *count)
        );
    }
    let _ = writeln!(
        out,
        "fn encode(x: vec3<f32>) -> array<vec4<f32>, ENCODING_QUADS> {{\n    \
         let unit = clamp(x, vec3<f32>(0.0), vec3<f32>(1.0));"
    );
    let mut values = Vec::new();
    for (l, level) in model.grid.levels.iter().enumerate() {
        let _ = writeln!(
            out,
            "    // Level {l}: {} per axis, {} entries{}.\n    \
             let pos_{l} = unit * {} + 0.5;\n    \
             let cell_{l} = vec3<u32>(pos_{l});\n    \
             let frac_{l} = pos_{l} - vec3<f32>(cell_{l});\n    \
             let wx_{l} = vec2<f32>(1.0 - frac_{l}.x, frac_{l}.x);\n    \
             let wy_{l} = vec2<f32>(1.0 - frac_{l}.y, frac_{l}.y);\n    \
             let wz_{l} = vec2<f32>(1.0 - frac_{l}.z, frac_{l}.z);",
            level.resolution,
            level.size,
            if level.hashed { ", hashed" } else { ", dense" },
            literal(level.scale as f32),
        );
        // The corner's index along each axis, as hashgrid.rs combines them.
        let axis = |d: usize, step: usize| -> String {
            let coordinate = match d {
                0 => format!("(cell_{l}.x + {step}u)"),
                1 => format!("(cell_{l}.y + {step}u)"),
                _ => format!("(cell_{l}.z + {step}u)"),
            };
            let factor = if level.hashed {
                const PRIMES: [u32; 3] = [1, 2_654_435_761, 805_459_861];
                PRIMES[d]
            } else {
                level.resolution.wrapping_pow(d as u32)
            };
            format!("({coordinate} * {factor}u)")
        };
        let join = if level.hashed { " ^ " } else { " + " };
        for (k, count) in &chunks {
            let zero = if *count == 1 {
                "0.0".to_string()
            } else {
                format!("vec{count}<f32>(0.0)")
            };
            let _ = writeln!(out, "    var sum_{l}_{k} = {zero};");
        }
        for c in 0..8 {
            let step = [c & 1, (c >> 1) & 1, c >> 2];
            let component = |s: usize| if s == 0 { "x" } else { "y" };
            let _ = writeln!(
                out,
                "    {{\n        let entry = {}u + ({}) % {}u;\n        \
                 let weight = (wx_{l}.{} * wy_{l}.{}) * wz_{l}.{};",
                level.offset,
                (0..3)
                    .map(|d| axis(d, step[d]))
                    .collect::<Vec<_>>()
                    .join(join),
                level.size,
                component(step[0]),
                component(step[1]),
                component(step[2]),
            );
            for (k, _) in &chunks {
                let _ = writeln!(
                    out,
                    "        sum_{l}_{k} += weight * entry_features_{k}(entry);"
                );
            }
            let _ = writeln!(out, "    }}");
        }
        for (k, count) in &chunks {
            for i in 0..*count {
                values.push(if *count == 1 {
                    format!("sum_{l}_{k}")
                } else {
                    format!("sum_{l}_{k}[{i}]")
                });
            }
        }
    }
    let _ = writeln!(
        out,
        "    return array<vec4<f32>, ENCODING_QUADS>({});\n}}\n",
        pack_quads(&values).join(", ")
    );
}

/// `vec4` constructors of `values`, four at a time, padded with zeros.
fn pack_quads(values: &[String]) -> Vec<String> {
    values
        .chunks(4)
        .map(|quad| {
            let mut parts = quad.to_vec();
            parts.resize(4, "0.0".into());
            format!("vec4<f32>({})", parts.join(", "))
        })
        .collect()
}

/// Layers with more weight quads than this are written as a loop over groups of four rows
/// (each group written out) instead of entirely: wide layers written out in full take
/// llvmpipe minutes and gigabytes to compile.
const WRITTEN_OUT_QUADS: usize = 512;

/// mlp.rs: `mlp_forward` of layers `first .. first + count` of `layout` on the quads named
/// `{prefix}0_*`, the result left in the quads `{prefix}{count}_*` (hidden layers ReLU, the
/// last without activation).
fn write_mlp(
    out: &mut String,
    layout: &WgpuModelLayout,
    precision: StoragePrecision,
    first: usize,
    count: usize,
    prefix: &str,
) {
    for i in 0..count {
        let layer = &layout.layers[first + i];
        let (inputs, outputs) = (layer.inputs as usize, layer.outputs as usize);
        let hidden = i + 1 < count;
        let in_quads = quads(inputs);
        let activate = |quad: &str| {
            if hidden {
                format!("max({quad}, vec4<f32>(0.0))")
            } else {
                quad.to_string()
            }
        };
        // Row `o` as the sum of its quads' dot products; `row` is the WGSL of its first
        // weight quad, `weight` makes a quad's WGSL from a row's WGSL and an offset in it.
        let row_sum = |weight: &dyn Fn(usize) -> String| {
            (0..in_quads)
                .map(|j| format!("dot({prefix}{i}_{j}, {})", weight(j)))
                .collect::<Vec<_>>()
                .join(" + ")
        };
        let offset = layer.offset as usize;
        let looped_quads = if outputs * in_quads > WRITTEN_OUT_QUADS {
            outputs / 4
        } else {
            0
        };
        if looped_quads > 0 {
            let rows: Vec<String> = (0..4)
                .map(|r| {
                    row_sum(&|j| weight_quad_at(precision, &format!("row + {}u", r * in_quads + j)))
                })
                .collect();
            let _ = writeln!(
                out,
                "    var {prefix}{next}: array<vec4<f32>, {looped_quads}>;\n    \
                 for (var q = 0u; q < {looped_quads}u; q++) {{\n        \
                 let row = {offset}u + q * {stride}u;\n        \
                 {prefix}{next}[q] = {value};\n    }}",
                next = i + 1,
                stride = 4 * in_quads,
                value = activate(&format!("vec4<f32>({})", rows.join(", "))),
            );
            for q in 0..looped_quads {
                let _ = writeln!(
                    out,
                    "    let {prefix}{}_{q} = {prefix}{}[{q}];",
                    i + 1,
                    i + 1
                );
            }
        }
        let sums: Vec<String> = (looped_quads * 4..outputs)
            .map(|o| row_sum(&|j| weight_quad(precision, offset + o * in_quads + j)))
            .collect();
        for (q, quad) in pack_quads(&sums).iter().enumerate() {
            let _ = writeln!(
                out,
                "    let {prefix}{}_{} = {};",
                i + 1,
                looped_quads + q,
                activate(quad)
            );
        }
    }
}

/// field.rs: `Model::field_forward` for one sample: (rgb, σ) at `position` (unit cube) seen
/// along the unit `direction`.
fn write_field_forward(
    out: &mut String,
    model: &Model,
    layout: &WgpuModelLayout,
    precision: StoragePrecision,
) {
    let density = model.layout.density_layers.len();
    let color = model.layout.color_layers.len();
    let _ = writeln!(
        out,
        "fn field_forward(position: vec3<f32>, direction: vec3<f32>) -> vec4<f32> {{\n    \
         let encoding = encode(position);"
    );
    for q in 0..quads(model.grid.output_width()) {
        let _ = writeln!(out, "    let d0_{q} = encoding[{q}];");
    }
    write_mlp(out, layout, precision, 0, density, "d");
    // Density output j is d{density}_{j / 4}[j % 4]: σ first, then the geometry features.
    let output = |j: usize| {
        let component = ["x", "y", "z", "w"][j % 4];
        format!("d{density}_{}.{component}", j / 4)
    };
    let _ = writeln!(
        out,
        "    let sigma = softplus({});\n    let sh = sh_encode(direction);",
        output(0)
    );
    // Colour input: 16 SH values, then the density MLP's outputs after σ.
    for q in 0..4 {
        let _ = writeln!(out, "    let c0_{q} = sh[{q}];");
    }
    let geometry: Vec<String> = (1..=model.config.geometry_features as usize)
        .map(output)
        .collect();
    for (q, quad) in pack_quads(&geometry).iter().enumerate() {
        let _ = writeln!(out, "    let c0_{} = {quad};", q + 4);
    }
    write_mlp(out, layout, precision, density, color, "c");
    let _ = writeln!(
        out,
        "    let rgb = c{color}_0;\n    \
         return vec4<f32>(sigmoid(rgb.x), sigmoid(rgb.y), sigmoid(rgb.z), sigma);\n}}"
    );
}
