// The radiance field of one frame (field.rs), one sample per invocation: the blended hash
// encoding (hashgrid.rs), the bias-free density MLP and colour MLP (mlp.rs), SH of the view
// direction (sh.rs), softplus density and sigmoid colour. Every function mirrors the CPU
// function of the same name; buffers follow the CPU's flat layouts.

// Widest MLP layer (input or output) the shader holds, and in groups of four.
const MAX_WIDTH: u32 = 128u;
const MAX_QUADS: u32 = 32u;
const SH_COEFFICIENTS: u32 = 16u;

// hashgrid.rs: GridLevel.
struct GridLevel {
    scale: f32,
    resolution: u32,
    size: u32,
    offset: u32,
    hashed: u32,
}

// params.rs: LayerShape; the weights are uploaded with each row padded with zeros to a
// multiple of four inputs, and `offset` counts groups of four from the first MLP weight.
struct LayerShape {
    inputs: u32,
    outputs: u32,
    offset: u32,
}

// The model's constants (config.rs, march.rs: MarchSettings).
struct ModelInfo {
    level_count: u32,
    features: u32,
    density_layer_count: u32,
    color_layer_count: u32,
    geometry_features: u32,
    occupancy_resolution: u32,
    table_len: u32,
    _pad: u32,
    head_center: vec3<f32>,
    half_extent: f32,
    near_distance: f32,
    dt_gamma: f32,
    dt_min: f32,
    dt_max: f32,
}

@group(0) @binding(0) var<uniform> model: ModelInfo;
@group(0) @binding(1) var<storage, read> levels: array<GridLevel>;
// The density MLP's layers, then the colour MLP's.
@group(0) @binding(2) var<storage, read> layers: array<LayerShape>;
@group(0) @binding(3) var<storage, read> mlp_weights: array<vec4<f32>>;
// One bit per occupancy cell (occupancy.rs), little-endian bytes read as words.
@group(0) @binding(4) var<storage, read> occupancy_bits: array<u32>;
// The frame's blended table (blend.wgsl).
@group(1) @binding(0) var<storage, read> table: array<f32>;

const PRIMES: array<u32, 3> = array<u32, 3>(1u, 2654435761u, 805459861u);

// Ping-pong activations of the MLPs, four to a vector; values past a layer's width are 0.
var<private> layer_in: array<vec4<f32>, MAX_QUADS>;
var<private> layer_out: array<vec4<f32>, MAX_QUADS>;

fn input_at(i: u32) -> f32 {
    return layer_in[i >> 2u][i & 3u];
}

fn set_input(i: u32, value: f32) {
    layer_in[i >> 2u][i & 3u] = value;
}

// Zeroes `layer_in` from `width` to the end of its group of four.
fn clear_input_tail(width: u32) {
    for (var i = width; i < ((width + 3u) & ~3u); i++) {
        set_input(i, 0.0);
    }
}

// hashgrid.rs: LevelLookup::corners: entry of corner `c` (bit d set: +1 along axis d).
fn corner_entry(level: GridLevel, cell: vec3<u32>, c: u32) -> u32 {
    let step = vec3<u32>(c & 1u, (c >> 1u) & 1u, c >> 2u);
    let p = cell + step;
    var index: u32;
    if level.hashed != 0u {
        index = (p.x * PRIMES[0]) ^ (p.y * PRIMES[1]) ^ (p.z * PRIMES[2]);
    } else {
        let res = level.resolution;
        index = p.x + p.y * res + p.z * res * res;
    }
    return level.offset + index % level.size;
}

// hashgrid.rs: HashGridLayout::encode, into inputs 0 .. L·F (level-major).
fn encode(x: vec3<f32>) {
    let f = model.features;
    for (var l = 0u; l < model.level_count; l++) {
        let level = levels[l];
        let pos = clamp(x, vec3<f32>(0.0), vec3<f32>(1.0)) * level.scale + 0.5;
        // pos ≥ 0.5, so truncation is the floor.
        let cell = vec3<u32>(pos);
        let frac = pos - vec3<f32>(cell);
        let w0 = vec2<f32>(1.0 - frac.x, frac.x);
        let w1 = vec2<f32>(1.0 - frac.y, frac.y);
        let w2 = vec2<f32>(1.0 - frac.z, frac.z);
        for (var k = 0u; k < f; k++) {
            var sum = 0.0;
            for (var c = 0u; c < 8u; c++) {
                let weight = (w0[c & 1u] * w1[(c >> 1u) & 1u]) * w2[c >> 2u];
                sum += weight * table[corner_entry(level, cell, c) * f + k];
            }
            set_input(l * f + k, sum);
        }
    }
    clear_input_tail(model.level_count * f);
}

