//! `nerf-avatar eval`: renders the frames of a dataset split with an avatar and compares
//! them with the ground truth.
//!
//! Every frame is rendered with the dataset's camera and pose, the frame's expression
//! (mapped to the avatar's blendshapes by name, then clamped to the avatar's training
//! range) and the dataset's background image behind the head. PSNR, MSE, L1 and SSIM
//! (`nerf_avatar_eval::metrics::image`) are computed on the full frame and inside the frame's
//! head mask (mask value ≥ 128). LPIPS v0.1 with the AlexNet and VGG16 backbones
//! (`nerf_avatar_eval::metrics::lpips`) is computed on the full frame and, for the head, on both
//! images with the pixels outside the head mask replaced by the dataset's background (a
//! perceptual network needs whole images, not a set of pixels); `--no-lpips` skips it and
//! leaves its keys `null`. With `--report DIR` the command writes `metrics.json`,
//! `comparison.png`, `training_curve.png` (when the avatar records a curve) and
//! `report.md`.

mod report;
mod scores;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nerf_avatar::Avatar;
use nerf_avatar::blendshapes::{BlendshapeMap, names_at};
use nerf_avatar::render::Background;
use nerf_avatar::renderer::{FrameRequest, Renderer};
use nerf_avatar_data::{Dataset, DatasetFrame, Split};
use nerf_avatar_eval::metrics::image::{ImageRef, ImageScores};
use nerf_avatar_eval::report::{ComparisonGrid, write_training_curve};

use crate::backend::{Backend, choose_renderer, open_renderer};
use report::{markdown_report, metrics_json, print_summary};
use scores::{FrameResult, LpipsNetworks, RegionScores, Summary, outside_mask_replaced};

/// Frames shown in the comparison grid (the first ones evaluated).
const GRID_ROWS: usize = 8;
/// Mask values at or above this count as head.
const HEAD_MASK_THRESHOLD: u8 = 128;
/// File names inside the report folder.
const METRICS_FILE: &str = "metrics.json";
const GRID_FILE: &str = "comparison.png";
const CURVE_FILE: &str = "training_curve.png";
const REPORT_FILE: &str = "report.md";

/// Which frames of the dataset to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitChoice {
    /// The held-out frames.
    Test,
    /// The training frames.
    Train,
    /// Every frame.
    All,
}

impl SplitChoice {
    fn includes(self, split: Split) -> bool {
        match self {
            SplitChoice::Test => split == Split::Test,
            SplitChoice::Train => split == Split::Train,
            SplitChoice::All => true,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SplitChoice::Test => "test",
            SplitChoice::Train => "train",
            SplitChoice::All => "all",
        }
    }
}

/// Arguments of `nerf-avatar eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// The avatar file.
    avatar: PathBuf,
    /// The dataset folder.
    dataset: PathBuf,
    /// Which frames to evaluate.
    #[arg(long, value_enum, default_value_t = SplitChoice::Test)]
    split: SplitChoice,
    /// Folder for metrics.json, comparison.png, training_curve.png and report.md (created
    /// if missing).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Evaluate at most N frames of the split, evenly spaced.
    #[arg(long, value_name = "N")]
    frames: Option<usize>,
    /// Skip LPIPS (its values are then null). LPIPS (AlexNet and VGG16) needs the VGG
    /// weights that `scripts/setup.sh` fetches; head LPIPS compares both images with the
    /// pixels outside the head mask replaced by the dataset's background.
    #[arg(long)]
    no_lpips: bool,
    /// Compute backend of the rendering.
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
}

/// How the dataset's coefficients feed the avatar's blendshapes, and the names either side
/// lacks (for the warnings and the report).
#[derive(Debug, PartialEq)]
struct ExpressionMap {
    /// The dataset's names matched with the avatar's.
    names: BlendshapeMap,
    /// Avatar blendshapes the dataset lacks (kept at 0, the neutral face).
    missing: Vec<String>,
    /// Dataset coefficients the avatar lacks (ignored).
    extra: Vec<String>,
}

impl ExpressionMap {
    /// Matches the names; fails when the avatar has blendshapes and none is in the dataset.
    fn new(avatar: &[String], dataset: &[String]) -> anyhow::Result<Self> {
        let names = BlendshapeMap::new(dataset, avatar);
        if names.is_disjoint() {
            bail!(
                "none of the avatar's blendshapes ({}) is in the dataset ({})",
                avatar.join(", "),
                dataset.join(", ")
            );
        }
        Ok(Self {
            missing: names_at(avatar, names.missing()),
            extra: names_at(dataset, names.unused().iter().copied()),
            names,
        })
    }

