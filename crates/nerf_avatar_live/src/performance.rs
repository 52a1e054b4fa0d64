//! A Live Link Face performance as a driver takes it ([`LiveLinkPerformance`]): the newest
//! packet from a [`LiveLinkReceiver`], each taken once, either into the performer's rest face
//! while a calibration runs or, through that calibration and the one-euro filter, as the
//! weights and head rotation to show. The command line and the Bevy plugin both drive
//! avatars through it.

use std::net::SocketAddr;
use std::time::Instant;

use crate::calibration::{CalibrationError, NeutralCalibration, NeutralCapture};
use crate::filter::OneEuroFilter;
use crate::livelink::{BLENDSHAPE_COUNT, Rotation};
use crate::receiver::{LiveLinkReceiver, ReceiverStats};

/// What the newest packet became.
#[derive(Clone, Copy, Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per packet, returned by value and matched at once"
)]
pub enum PerformanceStep {
    /// A frame of the performer's rest face, taken by the calibration.
    Rest,
    /// Weights and head rotation to show.
    Frame {
        /// The 52 ARKit weights in Live Link order, calibrated and filtered.
        weights: [f32; BLENDSHAPE_COUNT],
        /// The performer's head rotation.
        head: Rotation,
    },
}

/// Where the performer's rest face stands.
enum Calibration {
    /// Weights pass as they come.
    Off,
    /// The next `frames` packets are averaged into the rest face.
    Capturing {
        capture: NeutralCapture,
        frames: usize,
    },
    /// The rest face maps to the avatar's neutral.
    Calibrated(NeutralCalibration),
}

/// A receiver's packets made into a performance.
pub struct LiveLinkPerformance {
    receiver: LiveLinkReceiver,
    filter: OneEuroFilter,
    calibration: Calibration,
    started: Instant,
    last_sequence: Option<u64>,
}

impl LiveLinkPerformance {
    /// The performance of `receiver`'s packets, smoothed by `filter`, uncalibrated.
    pub fn new(receiver: LiveLinkReceiver, filter: OneEuroFilter) -> Self {
        Self {
            receiver,
            filter,
            calibration: Calibration::Off,
            started: Instant::now(),
            last_sequence: None,
        }
    }

    /// Takes the next `frames` packets (at least 1) as the performer's rest face, which then
    /// maps to the avatar's neutral.
    pub fn calibrate(&mut self, frames: usize) {
        self.calibration = Calibration::Capturing {
            capture: NeutralCapture::new(BLENDSHAPE_COUNT),
            frames: frames.max(1),
        };
    }

    /// Whether a calibration is taking packets.
    pub fn is_calibrating(&self) -> bool {
        matches!(self.calibration, Calibration::Capturing { .. })
    }

    /// The address the receiver listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.receiver.local_addr()
    }

    /// The receiver's counts of packets taken and dropped.
    pub fn stats(&self) -> ReceiverStats {
        self.receiver.stats()
    }

    /// The newest packet if one came since the last call (never waits), as a rest frame or
    /// a frame to show. A calibration that fails (a weight vector it cannot take) is an
    /// error, and the calibration is off after it.
    pub fn take_newest(&mut self) -> Result<Option<PerformanceStep>, CalibrationError> {
        let Some(frame) = self
            .receiver
            .latest()
            .filter(|frame| Some(frame.sequence) != self.last_sequence)
        else {
            return Ok(None);
        };
        self.last_sequence = Some(frame.sequence);
        let mut weights = frame.packet.blendshapes;
        match self.take_into_calibration(&mut weights) {
            Ok(true) => return Ok(Some(PerformanceStep::Rest)),
            Ok(false) => {}
            Err(error) => {
                self.calibration = Calibration::Off;
                return Err(error);
            }
        }
        let time = frame.received_at.duration_since(self.started).as_secs_f64();
        self.filter.filter(time, &mut weights);
        Ok(Some(PerformanceStep::Frame {
            weights,
            head: frame.packet.pose.head,
        }))
    }

    /// Takes `weights` into the rest face (returning `true`) while capturing, or maps them
    /// through the calibration once there is one.
    fn take_into_calibration(&mut self, weights: &mut [f32]) -> Result<bool, CalibrationError> {
        match &mut self.calibration {
            Calibration::Off => Ok(false),
            Calibration::Capturing { capture, frames } => {
                capture.add(weights)?;
                if capture.frames() >= *frames {
                    self.calibration = Calibration::Calibrated(capture.finish()?);
                }
                Ok(true)
            }
            Calibration::Calibrated(calibration) => {
                calibration.apply(weights)?;
                Ok(false)
            }
        }
    }
}
