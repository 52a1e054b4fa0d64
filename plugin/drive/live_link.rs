//! Driving avatars live from Live Link Face (Epic Games' iPhone app). A [`LiveLinkSource`]
//! entity owns a receiver from `nerf_avatar_live`, whose own thread reads the socket, so the
//! schedule never waits on the network; each update takes the newest packet, if a new one
//! came, through the source's neutral calibration and one-euro filter. Every avatar with
//! [`LiveLinkDriven`] naming the source then takes its 52 ARKit weights into its
//! [`Expression`] and, if asked, the performer's head rotation into its `Transform`.

use std::f32::consts::FRAC_PI_2;
use std::net::SocketAddr;

use bevy::ecs::prelude::*;
use bevy::math::{EulerRot, Quat};
use bevy::transform::components::Transform;
use nerf_avatar_live::livelink::{BLENDSHAPE_COUNT, LIVE_LINK_BLENDSHAPES};
use nerf_avatar_live::{
    FilterSettingsError, LiveLinkPerformance, LiveLinkReceiver, OneEuroFilter, OneEuroSettings,
    PerformanceStep, ReceiverError, ReceiverSettings, ReceiverStats, Rotation,
};

use crate::expression::Expression;

/// Why a [`LiveLinkSource`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveLinkSourceError {
    /// The socket or its thread.
    #[error(transparent)]
    Receiver(#[from] ReceiverError),
    /// The filter's settings.
    #[error(transparent)]
    Filter(#[from] FilterSettingsError),
}

/// A Live Link Face receiver and the performance it gives: spawn it on an entity of its own
/// and name that entity in the avatars' [`LiveLinkDriven`].
#[derive(Component)]
pub struct LiveLinkSource {
    performance: LiveLinkPerformance,
    /// The newest frame to show, if the last update took one: the weights (calibrated and
    /// filtered, in Live Link order) and the performer's head rotation.
    fresh: Option<([f32; BLENDSHAPE_COUNT], Rotation)>,
}

impl LiveLinkSource {
    /// Listens as `settings` say (loopback port 11111 by default), filtering with `filter`.
    pub fn bind(
        settings: ReceiverSettings,
        filter: OneEuroSettings,
    ) -> Result<Self, LiveLinkSourceError> {
        let filter = OneEuroFilter::new(filter)?;
        Ok(Self {
            performance: LiveLinkPerformance::new(LiveLinkReceiver::bind(settings)?, filter),
            fresh: None,
        })
    }

    /// Takes the performer's next `frames` packets (at least 1) as their rest face: from
    /// then on it maps to the avatars' neutral. Avatars hold their expression meanwhile.
    pub fn calibrate(&mut self, frames: usize) {
        self.performance.calibrate(frames);
    }

    /// Whether a calibration is taking packets.
    pub fn is_calibrating(&self) -> bool {
        self.performance.is_calibrating()
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.performance.local_addr()
    }

    /// The receiver's counts of packets taken and dropped (malformed, other senders, late).
    pub fn stats(&self) -> ReceiverStats {
        self.performance.stats()
    }
}

/// Makes an avatar follow a [`LiveLinkSource`].
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct LiveLinkDriven {
    /// The entity with the [`LiveLinkSource`].
    pub source: Entity,
    /// The avatar's rotation when the performer looks straight at the phone; `None` leaves
    /// the `Transform` alone and drives the expression only.
    pub head_rest: Option<Quat>,
}

impl LiveLinkDriven {
    /// The expression follows `source`; the head stays where it is.
    pub fn expression(source: Entity) -> Self {
        Self {
            source,
            head_rest: None,
        }
    }

    /// The expression and the head's rotation (about `rest`) follow `source`.
    pub fn expression_and_head(source: Entity, rest: Quat) -> Self {
        Self {
            source,
            head_rest: Some(rest),
        }
    }
}

/// The head rotation a packet's yaw, pitch and roll stand for. The app sends each nominally
/// in [−1, 1]; read here as a quarter turn at ±1 (yaw about the avatar's up axis, then pitch
/// about its right axis, then roll about its forward axis).
pub fn head_rotation(head: Rotation) -> Quat {
    Quat::from_euler(
        EulerRot::YXZ,
        head.yaw * FRAC_PI_2,
        head.pitch * FRAC_PI_2,
        head.roll * FRAC_PI_2,
    )
}

/// Takes each source's newest packet.
pub fn receive_live_link(mut sources: Query<(Entity, &mut LiveLinkSource)>) {
    for (entity, mut source) in &mut sources {
        source.fresh = match source.performance.take_newest() {
            Ok(Some(PerformanceStep::Frame { weights, head })) => Some((weights, head)),
            Ok(Some(PerformanceStep::Rest) | None) => None,
            Err(error) => {
                bevy::log::warn!("Live Link source {entity}: the rest face: {error}");
                None
            }
        };
    }
}

/// Copies each source's new performance into the avatars that follow it.
pub fn apply_live_link(
    sources: Query<&LiveLinkSource>,
    mut avatars: Query<(&LiveLinkDriven, &mut Expression, Option<&mut Transform>)>,
) {
    for (driven, mut expression, transform) in &mut avatars {
        let Some((weights, head)) = sources.get(driven.source).ok().and_then(|s| s.fresh) else {
            continue;
        };
        for (name, weight) in LIVE_LINK_BLENDSHAPES.iter().zip(weights) {
            expression.set(name, weight);
        }
        if let (Some(rest), Some(mut transform)) = (driven.head_rest, transform) {
            transform.rotation = rest * head_rotation(head);
        }
    }
}
