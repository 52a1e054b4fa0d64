//! The UDP packet of Epic Games' iPhone app Live Link Face: [`parse`] reads one, [`encode`]
//! writes one (the sender of tests and simulators).
//!
//! # Wire format (packet version 6)
//! Every number is big-endian (network byte order, Unreal's `FNboSerializeToBuffer`):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | packet version, `u8`, 6 |
//! | 4 + n | device id: `i32` byte length n, then n bytes of UTF-8 |
//! | 4 + m | subject name: `i32` byte length m, then m bytes of UTF-8 |
//! | 4 | frame number, `i32` |
//! | 4 | sub-frame, `f32` (fraction of a frame) |
//! | 4 | frame rate numerator, `i32` |
//! | 4 | frame rate denominator, `i32` |
//! | 1 | value count, `u8`, 61 |
//! | 61 × 4 | values, `f32`: the 52 ARKit blendshapes in ARKit's order ([`LIVE_LINK_BLENDSHAPES`]), then head yaw, pitch, roll, left eye yaw, pitch, roll, right eye yaw, pitch, roll |
//!
//! A packet with empty strings is [`MIN_PACKET_BYTES`] long; strings longer than
//! [`MAX_STRING_BYTES`] (Unreal's bound, 256 characters) and packets longer than
//! [`MAX_PACKET_BYTES`] are refused, as are trailing bytes and values that are not finite.
//! Values are not clamped: ARKit sends slightly negative weights now and then.
//!
//! Checked against the PyPI package `pylivelinkface==0.1` (its `encode`, whose `'$'` before
//! a 36-character device id is the low byte of the length 36) and a capture of the app
//! decoded in the Animoji project (version 6, `i32`-prefixed strings, frame time
//! `(1096414, 0.255, 60, 1)`, count 61); `tests/pylivelinkface.rs` checks our parser against
//! the Python encoder.

use thiserror::Error;

/// The UDP port Live Link Face sends to unless told otherwise.
pub const DEFAULT_PORT: u16 = 11111;

/// The packet version this module reads and writes.
pub const PACKET_VERSION: u8 = 6;

/// The number of ARKit blendshapes in a packet (tongueOut included).
pub const BLENDSHAPE_COUNT: usize = 52;

/// The number of values a packet carries: the blendshapes, then the head's and the eyes'
/// yaw, pitch and roll.
pub const VALUE_COUNT: usize = BLENDSHAPE_COUNT + 9;

/// The longest device id or subject name accepted, in bytes.
pub const MAX_STRING_BYTES: usize = 256;

/// The bytes of a packet besides its two strings' bytes.
const FIXED_BYTES: usize = 1 + 4 + 4 + 16 + 1 + 4 * VALUE_COUNT;

/// The shortest packet: both strings empty.
pub const MIN_PACKET_BYTES: usize = FIXED_BYTES;

/// The longest packet: both strings [`MAX_STRING_BYTES`] long.
pub const MAX_PACKET_BYTES: usize = FIXED_BYTES + 2 * MAX_STRING_BYTES;

/// The 52 ARKit blendshape names in the order a packet carries them (ARKit's
/// `ARFaceAnchor.BlendShapeLocation` order, Unreal's `EARFaceBlendShape`). The 51 of
/// `nerf_avatar::ARKIT_BLENDSHAPES` in another order, and `tongueOut`.
pub const LIVE_LINK_BLENDSHAPES: [&str; BLENDSHAPE_COUNT] = [
    "eyeBlinkLeft",
    "eyeLookDownLeft",
    "eyeLookInLeft",
    "eyeLookOutLeft",
    "eyeLookUpLeft",
    "eyeSquintLeft",
    "eyeWideLeft",
    "eyeBlinkRight",
    "eyeLookDownRight",
    "eyeLookInRight",
    "eyeLookOutRight",
    "eyeLookUpRight",
    "eyeSquintRight",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawRight",
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthLeft",
    "mouthRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "noseSneerLeft",
    "noseSneerRight",
    "tongueOut",
];

