//! The one-euro filter (Casiez, Roussel and Vogel, "1€ Filter: A Simple Speed-based Low-pass
//! Filter for Noisy Input in Interactive Systems", CHI 2012) on each coefficient of a vector of
//! weights: smooth while a weight rests, quick while it moves. Any live source's weights
//! (Live Link Face, a webcam tracker), as `&mut [f32]` with a time in seconds.
//!
//! Each coefficient is a low-pass filter whose cutoff rises with the coefficient's speed:
//! `cutoff = min_cutoff + beta × |speed|`, the speed itself low-passed at
//! `derivative_cutoff`. A cutoff `fc` at a sample interval `dt` blends the new sample in with
//! `alpha = 1 / (1 + 1 / (2π fc dt))`.
//!
//! The parameters, each a trade between jitter and latency:
//! - `min_cutoff` (Hz), the cutoff at rest: lower removes more jitter from a still face and
//!   lags more on slow motion (time constant `1 / (2π min_cutoff)`). Default 1 Hz: a time
//!   constant of 160 ms; at 60 fps a still weight's white noise shrinks about fourfold.
//! - `beta` (s per weight unit), how fast the cutoff rises with speed: higher follows fast
//!   motion (a blink, a jaw drop) with less lag and lets more jitter through while it
//!   moves. Default 1: at 60 fps a blink (0 to 1 in 100 ms) raises the cutoff to about 10 Hz
//!   and ends 0.18 short of closed, 0.02 short 50 ms later; with `beta` 0 it would end 0.72
//!   short.
//! - `derivative_cutoff` (Hz), the cutoff of the speed estimate: higher reacts sooner to the
//!   start of a motion and lets noise raise the cutoff at rest. Default 1 Hz, the paper's.
//!
//! Tune as the paper says: `beta` 0, lower `min_cutoff` until a still face stops shaking,
//! then raise `beta` until fast expressions stop lagging.

use thiserror::Error;

/// The one-euro filter's parameters (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneEuroSettings {
    /// The cutoff at rest, in Hz, above 0.
    pub min_cutoff: f32,
    /// How much the cutoff rises per weight unit per second of speed, 0 or more.
    pub beta: f32,
    /// The cutoff of the speed estimate, in Hz, above 0.
    pub derivative_cutoff: f32,
}

impl Default for OneEuroSettings {
    fn default() -> Self {
        Self {
            min_cutoff: 1.0,
            beta: 1.0,
            derivative_cutoff: 1.0,
        }
    }
}

/// A parameter of [`OneEuroSettings`] out of its range.
#[derive(Clone, Debug, Error, PartialEq)]
#[error("one-euro filter: {parameter} = {value} must be {expected}")]
pub struct FilterSettingsError {
    /// Which parameter.
    pub parameter: &'static str,
    /// Its value.
    pub value: f32,
    /// Its range, in words.
    pub expected: &'static str,
}

/// The one-euro filter on each coefficient of a weight vector.
#[derive(Clone, Debug)]
pub struct OneEuroFilter {
    settings: OneEuroSettings,
    /// Per coefficient, its state once it has had a finite sample.
    coefficients: Vec<Option<Coefficient>>,
}

/// One coefficient's state.
#[derive(Clone, Copy, Debug)]
struct Coefficient {
    /// The filtered value.
    value: f32,
    /// The filtered speed, weight units per second.
    speed: f32,
    /// When the last sample came, seconds.
    time: f64,
}

impl OneEuroFilter {
    /// A filter with no history; checks the settings.
    pub fn new(settings: OneEuroSettings) -> Result<Self, FilterSettingsError> {
        let above_zero = |parameter, value: f32| {
            (value.is_finite() && value > 0.0)
                .then_some(())
                .ok_or(FilterSettingsError {
                    parameter,
                    value,
                    expected: "finite and above 0",
                })
        };
        above_zero("min_cutoff", settings.min_cutoff)?;
        above_zero("derivative_cutoff", settings.derivative_cutoff)?;
        if !(settings.beta.is_finite() && settings.beta >= 0.0) {
            return Err(FilterSettingsError {
                parameter: "beta",
                value: settings.beta,
                expected: "finite and 0 or more",
            });
        }
        Ok(Self {
            settings,
            coefficients: Vec::new(),
        })
    }

    /// The settings.
    pub fn settings(&self) -> OneEuroSettings {
        self.settings
    }

    /// Forgets the history: the next sample passes unchanged.
    pub fn reset(&mut self) {
        self.coefficients.clear();
    }

    /// Filters `weights`, sampled at `time_seconds`, in place.
    ///
    /// A coefficient's first sample passes unchanged, as does each after a change in the
    /// vector's length (the history is dropped) or a time earlier than its last (the source
    /// started over). A sample at the same time as the last gives the last output again. A
    /// weight that is not finite passes unchanged and leaves the coefficient's history as it
    /// was.
    pub fn filter(&mut self, time_seconds: f64, weights: &mut [f32]) {
        if self.coefficients.len() != weights.len() {
            self.coefficients = vec![None; weights.len()];
        }
        for (weight, state) in weights.iter_mut().zip(&mut self.coefficients) {
            if !weight.is_finite() || !time_seconds.is_finite() {
                continue;
            }
            *weight = match state {
                Some(last) if time_seconds == last.time => last.value,
                Some(last) if time_seconds > last.time => {
                    let dt = (time_seconds - last.time) as f32;
                    let speed = (*weight - last.value) / dt;
                    last.speed = blend(
                        last.speed,
                        speed,
                        alpha(self.settings.derivative_cutoff, dt),
                    );
                    let cutoff = self.settings.min_cutoff + self.settings.beta * last.speed.abs();
                    last.value = blend(last.value, *weight, alpha(cutoff, dt));
                    last.time = time_seconds;
                    last.value
                }
                _ => {
                    *state = Some(Coefficient {
                        value: *weight,
                        speed: 0.0,
                        time: time_seconds,
                    });
                    *weight
                }
            };
        }
    }
}

