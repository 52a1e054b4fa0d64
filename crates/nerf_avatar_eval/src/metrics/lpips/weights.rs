//! Loading LPIPS v0.1 weights from safetensors (as written by
//! `tools/convert_lpips_weights.py`), checking every tensor's name, dtype and shape against
//! the backbone's architecture.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::network::{Conv, Network, Step, steps};
use super::{Backbone, LpipsError};

/// Reads and validates the weights of `backbone` from `path`.
pub(super) fn load_network(backbone: Backbone, path: &Path) -> Result<Network, LpipsError> {
    let bytes = std::fs::read(path).map_err(|error| LpipsError::Read {
        path: path.to_owned(),
        error,
    })?;
    let mut tensors =
        candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|error| {
            LpipsError::Format {
                path: path.to_owned(),
                error,
            }
        })?;
    let mut take = |name: String, shape: &[usize]| take_tensor(&mut tensors, path, name, shape);

    let mut convs = Vec::new();
    let mut head_channels = Vec::new();
    let mut last_channels = 0;
    for step in steps(backbone) {
        match *step {
            Step::ConvRelu {
                in_channels,
                out_channels,
                kernel,
                ..
            } => {
                let index = convs.len();
                let weight = take(
                    format!("backbone.conv{index}.weight"),
                    &[out_channels, in_channels, kernel, kernel],
                )?;
                let bias = take(format!("backbone.conv{index}.bias"), &[out_channels])?
                    .reshape((1, out_channels, 1, 1))?;
                convs.push(Conv {
                    kernel: weight,
                    bias,
                });
                last_channels = out_channels;
            }
            Step::Tap => head_channels.push(last_channels),
            Step::MaxPool { .. } => {}
        }
    }
    let heads = head_channels
        .iter()
        .enumerate()
        .map(|(layer, &channels)| take(format!("head{layer}.weight"), &[1, channels, 1, 1]))
        .collect::<Result<Vec<_>, _>>()?;

    if let Some(name) = tensors.keys().min() {
        return Err(LpipsError::UnexpectedTensor {
            path: path.to_owned(),
            name: name.clone(),
            backbone,
        });
    }
    Ok(Network {
        backbone,
        convs,
        heads,
    })
}

/// Removes tensor `name` from `tensors`, checking that it is f32 with the expected shape.
fn take_tensor(
    tensors: &mut HashMap<String, Tensor>,
    path: &Path,
    name: String,
    expected_shape: &[usize],
) -> Result<Tensor, LpipsError> {
    let Some(tensor) = tensors.remove(&name) else {
        return Err(LpipsError::MissingTensor {
            path: path.to_owned(),
            name,
        });
    };
    if tensor.dtype() != DType::F32 {
        return Err(LpipsError::TensorDtype {
            path: path.to_owned(),
            name,
            found: tensor.dtype(),
        });
    }
    if tensor.dims() != expected_shape {
        return Err(LpipsError::TensorShape {
            path: path.to_owned(),
            name,
            found: tensor.dims().to_vec(),
            expected: expected_shape.to_vec(),
        });
    }
    Ok(tensor)
}
