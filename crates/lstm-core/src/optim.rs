//! Optimizers as one pass over the flat parameter arena: params, grads and each state slot are contiguous.
//! ε is placed as PyTorch does (`p -= lr·m̂/(√v̂ + ε)`); the momentum forms are Keras's.

use crate::config::{OptimizerConfig, OptimizerKind};
use crate::kernels::simd::{dispatch, MulAdd};
use rayon::prelude::*;
use std::ops::Range;

/// Elements per parallel task: large enough to amortise scheduling, small enough to balance two threads.
const CHUNK: usize = 16 * 1024;

pub struct Optimizer {
    pub config: OptimizerConfig,
    /// First state slot: Adam's m, RMSProp's mean square, SGD's velocity.
    pub s1: Vec<f32>,
    /// Second state slot: Adam's v, RMSProp's momentum.
    pub s2: Vec<f32>,
    /// Updates applied so far.
    pub step: u64,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig, len: usize) -> Self {
        Optimizer { config, s1: vec![0.0; len], s2: vec![0.0; len], step: 0 }
    }

    /// Names of the state slots, used as `optimizer.<slot>.<param>` in saved files.
    pub fn slot_names(&self) -> (&'static str, &'static str) {
        match self.config.kind {
            OptimizerKind::Adam { .. } => ("m", "v"),
            OptimizerKind::Rmsprop { .. } => ("rms", "momentum"),
            OptimizerKind::Sgd { .. } => ("velocity", "unused"),
        }
    }

    /// One update of every tensor (`tensors` are the arena ranges, for per-tensor clipping).
    pub fn apply(&mut self, params: &mut [f32], grads: &mut [f32], tensors: &[Range<usize>]) {
        let cfg = self.config.clone();
        if let Some(cv) = cfg.clipvalue {
            grads.par_iter_mut().for_each(|g| *g = g.clamp(-cv, cv));
        }
        if let Some(cn) = cfg.clipnorm {
            for r in tensors {
                let norm = grads[r.clone()].iter().map(|g| (*g as f64) * (*g as f64)).sum::<f64>().sqrt();
                if norm > cn as f64 {
                    let scale = (cn as f64 / norm) as f32;
                    grads[r.clone()].iter_mut().for_each(|g| *g *= scale);
                }
            }
        }
        self.step += 1;
        let lr = cfg.learning_rate;
        let chunks = params
            .par_chunks_mut(CHUNK)
            .zip(grads.par_chunks(CHUNK))
            .zip(self.s1.par_chunks_mut(CHUNK))
            .zip(self.s2.par_chunks_mut(CHUNK));
        match cfg.kind {
            OptimizerKind::Adam { beta1, beta2, epsilon } => {
                let t = self.step as i32;
                let bc1 = 1.0 - (beta1 as f64).powi(t);
                let bc2 = 1.0 - (beta2 as f64).powi(t);
                let (inv_bc1, inv_bc2) = ((1.0 / bc1) as f32, (1.0 / bc2) as f32);
                chunks.for_each(|(((p, g), m), v)| adam_update(p, g, m, v, lr, beta1, beta2, epsilon, inv_bc1, inv_bc2));
            }
            OptimizerKind::Rmsprop { rho, epsilon, momentum } => {
                chunks.for_each(|(((p, g), ms), mom)| rmsprop_update(p, g, ms, mom, lr, rho, epsilon, momentum));
            }
            OptimizerKind::Sgd { momentum, nesterov } => chunks.for_each(|(((p, g), vel), _)| {
                for ((p, g), v) in p.iter_mut().zip(g).zip(vel.iter_mut()) {
                    if momentum == 0.0 {
                        *p -= lr * g;
                    } else {
                        *v = momentum * *v - lr * g;
                        *p += if nesterov { momentum * *v - lr * g } else { *v };
                    }
                }
            }),
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn adam_body<M: MulAdd>(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr: f32, b1: f32, b2: f32, eps: f32, inv_bc1: f32, inv_bc2: f32) {
    for (((p, g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = M::mul_add(b1, *m, (1.0 - b1) * g);
        *v = M::mul_add(b2, *v, (1.0 - b2) * g * g);
        *p -= lr * (*m * inv_bc1) / ((*v * inv_bc2).sqrt() + eps);
    }
}
dispatch!(
    /// Adam on one chunk of the arena (PyTorch's ε placement).
    pub fn adam_update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr: f32, b1: f32, b2: f32, eps: f32, inv_bc1: f32, inv_bc2: f32) => adam_body
);

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rmsprop_body<M: MulAdd>(p: &mut [f32], g: &[f32], ms: &mut [f32], mom: &mut [f32], lr: f32, rho: f32, eps: f32, momentum: f32) {
    if momentum > 0.0 {
        for (((p, g), s), mo) in p.iter_mut().zip(g).zip(ms.iter_mut()).zip(mom.iter_mut()) {
            *s = M::mul_add(rho, *s, (1.0 - rho) * g * g);
            *mo = M::mul_add(momentum, *mo, lr * g / (s.sqrt() + eps));
            *p -= *mo;
        }
    } else {
        for ((p, g), s) in p.iter_mut().zip(g).zip(ms.iter_mut()) {
            *s = M::mul_add(rho, *s, (1.0 - rho) * g * g);
            *p -= lr * g / (s.sqrt() + eps);
        }
    }
}
dispatch!(
    /// RMSProp on one chunk of the arena (PyTorch's ε placement; Keras's momentum form).
    pub fn rmsprop_update(p: &mut [f32], g: &[f32], ms: &mut [f32], mom: &mut [f32], lr: f32, rho: f32, eps: f32, momentum: f32) => rmsprop_body
);
