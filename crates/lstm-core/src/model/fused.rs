//! Batch-1 steps: weight gradients over at most `SMALL` rows are left as their low-rank factors (`optim::LowRankGrad`)
//! and formed by the update on the fly, or applied by backward itself inside the weight's last product
//! (`layers::StepUpdates`), so that a step reads each large weight as few times as possible.

use super::{not_compiled, Model};
use crate::error::Result;
use crate::kernels::gemm::SMALL;
use crate::optim::{GradSource, LowRankGrad};
use std::ops::Range;

impl Model {
    /// Marks the weights whose gradients this step leaves as factors: those a layer offers
    /// ([`crate::layers::Layer::low_rank_candidates`]) when it is fed at most `SMALL` rows, and the optimizer needs no
    /// whole gradient (no clipping).
    pub(super) fn plan_low_rank(&mut self) {
        self.low_rank.clear();
        self.low_rank.resize(self.entries.len(), false);
        if !self.compiled.as_ref().is_some_and(|c| c.optimizer.can_fuse()) {
            return;
        }
        for (l, slot) in self.layers.iter().enumerate() {
            let in_shape = if l == 0 { self.batch.shape } else { self.shapes[l - 1] };
            if in_shape.b * in_shape.t.unwrap_or(1) > SMALL {
                continue;
            }
            for k in slot.layer.low_rank_candidates() {
                self.low_rank[slot.entries.start + k] = true;
            }
        }
    }

    /// The update, with the planned low-rank gradients formed from what backward left in the layers.
    pub(super) fn apply_low_rank(&mut self) -> Result<()> {
        if !self.low_rank.iter().any(|&f| f) {
            return self.apply_gradients();
        }
        let Model { compiled, params, grads, pool, entries, layers, acts, dacts, shapes, batch, low_rank, inline_step, updated_inline, .. } = self;
        let c = compiled.as_mut().ok_or_else(not_compiled)?;
        let ranges: Vec<Range<usize>> = entries.iter().map(|e| e.range.clone()).collect();
        let mut sources: Vec<GradSource> = entries.iter().map(|e| GradSource::Stored(&grads[e.range.clone()])).collect();
        let mut factors: Vec<Option<LowRankGrad>> = Vec::new();
        for (l, slot) in layers.iter().enumerate() {
            let es = slot.entries.clone();
            if !low_rank[es.clone()].iter().any(|&f| f) {
                continue;
            }
            let in_shape = if l == 0 { batch.shape } else { shapes[l - 1] };
            let x: &[f32] = if l == 0 { &batch.floats } else { &acts[l - 1] };
            factors.clear();
            factors.resize(es.len(), None);
            slot.layer.low_rank_grads(x, in_shape, &dacts[l], &mut factors);
            for (k, f) in factors.drain(..).enumerate() {
                if let (Some(f), true) = (f, low_rank[es.start + k]) {
                    sources[es.start + k] = GradSource::LowRank(f);
                }
            }
        }
        // Weights that backward updated itself are done.
        for (source, _) in sources.iter_mut().zip(updated_inline.iter()).filter(|(_, done)| **done) {
            *source = GradSource::Applied;
        }
        match inline_step.take() {
            Some(rule) => pool.install(|| c.optimizer.finish_step(rule, params, &ranges, &sources)),
            None => pool.install(|| c.optimizer.apply_fused(params, &ranges, &sources)),
        }
        self.step += 1;
        self.check_update()
    }
}
