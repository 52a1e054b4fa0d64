//! The synthetic talking-head video: smooth camera-to-head poses and speech-like expression
//! curves at [`FRAME_RATE`], seeded and deterministic, with a held-out test split of
//! expression combinations that training never shows.
//!
//! The held-out rule: in training frames browInnerUp and a mouth control (jawOpen or a
//! smile) are never both above [`TRAIN_LIMIT`] ([`allowed_in_training`]); every test frame
//! has browInnerUp above 0.5 together with jawOpen above 0.4 or a smile above 0.5
//! ([`is_held_out_combination`]). The last tenth of the frames (at least one) are the test
//! split.
//!
//! So that the test split holds unseen *combinations* of familiar values rather than values
//! beyond training, the video also has listening pauses: every few seconds the mouth rests
//! while the brows rise to 0.6–0.9 (`listening_pauses`), so every control reaches its
//! test-split values in training on its own.

use std::f32::consts::PI;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::face::CONTROL_NAMES;
use crate::Split;
use nerf_avatar::camera::Pose;

/// Frames per second of the video.
pub const FRAME_RATE: f32 = 25.0;
/// In training frames, browInnerUp and the mouth controls are never both above this.
pub const TRAIN_LIMIT: f32 = 0.3;
/// Distance of the camera from the head centre, in metres (jittered by a few cm).
pub const CAMERA_DISTANCE: f32 = 0.9;

const JAW: usize = 0;
const BLINK_LEFT: usize = 1;
const BLINK_RIGHT: usize = 2;
const SMILE_LEFT: usize = 3;
const SMILE_RIGHT: usize = 4;
const BROW: usize = 5;
const PUCKER: usize = 6;

/// One frame of the video.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoFrame {
    /// Camera-to-head pose.
    pub pose: Pose,
    /// Expression in [`super::SyntheticHead::CONTROLS`] order.
    pub expression: Vec<f32>,
    /// Which split the frame belongs to.
    pub split: Split,
}

/// Number of test frames at the end of a video of `frame_count` frames.
pub fn test_frame_count(frame_count: usize) -> usize {
    if frame_count == 0 {
        0
    } else {
        frame_count.div_ceil(10)
    }
}

fn brow_and_mouth_above(expression: &[f32], brow: f32, jaw: f32, smile: f32) -> bool {
    let get = |i: usize| expression.get(i).copied().unwrap_or(0.0);
    get(BROW) > brow && (get(JAW) > jaw || get(SMILE_LEFT) > smile || get(SMILE_RIGHT) > smile)
}

/// Whether an expression may appear in training: browInnerUp and a mouth control are not
/// both above [`TRAIN_LIMIT`].
pub fn allowed_in_training(expression: &[f32]) -> bool {
    !brow_and_mouth_above(expression, TRAIN_LIMIT, TRAIN_LIMIT, TRAIN_LIMIT)
}

/// Whether an expression is one of the held-out combinations every test frame shows:
/// browInnerUp > 0.5 with jawOpen > 0.4 or a smile > 0.5.
pub fn is_held_out_combination(expression: &[f32]) -> bool {
    brow_and_mouth_above(expression, 0.5, 0.4, 0.5)
}

/// A smooth signal in [−1, 1]: three sinusoids with random frequencies and phases.
struct Wander {
    terms: [(f32, f32, f32); 3],
}

impl Wander {
    fn new(rng: &mut Pcg64, min_hz: f32, max_hz: f32) -> Self {
        let weights = [0.5, 0.3, 0.2];
        Self {
            terms: weights.map(|w| {
                (
                    w,
                    rng.random_range(min_hz..max_hz),
                    rng.random_range(0.0..2.0 * PI),
                )
            }),
        }
    }

    fn at(&self, time: f32) -> f32 {
        self.terms.iter().fold(0.0, |sum, (w, hz, phase)| {
            sum + w * (2.0 * PI * hz * time + phase).sin()
        })
    }
}

/// A bump of height `amplitude` from `start` lasting `duration` seconds (sin² profile).
#[derive(Clone, Copy)]
struct Bump {
    start: f32,
    duration: f32,
    amplitude: f32,
}

impl Bump {
    fn at(&self, time: f32) -> f32 {
        let x = (time - self.start) / self.duration;
        if (0.0..=1.0).contains(&x) {
            self.amplitude * (PI * x).sin().powi(2)
        } else {
            0.0
        }
    }
}

/// Bumps spaced by `gap` seconds (random in the range) over `length` seconds.
fn bumps(
    rng: &mut Pcg64,
    length: f32,
    gap: (f32, f32),
    duration: (f32, f32),
    amplitude: (f32, f32),
) -> Vec<Bump> {
    let mut out = Vec::new();
    let mut time = rng.random_range(0.3..gap.1);
    while time < length {
        let bump = Bump {
            start: time,
            duration: rng.random_range(duration.0..duration.1),
            amplitude: rng.random_range(amplitude.0..amplitude.1),
        };
        out.push(bump);
        time += bump.duration + rng.random_range(gap.0..gap.1);
    }
    out
}

