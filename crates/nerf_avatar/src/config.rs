//! The model's configuration: hash grid, blendshape names, MLP shapes, head box and ray
//! marching constants, with the presets `paper`, `fast` and `tiny`.
//!
//! One `ModelConfig` is the single source of truth for the parameter layout that the CPU
//! backend (and later the CUDA kernels and WGSL shaders) read.

use serde::{Deserialize, Serialize};

use crate::blendshapes::ARKIT_BLENDSHAPES;

/// The multiresolution hash grid shared by the neutral table and every blendshape table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HashGridConfig {
    /// Number of resolution levels, L.
    pub levels: u32,
    /// log2 of the entries of a hashed level, log2(T).
    pub log2_table_size: u32,
    /// Features stored per entry, F.
    pub features_per_level: u32,
    /// Resolution of the coarsest level.
    pub base_resolution: u32,
    /// Resolution of the finest level.
    pub finest_resolution: u32,
}

/// A bias-free MLP with ReLU hidden layers (tiny-cuda-nn's fully fused network).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Width of every hidden layer.
    pub hidden_width: u32,
    /// Number of hidden layers; the network has `hidden_layers + 1` weight matrices.
    pub hidden_layers: u32,
}

/// The axis-aligned cube around the head, in the dataset's head coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadBox {
    /// Centre of the cube.
    pub center: [f32; 3],
    /// Half of the cube's edge length ("bound").
    pub half_extent: f32,
}

/// Everything that fixes the model's parameters and how it is rendered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The hash grid of every table.
    pub grid: HashGridConfig,
    /// The K blendshape names, in the order of the tables h_1..h_K and of the coefficients.
    pub blendshapes: Vec<String>,
    /// Density network: L·F inputs → hidden layers → 1 density + `geometry_features`.
    pub density_mlp: MlpConfig,
    /// Size of the geometry feature passed from the density to the colour network.
    pub geometry_features: u32,
    /// Colour network: 16 SH + geometry features → hidden layers → RGB.
    pub color_mlp: MlpConfig,
    /// The cube that the hash grid and the occupancy grid cover.
    pub head_box: HeadBox,
    /// Edge length of the occupancy grid in cells (128 in the paper).
    pub occupancy_resolution: u32,
    /// Closest distance from the camera that is sampled.
    pub near_distance: f32,
}

/// Names of the presets accepted by [`ModelConfig::preset`].
pub const PRESET_NAMES: [&str; 3] = ["paper", "fast", "tiny"];

/// Largest accepted values, so that a hostile file cannot ask for huge allocations.
pub mod limits {
    /// Most hash grid levels.
    pub const MAX_LEVELS: u32 = 32;
    /// Largest log2 table size.
    pub const MAX_LOG2_TABLE_SIZE: u32 = 24;
    /// Most features per entry.
    pub const MAX_FEATURES_PER_LEVEL: u32 = 8;
    /// Largest grid resolution.
    pub const MAX_RESOLUTION: u32 = 1 << 16;
    /// Most blendshapes.
    pub const MAX_BLENDSHAPES: usize = 256;
    /// Widest MLP layer.
    pub const MAX_MLP_WIDTH: u32 = 512;
    /// Most hidden layers.
    pub const MAX_MLP_LAYERS: u32 = 16;
    /// Largest occupancy grid edge.
    pub const MAX_OCCUPANCY_RESOLUTION: u32 = 512;
    /// Most parameters of a whole model.
    pub const MAX_PARAMETERS: usize = 1 << 30;
}

/// A configuration that cannot describe a model.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// No preset with that name.
    #[error("unknown preset `{0}` (expected one of paper, fast, tiny)")]
    UnknownPreset(String),
    /// A field is out of its range.
    #[error("config field `{field}` is {value}, outside {range}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// The accepted range.
        range: &'static str,
    },
    /// Two blendshapes share a name, or a name is empty.
    #[error("blendshape name `{0}` is empty or repeated")]
    BadBlendshapeName(String),
}