/// The names of the nine rotation values after the blendshapes, in packet order.
const POSE_VALUE_NAMES: [&str; 9] = [
    "headYaw",
    "headPitch",
    "headRoll",
    "leftEyeYaw",
    "leftEyePitch",
    "leftEyeRoll",
    "rightEyeYaw",
    "rightEyePitch",
    "rightEyeRoll",
];

/// One Live Link Face packet.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    /// The sending device's id (the app sends a UUID).
    pub device_id: String,
    /// The Live Link subject name (the app's "subject name" setting, e.g. the phone's name).
    pub subject_name: String,
    /// When the frame was captured, as a timecode.
    pub frame_time: FrameTime,
    /// The ARKit blendshape weights in [`LIVE_LINK_BLENDSHAPES`] order, nominally 0 to 1.
    pub blendshapes: [f32; BLENDSHAPE_COUNT],
    /// The head's and the eyes' rotations.
    pub pose: HeadPose,
}

/// A timecode: Unreal's `FQualifiedFrameTime`, a frame number and fraction at a frame rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameTime {
    /// The frame number at [`FrameTime::frame_rate`] (the app counts frames since midnight).
    pub frame: i32,
    /// The fraction of a frame after `frame`, 0 to 1.
    pub sub_frame: f32,
    /// The frame rate's numerator (frames per `rate_denominator` seconds).
    pub rate_numerator: i32,
    /// The frame rate's denominator.
    pub rate_denominator: i32,
}

impl FrameTime {
    /// Frames per second, `None` where the denominator is 0 (some senders, such as
    /// `pylivelinkface` below 60 fps, send 0).
    pub fn frame_rate(&self) -> Option<f64> {
        (self.rate_denominator != 0)
            .then(|| f64::from(self.rate_numerator) / f64::from(self.rate_denominator))
    }
}

/// A rotation as the app sends it: yaw, pitch and roll, each nominally -1 to 1.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rotation {
    /// Turn left or right.
    pub yaw: f32,
    /// Nod up or down.
    pub pitch: f32,
    /// Tilt sideways.
    pub roll: f32,
}

/// The rotations that follow the blendshapes in a packet.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HeadPose {
    /// The head's rotation.
    pub head: Rotation,
    /// The left eye's rotation.
    pub left_eye: Rotation,
    /// The right eye's rotation.
    pub right_eye: Rotation,
}

/// What is wrong with a packet [`parse`] refused.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum PacketError {
    /// Shorter than a packet with empty strings.
    #[error("packet too short: {len} bytes, a packet has at least {MIN_PACKET_BYTES}")]
    TooShort {
        /// The packet's length.
        len: usize,
    },
    /// Longer than a packet with the longest strings.
    #[error("packet oversized: {len} bytes, a packet has at most {MAX_PACKET_BYTES}")]
    Oversized {
        /// The packet's length.
        len: usize,
    },
    /// A version other than [`PACKET_VERSION`].
    #[error("unknown packet version {version}, expected {PACKET_VERSION}")]
    UnknownVersion {
        /// The version byte.
        version: u8,
    },
    /// A string's length prefix is negative or above [`MAX_STRING_BYTES`].
    #[error("{field} length {length} is outside 0..={MAX_STRING_BYTES}")]
    StringLength {
        /// Which string: "device id" or "subject name".
        field: &'static str,
        /// The length prefix.
        length: i32,
    },
    /// A string's length prefix runs past the end of the packet.
    #[error("{field} truncated: {length} bytes announced, {available} left in the packet")]
    TruncatedString {
        /// Which string.
        field: &'static str,
        /// The length prefix.
        length: usize,
        /// The bytes left after the prefix.
        available: usize,
    },
    /// A string is not UTF-8.
    #[error("{field} is not UTF-8")]
    NotUtf8 {
        /// Which string.
        field: &'static str,
    },
    /// A fixed-size field runs past the end of the packet (the strings took the room).
    #[error("{field} truncated: {needed} bytes needed, {available} left in the packet")]
    Truncated {
        /// Which field.
        field: &'static str,
        /// Its size.
        needed: usize,
        /// The bytes left.
        available: usize,
    },
    /// The frame time's sub-frame is NaN or infinite.
    #[error("sub-frame is not finite: {value}")]
    NonFiniteSubFrame {
        /// The sub-frame.
        value: f32,
    },
    /// A value count other than [`VALUE_COUNT`].
    #[error("value count {count}, expected {VALUE_COUNT}")]
    WrongCount {
        /// The count byte.
        count: u8,
    },
    /// Bytes after the last value.
    #[error("{count} bytes after the last value")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A value is NaN or infinite.
    #[error("value {index} ({name}) is not finite: {value}")]
    NonFinite {
        /// Its index among the 61 values.
        index: usize,
        /// Its name: a blendshape or a rotation.
        name: &'static str,
        /// The value.
        value: f32,
    },
}

