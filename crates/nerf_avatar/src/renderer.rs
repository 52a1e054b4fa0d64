//! One interface for every renderer of an avatar ([`Renderer`]): a [`FrameRequest`] in, a
//! [`RenderedImage`] out (colour over the background, the head's opacity and its depth, per
//! pixel). The CPU reference ([`CpuRenderer`], here), the WGSL renderer (`nerf_avatar_wgpu`)
//! and the CUDA renderer (`nerf_avatar_cuda`) implement it, each holding one avatar; the
//! command line renders through it and the Bevy plugin's worker thread owns one per avatar.

use std::sync::Arc;

use crate::asset::Avatar;
use crate::camera::{Intrinsics, Pose};
use crate::field::Model;
use crate::render::{Background, RenderedImage, render_image};

/// How far a request's pose may be from a rigid transform.
const RIGID_TOLERANCE: f32 = 1e-3;

/// What one frame shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameRequest<'a> {
    /// One coefficient per blendshape of the avatar, already clamped to its range.
    pub weights: &'a [f32],
    /// The camera.
    pub intrinsics: Intrinsics,
    /// Camera-to-head pose.
    pub pose: Pose,
    /// What is behind the head.
    pub background: Background<'a>,
}

impl FrameRequest<'_> {
    /// Checks the request against an avatar with `blendshapes` controls: the number of
    /// weights, finite weights and background, a valid camera, a rigid pose, a background
    /// image of the frame's size.
    pub fn check(&self, blendshapes: usize) -> Result<(), RenderError> {
        let bad = |reason: String| Err(RenderError::BadRequest(reason));
        if self.weights.len() != blendshapes {
            return bad(format!(
                "{} expression weights for an avatar with {blendshapes} blendshapes",
                self.weights.len()
            ));
        }
        if self.weights.iter().any(|w| !w.is_finite()) {
            return bad("an expression weight is not finite".into());
        }
        if !self.pose.is_rigid(RIGID_TOLERANCE) {
            return bad("the pose is not a rigid transform".into());
        }
        if !self.intrinsics.is_valid() {
            return bad(format!("the camera is not valid: {:?}", self.intrinsics));
        }
        let pixels = self.intrinsics.width as usize * self.intrinsics.height as usize;
        let finite = |colour: &[f32; 3]| colour.iter().all(|c| c.is_finite());
        match self.background {
            Background::Solid(colour) if !finite(&colour) => {
                bad("the background colour is not finite".into())
            }
            Background::Image(image) if image.len() != pixels => bad(format!(
                "a background image of {} pixels for a frame of {pixels}",
                image.len()
            )),
            Background::Image(image) if !image.iter().all(finite) => {
                bad("a background pixel is not finite".into())
            }
            _ => Ok(()),
        }
    }
}

/// Why a frame could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The request does not fit the avatar (see [`FrameRequest::check`]).
    #[error("bad frame request: {0}")]
    BadRequest(String),
    /// The backend failed (the GPU, say).
    #[error("the {backend} renderer failed: {error}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// What went wrong.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A renderer of one avatar.
pub trait Renderer: Send {
    /// The backend's name, for logs: `cpu`, `cuda` or `wgpu`.
    fn backend(&self) -> &'static str;

    /// Renders one frame.
    fn render(&mut self, request: &FrameRequest<'_>) -> Result<RenderedImage, RenderError>;
}

/// The CPU reference renderer ([`render_image`]) of one avatar.
pub struct CpuRenderer {
    model: Model,
    avatar: Arc<Avatar>,
}

impl CpuRenderer {
    /// The renderer of `avatar`.
    pub fn new(avatar: Arc<Avatar>) -> Self {
        Self {
            model: Model::new(&avatar.config),
            avatar,
        }
    }
}

impl Renderer for CpuRenderer {
    fn backend(&self) -> &'static str {
        "cpu"
    }

    fn render(&mut self, request: &FrameRequest<'_>) -> Result<RenderedImage, RenderError> {
        request.check(self.avatar.blendshapes().len())?;
        Ok(render_image(
            &self.model,
            &self.avatar.params,
            request.weights,
            &self.avatar.occupancy,
            &request.intrinsics,
            &request.pose,
            request.background,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    fn avatar() -> Arc<Avatar> {
        let config = ModelConfig::tiny().with_blendshapes(vec!["jawOpen".into()]);
        Arc::new(Avatar::new(config, 1).unwrap())
    }

    fn request<'a>(weights: &'a [f32], background: Background<'a>) -> FrameRequest<'a> {
        FrameRequest {
            weights,
            intrinsics: Intrinsics::from_fov(6, 4, 30.0),
            pose: Pose::orbit([0.0; 3], 0.6, 10.0, 0.0),
            background,
        }
    }

    #[test]
    fn the_cpu_renderer_gives_render_image() {
        let avatar = avatar();
        let mut renderer = CpuRenderer::new(Arc::clone(&avatar));
        let request = request(&[0.5], Background::Solid([1.0, 0.0, 0.5]));
        let image = renderer.render(&request).unwrap();
        let expected = render_image(
            &Model::new(&avatar.config),
            &avatar.params,
            &[0.5],
            &avatar.occupancy,
            &request.intrinsics,
            &request.pose,
            request.background,
        );
        assert_eq!(image, expected);
        assert_eq!(renderer.backend(), "cpu");
    }

    #[test]
    fn requests_that_do_not_fit_the_avatar_are_refused() {
        let mut renderer = CpuRenderer::new(avatar());
        let solid = Background::Solid([0.0; 3]);
        let small = [[0.0; 3]; 3];
        let mut stretched = Pose::orbit([0.0; 3], 0.6, 10.0, 0.0);
        stretched.0[0][0] *= 2.0;
        let bad = [
            request(&[], solid),
            request(&[f32::NAN], solid),
            request(&[0.5], Background::Solid([f32::INFINITY, 0.0, 0.0])),
            request(&[0.5], Background::Image(&small)),
            FrameRequest {
                pose: stretched,
                ..request(&[0.5], solid)
            },
            FrameRequest {
                intrinsics: Intrinsics::from_fov(0, 4, 30.0),
                ..request(&[0.5], solid)
            },
        ];
        for request in bad {
            assert!(
                matches!(renderer.render(&request), Err(RenderError::BadRequest(_))),
                "{request:?} was rendered"
            );
        }
    }
}
