//! Conformance of the WGSL renderer with the CPU reference: the blend, the hash encoding and
//! the field stage by stage, and whole images (PSNR ≥ 40 dB against `render_image`, every
//! pixel written) of random avatars made non-trivial as training would make them (tables of
//! training-like magnitude, a denser density head, a random occupancy grid), from several
//! views and expressions, and of the sample avatar; with the tables and MLP weights stored
//! in f32 and in f16 (the same 40 dB bound). Skips, saying why, where no GPU adapter (not
//! even lavapipe) exists, unless `NERF_AVATAR_REQUIRE` names `vulkan` (CI).

use nerf_avatar::camera::{Intrinsics, Pose};
use nerf_avatar::field::Model;
use nerf_avatar::hashgrid::blend_tables;
use nerf_avatar::portrait::PortraitView;
use nerf_avatar::render::{Background, RenderedImage, render_image};
use nerf_avatar::renderer::FrameRequest;
use nerf_avatar::{Avatar, ModelConfig};
use nerf_avatar_eval::metrics::image::{ImageRef, psnr};
use nerf_avatar_wgpu::{
    FrameTarget, StoragePrecision, WgpuDevice, WgpuError, WgpuProbe, WgpuRenderer,
};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use test_requirements::{Requirement, available};

/// Both storage precisions of the GPU renderer.
const PRECISIONS: [StoragePrecision; 2] = [StoragePrecision::F32, StoragePrecision::F16];
/// The least PSNR (dB) between the GPU and CPU renders of the same frame.
const MIN_PSNR: f64 = 40.0;
/// The largest mean relative difference of the GPU and CPU depths where the head shows.
const MAX_MEAN_DEPTH_DIFFERENCE: f32 = 1e-3;
/// The largest relative difference of one pixel's GPU and CPU depths where the head shows (a
/// ray's termination moved by a sample).
const MAX_DEPTH_DIFFERENCE: f32 = 2e-2;
/// Image side of the conformance renders (lavapipe runs on the CPU: keep them small).
const SIDE: u32 = 48;

/// The GPU adapter (lavapipe where no GPU exists), or `None` where there is none (skipped,
/// or a failure where `NERF_AVATAR_REQUIRE` names `vulkan`).
fn device() -> Option<WgpuDevice> {
    let device = available(Requirement::Vulkan, WgpuDevice::open())?;
    eprintln!("GPU conformance on {}", device.describe());
    Some(device)
}

/// A small model: the tiny preset's grid and MLPs with three blendshapes and a 32³ grid.
fn small_config(preset: &str) -> ModelConfig {
    let mut config = ModelConfig::preset(preset).unwrap().with_blendshapes(vec![
        "jawOpen".into(),
        "eyeBlinkLeft".into(),
        "smileRight".into(),
    ]);
    config.occupancy_resolution = 32;
    config
}

/// A fresh avatar perturbed as training perturbs it: tables of magnitude ~1 (blendshape
/// tables smaller), the density output scaled and made mostly positive (by `density_gain`)
/// so that rays become opaque, and a random occupancy grid with a dense core.
fn random_avatar(config: ModelConfig, seed: u64, density_gain: f32) -> Avatar {
    let mut avatar = Avatar::new(config, seed).unwrap();
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x5eed);
    let layout = avatar.params.layout.clone();
    for t in 0..layout.table_count {
        let scale = if t == 0 { 1.5 } else { 0.5 };
        for v in &mut avatar.params.data[layout.table(t)] {
            *v = rng.random_range(-scale..scale);
        }
    }
    let last = *layout.density_layers.last().unwrap();
    for v in &mut avatar.params.data[last.offset..last.offset + last.inputs] {
        *v = 8.0 * *v + density_gain * v.abs();
    }
    let grid = &mut avatar.occupancy;
    let r = grid.resolution;
    for z in 0..r {
        for y in 0..r {
            for x in 0..r {
                let centred = [x, y, z].map(|c| (c as f32 + 0.5) / r as f32 - 0.5);
                let radius = centred.iter().map(|c| c * c).sum::<f32>().sqrt();
                let occupied = radius < 0.3 || (radius < 0.5 && rng.random_bool(0.5));
                let i = grid.cell_index([x, y, z]);
                let mask = 1 << (i % 8);
                grid.bitfield[i / 8] =
                    (grid.bitfield[i / 8] & !mask) | if occupied { mask } else { 0 };
            }
        }
    }
    avatar.validate().unwrap();
    avatar
}

