// One round of marching every live ray (render.rs: march_tile), appended to field.wgsl, the
// model's generated field (gpu/field_source.rs) and render.wgsl.

// render.rs: march_tile, one round of one ray: up to `samples_per_round` samples (march.rs:
// RayMarcher::next_sample), each composited at once; the ray ends at the end of the box,
// at its last sample or once opaque. Each pass of the outer loop first skips the empty
// cells ahead, then takes one sample: neighbouring rays, which run in lockstep on SIMD
// hardware (and in llvmpipe's SIMD lanes), evaluate the field together instead of one
// sampling while another skips.
@compute @workgroup_size(8, 8)
fn march_rays(@builtin(global_invocation_id) id: vec3<u32>) {
    if !in_image(id) {
        return;
    }
    let index = pixel_index(id);
    var state = ray_states[index];
    if state.live == 0u {
        return;
    }
    let ray = through_pixel(id.xy);
    let unit_dir = ray.direction / (2.0 * model.half_extent);
    let threshold = frame.transmittance_threshold;
    var round_samples = 0u;
    while round_samples < frame.samples_per_round && state.t < state.t_end
        && state.taken < MAX_SAMPLES_PER_RAY {
        var position = to_unit_cube(ray.origin + state.t * ray.direction);
        var cell = cell_of(position);
        var occupied = is_occupied(cell_index(cell));
        while !occupied && state.t < state.t_end {
            let target_t = state.t + distance_to_cell_exit(cell, position, unit_dir);
            loop {
                state.t += march_step(state.t);
                if state.t >= target_t {
                    break;
                }
            }
            position = to_unit_cube(ray.origin + state.t * ray.direction);
            cell = cell_of(position);
            occupied = is_occupied(cell_index(cell));
        }
        if !occupied || state.t >= state.t_end {
            break;
        }
        let dt = march_step(state.t);
        let distance = state.t;
        state.t += dt;
        state.taken += 1u;
        round_samples += 1u;
        add(&state, field_forward(position, ray.direction), dt, distance);
        if state.transmittance < threshold {
            break;
        }
    }
    let ended = state.t >= state.t_end || state.taken >= MAX_SAMPLES_PER_RAY;
    if ended || state.transmittance < threshold {
        state.live = 0u;
    }
    ray_states[index] = state;
}
