// Inference rendering of whole images (render.rs: render_image), one pixel per invocation:
// the ray through the pixel (camera.rs), its span through the head box, marching through the
// occupancy grid with the CPU's step rule and skipping (march.rs), the field at every sample
// (field.wgsl) and front-to-back compositing over the background with early termination
// (composite.rs). Appended to field.wgsl.

// march.rs: MAX_SAMPLES_PER_RAY.
const MAX_SAMPLES_PER_RAY: u32 = 1024u;
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
    _pad: f32,
    // The background colour (alpha unused).
    background: vec4<f32>,
}

@group(1) @binding(1) var<uniform> frame: FrameInfo;
// Colour and opacity per pixel, row-major.
@group(1) @binding(2) var<storage, read_write> out_pixels: array<vec4<f32>>;
@group(1) @binding(3) var out_texture: texture_storage_2d<rgba8unorm, write>;
// Samples evaluated over the whole image.
@group(1) @binding(4) var<storage, read_write> sample_count: atomic<u32>;

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

// march.rs: MarchSettings::step.
fn step(t: f32) -> f32 {
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

// composite.rs: CompositeState, the colour gathered so far and the transmittance left.
struct CompositeState {
    color: vec3<f32>,
    transmittance: f32,
}

// composite.rs: CompositeState::add for one sample (rgb, σ) standing for a segment `dt`.
fn add(state: ptr<function, CompositeState>, sample: vec4<f32>, dt: f32) {
    let alpha = 1.0 - exp(-sample.w * dt);
    let weight = (*state).transmittance * alpha;
    (*state).color += weight * sample.xyz;
    (*state).transmittance *= 1.0 - alpha;
}

// composite.rs: CompositeState::finish, colour over the background and opacity.
fn finish(state: CompositeState) -> vec4<f32> {
    let t = state.transmittance;
    return vec4<f32>(state.color + t * frame.background.xyz, 1.0 - t);
}

// Samples this invocation evaluated.
var<private> samples_taken: u32;

// render.rs: render_image for one pixel: the ray is marched sample by sample (march.rs:
// RayMarcher::next_sample) and composited until it leaves the box, takes its last sample or
// becomes opaque.
fn render_pixel(pixel: vec2<u32>) -> vec4<f32> {
    let ray = through_pixel(pixel);
    var state = CompositeState(vec3<f32>(0.0), 1.0);
    let span = intersect_box(ray);
    if !(span.x < span.y) {
        return finish(state);
    }
    let unit_dir = ray.direction / (2.0 * model.half_extent);
    let threshold = frame.transmittance_threshold;
    var t = span.x;
    let t_end = span.y;
    var taken = 0u;
    while t < t_end && taken < MAX_SAMPLES_PER_RAY {
        let dt = step(t);
        let position = to_unit_cube(ray.origin + t * ray.direction);
        let cell = cell_of(position);
        if is_occupied(cell_index(cell)) {
            t += dt;
            taken += 1u;
            samples_taken = taken;
            add(&state, field_forward(position, ray.direction), dt);
            if state.transmittance < threshold {
                break;
            }
            continue;
        }
        let target_t = t + distance_to_cell_exit(cell, position, unit_dir);
        loop {
            t += step(t);
            if t >= target_t {
                break;
            }
        }
    }
    return finish(state);
}

@compute @workgroup_size(8, 8)
fn render_image(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= frame.size.x || id.y >= frame.size.y {
        return;
    }
    out_pixels[id.y * frame.size.x + id.x] = render_pixel(id.xy);
    atomicAdd(&sample_count, samples_taken);
}

// render_image into an rgba8unorm storage texture (colour as rendered, alpha the opacity).
@compute @workgroup_size(8, 8)
fn render_texture(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= frame.size.x || id.y >= frame.size.y {
        return;
    }
    textureStore(out_texture, id.xy, clamp(render_pixel(id.xy), vec4<f32>(0.0), vec4<f32>(1.0)));
    atomicAdd(&sample_count, samples_taken);
}