fn view(yaw: f32, pitch: f32) -> (Intrinsics, Pose) {
    (
        Intrinsics::from_fov(SIDE, SIDE, 30.0),
        Pose::orbit([0.0; 3], 0.6, yaw, pitch),
    )
}

fn image_psnr(a: &[[f32; 3]], b: &[[f32; 3]]) -> f64 {
    let side = a.len().isqrt();
    psnr(
        ImageRef::new(a, side, side).unwrap(),
        ImageRef::new(b, side, side).unwrap(),
    )
    .unwrap()
}

/// The mean and the largest relative difference of two renders' depths over the pixels both
/// show at an opacity of at least 0.5; panics where one depth is infinite and the other not
/// (unless both opacities are below 1e-3, where `1 − e^{−σδ}` may round to 0 on one side).
fn depth_differences(cpu: &RenderedImage, gpu: &RenderedImage) -> (f32, f32) {
    let mut differences = Vec::new();
    for (i, (c, g)) in cpu.depth.iter().zip(&gpu.depth).enumerate() {
        let (cpu_alpha, gpu_alpha) = (cpu.alpha[i], gpu.alpha[i]);
        if cpu_alpha.max(gpu_alpha) >= 1e-3 || cpu_alpha == gpu_alpha {
            assert_eq!(c.is_finite(), g.is_finite(), "depth {i}: CPU {c}, GPU {g}");
        }
        if cpu_alpha >= 0.5 && gpu_alpha >= 0.5 {
            differences.push((c - g).abs() / c);
        }
    }
    assert!(differences.len() > 10, "too few pixels show the head");
    let mean = differences.iter().sum::<f32>() / differences.len() as f32;
    (mean, differences.iter().copied().fold(0.0, f32::max))
}

fn alpha_psnr(a: &RenderedImage, b: &RenderedImage) -> f64 {
    let grey =
        |image: &RenderedImage| -> Vec<[f32; 3]> { image.alpha.iter().map(|a| [*a; 3]).collect() };
    image_psnr(&grey(a), &grey(b))
}

#[test]
fn gpu_renders_equal_the_cpu_reference() {
    let Some(gpu) = device() else { return };
    let renderer = WgpuRenderer::new(&gpu.device).unwrap();
    // The paper preset (64-wide MLPs, 4 features, 16 levels) costs lavapipe most: a smaller
    // image.
    let cases = [
        ("tiny", 1, 0.0, 0.0, [1.0, 1.0, 1.0], SIDE, 30.0),
        ("tiny", 2, 35.0, -10.0, [0.2, 0.4, 0.6], SIDE, 30.0),
        ("fast", 3, -60.0, 20.0, [0.0, 0.0, 0.0], SIDE, 30.0),
        ("paper", 4, 10.0, 30.0, [1.0, 0.5, 0.0], 20, 90.0),
    ];
    for (preset, seed, yaw, pitch, background, side, gain) in cases {
        let avatar = random_avatar(small_config(preset), seed, gain);
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut weights: Vec<f32> = (0..3).map(|_| rng.random_range(-0.2..1.2)).collect();
        avatar.clamp_expression(&mut weights);
        let (intrinsics, pose) = view(yaw, pitch);
        let intrinsics = intrinsics.resized(side, side);
        let case = format!("{preset} seed {seed}");
        let view = (intrinsics, pose, background);
        check_every_precision(&gpu, &renderer, &avatar, &weights, view, &case);
    }
}

/// Renders `avatar` with `weights` from `view` (camera, pose, background) on the CPU, checks
/// that the image is not trivial (some opacity, not all), then renders it on the GPU with
/// the tables stored in each precision ([`assert_conforms`]).
fn check_every_precision(
    gpu: &WgpuDevice,
    renderer: &WgpuRenderer,
    avatar: &Avatar,
    weights: &[f32],
    (intrinsics, pose, background): (Intrinsics, Pose, [f32; 3]),
    case: &str,
) {
    let model = Model::new(&avatar.config);
    let cpu = render_image(
        &model,
        &avatar.params,
        weights,
        &avatar.occupancy,
        &intrinsics,
        &pose,
        Background::Solid(background),
    );
    let mean_alpha = cpu.alpha.iter().sum::<f32>() / cpu.alpha.len() as f32;
    let opaque = cpu.alpha.iter().filter(|a| **a > 0.99).count();
    assert!(
        (0.1..0.95).contains(&mean_alpha) && opaque > 10,
        "{case}: a trivial image (mean opacity {mean_alpha}, {opaque} opaque pixels)"
    );
    let request = FrameRequest {
        weights,
        intrinsics,
        pose,
        background: Background::Solid(background),
    };
    for precision in PRECISIONS {
        let gpu_avatar = renderer
            .upload_with_precision(&gpu.device, avatar, precision)
            .unwrap();
        let case = format!("{case} ({precision:?})");
        assert_conforms(gpu, renderer, &gpu_avatar, &request, &cpu, &case);
    }
}

