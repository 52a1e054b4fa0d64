//! The CLI's CUDA backend: `train --backend cuda` tracks `--backend cpu` (from the same seed:
//! same initialisation, frames, rays and jitters, the GPU run's loss curve follows the CPU's,
//! and its avatar records the backend), and `render --backend cuda` gives the CPU's image.
//! Without a GPU, `--backend cuda` is a clear error and `auto` says why it uses the CPU; the
//! GPU comparisons then skip with a printed reason, unless `NERF_AVATAR_REQUIRE` names `gpu`
//! (then that fails).

use std::path::{Path, PathBuf};
use std::process::Output;

use nerf_avatar::Avatar;
use test_requirements::{Requirement, available};

mod common;
use common::gpu::{Gpu, emulated_driver};
use common::nerf_avatar;

/// Whether `output` failed because there is no usable GPU: then the test skips (the reason
/// printed), or fails where `NERF_AVATAR_REQUIRE` names `gpu`.
fn no_gpu(output: &Output) -> bool {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reason = stderr.contains("no NVIDIA driver") || stderr.contains("no CUDA device");
    if !output.status.success() && reason {
        assert!(
            stderr.contains("--backend cuda") && !stderr.contains("panicked"),
            "{stderr}"
        );
        test_requirements::missing(Requirement::Gpu, stderr.trim());
        return true;
    }
    false
}

/// A fresh tiny avatar in `dir`.
fn tiny_avatar(dir: &Path) -> PathBuf {
    let avatar = dir.join("a.avatar.safetensors");
    let init = nerf_avatar(&[
        "init",
        "--out",
        avatar.to_str().unwrap(),
        "--preset",
        "tiny",
    ]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    avatar
}

/// Renders `avatar` (40×32, jawOpen 0.7) on `backend` into `out`.
fn render(avatar: &Path, out: &Path, backend: &str, gpu: Gpu<'_>) -> Output {
    let args = [
        "render",
        avatar.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--size",
        "40x32",
        "--expression",
        "jawOpen=0.7",
        "--backend",
        backend,
    ];
    gpu.run(&args)
}

/// At most 1% of the bytes of the PNGs `a` and `b` differ by more than 1.
fn assert_same_image(a: &Path, b: &Path) {
    let (a, b) = (
        image::open(a).unwrap().to_rgb8(),
        image::open(b).unwrap().to_rgb8(),
    );
    assert_eq!(a.dimensions(), b.dimensions());
    let differences = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .filter(|(x, y)| x.abs_diff(**y) > 1)
        .count();
    assert!(
        differences * 100 <= a.as_raw().len(),
        "{differences} bytes differ by more than 1"
    );
}

/// Asserts that `output` succeeded.
fn assert_ran(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn gpu_render_gives_the_cpus_image() {
    let dir = tempfile::tempdir().unwrap();
    let avatar = tiny_avatar(dir.path());
    let (gpu_png, cpu_png) = (dir.path().join("gpu.png"), dir.path().join("cpu.png"));
    let auto = render(&avatar, &gpu_png, "auto", Gpu::Real);
    let auto_stderr = String::from_utf8_lossy(&auto.stderr);
    assert!(
        auto.status.success() && auto_stderr.contains("backend: "),
        "{auto_stderr}"
    );
    let gpu = render(&avatar, &gpu_png, "cuda", Gpu::Real);
    if no_gpu(&gpu) {
        assert!(
            auto_stderr.contains("backend: cpu (--backend auto"),
            "{auto_stderr}"
        );
        return;
    }
    assert_ran(&gpu);
    assert_ran(&render(&avatar, &cpu_png, "cpu", Gpu::Real));
    assert_same_image(&gpu_png, &cpu_png);
}

/// Where no GPU is: `render --backend cuda` on the emulated driver (the fused fp16 field on
/// the f16 table, the renderer's rounds, the RGBA8 path) gives the CPU's image.
#[test]
fn emulated_gpu_render_gives_the_cpus_image() {
    let Some(driver) = emulated_driver() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let avatar = tiny_avatar(dir.path());
    let (gpu_png, cpu_png) = (dir.path().join("gpu.png"), dir.path().join("cpu.png"));
    let gpu = render(&avatar, &gpu_png, "cuda", Gpu::Emulated(&driver));
    assert_ran(&gpu);
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    assert!(stderr.contains("CPU emulator of the kernels"), "{stderr}");
    assert_ran(&render(&avatar, &cpu_png, "cpu", Gpu::Real));
    assert_same_image(&gpu_png, &cpu_png);
}

/// How a test trains: with the patch LPIPS of the last stage or not, the CUDA backend's MLP
/// precision, the steps, and the GPU of the CUDA runs.
#[derive(Clone, Copy)]
struct Training<'a> {
    lpips: bool,
    gpu_mlp: &'a str,
    steps: &'a str,
    gpu: Gpu<'a>,
}

/// Trains `data` on `backend` as `training` says.
fn train(data: &str, out: &Path, backend: &str, training: Training<'_>) -> Output {
    let mut args = vec![
        "train",
        data,
        "--out",
        out.to_str().unwrap(),
        "--steps",
        training.steps,
        "--rays",
        "256",
        "--occupancy-resolution",
        "16",
        "--checkpoint-every",
        "1000",
        "--backend",
        backend,
        "--gpu-mlp",
        if backend == "cuda" {
            training.gpu_mlp
        } else {
            "fp32"
        },
    ];
    if !training.lpips {
        args.push("--no-lpips");
    }
    if backend == "cuda" {
        training.gpu.run(&args)
    } else {
        nerf_avatar(&args)
    }
}

/// Whether the LPIPS VGG weights are there; where not, the test skips (the reason printed),
/// or fails where `NERF_AVATAR_REQUIRE` names `vgg`.
fn has_vgg_weights() -> bool {
    available(Requirement::Vgg, test_requirements::vgg_weights()).is_some()
}

/// 40 steps on the machine's GPU.
fn on_the_gpu(lpips: bool, gpu_mlp: &str) -> Training<'_> {
    Training {
        lpips,
        gpu_mlp,
        steps: "40",
        gpu: Gpu::Real,
    }
}

