// What every model's field shares (field.rs): the model's constants and occupancy bits, SH of
// the view direction (sh.rs), softplus density and sigmoid colour. The hash encoding and both
// MLPs (`encode`, `field_forward`) are generated for each model's shape
// (gpu/field_source.rs) and appended to this; march.wgsl and probe.wgsl follow them.
// Every function mirrors the CPU function of the same name.

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
// One bit per occupancy cell (occupancy.rs), little-endian bytes read as words.
@group(0) @binding(4) var<storage, read> occupancy_bits: array<u32>;

// sh.rs: sh_encode: the 16 values in four vectors.
fn sh_encode(d: vec3<f32>) -> array<vec4<f32>, 4> {
    let x = d.x;
    let y = d.y;
    let z = d.z;
    let xy = x * y;
    let xz = x * z;
    let yz = y * z;
    let x2 = x * x;
    let y2 = y * y;
    let z2 = z * z;
    return array<vec4<f32>, 4>(
        vec4<f32>(
            0.28209479177387814,
            -0.48860251190291987 * y,
            0.48860251190291987 * z,
            -0.48860251190291987 * x,
        ),
        vec4<f32>(
            1.0925484305920792 * xy,
            -1.0925484305920792 * yz,
            0.94617469575756 * z2 - 0.31539156525252,
            -1.0925484305920792 * xz,
        ),
        vec4<f32>(
            0.5462742152960396 * x2 - 0.5462742152960396 * y2,
            0.5900435899266435 * y * (-3.0 * x2 + y2),
            2.890611442640554 * xy * z,
            0.4570457994644657 * y * (1.0 - 5.0 * z2),
        ),
        vec4<f32>(
            0.3731763325901154 * z * (5.0 * z2 - 3.0),
            0.4570457994644657 * x * (1.0 - 5.0 * z2),
            1.445305721320277 * z * (x2 - y2),
            0.5900435899266435 * x * (-x2 + 3.0 * y2),
        ),
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