/// Renders `request` on the GPU and asserts that every pixel is written and that colour and
/// opacity are within [`MIN_PSNR`] of the CPU render `cpu`.
fn assert_conforms(
    gpu: &WgpuDevice,
    renderer: &WgpuRenderer,
    gpu_avatar: &nerf_avatar_wgpu::WgpuAvatar,
    request: &FrameRequest<'_>,
    cpu: &RenderedImage,
    case: &str,
) {
    // render_image fills the target with NaN first and fails on any pixel left unwritten.
    let gpu_image = renderer
        .render_image(&gpu.device, &gpu.queue, gpu_avatar, request)
        .unwrap();
    let colour = image_psnr(&cpu.rgb, &gpu_image.rgb);
    let alpha = alpha_psnr(cpu, &gpu_image);
    let (mean_depth, max_depth) = depth_differences(cpu, &gpu_image);
    eprintln!(
        "{case}: PSNR colour {colour:.1} dB, opacity {alpha:.1} dB, depth within {mean_depth:.1e} \
         on average (at most {max_depth:.1e}), samples CPU {} GPU {}",
        cpu.samples, gpu_image.samples
    );
    assert!(
        colour >= MIN_PSNR && alpha >= MIN_PSNR,
        "{case}: {colour} / {alpha} dB"
    );
    assert!(
        mean_depth <= MAX_MEAN_DEPTH_DIFFERENCE && max_depth <= MAX_DEPTH_DIFFERENCE,
        "{case}: depth differs by {mean_depth} on average, {max_depth} at most"
    );
    assert!(gpu_image.samples > 0);
}

#[test]
fn the_sample_avatar_renders_as_on_the_cpu_in_f32_and_f16() {
    let Some(gpu) = device() else { return };
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/sample.avatar.safetensors"
    );
    let avatar = Avatar::read(std::path::Path::new(path)).unwrap();
    // Its weights were stored in f16: the automatic choice keeps them so, losslessly.
    assert_eq!(StoragePrecision::automatic(&avatar), StoragePrecision::F16);
    let renderer = WgpuRenderer::new(&gpu.device).unwrap();
    let mut weights: Vec<f32> = (0..avatar.config.blendshape_count())
        .map(|i| [0.8, 0.0, 0.4][i % 3])
        .collect();
    avatar.clamp_expression(&mut weights);
    let (intrinsics, pose) = PortraitView {
        width: 32,
        height: 32,
        yaw_degrees: 25.0,
        pitch_degrees: 5.0,
        distance: None,
    }
    .camera(&avatar)
    .unwrap();
    let background = [0.3, 0.6, 0.9];
    let view = (intrinsics, pose, background);
    check_every_precision(&gpu, &renderer, &avatar, &weights, view, "sample avatar");
}