#[test]
fn gpu_training_tracks_the_cpu() {
    check_gpu_training_tracks_the_cpu(on_the_gpu(false, "fp32"));
}

/// The MLPs on the tensor cores (f16 inputs, fp32 sums, loss-scaled gradients).
#[test]
fn gpu_training_with_half_precision_mlps_tracks_the_cpu() {
    check_gpu_training_tracks_the_cpu(on_the_gpu(false, "fp16"));
}

/// The last third of the steps adds LPIPS (VGG) on 32×32 patches: on the GPU, every layer
/// on the device (`cuda::lpips`).
#[test]
fn gpu_training_with_lpips_tracks_the_cpu() {
    if has_vgg_weights() {
        check_gpu_training_tracks_the_cpu(on_the_gpu(true, "fp32"));
    }
}

/// Where no GPU is: the CUDA backend's whole training loop (`cuda::train`) with the
/// half-precision MLPs and LPIPS on the device, every kernel on the CPU emulator behind the
/// stand-in driver; 12 steps (the emulator is slow), the last third with LPIPS.
#[test]
fn emulated_gpu_training_with_half_precision_mlps_and_lpips_tracks_the_cpu() {
    let Some(driver) = emulated_driver() else {
        return;
    };
    if has_vgg_weights() {
        check_gpu_training_tracks_the_cpu(Training {
            lpips: true,
            gpu_mlp: "fp16",
            steps: "12",
            gpu: Gpu::Emulated(&driver),
        });
    }
}

