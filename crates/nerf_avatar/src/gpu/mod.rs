//! The GPU renderer: WGSL compute shaders on wgpu, for any GPU that Vulkan, Metal, DX12 (or
//! a software rasteriser such as lavapipe) drives, on the caller's device.
//!
//! A frame is rendered in one compute pass: `blend_tables` (shaders/blend.wgsl) makes the
//! frame's table `h0 + Σ w_i h_i`, then `render_image` (shaders/render.wgsl on
//! shaders/field.wgsl) marches one ray per pixel through the occupancy grid with the CPU's
//! step rule and early termination, evaluates the hash encoding, both MLPs and SH at every
//! sample and composites over the background. Every shader function mirrors the CPU function
//! of the same name, on the same flat parameter layout ([`crate::params`]); the conformance
//! tests compare them stage by stage and image by image.
//!
//! Use: [`GpuRenderer::new`] once per device, [`GpuAvatar::upload`] once per avatar,
//! [`GpuFrame::new`] once per instance and target (a buffer it owns, or the caller's
//! storage texture), then [`GpuRenderer::encode_frame`] every frame with the expression and
//! camera; or [`GpuRenderer::render_image`] to get the pixels on the host. [`GpuDevice`]
//! opens a device of its own for the command line and tests.

mod avatar;
mod bindings;
mod device;
mod error;
mod frame;
mod layout;
mod probe;
mod readback;
mod renderer;

pub use avatar::GpuAvatar;
pub use device::GpuDevice;
pub use error::GpuError;
pub use frame::{FrameRequest, FrameTarget, GpuFrame, PIXEL_BYTES};
pub use layout::MAX_WIDTH;
pub use probe::GpuProbe;
pub use renderer::GpuRenderer;
/// The wgpu this renderer is built on (the version Bevy 0.19 uses).
pub use wgpu;
