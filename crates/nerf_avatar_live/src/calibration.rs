//! Neutral calibration: a performer's face at rest is rarely all zeros (a slight smile, brows
//! up, eyes narrowed). [`NeutralCapture`] averages some frames of the rest face;
//! [`NeutralCalibration`] then maps each weight `w` with rest value `r` to
//! `clamp((w - r) / (1 - r), 0, 1)`, so that the rest face drives the avatar's neutral and a
//! weight at 1 stays 1. Any live source's weights, as `&[f32]`.

use thiserror::Error;

/// Below this headroom `1 - rest` a coefficient cannot move past its rest value: it maps to
/// 0 instead of dividing by almost nothing.
pub const MIN_HEADROOM: f32 = 1e-3;

/// What went wrong capturing or applying a calibration.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum CalibrationError {
    /// A weight vector of another length than the calibration's.
    #[error("{found} weights, the calibration has {expected}")]
    LengthMismatch {
        /// The calibration's length.
        expected: usize,
        /// The vector's length.
        found: usize,
    },
    /// A captured rest weight that is NaN or infinite.
    #[error("rest weight {index} is not finite: {value}")]
    NonFinite {
        /// Its index.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// A capture finished before any frame.
    #[error("no rest frames were captured")]
    NoFrames,
}

/// Averages the rest face over the frames given to it.
#[derive(Clone, Debug, PartialEq)]
pub struct NeutralCapture {
    sums: Vec<f64>,
    frames: usize,
}

impl NeutralCapture {
    /// A capture of `len` coefficients, no frames yet.
    pub fn new(len: usize) -> Self {
        Self {
            sums: vec![0.0; len],
            frames: 0,
        }
    }

    /// Adds one frame of the rest face. A frame of another length, or with a weight that is
    /// not finite, is refused and leaves the capture as it was.
    pub fn add(&mut self, weights: &[f32]) -> Result<(), CalibrationError> {
        check_length(self.sums.len(), weights)?;
        if let Some((index, &value)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite()) {
            return Err(CalibrationError::NonFinite { index, value });
        }
        for (sum, &weight) in self.sums.iter_mut().zip(weights) {
            *sum += f64::from(weight);
        }
        self.frames += 1;
        Ok(())
    }

    /// How many frames were added.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The calibration from the mean of the frames added.
    pub fn finish(&self) -> Result<NeutralCalibration, CalibrationError> {
        if self.frames == 0 {
            return Err(CalibrationError::NoFrames);
        }
        let frames = self.frames as f64;
        Ok(NeutralCalibration {
            rest: self.sums.iter().map(|sum| (sum / frames) as f32).collect(),
        })
    }
}

/// Maps a performer's rest face to the avatar's neutral.
#[derive(Clone, Debug, PartialEq)]
pub struct NeutralCalibration {
    rest: Vec<f32>,
}

impl NeutralCalibration {
    /// A calibration from known rest weights (a saved one). Each must be finite.
    pub fn from_rest(rest: Vec<f32>) -> Result<Self, CalibrationError> {
        if let Some((index, &value)) = rest.iter().enumerate().find(|(_, w)| !w.is_finite()) {
            return Err(CalibrationError::NonFinite { index, value });
        }
        Ok(Self { rest })
    }

    /// The rest weights.
    pub fn rest(&self) -> &[f32] {
        &self.rest
    }

    /// Maps `weights` in place: `clamp((w - rest) / (1 - rest), 0, 1)`; 0 where the rest
    /// value leaves less than [`MIN_HEADROOM`] (the coefficient is at its rest) and where a
    /// weight is not finite.
    pub fn apply(&self, weights: &mut [f32]) -> Result<(), CalibrationError> {
        check_length(self.rest.len(), weights)?;
        for (weight, &rest) in weights.iter_mut().zip(&self.rest) {
            let headroom = 1.0 - rest;
            *weight = if headroom < MIN_HEADROOM || !weight.is_finite() {
                0.0
            } else {
                ((*weight - rest) / headroom).clamp(0.0, 1.0)
            };
        }
        Ok(())
    }
}

fn check_length(expected: usize, weights: &[f32]) -> Result<(), CalibrationError> {
    if weights.len() == expected {
        Ok(())
    } else {
        Err(CalibrationError::LengthMismatch {
            expected,
            found: weights.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_face_is_the_mean_of_the_frames() {
        let mut capture = NeutralCapture::new(2);
        capture.add(&[0.1, 0.0]).unwrap();
        capture.add(&[0.3, 0.5]).unwrap();
        assert_eq!(capture.frames(), 2);
        assert_eq!(capture.finish().unwrap().rest(), &[0.2, 0.25]);
    }

    #[test]
    fn rest_maps_to_neutral_and_full_stays_full() {
        let calibration = NeutralCalibration::from_rest(vec![0.2, 0.0, 0.5]).unwrap();
        let mut rest = [0.2, 0.0, 0.5];
        calibration.apply(&mut rest).unwrap();
        assert_eq!(rest, [0.0, 0.0, 0.0]);
        let mut full = [1.0, 1.0, 1.0];
        calibration.apply(&mut full).unwrap();
        assert_eq!(full, [1.0, 1.0, 1.0]);
        let mut between = [0.6, 0.25, 0.1];
        calibration.apply(&mut between).unwrap();
        assert!((between[0] - 0.5).abs() < 1e-6, "{between:?}");
        assert_eq!(between[1], 0.25);
        assert_eq!(between[2], 0.0, "below rest clamps to 0");
    }

    #[test]
    fn a_rest_at_one_maps_to_neutral_without_dividing_by_zero() {
        let calibration = NeutralCalibration::from_rest(vec![1.0, 0.9995, 1.2]).unwrap();
        let mut weights = [1.0, 1.0, 1.3];
        calibration.apply(&mut weights).unwrap();
        assert_eq!(weights, [0.0, 0.0, 0.0]);
        // Just above the threshold the division is still bounded by the clamp.
        let calibration = NeutralCalibration::from_rest(vec![0.998]).unwrap();
        let mut weights = [0.999];
        calibration.apply(&mut weights).unwrap();
        assert!((weights[0] - 0.5).abs() < 1e-3, "{weights:?}");
    }

    #[test]
    fn faults_are_refused() {
        let mut capture = NeutralCapture::new(2);
        assert_eq!(capture.finish(), Err(CalibrationError::NoFrames));
        assert_eq!(
            capture.add(&[0.0]),
            Err(CalibrationError::LengthMismatch {
                expected: 2,
                found: 1
            })
        );
        assert!(matches!(
            capture.add(&[0.0, f32::INFINITY]),
            Err(CalibrationError::NonFinite { index: 1, .. })
        ));
        assert_eq!(capture.frames(), 0);
        let calibration = NeutralCalibration::from_rest(vec![0.0]).unwrap();
        assert!(calibration.apply(&mut [0.0, 0.0]).is_err());
        let mut weights = [f32::NAN];
        calibration.apply(&mut weights).unwrap();
        assert_eq!(weights, [0.0]);
        assert!(NeutralCalibration::from_rest(vec![f32::NAN]).is_err());
    }
}
