//! The execution plan: the layers built for an input, and the arena layout of their parameter tensors.

use super::{ParamEntry, Slot};
use crate::config::{Initializer, LayerConfig};
use crate::error::{LstmError, Result};
use crate::layers::{self, FeatureShape};

pub(super) struct Plan {
    pub slots: Vec<Slot>,
    pub entries: Vec<ParamEntry>,
    /// Each entry's initializer.
    pub inits: Vec<Initializer>,
    /// Parameters in all.
    pub total: usize,
}

/// Builds the layers of a stack on `in_features` input features and lays their tensors out one after another.
/// Sizes come from user configs and files, so the arithmetic is checked: an overflow, or a model whose params, grads
/// and two optimizer slots could not be addressed, is `InvalidConfig` rather than a wrapped size (release builds) or
/// an allocation abort.
pub(super) fn plan(configs: &[LayerConfig], in_features: usize) -> Result<Plan> {
    let too_big = |li: usize| LstmError::InvalidConfig(format!("layer {li}: the parameter count overflows; the sizes are too large"));
    let seq = match &configs[0] {
        LayerConfig::Embedding(_) => true,
        l => l.input_shape().map(|s| s.len() == 2).unwrap_or(true),
    };
    let mut input = FeatureShape { f: in_features, seq };
    let mut plan = Plan { slots: Vec::new(), entries: Vec::new(), inits: Vec::new(), total: 0 };
    for (li, cfg) in configs.iter().enumerate() {
        let built = layers::build(cfg, li, input)?;
        let (first, start) = (plan.entries.len(), plan.total);
        let mut ranges = Vec::with_capacity(built.params.len());
        let mut arena_ranges = Vec::with_capacity(built.params.len());
        for spec in built.params {
            let len = spec.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| too_big(li))?;
            let end = plan.total.checked_add(len).ok_or_else(|| too_big(li))?;
            ranges.push(plan.total - start..end - start);
            arena_ranges.push(plan.total..end);
            plan.entries.push(ParamEntry { name: format!("{li}.{}", spec.name), shape: spec.shape, range: plan.total..end });
            plan.inits.push(spec.init);
            plan.total = end;
        }
        plan.slots.push(Slot { layer: built.layer, entries: first..plan.entries.len(), span: start..plan.total, ranges, arena_ranges });
        input = built.output;
    }
    // params, grads and two optimizer slots of f32 must stay addressable.
    if plan.total.checked_mul(16).is_none_or(|bytes| bytes > isize::MAX as usize) {
        return Err(LstmError::InvalidConfig(format!("the model would have {} parameters, far more than memory can hold", plan.total)));
    }
    Ok(plan)
}

/// A zeroed buffer of `len` floats for `what`, or `OutOfMemory` when it cannot be allocated.
pub(super) fn zeroed(len: usize, what: &str) -> Result<Vec<f32>> {
    crate::mem::filled(len, 0.0, || format!("the {what} of a model of {len} parameters"))
}