/// Speech: bursts of 1–3 s made of 3–5 Hz syllables, separated by 0.3–1.5 s pauses.
fn syllables(rng: &mut Pcg64, length: f32) -> Vec<Bump> {
    let mut out = Vec::new();
    let mut time = rng.random_range(0.0..0.5);
    while time < length {
        let burst_end = time + rng.random_range(1.0..3.0);
        while time < burst_end {
            let duration = 1.0 / rng.random_range(3.0..5.0);
            out.push(Bump {
                start: time,
                duration,
                amplitude: rng.random_range(0.2..0.85),
            });
            time += duration;
        }
        time += rng.random_range(0.3..1.5);
    }
    out
}

/// Blinks of 150 ms every 2–5 s; one in seven closes one eye only.
fn blinks(rng: &mut Pcg64, length: f32) -> Vec<(Bump, [bool; 2])> {
    let mut out = Vec::new();
    let mut time = rng.random_range(0.5..3.0);
    while time < length {
        let eyes = match rng.random_range(0..14) {
            0 => [true, false],
            1 => [false, true],
            _ => [true, true],
        };
        let bump = Bump {
            start: time,
            duration: 0.15,
            amplitude: 1.0,
        };
        out.push((bump, eyes));
        time += rng.random_range(2.0..5.0);
    }
    out
}

/// A pause of `duration` seconds from `start` at full strength in its middle, easing in and
/// out over its first and last fifth (smoothstep).
#[derive(Clone, Copy)]
struct Pause {
    start: f32,
    duration: f32,
    brow: f32,
}

impl Pause {
    fn strength(&self, time: f32) -> f32 {
        let x = (time - self.start) / self.duration;
        if !(0.0..=1.0).contains(&x) {
            return 0.0;
        }
        let ramp = (x.min(1.0 - x) / 0.2).min(1.0);
        ramp * ramp * (3.0 - 2.0 * ramp)
    }
}

/// Listening pauses of 1.2–2 s every 2–4 s, with the brows raised to 0.6–0.9.
fn listening_pauses(rng: &mut Pcg64, length: f32) -> Vec<Pause> {
    let mut out = Vec::new();
    let mut time = rng.random_range(0.5..2.0);
    while time < length {
        let pause = Pause {
            start: time,
            duration: rng.random_range(1.2..2.0),
            brow: rng.random_range(0.6..0.9),
        };
        out.push(pause);
        time += pause.duration + rng.random_range(2.0..4.0);
    }
    out
}

fn sum_at(bumps: &[Bump], time: f32) -> f32 {
    bumps.iter().fold(0.0, |sum, b| sum + b.at(time)).min(1.0)
}

/// The camera-to-head pose at `time`: yaw within ±18°, pitch ±8°, roll ±3°, distance
/// 0.9 ± 0.04 m, aim within ±5 mm of the head centre.
struct CameraPath {
    yaw: Wander,
    pitch: Wander,
    roll: Wander,
    distance: Wander,
    aim: [Wander; 2],
}

impl CameraPath {
    fn new(rng: &mut Pcg64) -> Self {
        Self {
            yaw: Wander::new(rng, 0.05, 0.25),
            pitch: Wander::new(rng, 0.05, 0.3),
            roll: Wander::new(rng, 0.05, 0.2),
            distance: Wander::new(rng, 0.03, 0.15),
            aim: [Wander::new(rng, 0.05, 0.2), Wander::new(rng, 0.05, 0.2)],
        }
    }

    fn pose(&self, time: f32) -> Pose {
        let target = [
            0.005 * self.aim[0].at(time),
            0.005 * self.aim[1].at(time),
            0.0,
        ];
        let orbit = Pose::orbit(
            target,
            CAMERA_DISTANCE + 0.04 * self.distance.at(time),
            18.0 * self.yaw.at(time),
            8.0 * self.pitch.at(time),
        );
        let roll = (3.0 * self.roll.at(time)).to_radians();
        let column = |c: usize| [0, 1, 2].map(|r| orbit.0[r][c]);
        let (right, up) = (column(0), column(1));
        let rolled_up = [0, 1, 2].map(|i| roll.cos() * up[i] + roll.sin() * right[i]);
        Pose::look_at(orbit.origin(), target, rolled_up)
    }
}