/// Reads one packet. Never panics: anything but a well-formed version-6 packet is an error
/// naming what is wrong.
pub fn parse(bytes: &[u8]) -> Result<Packet, PacketError> {
    let len = bytes.len();
    if len > MAX_PACKET_BYTES {
        return Err(PacketError::Oversized { len });
    }
    if len < MIN_PACKET_BYTES {
        return Err(PacketError::TooShort { len });
    }
    let mut reader = Reader { rest: bytes };
    let [version] = reader.array("packet version")?;
    if version != PACKET_VERSION {
        return Err(PacketError::UnknownVersion { version });
    }
    let device_id = reader.string("device id")?;
    let subject_name = reader.string("subject name")?;
    let frame_time = FrameTime {
        frame: i32::from_be_bytes(reader.array("frame number")?),
        sub_frame: f32::from_be_bytes(reader.array("sub-frame")?),
        rate_numerator: i32::from_be_bytes(reader.array("frame rate numerator")?),
        rate_denominator: i32::from_be_bytes(reader.array("frame rate denominator")?),
    };
    if !frame_time.sub_frame.is_finite() {
        return Err(PacketError::NonFiniteSubFrame {
            value: frame_time.sub_frame,
        });
    }
    let [count] = reader.array("value count")?;
    if usize::from(count) != VALUE_COUNT {
        return Err(PacketError::WrongCount { count });
    }
    let raw: [u8; 4 * VALUE_COUNT] = reader.array("values")?;
    let mut values = [0.0f32; VALUE_COUNT];
    for (value, bytes) in values.iter_mut().zip(raw.chunks_exact(4)) {
        *value = f32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    if !reader.rest.is_empty() {
        return Err(PacketError::TrailingBytes {
            count: reader.rest.len(),
        });
    }
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(PacketError::NonFinite {
            index,
            name: value_name(index),
            value,
        });
    }
    let (blendshapes, pose) = values.split_at(BLENDSHAPE_COUNT);
    let rotation = |i: usize| Rotation {
        yaw: pose[i],
        pitch: pose[i + 1],
        roll: pose[i + 2],
    };
    Ok(Packet {
        device_id,
        subject_name,
        frame_time,
        blendshapes: blendshapes.try_into().expect("52 of 61 values"),
        pose: HeadPose {
            head: rotation(0),
            left_eye: rotation(3),
            right_eye: rotation(6),
        },
    })
}