#[test]
fn blend_encoding_and_field_stages_equal_their_cpu_twins() {
    let Some(gpu) = device() else { return };
    let renderer = WgpuRenderer::new(&gpu.device).unwrap();
    let probe = WgpuProbe::new(&renderer, &gpu.device).unwrap();
    let avatar = random_avatar(small_config("tiny"), 7, 30.0);
    let model = Model::new(&avatar.config);
    let gpu_avatar = renderer
        .upload_with_precision(&gpu.device, &avatar, StoragePrecision::F32)
        .unwrap();
    let frame = renderer
        .create_frame(
            &gpu.device,
            &gpu_avatar,
            FrameTarget::Buffer {
                width: 8,
                height: 8,
            },
        )
        .unwrap();
    let weights = [0.7, 0.0, -0.3];
    let (intrinsics, pose) = view(0.0, 0.0);
    let intrinsics = intrinsics.resized(8, 8);
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    let request = FrameRequest {
        weights: &weights,
        intrinsics,
        pose,
        background: Background::Solid([1.0; 3]),
    };
    renderer
        .encode_frame(&gpu.queue, &mut encoder, &gpu_avatar, &frame, &request)
        .unwrap();
    gpu.queue.submit([encoder.finish()]);

    let mut table = vec![0.0; model.layout.table_len];
    blend_tables(avatar.params.tables(), &weights, &mut table);
    let gpu_table = probe
        .blended_table(&gpu.device, &gpu.queue, &frame)
        .unwrap();
    assert_eq!(gpu_table.len(), table.len());
    let blend_error = table
        .iter()
        .zip(&gpu_table)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(blend_error <= 1e-6, "blend differs by {blend_error}");

    let mut rng = Pcg64::seed_from_u64(11);
    let mut points: Vec<[f32; 3]> = (0..500)
        .map(|_| std::array::from_fn(|_| rng.random_range(-0.1..1.1)))
        .collect();
    points.extend([[0.0; 3], [1.0; 3], [1.0, 0.0, 0.5]]);
    let width = model.grid.output_width();
    let mut encoding = vec![0.0; points.len() * width];
    model.grid.encode_points(&table, &points, &mut encoding);
    let gpu_encoding = probe
        .encode_points(&gpu.device, &gpu.queue, &gpu_avatar, &frame, &points)
        .unwrap();
    let encode_error = encoding
        .iter()
        .zip(&gpu_encoding)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(encode_error <= 1e-5, "encoding differs by {encode_error}");

    let directions: Vec<[f32; 3]> = (0..points.len())
        .map(|_| {
            let d: [f32; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
            let n = d.iter().map(|v| v * v).sum::<f32>().sqrt();
            d.map(|v| v / n)
        })
        .collect();
    let (field, _) = model.field_forward(&avatar.params.data, &table, &points, &directions);
    let gpu_field = probe
        .field_points(
            &gpu.device,
            &gpu.queue,
            &gpu_avatar,
            &frame,
            &points,
            &directions,
        )
        .unwrap();
    for (i, row) in gpu_field.chunks_exact(4).enumerate() {
        let sigma = field.sigma[i];
        assert!(
            (row[3] - sigma).abs() <= 1e-4 * (1.0 + sigma.abs()),
            "σ at {i}: {} vs {sigma}",
            row[3]
        );
        for (gpu, cpu) in row[..3].iter().zip(field.rgb[i]) {
            assert!((gpu - cpu).abs() <= 1e-5, "rgb at {i}: {gpu} vs {cpu}");
        }
    }

    // The f16 blend: inputs and result rounded to f16 (relative error 2^-11 each).
    let f16_avatar = renderer
        .upload_with_precision(&gpu.device, &avatar, StoragePrecision::F16)
        .unwrap();
    let f16_frame = renderer
        .create_frame(
            &gpu.device,
            &f16_avatar,
            FrameTarget::Buffer {
                width: 8,
                height: 8,
            },
        )
        .unwrap();
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    renderer
        .encode_frame(&gpu.queue, &mut encoder, &f16_avatar, &f16_frame, &request)
        .unwrap();
    gpu.queue.submit([encoder.finish()]);
    let f16_table = probe
        .blended_table(&gpu.device, &gpu.queue, &f16_frame)
        .unwrap();
    assert_eq!(f16_table.len(), table.len());
    for (i, (cpu, gpu)) in table.iter().zip(&f16_table).enumerate() {
        assert!(
            (cpu - gpu).abs() <= (1.0 + cpu.abs()) / 512.0,
            "f16 blend at {i}: {gpu} vs {cpu}"
        );
    }
}

#[test]
fn texture_target_holds_the_buffer_render_and_bad_frames_are_refused() {
    let Some(gpu) = device() else { return };
    let renderer = WgpuRenderer::new(&gpu.device).unwrap();
    let avatar = random_avatar(small_config("tiny"), 5, 30.0);
    let gpu_avatar = renderer.upload(&gpu.device, &avatar).unwrap();
    let (intrinsics, pose) = view(15.0, 5.0);
    let weights = [0.2, 0.9, 0.0];
    let request = FrameRequest {
        weights: &weights,
        intrinsics,
        pose,
        background: Background::Solid([0.0; 3]),
    };
    let reference = renderer
        .render_image(&gpu.device, &gpu.queue, &gpu_avatar, &request)
        .unwrap();

    let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
        label: None,
        size: wgpu::Extent3d {
            width: SIDE,
            height: SIDE,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8Unorm,
        usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let view = texture.create_view(&Default::default());
    let target = FrameTarget::Texture {
        view: &view,
        width: SIDE,
        height: SIDE,
    };
    let frame = renderer
        .create_frame(&gpu.device, &gpu_avatar, target)
        .unwrap();
    let row_bytes = SIDE * 4;
    let padded_row = row_bytes.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
    let readback = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: u64::from(padded_row * SIDE),
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    renderer
        .encode_frame(&gpu.queue, &mut encoder, &gpu_avatar, &frame, &request)
        .unwrap();
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &readback,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded_row),
                rows_per_image: None,
            },
        },
        texture.size(),
    );
    gpu.queue.submit([encoder.finish()]);
    readback.map_async(wgpu::MapMode::Read, .., |result| result.unwrap());
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    let bytes = readback.get_mapped_range(..).to_vec();
    // The texture holds the buffer render (over black) premultiplied in linear light.
    let expected_bytes = reference.to_linear_premultiplied_rgba8_bytes();
    let soft = reference
        .alpha
        .iter()
        .filter(|a| (0.05..0.95).contains(*a))
        .count();
    assert!(soft > 10, "only {soft} pixels of the soft band");
    for y in 0..SIDE as usize {
        for x in 0..SIDE as usize {
            let texel = &bytes[y * padded_row as usize + x * 4..][..4];
            let expected = &expected_bytes[(y * SIDE as usize + x) * 4..][..4];
            for c in 0..4 {
                assert!(
                    texel[c].abs_diff(expected[c]) <= 1,
                    "texel ({x}, {y}): {texel:?}, not {expected:?}"
                );
            }
        }
    }

    let short = FrameRequest {
        weights: &weights[..2],
        ..request
    };
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    let refused = renderer.encode_frame(&gpu.queue, &mut encoder, &gpu_avatar, &frame, &short);
    assert!(
        matches!(refused, Err(WgpuError::BadFrame(_))),
        "{refused:?}"
    );
    let other_size = FrameRequest {
        intrinsics: intrinsics.resized(SIDE + 1, SIDE),
        ..request
    };
    let refused = renderer.encode_frame(&gpu.queue, &mut encoder, &gpu_avatar, &frame, &other_size);
    assert!(
        matches!(refused, Err(WgpuError::BadFrame(_))),
        "{refused:?}"
    );
}

