//! Blendshape names: the ARKit names that MediaPipe and iPhone face capture produce, and
//! [`BlendshapeMap`], how one list of names (a driver's, a dataset's, a game's) maps onto
//! another (an avatar's).

/// The 51 ARKit blendshape names in MediaPipe's order, `_neutral` excluded: the default K.
pub const ARKIT_BLENDSHAPES: [&str; 51] = [
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "eyeLookInLeft",
    "eyeLookInRight",
    "eyeLookOutLeft",
    "eyeLookOutRight",
    "eyeLookUpLeft",
    "eyeLookUpRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawOpen",
    "jawRight",
    "mouthClose",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthFunnel",
    "mouthLeft",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthPucker",
    "mouthRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "noseSneerLeft",
    "noseSneerRight",
];

/// Whether `name` is one of the ARKit blendshape names.
pub fn is_arkit_name(name: &str) -> bool {
    ARKIT_BLENDSHAPES.contains(&name)
}

/// How a source list of blendshape names (a clip's columns, a dataset's coefficients, the
/// names a game sets) maps onto a target list (an avatar's): for each target name, the index
/// of the source name equal to it. Names match exactly; a name either side lacks is
/// reported, never guessed.
#[derive(Clone, Debug, PartialEq)]
pub struct BlendshapeMap {
    /// For each target name, the index of the same name in the source.
    sources: Vec<Option<usize>>,
    /// Indices of the source names the target does not have.
    unused: Vec<usize>,
}

impl BlendshapeMap {
    /// Matches `source` names with `target` names.
    pub fn new<S: AsRef<str>, T: AsRef<str>>(source: &[S], target: &[T]) -> Self {
        let sources = target
            .iter()
            .map(|name| {
                source
                    .iter()
                    .position(|known| known.as_ref() == name.as_ref())
            })
            .collect();
        let unused = source
            .iter()
            .enumerate()
            .filter(|(_, name)| !target.iter().any(|t| t.as_ref() == name.as_ref()))
            .map(|(index, _)| index)
            .collect();
        Self { sources, unused }
    }

    /// For each target name, the index of the same name in the source, if it has it.
    pub fn sources(&self) -> &[Option<usize>] {
        &self.sources
    }

    /// Indices of the target names that the source lacks.
    pub fn missing(&self) -> impl Iterator<Item = usize> + '_ {
        self.sources
            .iter()
            .enumerate()
            .filter(|(_, source)| source.is_none())
            .map(|(index, _)| index)
    }

    /// Indices of the source names that the target lacks.
    pub fn unused(&self) -> &[usize] {
        &self.unused
    }

    /// Whether the target has names and the source has none of them.
    pub fn is_disjoint(&self) -> bool {
        !self.sources.is_empty() && self.sources.iter().all(Option::is_none)
    }

    /// One value per target name from a source row: the matching source value, or
    /// `default` where the source lacks the name.
    pub fn apply(&self, row: &[f32], default: f32) -> Vec<f32> {
        self.sources
            .iter()
            .map(|source| source.map_or(default, |k| row[k]))
            .collect()
    }
}

/// The names at `indices` of `names`.
pub fn names_at<S: AsRef<str>>(
    names: &[S],
    indices: impl IntoIterator<Item = usize>,
) -> Vec<String> {
    indices
        .into_iter()
        .map(|index| names[index].as_ref().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_by_equality_and_both_sides_report_what_the_other_lacks() {
        let map = BlendshapeMap::new(
            &["jawOpen", "tongueOut", "eyeBlinkLeft"],
            &["eyeBlinkLeft", "jawOpen", "mouthClose"],
        );
        assert_eq!(map.sources(), &[Some(2), Some(0), None]);
        assert_eq!(map.missing().collect::<Vec<_>>(), vec![2]);
        assert_eq!(map.unused(), &[1]);
        assert_eq!(map.apply(&[0.5, 0.9, 0.25], -1.0), vec![0.25, 0.5, -1.0]);
        assert!(!map.is_disjoint());
        assert!(BlendshapeMap::new(&["a"], &["b"]).is_disjoint());
        assert!(!BlendshapeMap::new(&["a"], &[] as &[&str]).is_disjoint());
        assert_eq!(names_at(&["a", "b", "c"], [2, 0]), vec!["c", "a"]);
    }
}
