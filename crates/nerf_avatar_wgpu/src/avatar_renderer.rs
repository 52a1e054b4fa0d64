//! One avatar on a wgpu device as a [`Renderer`]: the frames come back to the host. The WGSL
//! renderer composites over one colour; an image background is added on the host over the
//! frame rendered on black, where the colour is premultiplied by the opacity.

use std::sync::Arc;

use nerf_avatar::asset::Avatar;
use nerf_avatar::render::{Background, RenderedImage};
use nerf_avatar::renderer::{FrameRequest, RenderError, Renderer};

use super::{WgpuAvatar, WgpuDevice, WgpuError, WgpuRenderer};

/// An avatar uploaded to a wgpu device with the pipelines that render it.
pub struct WgpuAvatarRenderer {
    device: Arc<WgpuDevice>,
    renderer: WgpuRenderer,
    avatar: WgpuAvatar,
    blendshapes: usize,
}

impl WgpuAvatarRenderer {
    /// Builds the pipelines on `device` and uploads `avatar`.
    pub fn new(device: Arc<WgpuDevice>, avatar: &Avatar) -> Result<Self, WgpuError> {
        let renderer = WgpuRenderer::new(&device.device)?;
        let uploaded = renderer.upload(&device.device, avatar)?;
        Ok(Self {
            device,
            renderer,
            avatar: uploaded,
            blendshapes: avatar.blendshapes().len(),
        })
    }
}

impl Renderer for WgpuAvatarRenderer {
    fn backend(&self) -> &'static str {
        "wgpu"
    }

    fn render(&mut self, request: &FrameRequest<'_>) -> Result<RenderedImage, RenderError> {
        request.check(self.blendshapes)?;
        let on_the_device = FrameRequest {
            background: match request.background {
                Background::Solid(colour) => Background::Solid(colour),
                Background::Image(_) => Background::Solid([0.0; 3]),
            },
            ..*request
        };
        let mut image = self
            .renderer
            .render_image(
                &self.device.device,
                &self.device.queue,
                &self.avatar,
                &on_the_device,
            )
            .map_err(|error| RenderError::Backend {
                backend: "wgpu",
                error: Box::new(error),
            })?;
        if let Background::Image(behind) = request.background {
            for ((rgb, alpha), behind) in image.rgb.iter_mut().zip(&image.alpha).zip(behind) {
                for (c, b) in rgb.iter_mut().zip(behind) {
                    *c += (1.0 - alpha) * b;
                }
            }
        }
        Ok(image)
    }
}