/// Writes `packet` in the wire format [`parse`] reads: the sender of tests and simulators
/// (the Bevy plugin's and the command line's tests, replaying a capture). A string longer
/// than [`MAX_STRING_BYTES`] or a value that is not finite is written as it is, and
/// [`parse`] refuses the result.
pub fn encode(packet: &Packet) -> Vec<u8> {
    let mut bytes =
        Vec::with_capacity(FIXED_BYTES + packet.device_id.len() + packet.subject_name.len());
    bytes.push(PACKET_VERSION);
    for text in [&packet.device_id, &packet.subject_name] {
        let length = i32::try_from(text.len()).unwrap_or(i32::MAX);
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(text.as_bytes());
    }
    let time = &packet.frame_time;
    bytes.extend_from_slice(&time.frame.to_be_bytes());
    bytes.extend_from_slice(&time.sub_frame.to_be_bytes());
    bytes.extend_from_slice(&time.rate_numerator.to_be_bytes());
    bytes.extend_from_slice(&time.rate_denominator.to_be_bytes());
    bytes.push(VALUE_COUNT as u8);
    let pose = &packet.pose;
    let rotations = [pose.head, pose.left_eye, pose.right_eye]
        .into_iter()
        .flat_map(|r| [r.yaw, r.pitch, r.roll]);
    for value in packet.blendshapes.iter().copied().chain(rotations) {
        bytes.extend_from_slice(&value.to_be_bytes());
    }
    bytes
}

/// The name of value `index` of a packet: a blendshape, then a rotation.
fn value_name(index: usize) -> &'static str {
    LIVE_LINK_BLENDSHAPES
        .iter()
        .chain(&POSE_VALUE_NAMES)
        .nth(index)
        .copied()
        .unwrap_or("?")
}

