// Inference rendering of whole images (render.rs: render_image), one pixel per invocation:
// the ray through the pixel (camera.rs), its span through the head box, marching through the
// occupancy grid with the CPU's step rule and skipping (march.rs), the field at every sample
// and front-to-back compositing over the background with early termination (composite.rs).
// Appended to field.wgsl (and, for `march_rays`, to the model's generated field); march.wgsl
// follows it in the model's module.
//
// Rays are marched in rounds, as render.rs: march_tile does: `begin_rays` starts every ray,
// each dispatch of `march_rays` (march.wgsl) takes up to `samples_per_round` more samples of
// every live ray, and `finish_rays` (or `finish_texture`) writes the pixels. Keeping each
// invocation short matters on software drivers: llvmpipe (lavapipe) stops any invocation's
// loops after 65535 iterations in all.

// march.rs: MAX_SAMPLES_PER_RAY.
const MAX_SAMPLES_PER_RAY: u32 = 1024u;
// The largest f32, standing for infinity (WGSL has no infinite constants); the host reads a
// depth of this value back as infinite.
const INFINITY: f32 = 3.4028235e38;

// One frame: camera, background and stopping rule.
struct FrameInfo {
    // camera.rs: Pose, the first three rows of the camera-to-head matrix.
    pose: array<vec4<f32>, 3>,
    // camera.rs: Intrinsics (fx, fy, cx, cy).
    focal_center: vec4<f32>,
    // Image width and height.
    size: vec2<u32>,
    // march.rs: MarchSettings::transmittance_threshold.
    transmittance_threshold: f32,
    // Samples a live ray takes per dispatch of `march_rays`.
    samples_per_round: u32,
    // The background colour (alpha unused).
    background: vec4<f32>,
}

@group(1) @binding(1) var<uniform> frame: FrameInfo;
// Colour and opacity per pixel, row-major.
@group(1) @binding(2) var<storage, read_write> out_pixels: array<vec4<f32>>;
// Depth per pixel, row-major (`INFINITY` where the opacity is 0).
@group(1) @binding(6) var<storage, read_write> out_depth: array<f32>;
@group(1) @binding(3) var out_texture: texture_storage_2d<rgba8unorm, write>;
// Samples evaluated over the whole image.
@group(1) @binding(4) var<storage, read_write> sample_count: atomic<u32>;
// The state of every pixel's ray between rounds.
@group(1) @binding(5) var<storage, read_write> ray_states: array<RayState>;

// A ray between rounds: render.rs keeps the same in a RayMarcher and a CompositeState.
struct RayState {
    // Colour gathered so far (no background yet).
    color: vec3<f32>,
    // Transmittance left.
    transmittance: f32,
    // Distance gathered so far (Σ weight · distance).
    distance: f32,
    // Distance reached and end of the box.
    t: f32,
    t_end: f32,
    // Samples taken.
    taken: u32,
    // 1 while the ray goes on.
    live: u32,
}

struct Ray {
    origin: vec3<f32>,
    direction: vec3<f32>,
}

// camera.rs: Ray::through_pixel (the ray through the centre of pixel `pixel`).
fn through_pixel(pixel: vec2<u32>) -> Ray {
    let x = f32(pixel.x) + 0.5;
    let y = f32(pixel.y) + 0.5;
    let k = frame.focal_center;
    let camera_dir = vec3<f32>((x - k.z) / k.x, -(y - k.w) / k.y, -1.0);
    let m = frame.pose;
    let d = vec3<f32>(dot(m[0].xyz, camera_dir), dot(m[1].xyz, camera_dir), dot(m[2].xyz, camera_dir));
    return Ray(vec3<f32>(m[0].w, m[1].w, m[2].w), d / sqrt(dot(d, d)));
}

// camera.rs: Ray::intersect_box, the slab method clipped to `near`; the span is empty
// (t0 >= t1) when the ray misses the box.
fn intersect_box(ray: Ray) -> vec2<f32> {
    var t0 = model.near_distance;
    var t1 = INFINITY;
    let lo = model.head_center - model.half_extent;
    let hi = model.head_center + model.half_extent;
    for (var i = 0u; i < 3u; i++) {
        if ray.direction[i] == 0.0 {
            // Parallel to this slab: inside it or missing the box entirely.
            if ray.origin[i] < lo[i] || ray.origin[i] > hi[i] {
                return vec2<f32>(1.0, 0.0);
            }
            continue;
        }
        let inv = 1.0 / ray.direction[i];
        var a = (lo[i] - ray.origin[i]) * inv;
        var b = (hi[i] - ray.origin[i]) * inv;
        if a > b {
            let swap = a;
            a = b;
            b = swap;
        }
        t0 = max(t0, a);
        t1 = min(t1, b);
    }
    return vec2<f32>(t0, t1);
}

// camera.rs: to_unit_cube.
fn to_unit_cube(p: vec3<f32>) -> vec3<f32> {
    let size = 2.0 * model.half_extent;
    return (p - model.head_center + model.half_extent) / size;
}

// march.rs: MarchSettings::step (named apart from WGSL's built-in `step`).
fn march_step(t: f32) -> f32 {
    return clamp(t * model.dt_gamma, model.dt_min, model.dt_max);
}

