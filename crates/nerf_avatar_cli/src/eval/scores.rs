//! The scores of `eval`: each frame's metrics in the full frame and inside the head, the
//! LPIPS networks, and their mean and standard deviation over the frames.

use anyhow::{Context, ensure};
use nerf_avatar_eval::metrics::image::ImageScores;
use nerf_avatar_eval::metrics::lpips::{Backbone, Lpips};
use nerf_avatar_eval::report::MeanStd;

/// The LPIPS networks, in the order of [`LPIPS_KEYS`].
pub(super) struct LpipsNetworks([Lpips; 2]);

impl LpipsNetworks {
    /// Loads the AlexNet and VGG16 weights from the default folder; the error says how to
    /// get missing weights (for VGG16: run `scripts/setup.sh`) or to skip LPIPS.
    pub(super) fn load() -> anyhow::Result<Self> {
        let load = |backbone| {
            Lpips::load_default(backbone).with_context(|| {
                format!("cannot load the LPIPS {backbone} network (pass --no-lpips to skip LPIPS)")
            })
        };
        Ok(Self([load(Backbone::Alex)?, load(Backbone::Vgg)?]))
    }

    /// Fails when `width × height` images are too small for one of the backbones.
    pub(super) fn check_size(&self, width: usize, height: usize) -> anyhow::Result<()> {
        for network in &self.0 {
            let backbone = network.backbone();
            let min_side = backbone.min_image_side();
            ensure!(
                width >= min_side && height >= min_side,
                "the dataset's {width}×{height} frames are too small for LPIPS {backbone} \
                 (at least {min_side}×{min_side}); pass --no-lpips to skip LPIPS"
            );
        }
        Ok(())
    }

    /// The LPIPS distances between two `width × height` images, one per network.
    pub(super) fn distances(
        &self,
        a: &[[f32; 3]],
        b: &[[f32; 3]],
        width: usize,
        height: usize,
    ) -> anyhow::Result<[f64; 2]> {
        let mut distances = [0.0; 2];
        for (distance, network) in distances.iter_mut().zip(&self.0) {
            let value = network
                .distance(a.as_flattened(), b.as_flattened(), width, height)
                .with_context(|| format!("LPIPS {}", network.backbone()))?;
            *distance = f64::from(value);
        }
        Ok(distances)
    }
}

/// `image` with the pixels outside `mask` replaced by `background`'s.
pub(super) fn outside_mask_replaced(
    image: &[[f32; 3]],
    mask: &[bool],
    background: &[[f32; 3]],
) -> Vec<[f32; 3]> {
    image
        .iter()
        .zip(mask)
        .zip(background)
        .map(|((&pixel, &inside), &behind)| if inside { pixel } else { behind })
        .collect()
}

/// The scores of one frame in one region (the full frame or the head).
pub(super) struct RegionScores {
    pub(super) image: ImageScores,
    /// LPIPS in the order of [`LPIPS_KEYS`]; `None` with `--no-lpips`.
    pub(super) lpips: Option<[f64; 2]>,
}

/// The scores of one frame.
pub(super) struct FrameResult {
    pub(super) index: usize,
    pub(super) source_frame: u64,
    pub(super) full: RegionScores,
    pub(super) head: RegionScores,
}

/// Mean and standard deviation of every metric of one region over the frames.
pub(super) struct RegionSummary {
    /// In the order of [`METRIC_KEYS`].
    pub(super) image: [MeanStd; 4],
    /// In the order of [`LPIPS_KEYS`]; `None` with `--no-lpips`.
    pub(super) lpips: Option<[MeanStd; 2]>,
}

/// Mean and standard deviation of every metric over the frames.
pub(super) struct Summary {
    pub(super) full: RegionSummary,
    pub(super) head: RegionSummary,
}

/// Metric keys in the order of [`RegionSummary::image`] and [`scores_array`].
pub(super) const METRIC_KEYS: [&str; 4] = ["psnr", "mse", "l1", "ssim"];
/// LPIPS keys, in the order of [`LpipsNetworks`] (null with `--no-lpips`).
pub(super) const LPIPS_KEYS: [&str; 2] = ["lpips_alex", "lpips_vgg"];

/// The four image metrics in the order of [`METRIC_KEYS`].
pub(super) fn scores_array(scores: &ImageScores) -> [f64; 4] {
    [scores.psnr, scores.mse, scores.l1, scores.ssim]
}

/// Mean and standard deviation of `values`; NaN when there are none.
pub(super) fn mean_std(values: &[f64]) -> MeanStd {
    MeanStd::of(values).unwrap_or(MeanStd {
        mean: f64::NAN,
        std: f64::NAN,
    })
}

impl RegionSummary {
    pub(super) fn of<'a>(regions: impl Iterator<Item = &'a RegionScores> + Clone) -> Self {
        let image = std::array::from_fn(|k| {
            let values: Vec<f64> = regions.clone().map(|r| scores_array(&r.image)[k]).collect();
            mean_std(&values)
        });
        let lpips = regions
            .map(|r| r.lpips)
            .collect::<Option<Vec<[f64; 2]>>>()
            .map(|lpips| {
                std::array::from_fn(|k| mean_std(&lpips.iter().map(|l| l[k]).collect::<Vec<_>>()))
            });
        Self { image, lpips }
    }
}

impl Summary {
    pub(super) fn of(results: &[FrameResult]) -> Self {
        Self {
            full: RegionSummary::of(results.iter().map(|r| &r.full)),
            head: RegionSummary::of(results.iter().map(|r| &r.head)),
        }
    }
}
