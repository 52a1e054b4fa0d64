// Stage kernels that run single pieces of field.wgsl on given points, so that each stage can
// be compared with its CPU twin: the hash encoding (hashgrid.rs: encode_points) and the whole
// field (field.rs: Model::field_forward). Appended to field.wgsl and the model's generated
// field.

struct ProbeInfo {
    // Points to evaluate.
    count: u32,
    // Values per point in `probe_out`.
    out_width: u32,
}

@group(1) @binding(1) var<uniform> probe: ProbeInfo;
// Positions in the unit cube, then unit directions (xyz of each vec4).
@group(1) @binding(2) var<storage, read> probe_points: array<vec4<f32>>;
@group(1) @binding(3) var<storage, read> probe_directions: array<vec4<f32>>;
@group(1) @binding(4) var<storage, read_write> probe_out: array<f32>;

// hashgrid.rs: HashGridLayout::encode_points, one row of L·F values per point.
@compute @workgroup_size(64)
fn encode_points(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= probe.count {
        return;
    }
    let encoding = encode(probe_points[id.x].xyz);
    let width = model.level_count * model.features;
    for (var i = 0u; i < width; i++) {
        probe_out[id.x * probe.out_width + i] = encoding[i >> 2u][i & 3u];
    }
}

// field.rs: Model::field_forward, one row of (r, g, b, σ) per point.
@compute @workgroup_size(64)
fn field_points(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= probe.count {
        return;
    }
    let value = field_forward(probe_points[id.x].xyz, probe_directions[id.x].xyz);
    for (var i = 0u; i < 4u; i++) {
        probe_out[id.x * probe.out_width + i] = value[i];
    }
}
