//! The sample avatar in a lit 3D scene: a head on a plinth, its expression animated by Bevy
//! animation curves on named blendshape weights (talking, blinking, smiling), and the camera
//! orbiting it so the head is seen from the side as far as the model allows.
//!
//! ```sh
//! cargo run --release --example avatar_scene
//! cargo run --release --example avatar_scene -- --frames 30 --screenshot scene.png
//! cargo run --release --example avatar_scene -- --backend wgpu
//! ```
//!
//! `--backend auto|cpu|wgpu` (or `NERF_AVATAR_BACKEND`) picks the avatar's renderer: the CPU
//! renderer on a worker thread, or the WGSL pass in the render world (`auto` takes the WGSL
//! pass on a hardware GPU).

use bevy::animation::animation_curves::{AnimatableCurve, AnimatableKeyframeCurve};
use bevy::animation::{AnimatedBy, AnimationClip, AnimationTargetId};
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::prelude::*;
use bevy_nerf_avatar::capture::{CapturePlugin, CaptureSettings};
use bevy_nerf_avatar::{
    BackendPreference, ExpressionWeight, NerfAvatar, NerfAvatarPlugin, RenderSettings,
};

/// The sample avatar, made by `scripts/make_sample_avatar.sh`.
const SAMPLE_AVATAR: &str = "sample.avatar.safetensors";
/// Where the head is: at standing height above the origin.
const HEAD_POSITION: Vec3 = Vec3::new(0.0, 1.6, 0.0);
/// Camera distance from the head, in metres.
const ORBIT_RADIUS: f32 = 0.9;
/// Largest camera turn to either side, in degrees.
const ORBIT_YAW_DEGREES: f32 = 35.0;
/// Seconds for the camera to swing to one side and back.
const ORBIT_PERIOD: f32 = 12.0;

fn main() -> AppExit {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let capture = match CaptureSettings::from_args_or_env(&args) {
        Ok(capture) => capture,
        Err(error) => {
            eprintln!("error: {error}");
            return AppExit::error();
        }
    };
    let backend = match backend_from_args_or_env(&args) {
        Ok(backend) => backend,
        Err(error) => {
            eprintln!("error: {error}");
            return AppExit::error();
        }
    };
    let mut app = App::new();
    app.insert_resource(SceneBackend(backend)).add_plugins((
        DefaultPlugins.set(AssetPlugin {
            // The project's assets wherever the binary is started from.
            file_path: concat!(env!("CARGO_MANIFEST_DIR"), "/assets").into(),
            ..default()
        }),
        NerfAvatarPlugin,
        AvatarScenePlugin,
    ));
    if let Some(capture) = capture {
        app.add_plugins(CapturePlugin(capture));
    }
    app.run()
}

/// `--backend NAME` from the command line, else `NERF_AVATAR_BACKEND`, else auto.
fn backend_from_args_or_env(args: &[String]) -> Result<BackendPreference, String> {
    let from_args = match args.iter().position(|arg| arg == "--backend") {
        Some(i) => Some(args.get(i + 1).ok_or("--backend needs a value")?.clone()),
        None => None,
    };
    match from_args.or_else(|| std::env::var("NERF_AVATAR_BACKEND").ok()) {
        Some(name) => name.parse(),
        None => Ok(BackendPreference::Auto),
    }
}

/// Which renderer the scene's avatar uses.
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct SceneBackend(pub BackendPreference);

/// The scene: ground, plinth, lights, the avatar with its animation, the orbiting camera.
pub struct AvatarScenePlugin;

impl Plugin for AvatarScenePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SceneBackend>()
            .add_systems(Startup, setup_scene)
            .add_systems(Update, orbit_camera);
    }
}

/// Marks the orbiting camera.
#[derive(Component)]
pub struct OrbitCamera;

/// The camera's place at `seconds` of (virtual) time: swinging left and right of the face.
pub fn orbit_transform(seconds: f32) -> Transform {
    let phase = seconds / ORBIT_PERIOD * std::f32::consts::TAU;
    let yaw = ORBIT_YAW_DEGREES.to_radians() * phase.sin();
    let pitch = 8f32.to_radians();
    let eye = HEAD_POSITION
        + ORBIT_RADIUS
            * Vec3::new(
                yaw.sin() * pitch.cos(),
                pitch.sin(),
                yaw.cos() * pitch.cos(),
            );
    Transform::from_translation(eye).looking_at(HEAD_POSITION, Vec3::Y)
}

