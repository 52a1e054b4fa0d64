//! Live expression sources independent of the engine, for the command line and the Bevy
//! plugin alike:
//! - [`livelink`]: the UDP packet of Epic Games' iPhone app Live Link Face (52 ARKit
//!   blendshapes, head and eye rotations, a timecode): [`livelink::parse`] and the test
//!   sender [`livelink::encode`];
//! - [`receiver`]: [`LiveLinkReceiver`], a thread that takes those packets from a socket and
//!   publishes the newest;
//! - [`filter`]: the one-euro filter on any weight vector;
//! - [`calibration`]: a performer's rest face mapped to the avatar's neutral;
//! - [`performance`]: [`LiveLinkPerformance`], a receiver's newest packets through the
//!   calibration and the filter, as the command line and the Bevy plugin take them.
//!
//! The filter and the calibration take `&[f32]`, so that a webcam tracker's weights go
//! through them as Live Link Face's do. No engine, no async runtime: one thread per receiver.

pub mod calibration;
pub mod filter;
pub mod livelink;
pub mod performance;
pub mod receiver;
mod timecode;

pub use calibration::{CalibrationError, NeutralCalibration, NeutralCapture};
pub use filter::{FilterSettingsError, OneEuroFilter, OneEuroSettings};
pub use livelink::{FrameTime, HeadPose, Packet, PacketError, Rotation};
pub use performance::{LiveLinkPerformance, PerformanceStep};
pub use receiver::{LiveFrame, LiveLinkReceiver, ReceiverError, ReceiverSettings, ReceiverStats};

#[cfg(test)]
mod tests {
    use nerf_avatar::blendshapes::ARKIT_BLENDSHAPES;

    use crate::livelink::LIVE_LINK_BLENDSHAPES;

    #[test]
    fn live_link_names_are_the_arkit_names_and_tongue_out() {
        let mut ours: Vec<&str> = LIVE_LINK_BLENDSHAPES.to_vec();
        ours.retain(|&name| name != "tongueOut");
        ours.sort_unstable();
        let mut arkit = ARKIT_BLENDSHAPES.to_vec();
        arkit.sort_unstable();
        assert_eq!(ours, arkit);
    }
}
