//! The synthetic talking head: determinism, visible controls, masks and the held-out
//! expression rule of its video.

use nerf_avatar::{Intrinsics, Pose};
use nerf_avatar_data::Split;
use nerf_avatar_data::synthetic::backdrop::backdrop;
use nerf_avatar_data::synthetic::motion::{
    FRAME_RATE, allowed_in_training, is_held_out_combination, talking_head_video, test_frame_count,
};
use nerf_avatar_data::synthetic::{SyntheticError, SyntheticFrame, SyntheticHead};

const SIZE: u32 = 96;

fn render(expression: &[f32]) -> SyntheticFrame {
    let camera = Intrinsics::from_fov(SIZE, SIZE, 20.0);
    let pose = Pose::orbit([0.0; 3], 0.9, 0.0, 0.0);
    SyntheticHead::new()
        .render(&camera, &pose, expression, &backdrop(SIZE, SIZE))
        .expect("background has the camera's size")
}

/// Pixels whose colour differs by more than 8 levels in some channel, as (u, v).
fn changed_pixels(a: &SyntheticFrame, b: &SyntheticFrame) -> Vec<(u32, u32)> {
    a.rgb
        .enumerate_pixels()
        .filter(|(u, v, p)| {
            let q = b.rgb.get_pixel(*u, *v);
            (0..3).any(|i| p.0[i].abs_diff(q.0[i]) > 8)
        })
        .map(|(u, v, _)| (u, v))
        .collect()
}

#[test]
fn rendering_and_video_are_deterministic() {
    let expression = [0.3, 0.0, 0.5, 0.2, 0.1, 0.4, 0.0];
    assert_eq!(render(&expression), render(&expression));
    assert_eq!(talking_head_video(120, 7), talking_head_video(120, 7));
    assert_ne!(talking_head_video(120, 7), talking_head_video(120, 8));
}

#[test]
fn every_control_changes_the_image_where_it_should() {
    let neutral = render(&[]);
    let mut centroids = Vec::new();
    for (index, name) in SyntheticHead::CONTROLS.iter().enumerate() {
        let mut expression = vec![0.0; SyntheticHead::CONTROLS.len()];
        expression[index] = 1.0;
        let changed = changed_pixels(&neutral, &render(&expression));
        assert!(
            changed.len() >= 8,
            "{name} changed only {} pixels",
            changed.len()
        );
        let mean_u = changed.iter().map(|(u, _)| *u as f32).sum::<f32>() / changed.len() as f32;
        let mean_v = changed.iter().map(|(_, v)| *v as f32).sum::<f32>() / changed.len() as f32;
        centroids.push((*name, mean_u, mean_v));
    }
    let half = SIZE as f32 / 2.0;
    for (name, u, v) in centroids {
        match name {
            // Seen from the front, the subject's left is the image's right.
            "eyeBlinkLeft" | "mouthSmileLeft" => assert!(u > half, "{name} at u = {u}"),
            "eyeBlinkRight" | "mouthSmileRight" => assert!(u < half, "{name} at u = {u}"),
            "jawOpen" | "mouthPucker" => assert!(v > half, "{name} at v = {v}"),
            "browInnerUp" => assert!(v < half, "{name} at v = {v}"),
            _ => {}
        }
    }
}

#[test]
fn alpha_is_the_head_mask() {
    let frame = render(&[]);
    let alpha = |u: u32, v: u32| frame.alpha[(v * SIZE + u) as usize];
    assert_eq!(alpha(0, 0), 0.0);
    assert_eq!(alpha(SIZE - 1, SIZE - 1), 0.0);
    assert!(alpha(SIZE / 2, SIZE / 2) > 0.999);
    let mask = frame.mask();
    assert_eq!(mask.get_pixel(SIZE / 2, SIZE / 2).0, [255]);
    let background = backdrop(SIZE, SIZE);
    assert_eq!(frame.rgb.get_pixel(0, 0), background.get_pixel(0, 0));
}

#[test]
fn density_is_high_inside_and_zero_outside() {
    let head = SyntheticHead::new();
    let (inside, color) = head.sample([0.0, 0.0, 0.0], &[]);
    assert!(inside > 1000.0);
    assert!(color.iter().all(|c| (0.0..=1.0).contains(c)));
    assert_eq!(head.sample([0.0, 0.0, 0.15], &[]).0, 0.0);
    assert_eq!(head.sample([0.0, 0.155, 0.0], &[]).0, 0.0);
}

#[test]
fn a_background_of_another_size_is_an_error() {
    let camera = Intrinsics::from_fov(32, 32, 20.0);
    let pose = Pose::orbit([0.0; 3], 0.9, 0.0, 0.0);
    let error = SyntheticHead::new()
        .render(&camera, &pose, &[], &backdrop(16, 32))
        .unwrap_err();
    assert!(matches!(
        error,
        SyntheticError::BackgroundSize {
            found_width: 16,
            ..
        }
    ));
}

