//! The SSD anchors of MediaPipe's short-range face detector (896 of them), generated the way
//! MediaPipe's `SsdAnchorsCalculator` does for the options of its `face_detector_graph`
//! (4 layers, strides 8, 16, 16, 16, aspect ratio 1 plus one interpolated scale, fixed
//! anchor size: every anchor is 1×1, so only the centres matter).

/// One anchor: a centre in the normalised 128×128 input (anchors have a fixed unit size).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anchor {
    /// Centre x in [0, 1].
    pub x: f32,
    /// Centre y in [0, 1].
    pub y: f32,
}

/// Input size of the detector in pixels (square).
pub const DETECTOR_INPUT: u32 = 128;
const STRIDES: [u32; 4] = [8, 16, 16, 16];

/// The anchors in the order of the detector's 896 outputs.
pub fn face_detector_anchors() -> Vec<Anchor> {
    let layers = STRIDES.len();
    let mut anchors = Vec::new();
    let mut layer = 0;
    while layer < layers {
        // Layers of the same stride share one feature map; each contributes one anchor of
        // aspect ratio 1 and one interpolated-scale anchor per cell.
        let mut per_cell = 0;
        let mut last = layer;
        while last < layers && STRIDES[last] == STRIDES[layer] {
            per_cell += 2;
            last += 1;
        }
        let cells = DETECTOR_INPUT.div_ceil(STRIDES[layer]);
        for y in 0..cells {
            for x in 0..cells {
                for _ in 0..per_cell {
                    anchors.push(Anchor {
                        x: (x as f32 + 0.5) / cells as f32,
                        y: (y as f32 + 0.5) / cells as f32,
                    });
                }
            }
        }
        layer = last;
    }
    anchors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_896_anchors_in_two_feature_maps() {
        let anchors = face_detector_anchors();
        assert_eq!(anchors.len(), 896);
        assert_eq!(
            anchors[0],
            Anchor {
                x: 0.5 / 16.0,
                y: 0.5 / 16.0
            }
        );
        assert_eq!(anchors[1], anchors[0]);
        assert_eq!(anchors[2].x, 1.5 / 16.0);
        assert_eq!(
            anchors[512],
            Anchor {
                x: 0.5 / 8.0,
                y: 0.5 / 8.0
            }
        );
        assert_eq!(anchors[517], anchors[512]);
        assert_eq!(anchors[518].x, 1.5 / 8.0);
        assert_eq!(
            anchors[895],
            Anchor {
                x: 7.5 / 8.0,
                y: 7.5 / 8.0
            }
        );
    }
}
