//! `nerf_avatar_wgpu`: the WGSL renderer, compute shaders on wgpu, for any GPU that Vulkan, Metal, DX12 (or
//! a software rasteriser such as lavapipe) drives, on the caller's device.
//!
//! A frame is rendered in one compute pass: `blend_tables` (shaders/blend.wgsl, after
//! table_f32.wgsl or table_f16.wgsl) makes the frame's table `h0 + Σ w_i h_i`, then `begin_rays`
//! (shaders/render.wgsl), rounds of `march_rays` (shaders/march.wgsl) and `finish_rays`
//! march one ray per pixel through the occupancy grid with the CPU's step rule and early
//! termination, evaluate the hash encoding, both MLPs and SH at every sample and composite
//! over the background. The hash encoding and the MLPs are WGSL generated for each avatar's
//! shape (`field_source`): every level's constants written in and the MLPs as straight-line
//! code, so that activations stay in registers and every lane reads the same weight (a
//! uniform buffer where the weights fit one); each avatar compiles its own marching pipeline
//! at upload. Every shader function mirrors the CPU function of the same name, on the same
//! parameter layout ([`nerf_avatar::params`], MLP rows padded to groups of four); the conformance
//! tests compare them stage by stage and image by image.
//!
//! Storage precision ([`StoragePrecision`]): by default the K + 1 expression tables, the
//! frame's blended table and the MLP weights are stored as f16, two to a `u32` word, read
//! with WGSL's core `unpack2x16float` (no `SHADER_F16` feature needed, so every adapter,
//! lavapipe included, takes this path) and computed in f32; an avatar with a parameter
//! beyond f16's range stays in f32, and [`WgpuRenderer::upload_with_precision`] forces either.
//! f16 halves the avatar's memory and the bytes each frame's blend and samples read; against
//! the CPU reference both precisions are held to PSNR ≥ 40 dB (tests/wgpu_conformance.rs).
//!
//! Use: [`WgpuRenderer::new`] once per device, [`WgpuAvatar::upload`] once per avatar,
//! [`WgpuFrame::new`] once per instance and target (a buffer it owns, or the caller's
//! storage texture), then [`WgpuRenderer::encode_frame`] every frame with the expression and
//! camera (a [`nerf_avatar::renderer::FrameRequest`] with a solid background); or
//! [`WgpuRenderer::render_image`] to get the pixels on the host. [`WgpuAvatarRenderer`] is
//! one avatar as a [`nerf_avatar::renderer::Renderer`], the interface every backend shares;
//! [`WgpuDevice`] opens a device of its own for the command line and tests.

mod avatar;
mod avatar_renderer;
mod bindings;
mod device;
mod error;
mod field_source;
mod frame;
mod layout;
mod precision;
#[cfg(feature = "probe")]
mod probe;
mod readback;
mod renderer;

pub use avatar::WgpuAvatar;
pub use avatar_renderer::WgpuAvatarRenderer;
pub use device::WgpuDevice;
pub use error::WgpuError;
pub use frame::{BufferOutput, DEPTH_BYTES, FrameTarget, PIXEL_BYTES, WgpuFrame};
pub use layout::MAX_WIDTH;
pub use precision::StoragePrecision;
#[cfg(feature = "probe")]
pub use probe::WgpuProbe;
pub use renderer::WgpuRenderer;
/// The wgpu this renderer is built on (the version Bevy 0.19 uses).
pub use wgpu;
