//! Stateful inference (Keras's `stateful=True`): recurrent states carried from one `predict_step` call to the next.

use super::Model;
use crate::data::DataRef;
use crate::error::{LstmError, Result};

impl Model {
    /// Runs `x` (usually one step, `[B,1]` tokens or `[B,1,F]`) starting from the recurrent states the previous call
    /// left, and keeps the new ones. Text generation steps one word at a time this way instead of re-running the
    /// whole prefix. A different batch size starts from zeros.
    pub fn predict_step(&mut self, x: &DataRef) -> Result<(Vec<f32>, Vec<usize>)> {
        self.check_input(x)?;
        if let Some(why) = self.layers.iter().find_map(|s| s.layer.stateful_unsupported()) {
            return Err(LstmError::InvalidArgument(why));
        }
        self.gather(x, None, None)?;
        let b = self.batch.shape.b;
        let fits = |s: &Vec<Vec<f32>>| s.first().is_some_and(|h| !h.is_empty() && h.len() % b == 0);
        if self.states.len() != self.layers.len() || self.states.iter().flatten().any(|s| !fits(s)) {
            self.states = vec![None; self.layers.len()];
        }
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
