//! Driving expressions from Bevy animation: [`ExpressionWeight`] is an animatable property
//! naming one blendshape weight of the [`Expression`], so a curve on it goes into an
//! `AnimationClip` and plays (and blends) through `AnimationPlayer` and `AnimationGraph`.
//!
//! ```
//! use bevy::animation::AnimationClip;
//! use bevy::animation::AnimationTargetId;
//! use bevy::animation::animation_curves::{AnimatableCurve, AnimatableKeyframeCurve};
//! use bevy::prelude::Name;
//! use bevy_nerf_avatar::ExpressionWeight;
//!
//! let target = AnimationTargetId::from_name(&Name::new("head"));
//! let mut clip = AnimationClip::default();
//! let open_and_close = AnimatableKeyframeCurve::new([(0.0, 0.0), (0.25, 0.8), (0.5, 0.0)]).unwrap();
//! clip.add_curve_to_target(
//!     target,
//!     AnimatableCurve::new(ExpressionWeight::new("jawOpen"), open_and_close),
//! );
//! assert!((clip.duration() - 0.5).abs() < 1e-6);
//! ```

use std::any::TypeId;
use std::hash::{BuildHasher, Hasher};

use bevy::animation::animation_curves::{AnimatableProperty, EvaluatorId};
use bevy::animation::{AnimationEntityMut, AnimationEvaluationError};
use bevy::platform::hash::{FixedHasher, Hashed};

use crate::expression::Expression;

/// One named weight of an [`Expression`], as an animatable property.
#[derive(Clone, Debug)]
pub struct ExpressionWeight {
    name: String,
    evaluator: Hashed<(TypeId, usize)>,
}

impl ExpressionWeight {
    /// The weight of blendshape `name` (an ARKit name such as `jawOpen`).
    pub fn new(name: &str) -> Self {
        let mut hasher = FixedHasher.build_hasher();
        hasher.write(name.as_bytes());
        // Each name is its own property, so curves on different names never blend together.
        let evaluator = Hashed::new((TypeId::of::<ExpressionWeight>(), hasher.finish() as usize));
        Self {
            name: name.to_owned(),
            evaluator,
        }
    }

    /// The blendshape's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl AnimatableProperty for ExpressionWeight {
    type Property = f32;

    fn get_mut<'a>(
        &self,
        entity: &'a mut AnimationEntityMut,
    ) -> Result<&'a mut f32, AnimationEvaluationError> {
        let expression = entity.get_mut::<Expression>().ok_or_else(|| {
            AnimationEvaluationError::ComponentNotPresent(TypeId::of::<Expression>())
        })?;
        Ok(expression.into_inner().weight_mut(&self.name))
    }

    fn evaluator_id(&self) -> EvaluatorId<'_> {
        EvaluatorId::ComponentField(&self.evaluator)
    }
}