    /// The avatar's coefficients for a dataset expression.
    fn weights(&self, expression: &[f32]) -> Vec<f32> {
        self.names.apply(expression, 0.0)
    }
}

impl ExpressionMap {
    /// Warns about the names either side lacks.
    fn warn(&self) {
        if !self.missing.is_empty() {
            eprintln!(
                "warning: the dataset has no coefficients for {} of the avatar's blendshapes \
                 (kept at 0): {}",
                self.missing.len(),
                self.missing.join(", ")
            );
        }
        if !self.extra.is_empty() {
            eprintln!(
                "warning: ignoring {} dataset coefficients the avatar does not have: {}",
                self.extra.len(),
                self.extra.join(", ")
            );
        }
    }
}

/// What every frame is scored with.
struct Evaluation {
    avatar: Arc<Avatar>,
    dataset: Dataset,
    map: ExpressionMap,
    /// The LPIPS networks; `None` with `--no-lpips`.
    lpips: Option<LpipsNetworks>,
    /// The dataset's background image, behind every render.
    background: Vec<[f32; 3]>,
}

/// Evaluates the avatar on the dataset and writes the report.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let lpips = if args.no_lpips {
        None
    } else {
        Some(LpipsNetworks::load()?)
    };
    let avatar = Avatar::read(&args.avatar)
        .map(Arc::new)
        .with_context(|| format!("cannot read the avatar {}", args.avatar.display()))?;
    let dataset = Dataset::load(&args.dataset)
        .with_context(|| format!("cannot load the dataset {}", args.dataset.display()))?;
    let map = ExpressionMap::new(avatar.blendshapes(), &dataset.transforms.blendshapes)?;
    map.warn();
    let frames = select_frames(&dataset.transforms.frames, args.split, args.frames)?;
    let intrinsics = dataset.transforms.intrinsics();
    let (width, height) = (intrinsics.width as usize, intrinsics.height as usize);
    if let Some(networks) = &lpips {
        networks.check_size(width, height)?;
    }
    let background = to_pixels(&dataset.read_background()?);
    let evaluation = Evaluation {
        avatar,
        dataset,
        map,
        lpips,
        background,
    };
    let backend = choose_renderer(args.backend)?;
    let mut renderer = open_renderer(&backend, &evaluation.avatar, args.backend)?;
    let mut grid = ComparisonGrid::new(width, height, GRID_ROWS.min(frames.len()));
    let progress = ProgressBar::new(frames.len() as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} frames, {eta} left")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    progress.set_message("evaluating");
    let mut results = Vec::with_capacity(frames.len());
    for &index in &frames {
        results.push(evaluation.score_frame(index, &mut *renderer, &mut grid)?);
        progress.inc(1);
    }
    progress.finish_and_clear();

    let summary = Summary::of(&results);
    print_summary(&summary, results.len(), args.split);
    if let Some(folder) = &args.report {
        evaluation.write_report(folder, &args, &summary, &results, grid)?;
        println!("report written to {}", folder.display());
    }
    Ok(())
}

impl Evaluation {
    /// Renders frame `index` of the dataset with `renderer`, scores it against the ground
    /// truth and adds it to `grid` (while the grid has room).
    fn score_frame(
        &self,
        index: usize,
        renderer: &mut dyn Renderer,
        grid: &mut ComparisonGrid,
    ) -> anyhow::Result<FrameResult> {
        let dataset = &self.dataset;
        let frame = &dataset.transforms.frames[index];
        let intrinsics = dataset.transforms.intrinsics();
        let (width, height) = (intrinsics.width as usize, intrinsics.height as usize);
        let truth = to_pixels(&dataset.read_image(index)?);
        let mask: Vec<bool> = dataset
            .read_mask(index)?
            .pixels()
            .map(|p| p.0[0] >= HEAD_MASK_THRESHOLD)
            .collect();
        let mut weights = self.map.weights(&frame.expression);
        self.avatar.clamp_expression(&mut weights);
        let rendered = renderer
            .render(&FrameRequest {
                weights: &weights,
                intrinsics,
                pose: frame.pose(),
                background: Background::Image(&self.background),
            })
            .with_context(|| format!("frame {index}"))?;
        let (full_lpips, head_lpips) = match &self.lpips {
            Some(networks) => {
                let full = networks
                    .distances(&truth, &rendered.rgb, width, height)
                    .with_context(|| format!("frame {index}"))?;
                let head = networks
                    .distances(
                        &outside_mask_replaced(&truth, &mask, &self.background),
                        &outside_mask_replaced(&rendered.rgb, &mask, &self.background),
                        width,
                        height,
                    )
                    .with_context(|| format!("frame {index}: head metrics"))?;
                (Some(full), Some(head))
            }
            None => (None, None),
        };
        let truth = ImageRef::new(&truth, width, height)?;
        let render = ImageRef::new(&rendered.rgb, width, height)?;
        let full = ImageScores::full(truth, render).with_context(|| format!("frame {index}"))?;
        let head = ImageScores::masked(truth, render, &mask)
            .with_context(|| format!("frame {index}: head metrics"))?;
        grid.push_row(truth, render)?;
        Ok(FrameResult {
            index,
            source_frame: frame.source_frame,
            full: RegionScores {
                image: full,
                lpips: full_lpips,
            },
            head: RegionScores {
                image: head,
                lpips: head_lpips,
            },
        })
    }

