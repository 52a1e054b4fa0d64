// blend.wgsl on tables stored as f16, two values to a word (each table padded to a whole
// word): the sum in f32, the blended table stored as f16 in the same packing.

// blend.wgsl: BlendGroup, with `table_len` in words.
struct BlendGroup {
    table_len: u32,
    first_table: u32,
    table_count: u32,
    accumulate: u32,
}

@group(0) @binding(0) var<uniform> group_info: BlendGroup;
@group(0) @binding(1) var<storage, read> group_tables: array<u32>;
@group(1) @binding(0) var<storage, read> table_weights: array<f32>;
@group(1) @binding(1) var<storage, read_write> blended: array<u32>;

const BLEND_WORKGROUP: u32 = 256u;

// `blend_tables` on f16 tables: `table_len` counts words of two values.
@compute @workgroup_size(256)
fn blend_tables_f16(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let stride = groups.x * BLEND_WORKGROUP;
    let len = group_info.table_len;
    for (var i = id.x; i < len; i += stride) {
        var sum = vec2<f32>(0.0);
        if group_info.accumulate != 0u {
            sum = unpack2x16float(blended[i]);
        }
        for (var t = 0u; t < group_info.table_count; t++) {
            let w = table_weights[group_info.first_table + t];
            if t == 0u && group_info.first_table == 0u {
                sum = unpack2x16float(group_tables[i]);
            } else if w != 0.0 {
                sum += w * unpack2x16float(group_tables[t * len + i]);
            }
        }
        blended[i] = pack2x16float(sum);
    }
}