// mlp.rs: mlp_forward for one row: layers `first .. first + count` of `layers`, input in
// `layer_in`, output (before any output activation) left in `layer_in`.
fn mlp_forward(first: u32, count: u32) {
    for (var i = 0u; i < count; i++) {
        let layer = layers[first + i];
        let hidden = i + 1u < count;
        let quads = (layer.inputs + 3u) / 4u;
        for (var o = 0u; o < layer.outputs; o++) {
            let row = layer.offset + o * quads;
            var sum = 0.0;
            for (var j = 0u; j < quads; j++) {
                sum += dot(layer_in[j], mlp_weights[row + j]);
            }
            if hidden {
                sum = max(sum, 0.0);
            }
            layer_out[o >> 2u][o & 3u] = sum;
        }
        for (var o = layer.outputs; o < ((layer.outputs + 3u) & ~3u); o++) {
            layer_out[o >> 2u][o & 3u] = 0.0;
        }
        for (var q = 0u; q < (layer.outputs + 3u) / 4u; q++) {
            layer_in[q] = layer_out[q];
        }
    }
}

// sh.rs: sh_encode, into inputs 0 .. 16.
fn sh_encode(d: vec3<f32>) {
    let x = d.x;
    let y = d.y;
    let z = d.z;
    let xy = x * y;
    let xz = x * z;
    let yz = y * z;
    let x2 = x * x;
    let y2 = y * y;
    let z2 = z * z;
    layer_in[0] = vec4<f32>(
        0.28209479177387814,
        -0.48860251190291987 * y,
        0.48860251190291987 * z,
        -0.48860251190291987 * x,
    );
    layer_in[1] = vec4<f32>(
        1.0925484305920792 * xy,
        -1.0925484305920792 * yz,
        0.94617469575756 * z2 - 0.31539156525252,
        -1.0925484305920792 * xz,
    );
    layer_in[2] = vec4<f32>(
        0.5462742152960396 * x2 - 0.5462742152960396 * y2,
        0.5900435899266435 * y * (-3.0 * x2 + y2),
        2.890611442640554 * xy * z,
        0.4570457994644657 * y * (1.0 - 5.0 * z2),
    );
    layer_in[3] = vec4<f32>(
        0.3731763325901154 * z * (5.0 * z2 - 3.0),
        0.4570457994644657 * x * (1.0 - 5.0 * z2),
        1.445305721320277 * z * (x2 - y2),
        0.5900435899266435 * x * (-x2 + 3.0 * y2),
    );
}

// ln(1 + x) without the cancellation of log(1 + x) for small x.
fn ln_1p(x: f32) -> f32 {
    let u = 1.0 + x;
    if u == 1.0 {
        return x;
    }
    return log(u) * (x / (u - 1.0));
}

// field.rs: softplus.
fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + ln_1p(exp(-abs(x)));
}

// field.rs: sigmoid.
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// field.rs: Model::field_forward for one sample: (rgb, σ) at `position` (unit cube) seen
// along the unit `direction`.
fn field_forward(position: vec3<f32>, direction: vec3<f32>) -> vec4<f32> {
    encode(position);
    mlp_forward(0u, model.density_layer_count);
    let sigma = softplus(layer_in[0].x);
    // Colour input: 16 SH values, then the density MLP's outputs after σ (moved from the
    // top down, so that no output is overwritten before it is read).
    let geometry = model.geometry_features;
    for (var g = geometry; g > 0u; g--) {
        set_input(SH_COEFFICIENTS + g - 1u, input_at(g));
    }
    clear_input_tail(SH_COEFFICIENTS + geometry);
    sh_encode(direction);
    mlp_forward(model.density_layer_count, model.color_layer_count);
    let out = layer_in[0];
    let rgb = vec3<f32>(sigmoid(out.x), sigmoid(out.y), sigmoid(out.z));
    return vec4<f32>(rgb, sigma);
}
