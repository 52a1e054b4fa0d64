// The frame's hash table h = h0 + Σ_i w_i h_i (hashgrid.rs: blend_tables), over one group
// of whole tables at a time: the K + 1 tables may be split into several buffers so that each
// fits the device's storage-binding limit. The first group writes the table, later groups
// add to it, so the terms are summed in the CPU's order (h0 first, then h_1, h_2, ...).
//
// The tables' storage comes before this text: table_f32.wgsl (one value per element) or
// table_f16.wgsl (two f16 values to a word, each table padded to a whole word, summed in
// f32). Both define `TableWord` (the stored element), `TableValue` (what one element holds,
// in f32), `unpack_table` and `pack_table`.

struct BlendGroup {
    // Elements in one table (words of two values for f16 tables).
    table_len: u32,
    // Index of the group's first table among the K + 1 (0 is h0).
    first_table: u32,
    // Tables in this group.
    table_count: u32,
    // 0 for the first group (overwrite), 1 for later ones (add).
    accumulate: u32,
}

@group(0) @binding(0) var<uniform> group_info: BlendGroup;
@group(0) @binding(1) var<storage, read> group_tables: array<TableWord>;
// One weight per table, K + 1 in all: 1 for h0, then the frame's coefficients.
@group(1) @binding(0) var<storage, read> table_weights: array<f32>;
@group(1) @binding(1) var<storage, read_write> blended: array<TableWord>;

const BLEND_WORKGROUP: u32 = 256u;

@compute @workgroup_size(256)
fn blend_tables(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let stride = groups.x * BLEND_WORKGROUP;
    let len = group_info.table_len;
    for (var i = id.x; i < len; i += stride) {
        var sum = TableValue(0.0);
        if group_info.accumulate != 0u {
            sum = unpack_table(blended[i]);
        }
        for (var t = 0u; t < group_info.table_count; t++) {
            let w = table_weights[group_info.first_table + t];
            if t == 0u && group_info.first_table == 0u {
                // h0 enters with weight 1, as the CPU's copy does.
                sum = unpack_table(group_tables[i]);
            } else if w != 0.0 {
                sum += w * unpack_table(group_tables[t * len + i]);
            }
        }
        blended[i] = pack_table(sum);
    }
}