/// The video's frames: poses and expressions at [`FRAME_RATE`], the last tenth (at least
/// one frame) in the test split with held-out expression combinations. Test values stay
/// moderate (browInnerUp 0.55–0.75, jawOpen 0.45–0.7, smiles 0.55–0.7) and no control goes
/// beyond its training maximum, so that the test measures unseen combinations of familiar
/// values rather than extrapolation.
pub fn talking_head_video(frame_count: usize, seed: u64) -> Vec<VideoFrame> {
    let mut rng = Pcg64::seed_from_u64(seed);
    let length = frame_count as f32 / FRAME_RATE + 1.0;
    let camera = CameraPath::new(&mut rng);
    let speech = syllables(&mut rng, length);
    let blink_events = blinks(&mut rng, length);
    let smiles = bumps(&mut rng, length, (1.5, 4.0), (1.5, 4.0), (0.65, 0.95));
    let smile_asymmetry: Vec<f32> = smiles
        .iter()
        .map(|_| rng.random_range(-0.25..0.25))
        .collect();
    let brows = bumps(&mut rng, length, (2.0, 6.0), (0.6, 1.5), (0.35, 0.9));
    let puckers = bumps(&mut rng, length, (5.0, 10.0), (0.5, 1.2), (0.3, 0.8));
    let test_phase = rng.random_range(0.0..2.0 * PI);
    let pauses = listening_pauses(&mut rng, length);

    let mut expressions: Vec<Vec<f32>> = (0..frame_count)
        .map(|i| {
            let time = i as f32 / FRAME_RATE;
            let mut e = vec![0.0; CONTROL_NAMES.len()];
            e[JAW] = sum_at(&speech, time);
            for (bump, eyes) in &blink_events {
                for (eye, index) in [(0, BLINK_LEFT), (1, BLINK_RIGHT)] {
                    if eyes[eye] {
                        e[index] = e[index].max(bump.at(time));
                    }
                }
            }
            for (bump, asymmetry) in smiles.iter().zip(&smile_asymmetry) {
                let s = bump.at(time);
                e[SMILE_LEFT] += s * (1.0 + asymmetry);
                e[SMILE_RIGHT] += s * (1.0 - asymmetry);
            }
            e[BROW] = sum_at(&brows, time);
            e[PUCKER] = sum_at(&puckers, time) * (1.0 - e[JAW]);
            for pause in &pauses {
                let strength = pause.strength(time);
                for mouth in [JAW, SMILE_LEFT, SMILE_RIGHT, PUCKER] {
                    e[mouth] *= 1.0 - strength;
                }
                e[BROW] = e[BROW].max(pause.brow * strength);
            }
            e.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
            e
        })
        .collect();

    let test_start = frame_count - test_frame_count(frame_count);
    cap_brows_while_mouth_moves(&mut expressions[..test_start]);
    let training_max: Vec<f32> = (0..CONTROL_NAMES.len())
        .map(|k| {
            expressions[..test_start]
                .iter()
                .map(|e| e[k])
                .fold(0.0, f32::max)
        })
        .collect();
    for (i, e) in expressions.iter_mut().enumerate().skip(test_start) {
        let time = i as f32 / FRAME_RATE;
        e[BROW] = 0.55 + 0.2 * (0.7 * time).sin().powi(2);
        if (2.0 * PI * 0.4 * time + test_phase).sin() >= 0.0 {
            e[JAW] = 0.45 + 0.25 * (PI * 4.0 * time).sin().powi(2);
        } else {
            let smile = 0.55 + 0.15 * (1.3 * time).sin().powi(2);
            e[SMILE_LEFT] = smile;
            e[SMILE_RIGHT] = smile * 0.95;
        }
        if test_start > 0 {
            e.iter_mut()
                .zip(&training_max)
                .for_each(|(v, max)| *v = v.min(*max));
        }
    }

    expressions
        .into_iter()
        .enumerate()
        .map(|(i, expression)| VideoFrame {
            pose: camera.pose(i as f32 / FRAME_RATE),
            expression,
            split: if i < test_start {
                Split::Train
            } else {
                Split::Test
            },
        })
        .collect()
}

/// Lowers browInnerUp to [`TRAIN_LIMIT`] in frames where the mouth moves, easing back over
/// 0.3 s on either side so that the curve stays smooth.
fn cap_brows_while_mouth_moves(expressions: &mut [Vec<f32>]) {
    let busy: Vec<bool> = expressions
        .iter()
        .map(|e| {
            e[JAW] > TRAIN_LIMIT || e[SMILE_LEFT] > TRAIN_LIMIT || e[SMILE_RIGHT] > TRAIN_LIMIT
        })
        .collect();
    let ease_frames = (0.3 * FRAME_RATE) as usize;
    for (i, expression) in expressions.iter_mut().enumerate() {
        let lo = i.saturating_sub(ease_frames);
        let hi = (i + ease_frames).min(busy.len() - 1);
        let nearest = (lo..=hi).filter(|&j| busy[j]).map(|j| i.abs_diff(j)).min();
        if let Some(frames_away) = nearest {
            let cap = TRAIN_LIMIT + (1.0 - TRAIN_LIMIT) * frames_away as f32 / ease_frames as f32;
            expression[BROW] = expression[BROW].min(cap);
        }
    }
}