    /// Writes `metrics.json`, the comparison grid, the training curve (when the avatar
    /// records one) and `report.md` into `folder`.
    fn write_report(
        &self,
        folder: &Path,
        args: &EvalArgs,
        summary: &Summary,
        results: &[FrameResult],
        grid: ComparisonGrid,
    ) -> anyhow::Result<()> {
        fs::create_dir_all(folder)
            .with_context(|| format!("cannot create the report folder {}", folder.display()))?;
        let metrics = metrics_json(args, summary, results, &self.map);
        let metrics_file = folder.join(METRICS_FILE);
        let text = serde_json::to_string_pretty(&metrics)? + "\n";
        fs::write(&metrics_file, text)
            .with_context(|| format!("cannot write {}", metrics_file.display()))?;
        grid.write(&folder.join(GRID_FILE))?;
        let curve = self
            .avatar
            .training
            .as_ref()
            .map(|t| t.curve.as_slice())
            .unwrap_or_default();
        let has_curve = !curve.is_empty();
        if has_curve {
            write_training_curve(curve, &folder.join(CURVE_FILE))?;
        }
        markdown_report(
            args,
            &self.avatar,
            &self.dataset,
            summary,
            &self.map,
            results.len(),
            has_curve,
        )
        .write(&folder.join(REPORT_FILE))?;
        Ok(())
    }
}

/// The indices of the frames to evaluate: the split's, thinned to `limit` evenly spaced.
fn select_frames(
    frames: &[DatasetFrame],
    split: SplitChoice,
    limit: Option<usize>,
) -> anyhow::Result<Vec<usize>> {
    let chosen: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| split.includes(f.split))
        .map(|(i, _)| i)
        .collect();
    ensure!(
        !chosen.is_empty(),
        "the dataset has no frames in the `{}` split",
        split.name()
    );
    Ok(match limit {
        Some(0) => bail!("--frames must be at least 1"),
        Some(n) if n < chosen.len() => (0..n).map(|k| chosen[k * chosen.len() / n]).collect(),
        _ => chosen,
    })
}

/// The 8-bit image as colours in [0, 1].
fn to_pixels(image: &image::RgbImage) -> Vec<[f32; 3]> {
    image
        .pixels()
        .map(|p| p.0.map(|v| f32::from(v) / 255.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn expressions_map_by_name() {
        let map = ExpressionMap::new(&names(&["a", "b", "c"]), &names(&["c", "x", "a"])).unwrap();
        assert_eq!(map.missing, names(&["b"]));
        assert_eq!(map.extra, names(&["x"]));
        assert_eq!(map.weights(&[0.3, 0.9, 0.1]), [0.1, 0.0, 0.3]);
        let error = ExpressionMap::new(&names(&["a"]), &names(&["b"])).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("none of the avatar's blendshapes")
        );
    }

    fn frame(split: Split) -> DatasetFrame {
        DatasetFrame {
            source_frame: 0,
            image: String::new(),
            mask: String::new(),
            transform_matrix: [[0.0; 4]; 4],
            expression: Vec::new(),
            split,
            face_box: [0.0; 4],
            mouth_box: [0.0; 4],
        }
    }

    #[test]
    fn frames_are_chosen_by_split_and_thinned_evenly() {
        let frames: Vec<DatasetFrame> = (0..10)
            .map(|i| {
                frame(if i % 2 == 0 {
                    Split::Test
                } else {
                    Split::Train
                })
            })
            .collect();
        let pick = |split, limit| select_frames(&frames, split, limit).unwrap();
        assert_eq!(pick(SplitChoice::Test, None), [0, 2, 4, 6, 8]);
        assert_eq!(pick(SplitChoice::Train, Some(2)), [1, 5]);
        assert_eq!(pick(SplitChoice::All, Some(20)).len(), 10);
        assert!(select_frames(&frames, SplitChoice::All, Some(0)).is_err());
        let training_only = vec![frame(Split::Train)];
        assert!(select_frames(&training_only, SplitChoice::Test, None).is_err());
    }
}
