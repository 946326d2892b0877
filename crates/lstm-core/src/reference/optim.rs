//! Optimizers, one tensor at a time, element by element. The momentum forms are Keras's; for a constant learning
//! rate they equal PyTorch's (SGD: Keras's velocity v = μv - lr·g is PyTorch's buffer b = μb + g times -lr; RMSProp:
//! Keras's m = μm + lr·g/(√s+ε) is PyTorch's buffer times lr). ε sits where PyTorch puts it: outside the square root.
//!
//! Clipping, per tensor and before the update: `clipvalue` clamps each element to [-c, c]; then `clipnorm` scales the
//! tensor to L2 norm c when its norm is above c (Keras's `clipnorm`).

use crate::config::{OptimizerConfig, OptimizerKind};
use ndarray::ArrayD;
use std::collections::BTreeMap;

/// g clamped to [-clipvalue, clipvalue], then scaled to norm at most clipnorm.
pub fn clip(cfg: &OptimizerConfig, g: &ArrayD<f64>) -> ArrayD<f64> {
    let mut g = g.clone();
    if let Some(cv) = cfg.clipvalue {
        let cv = cv as f64;
        g.mapv_inplace(|v| v.clamp(-cv, cv));
    }
    if let Some(cn) = cfg.clipnorm {
        let norm = g.mapv(|v| v * v).sum().sqrt();
        if norm > cn as f64 {
            g *= cn as f64 / norm;
        }
    }
    g
}

/// SGD: p -= lr·g; with momentum μ: v = μv - lr·g, then p += v, or (Nesterov) p += μv - lr·g.
pub fn sgd_step(p: &mut ArrayD<f64>, g: &ArrayD<f64>, v: &mut ArrayD<f64>, lr: f64, momentum: f64, nesterov: bool) {
    if momentum == 0.0 {
        *p -= &(g * lr);
        return;
    }
    *v = &*v * momentum - g * lr;
    if nesterov {
        *p += &(&*v * momentum - g * lr);
    } else {
        *p += &*v;
    }
}

/// RMSProp: s = ρs + (1-ρ)g²; p -= lr·g/(√s + ε); with momentum μ: m = μm + lr·g/(√s + ε), p -= m.
#[allow(clippy::too_many_arguments)]
pub fn rmsprop_step(p: &mut ArrayD<f64>, g: &ArrayD<f64>, s: &mut ArrayD<f64>, m: &mut ArrayD<f64>, lr: f64, rho: f64, eps: f64, momentum: f64) {
    *s = &*s * rho + g.mapv(|v| v * v) * (1.0 - rho);
    let step = ndarray::Zip::from(g).and(&*s).map_collect(|&g, &s| lr * g / (s.sqrt() + eps));
    if momentum > 0.0 {
        *m = &*m * momentum + step;
        *p -= &*m;
    } else {
        *p -= &step;
    }
}

/// Adam at step t ≥ 1: m = β1·m + (1-β1)g, v = β2·v + (1-β2)g², p -= lr·m̂/(√v̂ + ε), m̂ = m/(1-β1^t), v̂ = v/(1-β2^t).
#[allow(clippy::too_many_arguments)]
pub fn adam_step(p: &mut ArrayD<f64>, g: &ArrayD<f64>, m: &mut ArrayD<f64>, v: &mut ArrayD<f64>, t: u64, lr: f64, b1: f64, b2: f64, eps: f64) {
    *m = &*m * b1 + g * (1.0 - b1);
    *v = &*v * b2 + g.mapv(|x| x * x) * (1.0 - b2);
    let (bc1, bc2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
    let update = ndarray::Zip::from(&*m).and(&*v).map_collect(|&m, &v| lr * (m / bc1) / ((v / bc2).sqrt() + eps));
    *p -= &update;
}

/// An optimizer with its state per named tensor, starting from zeros.
pub struct Optimizer {
    pub config: OptimizerConfig,
    /// Updates applied so far.
    pub t: u64,
    /// Adam's m, RMSProp's mean square s, SGD's velocity v.
    pub s1: BTreeMap<String, ArrayD<f64>>,
    /// Adam's v, RMSProp's momentum m.
    pub s2: BTreeMap<String, ArrayD<f64>>,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Self {
        Optimizer { config, t: 0, s1: BTreeMap::new(), s2: BTreeMap::new() }
    }

    /// One update of every tensor in `params` from its gradient in `grads` (clipped first).
    pub fn step(&mut self, params: &mut BTreeMap<String, ArrayD<f64>>, grads: &BTreeMap<String, ArrayD<f64>>) {
        self.t += 1;
        let lr = self.config.learning_rate as f64;
        for (name, p) in params.iter_mut() {
            let g = clip(&self.config, &grads[name]);
            let s1 = self.s1.entry(name.clone()).or_insert_with(|| ArrayD::zeros(p.raw_dim()));
            let s2 = self.s2.entry(name.clone()).or_insert_with(|| ArrayD::zeros(p.raw_dim()));
            match self.config.kind {
                OptimizerKind::Sgd { momentum, nesterov } => sgd_step(p, &g, s1, lr, momentum as f64, nesterov),
                OptimizerKind::Rmsprop { rho, epsilon, momentum } => rmsprop_step(p, &g, s1, s2, lr, rho as f64, epsilon as f64, momentum as f64),
                OptimizerKind::Adam { beta1, beta2, epsilon } => adam_step(p, &g, s1, s2, self.t, lr, beta1 as f64, beta2 as f64, epsilon as f64),
            }
        }
    }
}
