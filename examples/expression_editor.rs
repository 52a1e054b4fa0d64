//! An expression editor: an avatar with one slider per blendshape (its own names, over the
//! range each was seen in training), a Reset button back to the neutral face, and a camera
//! that orbits the head. Drag a slider to set that weight; drag the empty part of the window
//! or use the arrow keys to turn around the head; the mouse wheel zooms (and scrolls the list
//! when over it).
//!
//! ```sh
//! cargo run --release --example expression_editor                         # the sample avatar
//! cargo run --release --example expression_editor -- path/to/head.avatar.safetensors
//! cargo run --release --example expression_editor -- --set jawOpen=0.6 --set browInnerUp=0.7 \
//!     --frames 30 --screenshot editor.png
//! ```

use std::path::Path;

use bevy::asset::LoadState;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy::ui::RelativeCursorPosition;
use bevy::window::PrimaryWindow;
use bevy_nerf_avatar::capture::{CapturePlugin, CaptureSettings};
use bevy_nerf_avatar::{
    Expression, ExpressionSliders, ExpressionSlidersPlugin, NerfAvatar, NerfAvatarAsset,
    NerfAvatarPlugin,
};

/// The sample avatar, made by `scripts/make_sample_avatar.sh`.
const SAMPLE_AVATAR: &str = "sample.avatar.safetensors";
/// Height of the window when it opens, in logical pixels.
const WINDOW_HEIGHT: f32 = 720.0;
/// Width of the slider panel on the right, in logical pixels.
const PANEL_WIDTH: f32 = 400.0;
/// Vertical field of view of the camera, in degrees.
const FOV_DEGREES: f32 = 30.0;
/// Camera distance limits, in metres.
const MIN_RADIUS: f32 = 0.35;
const MAX_RADIUS: f32 = 2.5;
/// Largest turn to either side and up or down, in degrees: the model has only seen the face
/// from the front half.
const MAX_YAW_DEGREES: f32 = 75.0;
const MAX_PITCH_DEGREES: f32 = 50.0;
/// Radians of turn per pixel of mouse drag.
const DRAG_RADIANS_PER_PIXEL: f32 = 0.006;
/// Radians of turn per second while an arrow key is held.
const KEY_RADIANS_PER_SECOND: f32 = 1.2;
/// Share of the distance one wheel line zooms.
const ZOOM_PER_LINE: f32 = 0.1;
/// Pixels of touchpad scroll that count as one wheel line.
const PIXELS_PER_LINE: f32 = 40.0;

/// What the command line asks for.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
struct EditorOptions {
    /// The avatar file given on the command line; the sample when `None`.
    avatar: Option<std::path::PathBuf>,
    /// Weights to start from (`--set NAME=VALUE`).
    preset: Vec<(String, f32)>,
}

/// Reads the editor's own arguments; `--frames` and `--screenshot` (with their values) are
/// left to [`CaptureSettings`].
fn parse_options(args: &[String]) -> Result<EditorOptions, String> {
    let mut options = EditorOptions::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--frames" | "--screenshot" => {
                iter.next();
            }
            "--set" => {
                let assignment = iter.next().ok_or("--set needs NAME=VALUE")?;
                options.preset.push(parse_assignment(assignment)?);
            }
            flag if flag.starts_with("--") => {
                return Err(format!(
                    "unknown option `{flag}` (expected [AVATAR] [--set NAME=VALUE]... [--frames N --screenshot PATH])"
                ));
            }
            path => {
                if options.avatar.is_some() {
                    return Err(format!("give one avatar file, got a second: `{path}`"));
                }
                options.avatar = Some(path.into());
            }
        }
    }
    Ok(options)
}

/// `NAME=VALUE` as a blendshape name and a finite weight.
fn parse_assignment(text: &str) -> Result<(String, f32), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("--set needs NAME=VALUE, got `{text}`"))?;
    let weight = value
        .trim()
        .parse::<f32>()
        .ok()
        .filter(|weight| weight.is_finite())
        .ok_or_else(|| format!("--set {text}: `{value}` is not a finite number"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("--set {text}: the blendshape name is empty"));
    }
    Ok((name.to_owned(), weight))
}

/// The asset folder and asset path of an avatar file given on the command line: its folder
/// becomes the asset root, so any file on disk can be opened.
fn asset_root_and_path(file: &Path) -> Result<(String, String), String> {
    let absolute =
        std::path::absolute(file).map_err(|e| format!("avatar file {}: {e}", file.display()))?;
    let metadata =
        std::fs::metadata(&absolute).map_err(|e| format!("avatar file {}: {e}", file.display()))?;
    if !metadata.is_file() {
        return Err(format!("avatar file {}: not a file", file.display()));
    }
    let folder = absolute.parent().unwrap_or(Path::new("/"));
    let name = absolute
        .file_name()
        .ok_or_else(|| format!("avatar file {}: no file name", file.display()))?;
    Ok((
        folder.to_string_lossy().into_owned(),
        name.to_string_lossy().into_owned(),
    ))
}