// occupancy.rs: OccupancyGrid::cell_of.
fn cell_of(unit: vec3<f32>) -> vec3<u32> {
    let r = model.occupancy_resolution;
    return min(vec3<u32>(max(unit * f32(r), vec3<f32>(0.0))), vec3<u32>(r - 1u));
}

// occupancy.rs: OccupancyGrid::cell_index.
fn cell_index(cell: vec3<u32>) -> u32 {
    let r = model.occupancy_resolution;
    return cell.x + r * (cell.y + r * cell.z);
}

// occupancy.rs: OccupancyGrid::is_occupied.
fn is_occupied(index: u32) -> bool {
    return (occupancy_bits[index / 32u] & (1u << (index % 32u))) != 0u;
}

// march.rs: distance_to_cell_exit.
fn distance_to_cell_exit(cell: vec3<u32>, position: vec3<f32>, unit_dir: vec3<f32>) -> f32 {
    let r = f32(model.occupancy_resolution);
    var exit_distance = INFINITY;
    for (var i = 0u; i < 3u; i++) {
        if unit_dir[i] == 0.0 {
            continue;
        }
        var boundary = f32(cell[i]);
        if unit_dir[i] > 0.0 {
            boundary += 1.0;
        }
        boundary /= r;
        exit_distance = min(exit_distance, max((boundary - position[i]) / unit_dir[i], 0.0));
    }
    return exit_distance;
}

// composite.rs: CompositeState::add for one sample (rgb, σ) standing for a segment `dt`, at
// `distance` along the ray.
fn add(state: ptr<function, RayState>, sample: vec4<f32>, dt: f32, distance: f32) {
    let alpha = 1.0 - exp(-sample.w * dt);
    let weight = (*state).transmittance * alpha;
    (*state).color += weight * sample.xyz;
    (*state).distance += weight * distance;
    (*state).transmittance *= 1.0 - alpha;
}

// composite.rs: CompositeState::finish, colour over the background and opacity.
fn finish(state: RayState) -> vec4<f32> {
    let t = state.transmittance;
    return vec4<f32>(state.color + t * frame.background.xyz, 1.0 - t);
}

// render.rs: render_image's depth, the expected distance (CompositeState::expected_distance)
// along the camera's viewing axis; INFINITY where nothing was hit.
fn depth(state: RayState, ray: Ray) -> f32 {
    let alpha = 1.0 - state.transmittance;
    if alpha <= 0.0 {
        return INFINITY;
    }
    let m = frame.pose;
    let forward = -vec3<f32>(m[0].z, m[1].z, m[2].z);
    return state.distance / alpha * dot(ray.direction, forward);
}

fn pixel_index(id: vec3<u32>) -> u32 {
    return id.y * frame.size.x + id.x;
}

fn in_image(id: vec3<u32>) -> bool {
    return id.x < frame.size.x && id.y < frame.size.y;
}

// march.rs: RayMarcher::new: the ray starts at the box's entry; a ray that misses is done.
@compute @workgroup_size(8, 8)
fn begin_rays(@builtin(global_invocation_id) id: vec3<u32>) {
    if !in_image(id) {
        return;
    }
    let span = intersect_box(through_pixel(id.xy));
    let live = u32(span.x < span.y);
    ray_states[pixel_index(id)] = RayState(vec3<f32>(0.0), 1.0, 0.0, span.x, span.y, 0u, live);
}

// The finished pixel and its depth into the buffer target.
@compute @workgroup_size(8, 8)
fn finish_rays(@builtin(global_invocation_id) id: vec3<u32>) {
    if !in_image(id) {
        return;
    }
    let state = ray_states[pixel_index(id)];
    out_pixels[pixel_index(id)] = finish(state);
    out_depth[pixel_index(id)] = depth(state, through_pixel(id.xy));
    atomicAdd(&sample_count, state.taken);
}

// pixels.rs: srgb_to_linear and linear_to_srgb.
fn srgb_to_linear(v: vec3<f32>) -> vec3<f32> {
    return select(pow((v + 0.055) / 1.055, vec3<f32>(2.4)), v / 12.92, v <= vec3<f32>(0.04045));
}

fn linear_to_srgb(v: vec3<f32>) -> vec3<f32> {
    return select(1.055 * pow(v, vec3<f32>(1.0 / 2.4)) - 0.055, v * 12.92, v <= vec3<f32>(0.0031308));
}

// The finished pixel into the rgba8unorm storage texture, for an sRGB view blended with
// premultiplied alpha (pixels.rs: to_linear_premultiplied_rgba8_bytes): the head's own colour
// (gathered colour over opacity; the frame's background is not used) premultiplied by the
// opacity in linear light, sRGB-encoded, and the opacity.
@compute @workgroup_size(8, 8)
fn finish_texture(@builtin(global_invocation_id) id: vec3<u32>) {
    if !in_image(id) {
        return;
    }
    let state = ray_states[pixel_index(id)];
    let alpha = 1.0 - state.transmittance;
    var colour = vec3<f32>(0.0);
    if alpha > 0.0 {
        let own = clamp(state.color / alpha, vec3<f32>(0.0), vec3<f32>(1.0));
        colour = linear_to_srgb(alpha * srgb_to_linear(own));
    }
    textureStore(out_texture, id.xy, clamp(vec4<f32>(colour, alpha), vec4<f32>(0.0), vec4<f32>(1.0)));
    atomicAdd(&sample_count, state.taken);
}