#[test]
fn test_frames_hold_expression_combinations_unseen_in_training() {
    for seed in 0..4 {
        let video = talking_head_video(300, seed);
        let tests = video.iter().filter(|f| f.split == Split::Test).count();
        assert_eq!(tests, 30);
        assert!(video[..270].iter().all(|f| f.split == Split::Train));
        for (index, frame) in video.iter().enumerate() {
            match frame.split {
                Split::Train => assert!(
                    allowed_in_training(&frame.expression),
                    "seed {seed} frame {index}"
                ),
                Split::Test => assert!(
                    is_held_out_combination(&frame.expression),
                    "seed {seed} frame {index}"
                ),
            }
            assert!(
                !(allowed_in_training(&frame.expression)
                    && is_held_out_combination(&frame.expression))
            );
        }
        let training: Vec<_> = video.iter().filter(|f| f.split == Split::Train).collect();
        for (index, name) in SyntheticHead::CONTROLS.iter().enumerate() {
            let peak = training
                .iter()
                .map(|f| f.expression[index])
                .fold(0.0, f32::max);
            assert!(
                peak > 0.3,
                "seed {seed}: {name} peaks at {peak} in training"
            );
            // Test frames combine values that training shows, without going beyond them.
            let test_peak = video[270..]
                .iter()
                .map(|f| f.expression[index])
                .fold(0.0, f32::max);
            assert!(
                test_peak <= peak,
                "seed {seed}: {name} reaches {test_peak} in test, {peak} in training"
            );
        }
        let brow = SyntheticHead::CONTROLS
            .iter()
            .position(|name| *name == "browInnerUp")
            .unwrap();
        let raised = training
            .iter()
            .filter(|f| f.expression[brow] > 0.55)
            .count();
        assert!(
            raised >= 30,
            "seed {seed}: {raised} training frames raise the brows"
        );
    }
    assert_eq!(test_frame_count(1), 1);
    assert_eq!(test_frame_count(5), 1);
    assert_eq!(talking_head_video(1, 0)[0].split, Split::Test);
}

#[test]
fn motion_is_a_smooth_talking_head() {
    let video = talking_head_video(300, 3);
    let mut previous: Option<[f32; 3]> = None;
    let mut blink_frames = 0;
    for frame in &video {
        assert!(frame.pose.is_rigid(1e-4));
        let eye = frame.pose.origin();
        let distance = eye.iter().map(|c| c * c).sum::<f32>().sqrt();
        assert!((0.85..0.95).contains(&distance), "distance {distance}");
        let yaw = eye[0].atan2(eye[2]).to_degrees();
        let pitch = (eye[1] / distance).asin().to_degrees();
        assert!(
            yaw.abs() <= 20.0 && pitch.abs() <= 10.0,
            "yaw {yaw} pitch {pitch}"
        );
        if let Some(p) = previous {
            let step = (0..3).map(|i| (eye[i] - p[i]).powi(2)).sum::<f32>().sqrt();
            assert!(step < 0.02, "camera jumped {step} m in one frame");
        }
        previous = Some(eye);
        if frame.expression[1] > 0.5 {
            blink_frames += 1;
        }
        assert!(frame.expression.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    let seconds = video.len() as f32 / FRAME_RATE;
    assert!(
        blink_frames >= 2 && (blink_frames as f32) < seconds,
        "{blink_frames} blink frames"
    );
}

#[test]
fn face_and_mouth_boxes_enclose_the_rendered_mouth() {
    let camera = Intrinsics::from_fov(SIZE, SIZE, 20.0);
    let head = SyntheticHead::new();
    for frame in talking_head_video(60, 1).iter().step_by(7) {
        let face = head.face_box(&camera, &frame.pose, &frame.expression);
        let mouth = head.mouth_box(&camera, &frame.pose, &frame.expression);
        assert!(
            face[0] < mouth[0] && mouth[2] < face[2],
            "{face:?} {mouth:?}"
        );
        assert!(
            face[1] < mouth[1] && mouth[3] < face[3],
            "{face:?} {mouth:?}"
        );
        assert!(face.iter().all(|v| (0.0..=SIZE as f32).contains(v)));
    }
    let open = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let pose = Pose::orbit([0.0; 3], 0.9, 0.0, 0.0);
    let mouth = head.mouth_box(&camera, &pose, &open);
    let (neutral, opened) = (render(&[]), render(&open));
    let luma = |p: &image::Rgb<u8>| p.0.iter().map(|c| u32::from(*c)).sum::<u32>() / 3;
    let mouth_interior: Vec<(u32, u32)> = opened
        .rgb
        .enumerate_pixels()
        .filter(|(u, v, p)| luma(p) < 50 && luma(neutral.rgb.get_pixel(*u, *v)) >= 50)
        .map(|(u, v, _)| (u, v))
        .collect();
    assert!(
        mouth_interior.len() >= 4,
        "{} dark pixels",
        mouth_interior.len()
    );
    for (u, v) in mouth_interior {
        let (x, y) = (u as f32 + 0.5, v as f32 + 0.5);
        assert!(
            (mouth[0]..=mouth[2]).contains(&x) && (mouth[1]..=mouth[3]).contains(&y),
            "dark pixel ({u}, {v}) outside {mouth:?}"
        );
    }
}