fn main() -> AppExit {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let setup = CaptureSettings::from_args_or_env(&args)
        .map_err(|e| e.to_string())
        .and_then(|capture| Ok((capture, parse_options(&args)?)))
        .and_then(|(capture, options)| {
            let asset = match &options.avatar {
                Some(file) => Some(asset_root_and_path(file)?),
                None => None,
            };
            Ok((capture, options, asset))
        });
    let (capture, options, asset) = match setup {
        Ok(setup) => setup,
        Err(error) => {
            eprintln!("error: {error}");
            return AppExit::error();
        }
    };
    let (asset_plugin, avatar_path) = match asset {
        Some((folder, name)) => (
            AssetPlugin {
                file_path: folder,
                ..default()
            },
            name,
        ),
        None => (
            AssetPlugin {
                // The project's assets wherever the binary is started from.
                file_path: concat!(env!("CARGO_MANIFEST_DIR"), "/assets").into(),
                ..default()
            },
            SAMPLE_AVATAR.to_owned(),
        ),
    };
    let window = WindowPlugin {
        primary_window: Some(Window {
            title: "nerf-avatar expression editor".into(),
            resolution: (1280, WINDOW_HEIGHT as u32).into(),
            ..default()
        }),
        ..default()
    };
    let mut app = App::new();
    app.add_plugins((
        DefaultPlugins.set(asset_plugin).set(window),
        NerfAvatarPlugin,
        ExpressionSlidersPlugin,
    ))
    .insert_resource(ClearColor(Color::srgb(0.16, 0.17, 0.19)))
    .insert_resource(AvatarPath(avatar_path))
    .insert_resource(options)
    .init_resource::<OrbitDrag>()
    .add_systems(Startup, setup_editor)
    .add_systems(Update, (check_avatar, orbit_camera));
    if let Some(capture) = capture {
        app.add_plugins(CapturePlugin(capture));
    }
    app.run()
}

/// The avatar's asset path.
#[derive(Resource)]
struct AvatarPath(String);

/// Where the camera is around the head.
#[derive(Component, Clone, Copy, Debug)]
struct Orbit {
    yaw: f32,
    pitch: f32,
    radius: f32,
}

impl Default for Orbit {
    fn default() -> Self {
        Self {
            yaw: 0.0,
            pitch: 5f32.to_radians(),
            radius: 0.95,
        }
    }
}

/// Whether the mouse drag in progress turns the camera (it began outside the panel).
#[derive(Resource, Default)]
struct OrbitDrag(bool);

/// Marks the slider panel, to tell drags and wheel turns over it from those over the scene.
#[derive(Component)]
struct Panel;

/// Marks the avatar being edited; removed once its file is checked.
#[derive(Component)]
struct Unchecked;

fn setup_editor(
    mut commands: Commands,
    asset_server: Res<AssetServer>,
    path: Res<AvatarPath>,
    options: Res<EditorOptions>,
) {
    let expression: Expression = options
        .preset
        .iter()
        .map(|(name, weight)| (name.as_str(), *weight))
        .collect();
    let avatar = commands
        .spawn((
            NerfAvatar::new(asset_server.load(path.0.clone())),
            expression,
            Unchecked,
        ))
        .id();
    commands.spawn((
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection {
            fov: FOV_DEGREES.to_radians(),
            ..default()
        }),
        // The avatar's colours are shown as trained, without a tone curve.
        Tonemapping::None,
        Orbit::default(),
        orbit_transform(&Orbit::default(), WINDOW_HEIGHT),
    ));
    commands.spawn((
        Node {
            position_type: PositionType::Absolute,
            right: px(0),
            top: px(0),
            bottom: px(0),
            width: px(PANEL_WIDTH),
            padding: UiRect::all(px(12)),
            row_gap: px(6),
            flex_direction: FlexDirection::Column,
            ..default()
        },
        BackgroundColor(Color::srgba(0.07, 0.08, 0.10, 0.92)),
        RelativeCursorPosition::default(),
        Panel,
        children![
            (
                Text::new(format!("Expression of {}", path.0)),
                TextFont::from_font_size(16.0),
            ),
            (
                Text::new(
                    "Drag a slider to set a weight. Drag the scene or use the arrow keys to orbit, \
                     the wheel to zoom (over the list: to scroll)."
                ),
                TextFont::from_font_size(12.0),
                TextColor(Color::srgb(0.65, 0.67, 0.71)),
            ),
            (
                Node {
                    flex_grow: 1.0,
                    min_height: px(0),
                    margin: UiRect::top(px(6)),
                    ..default()
                },
                ExpressionSliders { avatar },
            ),
        ],
    ));
}