impl ModelConfig {
    /// The paper's numbers (docs/METHOD.md §1): L = 16, T = 2^14, F = 4, 16 → 1024,
    /// density 64 → 4 × 64 → 1 + 64, colour 80 → 64 → 3, the 51 ARKit blendshapes.
    pub fn paper() -> Self {
        Self {
            grid: HashGridConfig {
                levels: 16,
                log2_table_size: 14,
                features_per_level: 4,
                base_resolution: 16,
                finest_resolution: 1024,
            },
            blendshapes: arkit_names(),
            density_mlp: MlpConfig {
                hidden_width: 64,
                hidden_layers: 4,
            },
            geometry_features: 64,
            color_mlp: MlpConfig {
                hidden_width: 64,
                hidden_layers: 1,
            },
            head_box: HeadBox::default(),
            occupancy_resolution: 128,
            near_distance: 0.05,
        }
    }

    /// Smaller tables and networks that train in a few minutes on a GPU.
    pub fn fast() -> Self {
        Self {
            grid: HashGridConfig {
                levels: 16,
                log2_table_size: 13,
                features_per_level: 2,
                base_resolution: 16,
                finest_resolution: 1024,
            },
            density_mlp: MlpConfig {
                hidden_width: 64,
                hidden_layers: 2,
            },
            geometry_features: 15,
            ..Self::paper()
        }
    }

    /// Small enough to train on the CPU in minutes: 12 levels of 2^14 entries × 2 features
    /// (16 → 512), 32-wide MLPs with one hidden layer, a 64³ occupancy grid.
    pub fn tiny() -> Self {
        Self {
            grid: HashGridConfig {
                levels: 12,
                log2_table_size: 14,
                features_per_level: 2,
                base_resolution: 16,
                finest_resolution: 512,
            },
            density_mlp: MlpConfig {
                hidden_width: 32,
                hidden_layers: 1,
            },
            geometry_features: 15,
            color_mlp: MlpConfig {
                hidden_width: 32,
                hidden_layers: 1,
            },
            occupancy_resolution: 64,
            ..Self::paper()
        }
    }

    /// A preset by name: `paper`, `fast` or `tiny`.
    pub fn preset(name: &str) -> Result<Self, ConfigError> {
        match name {
            "paper" => Ok(Self::paper()),
            "fast" => Ok(Self::fast()),
            "tiny" => Ok(Self::tiny()),
            other => Err(ConfigError::UnknownPreset(other.to_owned())),
        }
    }