fn orbit_camera(time: Res<Time>, mut cameras: Query<&mut Transform, With<OrbitCamera>>) {
    for mut transform in &mut cameras {
        *transform = orbit_transform(time.elapsed_secs());
    }
}

/// A two-second talking loop as curves on named blendshape weights.
pub fn talking_clip(target: AnimationTargetId) -> AnimationClip {
    let mut clip = AnimationClip::default();
    let tracks: [(&str, &[(f32, f32)]); 5] = [
        (
            "jawOpen",
            &[
                (0.0, 0.0),
                (0.15, 0.55),
                (0.3, 0.1),
                (0.5, 0.7),
                (0.7, 0.15),
                (0.85, 0.45),
                (1.05, 0.0),
                (1.3, 0.6),
                (1.5, 0.05),
                (2.0, 0.0),
            ],
        ),
        (
            "eyeBlinkLeft",
            &[(0.0, 0.0), (1.55, 0.0), (1.65, 1.0), (1.8, 0.0), (2.0, 0.0)],
        ),
        (
            "eyeBlinkRight",
            &[(0.0, 0.0), (1.55, 0.0), (1.65, 1.0), (1.8, 0.0), (2.0, 0.0)],
        ),
        ("mouthSmileLeft", &[(0.0, 0.1), (1.0, 0.5), (2.0, 0.1)]),
        ("mouthSmileRight", &[(0.0, 0.1), (1.0, 0.5), (2.0, 0.1)]),
    ];
    for (name, keys) in tracks {
        let curve = AnimatableKeyframeCurve::new(keys.iter().copied())
            .expect("the keyframes above are sorted and non-empty");
        clip.add_curve_to_target(
            target,
            AnimatableCurve::new(ExpressionWeight::new(name), curve),
        );
    }
    clip
}

/// Spawns the scene.
pub fn setup_scene(
    mut commands: Commands,
    asset_server: Res<AssetServer>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut clips: ResMut<Assets<AnimationClip>>,
    mut graphs: ResMut<Assets<AnimationGraph>>,
    backend: Res<SceneBackend>,
) {
    commands.spawn((
        Mesh3d(meshes.add(Plane3d::default().mesh().size(8.0, 8.0))),
        MeshMaterial3d(materials.add(Color::srgb(0.35, 0.38, 0.42))),
    ));
    commands.spawn((
        Mesh3d(meshes.add(Cylinder::new(0.1, 1.35))),
        MeshMaterial3d(materials.add(Color::srgb(0.75, 0.72, 0.66))),
        Transform::from_xyz(0.0, 0.675, 0.0),
    ));
    for (x, z, hue) in [(-1.2, -1.5, 20.0), (1.4, -1.0, 200.0), (0.9, -2.5, 120.0)] {
        commands.spawn((
            Mesh3d(meshes.add(Cuboid::new(0.6, 1.2, 0.6))),
            MeshMaterial3d(materials.add(Color::hsl(hue, 0.45, 0.55))),
            Transform::from_xyz(x, 0.6, z),
        ));
    }
    commands.spawn((
        DirectionalLight {
            illuminance: 8000.0,
            shadow_maps_enabled: true,
            ..default()
        },
        Transform::from_xyz(2.0, 4.0, 3.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    commands.spawn((
        PointLight {
            intensity: 400_000.0,
            ..default()
        },
        Transform::from_xyz(-2.0, 2.5, 1.5),
    ));

    let name = Name::new("head");
    let target = AnimationTargetId::from_name(&name);
    let (graph, node) = AnimationGraph::from_clip(clips.add(talking_clip(target)));
    let mut player = AnimationPlayer::default();
    player.play(node).repeat();
    let avatar = commands
        .spawn((
            name,
            NerfAvatar::new(asset_server.load(SAMPLE_AVATAR)).with_settings(RenderSettings {
                backend: backend.0,
                ..default()
            }),
            Transform::from_translation(HEAD_POSITION),
            player,
            AnimationGraphHandle(graphs.add(graph)),
            target,
        ))
        .id();
    commands.entity(avatar).insert(AnimatedBy(avatar));

    commands.spawn((
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection {
            fov: 30f32.to_radians(),
            ..default()
        }),
        // The avatar's colours are shown as trained, without a tone curve.
        Tonemapping::None,
        orbit_transform(0.0),
        OrbitCamera,
    ));
}