/// Once the avatar's file has loaded, checks that it has every blendshape `--set` names; a
/// file that fails to load or a name it lacks ends the app with an error.
fn check_avatar(
    mut commands: Commands,
    avatars: Query<(Entity, &NerfAvatar), With<Unchecked>>,
    assets: Res<Assets<NerfAvatarAsset>>,
    asset_server: Res<AssetServer>,
    path: Res<AvatarPath>,
    options: Res<EditorOptions>,
    mut exit: MessageWriter<AppExit>,
) {
    for (entity, avatar) in &avatars {
        if let LoadState::Failed(error) = asset_server.load_state(&avatar.avatar) {
            error!("the avatar {} did not load: {error}", path.0);
            exit.write(AppExit::error());
            return;
        }
        let Some(asset) = assets.get(&avatar.avatar) else {
            continue;
        };
        let known = asset.avatar.blendshapes();
        for (name, _) in &options.preset {
            if !known.contains(name) {
                error!(
                    "--set {name}: the avatar {} has no blendshape `{name}` (it has: {})",
                    path.0,
                    known.join(", ")
                );
                exit.write(AppExit::error());
                return;
            }
        }
        info!(
            "editing {} ({} blendshapes: {})",
            path.0,
            known.len(),
            known.join(", ")
        );
        commands.entity(entity).remove::<Unchecked>();
    }
}

/// Turns the camera around the head with mouse drags outside the panel and the arrow keys,
/// zooms with the wheel outside the panel, and keeps the head centred in the part of the
/// window the panel leaves free.
#[expect(
    clippy::too_many_arguments,
    reason = "a Bevy system reads each input it combines as its own parameter"
)]
fn orbit_camera(
    mut cameras: Query<(&mut Orbit, &mut Transform)>,
    panels: Query<&RelativeCursorPosition, With<Panel>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    time: Res<Time<Real>>,
    mut drag: ResMut<OrbitDrag>,
) {
    let over_panel = panels.iter().any(RelativeCursorPosition::cursor_over);
    if buttons.just_pressed(MouseButton::Left) {
        drag.0 = !over_panel;
    }
    if !buttons.pressed(MouseButton::Left) {
        drag.0 = false;
    }
    let mut turn = Vec2::ZERO;
    if drag.0 {
        turn -= motion.delta * DRAG_RADIANS_PER_PIXEL;
    }
    let step = KEY_RADIANS_PER_SECOND * time.delta_secs();
    for (key, direction) in [
        (KeyCode::ArrowLeft, -Vec2::X),
        (KeyCode::ArrowRight, Vec2::X),
        (KeyCode::ArrowUp, -Vec2::Y),
        (KeyCode::ArrowDown, Vec2::Y),
    ] {
        if keys.pressed(key) {
            turn += direction * step;
        }
    }
    let lines = match scroll.unit {
        MouseScrollUnit::Line => scroll.delta.y,
        MouseScrollUnit::Pixel => scroll.delta.y / PIXELS_PER_LINE,
    };
    let zoom = if over_panel { 0.0 } else { lines };
    let window_height = windows.iter().next().map_or(WINDOW_HEIGHT, Window::height);
    for (mut orbit, mut transform) in &mut cameras {
        let max_yaw = MAX_YAW_DEGREES.to_radians();
        let max_pitch = MAX_PITCH_DEGREES.to_radians();
        orbit.yaw = (orbit.yaw + turn.x).clamp(-max_yaw, max_yaw);
        orbit.pitch = (orbit.pitch - turn.y).clamp(-max_pitch, max_pitch);
        orbit.radius = (orbit.radius * (1.0 - ZOOM_PER_LINE * zoom)).clamp(MIN_RADIUS, MAX_RADIUS);
        *transform = orbit_transform(&orbit, window_height);
    }
}

/// The camera's place for `orbit`: on a sphere around the head (at the origin), looking at
/// it, then moved sideways so the head sits in the middle of the window left of the panel.
fn orbit_transform(orbit: &Orbit, window_height: f32) -> Transform {
    let direction = Vec3::new(
        orbit.yaw.sin() * orbit.pitch.cos(),
        orbit.pitch.sin(),
        orbit.yaw.cos() * orbit.pitch.cos(),
    );
    let looking =
        Transform::from_translation(orbit.radius * direction).looking_at(Vec3::ZERO, Vec3::Y);
    let metres_per_pixel =
        2.0 * orbit.radius * (FOV_DEGREES.to_radians() / 2.0).tan() / window_height.max(1.0);
    let shift = looking.right() * (PANEL_WIDTH / 2.0) * metres_per_pixel;
    looking.with_translation(looking.translation + shift)
}