fn check_gpu_training_tracks_the_cpu(training: Training<'_>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let synth = nerf_avatar(&["synth", "--out", data, "--frames", "6", "--size", "32"]);
    assert!(
        synth.status.success(),
        "{}",
        String::from_utf8_lossy(&synth.stderr)
    );

    let gpu_out = dir.path().join("gpu.avatar.safetensors");
    let gpu = train(data, &gpu_out, "cuda", training);
    if matches!(training.gpu, Gpu::Real) && no_gpu(&gpu) {
        return;
    }
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    if !gpu.status.success() && stderr.contains("need the tensor cores") {
        test_requirements::missing(Requirement::Gpu, stderr.trim());
        return;
    }
    assert!(
        gpu.status.success(),
        "{}",
        String::from_utf8_lossy(&gpu.stderr)
    );
    let cpu_out = dir.path().join("cpu.avatar.safetensors");
    let cpu = train(data, &cpu_out, "cpu", training);
    assert!(
        cpu.status.success(),
        "{}",
        String::from_utf8_lossy(&cpu.stderr)
    );

    let gpu = Avatar::read(&gpu_out).unwrap();
    let cpu = Avatar::read(&cpu_out).unwrap();
    assert!(gpu.params.data.iter().all(|v| v.is_finite()));
    let (gpu_summary, cpu_summary) = (gpu.training.unwrap(), cpu.training.unwrap());
    assert_eq!(gpu_summary.backend.as_deref(), Some("cuda"));
    assert_eq!(gpu_summary.steps, training.steps.parse().ok());
    assert_eq!(gpu_summary.curve.len(), cpu_summary.curve.len());
    for (g, c) in gpu_summary.curve.iter().zip(&cpu_summary.curve) {
        assert_eq!(g.step, c.step);
        // Sums in another order (atomics, tiles) make the runs drift apart only slowly.
        assert!(
            (g.loss - c.loss).abs() <= 0.05 * c.loss.abs() + 1e-4,
            "step {}: loss GPU {} vs CPU {}",
            g.step,
            g.loss,
            c.loss
        );
        assert!(
            (g.psnr - c.psnr).abs() <= 0.5,
            "step {}: PSNR GPU {} vs CPU {}",
            g.step,
            g.psnr,
            c.psnr
        );
    }
}

/// Where no GPU is: a GPU whose memory (16 MiB on the emulated driver) cannot hold the avatar.
/// `--backend cuda` says so and fails, without a panic and without touching its output
/// (rendering and training); `auto` renders on the CPU and says why.
#[test]
fn emulated_gpu_out_of_memory_is_a_clear_error_and_auto_renders_on_the_cpu() {
    let Some(driver) = emulated_driver() else {
        return;
    };
    let small_gpu = Gpu::EmulatedWithMemory(&driver, 16 << 20);
    let dir = tempfile::tempdir().unwrap();
    let avatar = tiny_avatar(dir.path());
    let out_of_memory = |output: &Output| {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !output.status.success()
                && stderr.matches("the GPU ran out of memory while").count() == 1
                && !stderr.contains("panicked"),
            "{stderr}"
        );
    };

    let png = dir.path().join("frame.png");
    out_of_memory(&render(&avatar, &png, "cuda", small_gpu));
    assert!(!png.exists());
    let auto = render(&avatar, &png, "auto", small_gpu);
    assert_ran(&auto);
    let stderr = String::from_utf8_lossy(&auto.stderr);
    assert!(
        stderr.contains("backend: cpu (--backend auto: the avatar could not be put on the GPU")
            && stderr.contains("ran out of memory"),
        "{stderr}"
    );
    let cpu_png = dir.path().join("cpu.png");
    assert_ran(&render(&avatar, &cpu_png, "cpu", Gpu::Real));
    assert_same_image(&png, &cpu_png);

    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    assert_ran(&nerf_avatar(&[
        "synth", "--out", data, "--frames", "4", "--size", "32",
    ]));
    let before = std::fs::read(&avatar).unwrap();
    let training = Training {
        lpips: false,
        gpu_mlp: "fp32",
        steps: "2",
        gpu: small_gpu,
    };
    out_of_memory(&train(data, &avatar, "cuda", training));
    assert_eq!(std::fs::read(&avatar).unwrap(), before);
}