/// How much of a new sample a low-pass filter at `cutoff` Hz takes after `dt` seconds.
fn alpha(cutoff: f32, dt: f32) -> f32 {
    let time_constant = 1.0 / (std::f32::consts::TAU * cutoff);
    1.0 / (1.0 + time_constant / dt)
}

/// `old` moved towards `new` by `alpha`.
fn blend(old: f32, new: f32, alpha: f32) -> f32 {
    old + alpha * (new - old)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPS: f64 = 60.0;

    fn filter() -> OneEuroFilter {
        OneEuroFilter::new(OneEuroSettings::default()).unwrap()
    }

    /// Deterministic noise in ±amplitude.
    fn noise(i: usize, amplitude: f32) -> f32 {
        let x = (i as u32).wrapping_mul(2_654_435_761) >> 8;
        (x as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * amplitude
    }

    #[test]
    fn the_first_sample_passes_and_a_constant_stays() {
        let mut filter = filter();
        let mut weights = [0.3, 0.0, 1.0];
        filter.filter(0.0, &mut weights);
        assert_eq!(weights, [0.3, 0.0, 1.0]);
        for i in 1..100 {
            let mut weights = [0.3, 0.0, 1.0];
            filter.filter(i as f64 / FPS, &mut weights);
            assert_eq!(weights, [0.3, 0.0, 1.0]);
        }
    }

    #[test]
    fn jitter_at_rest_is_cut() {
        let mut filter = filter();
        let (mut raw_spread, mut filtered_spread) = (0.0f32, 0.0f32);
        for i in 0..600 {
            let raw = 0.5 + noise(i, 0.02);
            let mut weights = [raw];
            filter.filter(i as f64 / FPS, &mut weights);
            if i >= 60 {
                raw_spread = raw_spread.max((raw - 0.5).abs());
                filtered_spread = filtered_spread.max((weights[0] - 0.5).abs());
            }
        }
        assert!(
            filtered_spread < raw_spread / 2.0,
            "{filtered_spread} against {raw_spread}"
        );
    }

    #[test]
    fn fast_motion_lags_less_with_beta() {
        // A blink: 0 to 1 in 100 ms. How far behind is the weight after 100 ms?
        let lag = |beta: f32| {
            let mut filter = OneEuroFilter::new(OneEuroSettings {
                beta,
                ..OneEuroSettings::default()
            })
            .unwrap();
            let mut last = 0.0;
            for i in 0..=6 {
                let mut weights = [(i as f32 / 6.0).min(1.0)];
                filter.filter(i as f64 / FPS, &mut weights);
                last = weights[0];
            }
            1.0 - last
        };
        let (without, with) = (lag(0.0), lag(OneEuroSettings::default().beta));
        assert!(
            with < without * 0.7,
            "lag {with} with beta, {without} without"
        );
        assert!(with < 0.5, "lag {with}");
    }

    #[test]
    fn time_going_back_restarts_and_repeats_repeat() {
        let mut filter = filter();
        filter.filter(1.0, &mut [0.0]);
        let mut moved = [1.0];
        filter.filter(1.0 + 1.0 / FPS, &mut moved);
        assert!(moved[0] > 0.0 && moved[0] < 1.0);
        let mut repeat = [0.7];
        filter.filter(1.0 + 1.0 / FPS, &mut repeat);
        assert_eq!(repeat, moved);
        let mut restart = [0.9];
        filter.filter(0.0, &mut restart);
        assert_eq!(restart, [0.9]);
    }

    #[test]
    fn non_finite_weights_pass_without_poisoning_the_history() {
        let mut filter = filter();
        filter.filter(0.0, &mut [0.5, 0.5]);
        let mut weights = [f32::NAN, 0.5];
        filter.filter(1.0 / FPS, &mut weights);
        assert!(weights[0].is_nan());
        let mut weights = [0.5, 0.5];
        filter.filter(2.0 / FPS, &mut weights);
        assert_eq!(weights, [0.5, 0.5]);
    }

    #[test]
    fn a_new_length_drops_the_history() {
        let mut filter = filter();
        filter.filter(0.0, &mut [0.0, 0.0]);
        let mut weights = [1.0, 1.0, 1.0];
        filter.filter(1.0 / FPS, &mut weights);
        assert_eq!(weights, [1.0, 1.0, 1.0]);
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        for (settings, parameter) in [
            (
                OneEuroSettings {
                    min_cutoff: 0.0,
                    ..OneEuroSettings::default()
                },
                "min_cutoff",
            ),
            (
                OneEuroSettings {
                    beta: -1.0,
                    ..OneEuroSettings::default()
                },
                "beta",
            ),
            (
                OneEuroSettings {
                    derivative_cutoff: f32::NAN,
                    ..OneEuroSettings::default()
                },
                "derivative_cutoff",
            ),
        ] {
            assert_eq!(
                OneEuroFilter::new(settings).unwrap_err().parameter,
                parameter
            );
        }
    }
}