/// The unread part of a packet.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// The next `N` bytes of `field`.
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], PacketError> {
        let Some((head, rest)) = self.rest.split_first_chunk::<N>() else {
            return Err(PacketError::Truncated {
                field,
                needed: N,
                available: self.rest.len(),
            });
        };
        self.rest = rest;
        Ok(*head)
    }

    /// A string: an `i32` byte length, then UTF-8.
    fn string(&mut self, field: &'static str) -> Result<String, PacketError> {
        let length = i32::from_be_bytes(self.array(field)?);
        let bytes = usize::try_from(length)
            .ok()
            .filter(|&n| n <= MAX_STRING_BYTES)
            .ok_or(PacketError::StringLength { field, length })?;
        if bytes > self.rest.len() {
            return Err(PacketError::TruncatedString {
                field,
                length: bytes,
                available: self.rest.len(),
            });
        }
        let (text, rest) = self.rest.split_at(bytes);
        self.rest = rest;
        String::from_utf8(text.to_vec()).map_err(|_| PacketError::NotUtf8 { field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Packet {
        let mut blendshapes = [0.0; BLENDSHAPE_COUNT];
        for (i, w) in blendshapes.iter_mut().enumerate() {
            *w = i as f32 / 64.0;
        }
        Packet {
            device_id: "8F1C2D3E-0000-4000-8000-1234567890AB".into(),
            subject_name: "Ana's iPhone".into(),
            frame_time: FrameTime {
                frame: 1_096_414,
                sub_frame: 0.255,
                rate_numerator: 60,
                rate_denominator: 1,
            },
            blendshapes,
            pose: HeadPose {
                head: Rotation {
                    yaw: 0.1,
                    pitch: -0.2,
                    roll: 0.3,
                },
                left_eye: Rotation {
                    yaw: -0.4,
                    pitch: 0.5,
                    roll: -0.6,
                },
                right_eye: Rotation {
                    yaw: 0.7,
                    pitch: -0.8,
                    roll: 0.9,
                },
            },
        }
    }

    /// The byte offset of the first value in `example()`'s encoding.
    fn first_value_offset(packet: &Packet) -> usize {
        1 + 4 + packet.device_id.len() + 4 + packet.subject_name.len() + 16 + 1
    }

    #[test]
    fn a_packet_survives_encode_and_parse() {
        let packet = example();
        let bytes = encode(&packet);
        assert_eq!(bytes.len(), MIN_PACKET_BYTES + 36 + 12);
        assert_eq!(parse(&bytes), Ok(packet));
    }

    #[test]
    fn the_layout_is_big_endian_with_length_prefixed_strings() {
        let packet = Packet {
            device_id: "ab".into(),
            subject_name: "s".into(),
            ..example()
        };
        let bytes = encode(&packet);
        assert_eq!(&bytes[..12], &[6, 0, 0, 0, 2, b'a', b'b', 0, 0, 0, 1, b's']);
        assert_eq!(&bytes[12..16], &1_096_414i32.to_be_bytes());
        assert_eq!(&bytes[16..20], &0.255f32.to_be_bytes());
        assert_eq!(&bytes[20..28], &[0, 0, 0, 60, 0, 0, 0, 1]);
        assert_eq!(bytes[28], 61);
        // jawOpen is value 17; the head's yaw is value 52.
        assert_eq!(&bytes[29 + 17 * 4..][..4], &(17.0f32 / 64.0).to_be_bytes());
        assert_eq!(&bytes[29 + 52 * 4..][..4], &0.1f32.to_be_bytes());
    }

    #[test]
    fn the_longest_strings_fit_and_longer_ones_are_refused() {
        let longest = Packet {
            device_id: "d".repeat(MAX_STRING_BYTES),
            subject_name: "s".repeat(MAX_STRING_BYTES),
            ..example()
        };
        let bytes = encode(&longest);
        assert_eq!(bytes.len(), MAX_PACKET_BYTES);
        assert_eq!(parse(&bytes), Ok(longest));
        let too_long = Packet {
            device_id: "d".repeat(MAX_STRING_BYTES + 1),
            subject_name: String::new(),
            ..example()
        };
        assert_eq!(
            parse(&encode(&too_long)),
            Err(PacketError::StringLength {
                field: "device id",
                length: 257
            })
        );
    }

    #[test]
    fn each_fault_is_named() {
        let packet = example();
        let good = encode(&packet);
        let value_at = first_value_offset(&packet);
        let with = |at: usize, patch: &[u8]| {
            let mut bytes = good.clone();
            bytes[at..at + patch.len()].copy_from_slice(patch);
            parse(&bytes).unwrap_err()
        };
        assert_eq!(
            parse(&good[..MIN_PACKET_BYTES - 1]),
            Err(PacketError::TooShort {
                len: MIN_PACKET_BYTES - 1
            })
        );
        assert_eq!(
            parse(&vec![6; MAX_PACKET_BYTES + 1]),
            Err(PacketError::Oversized {
                len: MAX_PACKET_BYTES + 1
            })
        );
        assert_eq!(with(0, &[5]), PacketError::UnknownVersion { version: 5 });
        assert_eq!(
            with(1, &(-1i32).to_be_bytes()),
            PacketError::StringLength {
                field: "device id",
                length: -1
            }
        );
        assert_eq!(
            with(5, &[0xff]),
            PacketError::NotUtf8 { field: "device id" }
        );
        assert_eq!(
            with(value_at - 1, &[60]),
            PacketError::WrongCount { count: 60 }
        );
        assert_eq!(
            with(value_at + 17 * 4, &f32::NAN.to_be_bytes()).to_string(),
            "value 17 (jawOpen) is not finite: NaN"
        );
        assert!(matches!(
            with(value_at + 60 * 4, &f32::INFINITY.to_be_bytes()),
            PacketError::NonFinite {
                index: 60,
                name: "rightEyeRoll",
                ..
            }
        ));
        assert!(matches!(
            with(value_at - 13, &f32::NAN.to_be_bytes()),
            PacketError::NonFiniteSubFrame { value } if value.is_nan()
        ));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            parse(&trailing),
            Err(PacketError::TrailingBytes { count: 1 })
        );
    }

    /// A packet by hand: a device id of `device` bytes, then `tail`, padded with zeros to at
    /// least [`MIN_PACKET_BYTES`].
    fn minimal_with(device: usize, tail: &[u8]) -> Vec<u8> {
        let mut bytes = vec![PACKET_VERSION];
        bytes.extend_from_slice(&(device as i32).to_be_bytes());
        bytes.extend(std::iter::repeat_n(b'd', device));
        bytes.extend_from_slice(tail);
        bytes.resize(bytes.len().max(MIN_PACKET_BYTES), 0);
        bytes
    }

    #[test]
    fn strings_that_take_the_room_leave_the_rest_truncated() {
        // A 256-byte device id leaves 9 bytes: a subject name of 100 runs past the end.
        assert_eq!(
            parse(&minimal_with(256, &100i32.to_be_bytes())),
            Err(PacketError::TruncatedString {
                field: "subject name",
                length: 100,
                available: 5
            })
        );
        // A 200-byte device id and an empty subject name: the frame time and the count fit,
        // the values do not.
        let mut tail = 0i32.to_be_bytes().to_vec();
        tail.extend_from_slice(&[0; 16]);
        tail.push(61);
        assert_eq!(
            parse(&minimal_with(200, &tail)),
            Err(PacketError::Truncated {
                field: "values",
                needed: 4 * VALUE_COUNT,
                available: 44
            })
        );
    }

    #[test]
    fn the_frame_rate_needs_a_denominator() {
        let mut time = example().frame_time;
        assert_eq!(time.frame_rate(), Some(60.0));
        time.rate_denominator = 0;
        assert_eq!(time.frame_rate(), None);
    }

    /// A small deterministic generator (SplitMix64) for the fuzz test.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_mutated_and_truncated_packets_never_panic() {
        let mut rng = SplitMix(0x5eed);
        let good = encode(&example());
        let (mut accepted, mut refused) = (0, 0);
        let mut kinds = std::collections::BTreeSet::new();
        for round in 0..20_000 {
            let bytes: Vec<u8> = match round % 5 {
                // Random bytes of any length up to past the maximum.
                0 => (0..rng.below(MAX_PACKET_BYTES + 64))
                    .map(|_| rng.next() as u8)
                    .collect(),
                // A good packet with a few bytes changed.
                1 => {
                    let mut bytes = good.clone();
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(bytes.len());
                        bytes[at] = rng.next() as u8;
                    }
                    bytes
                }
                // A good packet cut short or lengthened.
                2 => {
                    let mut bytes = good.clone();
                    bytes.resize(rng.below(good.len() + 32), rng.next() as u8);
                    bytes
                }
                // A good packet with a random string length prefix.
                3 => {
                    let mut bytes = good.clone();
                    let at = if rng.below(2) == 0 { 1 } else { 1 + 4 + 36 };
                    let length = rng.next() as i32 >> rng.below(32);
                    bytes[at..at + 4].copy_from_slice(&length.to_be_bytes());
                    bytes
                }
                // Strings that leave the rest of the packet short: a device id of any length,
                // a subject name announced up to past the end, then random bytes.
                _ => {
                    let subject = rng.below(MAX_STRING_BYTES + 16) as i32;
                    let mut tail = subject.to_be_bytes().to_vec();
                    tail.extend((0..rng.below(300)).map(|_| rng.next() as u8));
                    minimal_with(rng.below(MAX_STRING_BYTES + 1), &tail)
                }
            };
            match parse(&bytes) {
                Ok(packet) => {
                    // Whatever is accepted is well formed: it encodes back to the same bytes.
                    assert!(packet.blendshapes.iter().all(|w| w.is_finite()));
                    assert_eq!(encode(&packet), bytes);
                    accepted += 1;
                }
                Err(error) => {
                    assert!(!error.to_string().is_empty());
                    kinds.insert(
                        format!("{error:?}")
                            .split([' ', '{'])
                            .next()
                            .map(String::from),
                    );
                    refused += 1;
                }
            }
        }
        // Every kind of refusal turns up.
        let kinds: Vec<String> = kinds.into_iter().flatten().collect();
        assert_eq!(
            kinds,
            [
                "NonFinite",
                "NonFiniteSubFrame",
                "NotUtf8",
                "Oversized",
                "StringLength",
                "TooShort",
                "TrailingBytes",
                "Truncated",
                "TruncatedString",
                "UnknownVersion",
                "WrongCount",
            ]
        );
        assert!(refused > 10_000, "{refused} refused");
        assert!(accepted > 100, "{accepted} mutated packets still parse");
    }
}
