//! Whether a packet's timecode comes after the newest one accepted from its subject: the rule
//! that `receiver`'s "Timecode order" documents, as a function.

use crate::livelink::FrameTime;

/// How a packet's timecode stands against the newest accepted from its subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// At or after the newest: accept.
    InOrder,
    /// Before the newest, within the reorder window: drop.
    Stale,
    /// Far before the newest, or at another frame rate: the sender started over; accept.
    Reset,
}

/// How `incoming` stands against `newest`, the newest timecode accepted from the same subject,
/// with packets up to `reorder_window` frames late counted as stale.
pub(crate) fn arrival(newest: &FrameTime, incoming: &FrameTime, reorder_window: u32) -> Arrival {
    let same_rate = (newest.rate_numerator, newest.rate_denominator)
        == (incoming.rate_numerator, incoming.rate_denominator);
    if !same_rate {
        return Arrival::Reset;
    }
    let frames_late = i64::from(newest.frame) - i64::from(incoming.frame);
    match frames_late {
        ..0 => Arrival::InOrder,
        0 if incoming.sub_frame >= newest.sub_frame => Arrival::InOrder,
        late if late <= i64::from(reorder_window) => Arrival::Stale,
        _ => Arrival::Reset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(frame: i32, sub_frame: f32) -> FrameTime {
        FrameTime {
            frame,
            sub_frame,
            rate_numerator: 60,
            rate_denominator: 1,
        }
    }

    #[test]
    fn later_or_equal_timecodes_are_in_order() {
        assert_eq!(arrival(&at(100, 0.5), &at(101, 0.0), 30), Arrival::InOrder);
        assert_eq!(arrival(&at(100, 0.5), &at(100, 0.5), 30), Arrival::InOrder);
        assert_eq!(arrival(&at(100, 0.5), &at(100, 0.75), 30), Arrival::InOrder);
    }

    #[test]
    fn slightly_earlier_timecodes_are_stale() {
        assert_eq!(arrival(&at(100, 0.5), &at(100, 0.25), 30), Arrival::Stale);
        assert_eq!(arrival(&at(100, 0.0), &at(99, 0.9), 30), Arrival::Stale);
        assert_eq!(arrival(&at(100, 0.0), &at(70, 0.0), 30), Arrival::Stale);
    }

    #[test]
    fn a_jump_back_past_the_window_or_a_new_rate_is_a_reset() {
        assert_eq!(arrival(&at(100, 0.0), &at(69, 0.0), 30), Arrival::Reset);
        // Midnight at 60 fps: 5 183 999 → 0.
        assert_eq!(
            arrival(&at(5_183_999, 0.0), &at(0, 0.0), 30),
            Arrival::Reset
        );
        let thirty = FrameTime {
            rate_numerator: 30,
            ..at(50, 0.0)
        };
        assert_eq!(arrival(&at(100, 0.0), &thirty, 30), Arrival::Reset);
        // No overflow at the ends of the range.
        assert_eq!(
            arrival(&at(i32::MAX, 0.0), &at(i32::MIN, 0.0), 30),
            Arrival::Reset
        );
        assert_eq!(
            arrival(&at(i32::MIN, 0.0), &at(i32::MAX, 0.0), 30),
            Arrival::InOrder
        );
    }
}