    /// The preset whose hash grid, networks, occupancy grid and near distance this
    /// configuration has, whatever its blendshapes and head box (which a dataset sets).
    pub fn preset_name(&self) -> Option<&'static str> {
        PRESET_NAMES.into_iter().find(|name| {
            let preset = Self {
                blendshapes: self.blendshapes.clone(),
                head_box: self.head_box,
                ..Self::preset(name).expect("a preset name")
            };
            preset == *self
        })
    }

    /// The same configuration with other blendshape names.
    pub fn with_blendshapes(mut self, names: Vec<String>) -> Self {
        self.blendshapes = names;
        self
    }

    /// K, the number of blendshape tables (the neutral table h0 comes on top).
    pub fn blendshape_count(&self) -> usize {
        self.blendshapes.len()
    }

    /// Input width of the density MLP: L·F.
    pub fn encoding_width(&self) -> usize {
        (self.grid.levels * self.grid.features_per_level) as usize
    }

    /// Output width of the density MLP: 1 density + the geometry features.
    pub fn density_output_width(&self) -> usize {
        1 + self.geometry_features as usize
    }

    /// Input width of the colour MLP: 16 SH values + the geometry features.
    pub fn color_input_width(&self) -> usize {
        crate::sh::SH_COEFFICIENTS + self.geometry_features as usize
    }

    /// Checks every field against its range; a loaded file must pass this before any
    /// allocation is sized from it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        use limits::*;
        let g = &self.grid;
        check("grid.levels", g.levels, 1, MAX_LEVELS)?;
        check(
            "grid.log2_table_size",
            g.log2_table_size,
            4,
            MAX_LOG2_TABLE_SIZE,
        )?;
        check(
            "grid.features_per_level",
            g.features_per_level,
            1,
            MAX_FEATURES_PER_LEVEL,
        )?;
        check("grid.base_resolution", g.base_resolution, 2, MAX_RESOLUTION)?;
        check(
            "grid.finest_resolution",
            g.finest_resolution,
            g.base_resolution,
            MAX_RESOLUTION,
        )?;
        check(
            "blendshapes",
            self.blendshapes.len() as u32,
            0,
            MAX_BLENDSHAPES as u32,
        )?;
        let mut seen = std::collections::HashSet::new();
        for name in &self.blendshapes {
            if name.is_empty() || !seen.insert(name.as_str()) {
                return Err(ConfigError::BadBlendshapeName(name.clone()));
            }
        }
        for (field, mlp) in [
            ("density_mlp", &self.density_mlp),
            ("color_mlp", &self.color_mlp),
        ] {
            check(field, mlp.hidden_width, 1, MAX_MLP_WIDTH)?;
            check(field, mlp.hidden_layers, 1, MAX_MLP_LAYERS)?;
        }
        check(
            "geometry_features",
            self.geometry_features,
            0,
            MAX_MLP_WIDTH,
        )?;
        check(
            "occupancy_resolution",
            self.occupancy_resolution,
            1,
            MAX_OCCUPANCY_RESOLUTION,
        )?;
        let half = self.head_box.half_extent;
        if !(half.is_finite() && half > 0.0) || self.head_box.center.iter().any(|c| !c.is_finite())
        {
            return Err(ConfigError::OutOfRange {
                field: "head_box",
                value: format!("{:?}", self.head_box),
                range: "finite centre and half_extent > 0",
            });
        }
        if !(self.near_distance.is_finite() && self.near_distance >= 0.0) {
            return Err(ConfigError::OutOfRange {
                field: "near_distance",
                value: self.near_distance.to_string(),
                range: "finite and >= 0",
            });
        }
        let params = crate::params::ParamLayout::new(self).total();
        if params > MAX_PARAMETERS {
            return Err(ConfigError::OutOfRange {
                field: "parameter count",
                value: params.to_string(),
                range: "at most 2^30",
            });
        }
        Ok(())
    }
}

impl Default for HeadBox {
    /// A 0.32 m cube centred on the head: the project's datasets use metres.
    fn default() -> Self {
        Self {
            center: [0.0; 3],
            half_extent: 0.16,
        }
    }
}

fn check(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value: value.to_string(),
            range: "its documented limits (see config::limits)",
        })
    }
}

fn arkit_names() -> Vec<String> {
    ARKIT_BLENDSHAPES.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for name in PRESET_NAMES {
            ModelConfig::preset(name).unwrap().validate().unwrap();
        }
    }

    #[test]
    fn a_presets_name_survives_a_datasets_blendshapes_and_head_box_but_not_other_changes() {
        for name in PRESET_NAMES {
            let mut config = ModelConfig::preset(name)
                .unwrap()
                .with_blendshapes(vec!["jawOpen".into()]);
            config.head_box.half_extent *= 1.5;
            assert_eq!(config.preset_name(), Some(name));
            config.occupancy_resolution /= 2;
            assert_eq!(config.preset_name(), None);
        }
        assert!(ModelConfig::preset("huge").is_err());
    }

    #[test]
    fn paper_preset_has_the_papers_widths() {
        let c = ModelConfig::paper();
        assert_eq!(c.encoding_width(), 64);
        assert_eq!(c.density_output_width(), 65);
        assert_eq!(c.color_input_width(), 80);
        assert_eq!(c.blendshape_count(), 51);
    }

    #[test]
    fn hostile_values_are_rejected() {
        let mut c = ModelConfig::tiny();
        c.grid.log2_table_size = 40;
        assert!(c.validate().is_err());
        let mut c = ModelConfig::tiny();
        c.blendshapes = vec!["a".into(), "a".into()];
        assert!(c.validate().is_err());
        let mut c = ModelConfig::tiny();
        c.head_box.half_extent = f32::NAN;
        assert!(c.validate().is_err());
    }
}
