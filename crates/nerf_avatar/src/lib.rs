//! `nerf_avatar`: the engine-agnostic core of the NeRFBlendShape head avatar.
//!
//! A frame is rendered as `I = R(C, h0 + Σ_i w_i h_i)` (docs/METHOD.md): the neutral hash table
//! and one table per named blendshape are blended with the frame's coefficients
//! ([`hashgrid::blend_tables`]), points are encoded with the blended multiresolution hash
//! grid ([`hashgrid`]), a density MLP and a colour MLP ([`mlp`], [`field`]) give density and
//! colour, and rays are marched through an expression-aware occupancy grid ([`occupancy`])
//! and composited ([`render`]). This crate is the model: its configuration and parameter
//! layout, the CPU reference renderer (plain f32 code, generic over [`real::Real`] so that it
//! can be checked in f64) and its backward pass, the avatar asset format, expressions,
//! blendshape names, clips and retargeting. It has no GPU, plotting or engine dependency:
//! the WGSL renderer (`nerf_avatar_wgpu`), the CUDA backend (`nerf_avatar_cuda`), training
//! (`nerf_avatar_train`), datasets (`nerf_avatar_data`) and evaluation (`nerf_avatar_eval`)
//! build on it.

pub mod asset;
pub mod blendshapes;
pub mod camera;
pub mod clip;
pub mod composite;
pub mod config;
pub mod expression;
pub mod field;
pub mod hashgrid;
pub mod march;
pub mod mlp;
pub mod occupancy;
pub mod params;
pub mod pixels;
pub mod portrait;
pub mod real;
pub mod render;
pub mod renderer;
pub mod retarget;
pub mod scene;
pub mod sh;

pub use asset::Avatar;
pub use camera::{Intrinsics, Pose, Ray};
pub use config::{HeadBox, ModelConfig};
pub use params::{ParamLayout, Params};
