//! The `NerfAvatar` component: which avatar an entity shows and how it is rendered. The
//! entity's `Transform` places the head (head coordinates: metres, +y up, +z out of the face)
//! in the world; its `Expression` gives the blendshape weights.

use bevy::asset::Handle;
use bevy::camera::visibility::Visibility;
use bevy::ecs::prelude::*;
use bevy::transform::components::Transform;

use crate::asset::NerfAvatarAsset;
use crate::expression::Expression;

/// Which renderer produces an avatar's frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BackendPreference {
    /// The fastest renderer for the machine: the CUDA renderer on a worker thread where a
    /// CUDA device works (feature `cuda`), else the WGSL pass in the render world on a
    /// hardware GPU that can run it, else the CPU renderer on a worker thread (on a software
    /// rasteriser such as lavapipe the CPU renderer is the faster one).
    #[default]
    Auto,
    /// The core crate's CPU renderer on a worker thread.
    Cpu,
    /// The CUDA renderer on a worker thread (NVIDIA GPUs, feature `cuda`); the CPU renderer
    /// where no CUDA device works.
    Cuda,
    /// The WGSL pass in the render world on any adapter that can run it, software
    /// rasterisers included; the CPU renderer where it cannot.
    Wgpu,
}

impl std::str::FromStr for BackendPreference {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "wgpu" => Ok(Self::Wgpu),
            _ => Err(format!(
                "unknown avatar backend `{name}` (expected auto, cpu, cuda or wgpu)"
            )),
        }
    }
}

/// How much work a frame gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Quality {
    /// Half the resolution (a quarter of the rays), magnified by the texture sampler.
    Draft,
    /// The full resolution.
    #[default]
    Full,
}

/// How an avatar is rendered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RenderSettings {
    /// Edge of the square frame in pixels at [`Quality::Full`].
    pub resolution: u32,
    /// Which renderer to use.
    pub backend: BackendPreference,
    /// How much work a frame gets.
    pub quality: Quality,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            resolution: 192,
            backend: BackendPreference::Auto,
            quality: Quality::Full,
        }
    }
}

impl RenderSettings {
    /// Edge of the square frame in pixels (at least 8).
    pub fn frame_size(&self) -> u32 {
        let size = match self.quality {
            Quality::Draft => self.resolution / 2,
            Quality::Full => self.resolution,
        };
        size.max(8)
    }
}

/// A NeRF head avatar in the scene.
#[derive(Component, Clone, Debug, Default)]
#[require(Transform, Visibility, Expression)]
pub struct NerfAvatar {
    /// The avatar file, loaded by the asset server.
    pub avatar: Handle<NerfAvatarAsset>,
    /// How it is rendered.
    pub settings: RenderSettings,
}

impl NerfAvatar {
    /// An avatar with the default render settings.
    pub fn new(avatar: Handle<NerfAvatarAsset>) -> Self {
        Self {
            avatar,
            settings: RenderSettings::default(),
        }
    }

    /// The same avatar with other render settings.
    pub fn with_settings(mut self, settings: RenderSettings) -> Self {
        self.settings = settings;
        self
    }
}
