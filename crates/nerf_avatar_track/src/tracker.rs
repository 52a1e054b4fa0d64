//! [`FaceLandmarker`]: MediaPipe's Face Landmarker pipeline on one image (detector, region,
//! landmarks, blendshapes, pose), and [`FaceTracker`], which follows a face through a video
//! by cropping each frame around the previous frame's landmarks and runs the detector only
//! when it has no face.

use image::RgbImage;

use crate::blendshapes::{BlendshapeModel, MODEL_OUTPUTS};
use crate::detector::FaceDetector;
use crate::error::TrackError;
use crate::geometry::{CanonicalFace, MEDIAPIPE_FOV_Y_DEGREES, Similarity};
use crate::landmarks::{FaceLandmarks, LandmarkModel, MIN_PRESENCE};
use crate::roi::Roi;

/// Everything found about one face in one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Face {
    /// The region the landmark model read.
    pub roi: Roi,
    /// The 478 landmarks in pixels (see [`FaceLandmarks`]).
    pub landmarks: FaceLandmarks,
    /// The 52 blendshape scores, `_neutral` first.
    pub blendshapes: [f32; MODEL_OUTPUTS],
    /// Face-to-camera transform (centimetres) for MediaPipe's 63° camera, as MediaPipe
    /// reports it.
    pub pose: Similarity,
}

/// The three models and the canonical face.
#[derive(Debug)]
pub struct FaceLandmarker {
    detector: FaceDetector,
    landmarks: LandmarkModel,
    blendshapes: BlendshapeModel,
    canonical: CanonicalFace,
}

impl FaceLandmarker {
    /// Loads the embedded models.
    pub fn new() -> Result<Self, TrackError> {
        Ok(Self {
            detector: FaceDetector::new()?,
            landmarks: LandmarkModel::new()?,
            blendshapes: BlendshapeModel::new()?,
            canonical: CanonicalFace::mediapipe()?,
        })
    }

    /// The canonical face (for poses under other cameras).
    pub fn canonical_face(&self) -> &CanonicalFace {
        &self.canonical
    }

    /// MediaPipe's IMAGE mode: the detector, then the face in its region.
    pub fn detect(&self, image: &RgbImage) -> Result<Option<Face>, TrackError> {
        match self.detector.detect(image)? {
            Some(detection) => self.face_in(image, detection.roi()),
            None => Ok(None),
        }
    }

    /// The face in `roi`, if the landmark model says one is there.
    pub fn face_in(&self, image: &RgbImage, roi: Roi) -> Result<Option<Face>, TrackError> {
        let landmarks = self.landmarks.run(image, &roi)?;
        if landmarks.presence < MIN_PRESENCE {
            return Ok(None);
        }
        let blendshapes = self.blendshapes.run(&landmarks)?;
        let pose = self.canonical.face_pose(
            &landmarks.points,
            image.width(),
            image.height(),
            MEDIAPIPE_FOV_Y_DEGREES,
        );
        Ok(Some(Face {
            roi,
            landmarks,
            blendshapes,
            pose,
        }))
    }
}

/// Follows one face through consecutive frames.
#[derive(Debug)]
pub struct FaceTracker {
    landmarker: FaceLandmarker,
    next_roi: Option<Roi>,
}

impl FaceTracker {
    /// A tracker with no face yet.
    pub fn new(landmarker: FaceLandmarker) -> Self {
        Self {
            landmarker,
            next_roi: None,
        }
    }

    /// The landmarker.
    pub fn landmarker(&self) -> &FaceLandmarker {
        &self.landmarker
    }

    /// The face of the next frame: tracked from the previous frame's landmarks when there
    /// are some, otherwise (or when the tracked face is lost) found by the detector.
    pub fn track(&mut self, image: &RgbImage) -> Result<Option<Face>, TrackError> {
        let tracked = match self.next_roi {
            Some(roi) => self.landmarker.face_in(image, roi)?,
            None => None,
        };
        let face = match tracked {
            Some(face) => Some(face),
            None => self.landmarker.detect(image)?,
        };
        self.next_roi = face.as_ref().map(|f| f.landmarks.next_roi());
        Ok(face)
    }
}
