//! The batch loop of `fit`: batches drawn from a checked dataset in a given row order, stoppable between batches.

use super::{Model, Stats};
use crate::data::DataRef;
use crate::error::{LstmError, Result};
use std::sync::atomic::{AtomicBool, Ordering};

impl Model {
    /// Trains up to `num_batches` batches of `batch_size` rows, batch k taking rows `order[(first_batch + k) ·
    /// batch_size ..]` of `x` and `y` (checked by [`Model::check_dataset`]; the last batch may be short). Before each
    /// batch it stops if `stop` is set, or when `order` runs out; after each it calls `on_batch(k, stats)`. Returns the
    /// stats of the batches run.
    #[allow(clippy::too_many_arguments)]
    pub fn train_batches(
        &mut self,
        x: &DataRef,
        y: &DataRef,
        order: &[usize],
        batch_size: usize,
        first_batch: usize,
        num_batches: usize,
        stop: &AtomicBool,
        mut on_batch: impl FnMut(usize, Stats),
    ) -> Result<Vec<Stats>> {
        super::checks::check_batch_size(batch_size)?;
        let n = x.shape().first().copied().unwrap_or(0);
        if let Some(&r) = order.iter().find(|&&r| r >= n) {
            return Err(LstmError::InvalidArgument(format!("batch order names row {r}, outside the dataset of {n} rows")));
        }
        let batches = num_batches.min(order.len().div_ceil(batch_size).saturating_sub(first_batch));
        let mut out = Vec::new();
        crate::mem::room(&mut out, batches, || format!("the statistics of {batches} batches"))?;
        for k in 0..num_batches {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let start = match first_batch.checked_add(k).and_then(|b| b.checked_mul(batch_size)) {
                Some(s) if s < order.len() => s,
                _ => break,
            };
            let rows = &order[start..(start + batch_size).min(order.len())];
            let s = self.train_rows(x, y, rows)?;
            out.push(s);
            on_batch(k, s);
        }
        Ok(out)
    }
}
