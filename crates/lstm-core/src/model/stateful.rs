//! Stateful inference (Keras's `stateful=True`): recurrent states carried from one `predict_step` call to the next.

use super::Model;
use crate::data::DataRef;
use crate::error::{LstmError, Result};

impl Model {
    /// Runs `x` (usually one step, `[B,1]` tokens or `[B,1,F]`) starting from the recurrent states the previous call
    /// left, and keeps the new ones. Text generation steps one word at a time this way instead of re-running the
    /// whole prefix. A different batch size than the carried states' is `ShapeMismatch` until `reset_states`.
    pub fn predict_step(&mut self, x: &DataRef) -> Result<(Vec<f32>, Vec<usize>)> {
        self.check_input(x)?;
        if let Some(why) = self.layers.iter().find_map(|s| s.layer.stateful_unsupported()) {
            return Err(LstmError::InvalidArgument(why));
        }
        let b = x.shape().first().copied().unwrap_or(0);
        // As Keras's stateful layers: the states belong to one batch size, and another one is an error rather than a
        // silent start from zeros. `reset_states` forgets them, after which any batch size starts afresh.
        if !self.states.is_empty() && b != self.state_batch {
            return Err(LstmError::ShapeMismatch {
                what: "predictStep batch size (the carried states are for another batch size; call resetStates() first)".into(),
                expected: self.state_batch.to_string(),
                got: b.to_string(),
            });
        }
        self.gather(x, None, None)?;
        if self.states.len() != self.layers.len() {
            self.states = vec![None; self.layers.len()];
        }
        self.state_batch = b;
        for (slot, state) in self.layers.iter_mut().zip(&self.states) {
            if slot.layer.is_recurrent() {
                slot.layer.set_initial_state(b, state.as_ref())?;
            }
        }
        let result = self.forward(false);
        // Keep the final states; the layers clear their initial ones, so training and `predict` start from zeros.
        let t = self.batch.shape.t.unwrap_or(1);
        let mut kept = Ok(());
        for (slot, state) in self.layers.iter_mut().zip(self.states.iter_mut()) {
            if slot.layer.is_recurrent() {
                match slot.layer.take_final_state(b, t, result.is_ok()) {
                    Ok(s) => *state = s,
                    Err(e) => {
                        // Every layer must still clear its initial state; the next call starts from zeros.
                        *state = None;
                        kept = kept.and(Err(e));
                    }
                }
            }
        }
        if result.is_err() || kept.is_err() {
            // A failed step keeps no state (the layers hand back zeros or nothing): that is `reset_states`, after
            // which the next call may start afresh at any batch size.
            self.states.clear();
        }
        result?;
        kept?;
        let last = self.layers.len() - 1;
        let dims = self.shapes[last].dims();
        Ok((crate::mem::copied(&self.acts[last], || format!("the predictions {dims:?}"))?, dims))
    }

    /// Forgets the states kept by [`Model::predict_step`].
    pub fn reset_states(&mut self) {
        self.states.clear();
    }
}
