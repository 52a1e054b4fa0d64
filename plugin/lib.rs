//! `bevy_nerf_avatar`: NeRFBlendShape head avatars in Bevy.
