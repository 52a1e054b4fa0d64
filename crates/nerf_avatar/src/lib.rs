//! `nerf_avatar`: the engine-agnostic core of the NeRFBlendShape head avatar.
//!
//! A frame is rendered as `I = R(C, h0 + Σ_i w_i h_i)` (METHOD.md): the neutral hash table
//! and one table per named blendshape are blended with the frame's coefficients
//! ([`hashgrid::blend_tables`]), points are encoded with the blended multiresolution hash
//! grid ([`hashgrid`]), a density MLP and a colour MLP ([`mlp`], [`field`]) give density and
//! colour, and rays are marched through an expression-aware occupancy grid ([`occupancy`])
//! and composited ([`render`]). This crate holds the CPU reference backend (plain f32 code,
//! generic over [`real::Real`] so that it can be checked in f64), the avatar asset format and
//! the synthetic talking head used by tests and demos. With the `gpu` feature, `gpu` renders
//! avatars with WGSL compute shaders on wgpu.

pub mod asset;
pub mod bench;
pub mod blendshapes;
pub mod camera;
pub mod clip;
pub mod composite;
pub mod config;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod dataset;
pub mod expression;
pub mod f16_pairs;
pub mod field;
pub mod frames;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod hashgrid;
pub mod march;
pub mod metrics;
pub mod mlp;
pub mod occupancy;
pub mod params;
pub mod pixels;
pub mod portrait;
pub mod real;
pub mod render;
pub mod report;
pub mod retarget;
pub mod sh;
pub mod synthetic;
pub mod tiles;
pub mod train;

pub use asset::Avatar;
pub use camera::{Intrinsics, Pose, Ray};
pub use config::{HeadBox, ModelConfig};
pub use params::{ParamLayout, Params};
