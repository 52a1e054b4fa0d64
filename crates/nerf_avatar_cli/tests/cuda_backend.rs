//! The CLI's CUDA backend: `train --backend cuda` tracks `--backend cpu` (from the same seed:
//! same initialisation, frames, rays and jitters, the GPU run's loss curve follows the CPU's,
//! and its avatar records the backend), and `render --backend cuda` gives the CPU's image.
//! Without a GPU, `--backend cuda` is a clear error and `auto` says why it uses the CPU; the
//! GPU comparisons then skip with a printed reason, unless `NERF_AVATAR_REQUIRE_GPU=1` (then
//! that fails).

use std::path::Path;
use std::process::Output;

use nerf_avatar::Avatar;

mod common;
use common::nerf_avatar;

/// Whether `output` failed because there is no usable GPU (and the test may skip).
fn no_gpu(output: &Output) -> bool {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let required = std::env::var("NERF_AVATAR_REQUIRE_GPU").is_ok_and(|v| v == "1");
    let reason = stderr.contains("no NVIDIA driver") || stderr.contains("no CUDA device");
    if !output.status.success() && reason && !required {
        assert!(
            stderr.contains("--backend cuda") && !stderr.contains("panicked"),
            "{stderr}"
        );
        eprintln!("skipped: no usable GPU ({})", stderr.trim());
        return true;
    }
    false
}

#[test]
fn gpu_render_gives_the_cpus_image() {
    let dir = tempfile::tempdir().unwrap();
    let avatar = dir.path().join("a.avatar.safetensors");
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
    let render = |backend: &str, out: &Path| {
        nerf_avatar(&[
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
        ])
    };
    let (gpu_png, cpu_png) = (dir.path().join("gpu.png"), dir.path().join("cpu.png"));
    let auto = render("auto", &gpu_png);
    let auto_stderr = String::from_utf8_lossy(&auto.stderr);
    assert!(
        auto.status.success() && auto_stderr.contains("backend: "),
        "{auto_stderr}"
    );
    let gpu = render("cuda", &gpu_png);
    if no_gpu(&gpu) {
        assert!(
            auto_stderr.contains("backend: cpu (--backend auto"),
            "{auto_stderr}"
        );
        return;
    }
    assert!(
        gpu.status.success(),
        "{}",
        String::from_utf8_lossy(&gpu.stderr)
    );
    let cpu = render("cpu", &cpu_png);
    assert!(
        cpu.status.success(),
        "{}",
        String::from_utf8_lossy(&cpu.stderr)
    );
    let (a, b) = (
        image::open(&gpu_png).unwrap().to_rgb8(),
        image::open(&cpu_png).unwrap().to_rgb8(),
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

/// Trains 40 steps of `data` on `backend`; `lpips`: with the patch LPIPS of the last stage;
/// `gpu_mlp`: the CUDA backend's MLP precision.
fn train(data: &str, out: &Path, backend: &str, lpips: bool, gpu_mlp: &str) -> Output {
    let mut args = vec![
        "train",
        data,
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "40",
        "--rays",
        "256",
        "--occupancy-resolution",
        "16",
        "--checkpoint-every",
        "1000",
        "--backend",
        backend,
        "--gpu-mlp",
        gpu_mlp,
    ];
    if !lpips {
        args.push("--no-lpips");
    }
    nerf_avatar(&args)
}

#[test]
fn gpu_training_tracks_the_cpu() {
    check_gpu_training_tracks_the_cpu(false, "fp32");
}

/// The MLPs' products on the tensor cores (f16 inputs, fp32 sums, loss-scaled gradients).
#[test]
fn gpu_training_with_half_precision_mlps_tracks_the_cpu() {
    check_gpu_training_tracks_the_cpu(false, "fp16");
}

/// The last third of the steps adds LPIPS (VGG) on 32×32 patches: on the GPU, every layer
/// on the device (`cuda::lpips`).
#[test]
fn gpu_training_with_lpips_tracks_the_cpu() {
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/lpips/vgg.safetensors");
    if !weights.is_file() && std::env::var_os("NERF_AVATAR_LPIPS_DIR").is_none() {
        eprintln!(
            "skipped: no LPIPS VGG weights at {} (scripts/setup.sh makes them)",
            weights.display()
        );
        return;
    }
    check_gpu_training_tracks_the_cpu(true, "fp32");
}

fn check_gpu_training_tracks_the_cpu(lpips: bool, gpu_mlp: &str) {
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
    let gpu = train(data, &gpu_out, "cuda", lpips, gpu_mlp);
    if no_gpu(&gpu) {
        return;
    }
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    if !gpu.status.success() && stderr.contains("need the tensor cores") {
        eprintln!("skipped: {stderr}");
        return;
    }
    assert!(
        gpu.status.success(),
        "{}",
        String::from_utf8_lossy(&gpu.stderr)
    );
    let cpu_out = dir.path().join("cpu.avatar.safetensors");
    let cpu = train(data, &cpu_out, "cpu", lpips, "fp32");
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
    assert_eq!(gpu_summary.steps, Some(40));
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