#[test]
fn the_renderer_interface_composites_an_image_background_as_the_cpu_does() {
    use nerf_avatar::renderer::{CpuRenderer, RenderError, Renderer};
    let Some(gpu) = device() else { return };
    let avatar = std::sync::Arc::new(random_avatar(small_config("tiny"), 11, 30.0));
    let mut wgpu_renderer: Box<dyn Renderer> = Box::new(
        nerf_avatar_wgpu::WgpuAvatarRenderer::new(std::sync::Arc::new(gpu), &avatar).unwrap(),
    );
    let mut cpu_renderer = CpuRenderer::new(std::sync::Arc::clone(&avatar));
    assert_eq!(wgpu_renderer.backend(), "wgpu");
    let (intrinsics, pose) = view(15.0, -5.0);
    let behind: Vec<[f32; 3]> = (0..SIDE * SIDE)
        .map(|i| {
            [
                (i % SIDE) as f32 / SIDE as f32,
                0.5,
                (i / SIDE) as f32 / SIDE as f32,
            ]
        })
        .collect();
    let request = FrameRequest {
        weights: &[0.6, 0.2, 0.0],
        intrinsics,
        pose,
        background: Background::Image(&behind),
    };
    let cpu = cpu_renderer.render(&request).unwrap();
    let gpu_image = wgpu_renderer.render(&request).unwrap();
    let (colour, alpha) = (
        image_psnr(&cpu.rgb, &gpu_image.rgb),
        alpha_psnr(&cpu, &gpu_image),
    );
    assert!(
        colour >= MIN_PSNR && alpha >= MIN_PSNR,
        "{colour} / {alpha} dB"
    );
    let too_small = FrameRequest {
        background: Background::Image(&behind[1..]),
        ..request
    };
    assert!(matches!(
        wgpu_renderer.render(&too_small),
        Err(RenderError::BadRequest(_))
    ));
}
