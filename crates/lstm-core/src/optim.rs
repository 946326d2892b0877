//! Optimizers as one pass over the flat parameter arena: params, grads and each state slot are contiguous.
//! ε is placed as PyTorch does (`p -= lr·m̂/(√v̂ + ε)`); the momentum forms are Keras's.

use crate::config::{OptimizerConfig, OptimizerKind};
use crate::kernels::simd::{dispatch, MulAdd};
use crate::kernels::small::par_gemm_a_b_then;
use crate::kernels::SendPtr;
use rayon::prelude::*;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Raised by an update that wrote a non-finite weight or state value; read and cleared by
    /// [`Optimizer::take_non_finite`]. Each update task computes it in the loop that writes the values, so
    /// detecting an overflow costs a compare per element instead of another pass over the arena.
    non_finite: AtomicBool,
}

impl Optimizer {
    /// Fresh state for `len` parameters; `OutOfMemory` when it cannot be allocated.
    pub fn new(config: OptimizerConfig, len: usize) -> crate::error::Result<Self> {
        let slot = || crate::mem::filled(len, 0.0, || format!("the optimizer state of a model of {len} parameters"));
        Ok(Optimizer { config, s1: slot()?, s2: slot()?, step: 0, non_finite: AtomicBool::new(false) })
    }

    /// Whether an update since the last call wrote a non-finite value into the weights or the state.
    pub fn take_non_finite(&self) -> bool {
        self.non_finite.swap(false, Ordering::Relaxed)
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
        let sources: Vec<GradSource> = tensors.iter().map(|r| GradSource::Stored(&grads[r.clone()])).collect();
        self.update(params, tensors, &sources);
    }

    /// Whether [`Optimizer::apply_fused`] can stand in for [`Optimizer::apply`]: clipping needs whole gradients.
    pub fn can_fuse(&self) -> bool {
        self.config.clipvalue.is_none() && self.config.clipnorm.is_none()
    }

    /// One update where some gradients are given by their low-rank factors instead of stored (see
    /// [`LowRankGrad`]): each row of such a gradient is formed in L1 next to its update, so it is never written to
    /// the arena and read back. For batch-1 steps that halves the bytes the update moves. Gives bit-identical
    /// results to `apply` on the stored gradients (the same sums in the same order). Needs [`Optimizer::can_fuse`].
    pub fn apply_fused(&mut self, params: &mut [f32], tensors: &[Range<usize>], sources: &[GradSource]) {
        debug_assert!(self.can_fuse());
        self.update(params, tensors, sources);
    }

    /// Starts a step whose tensors are updated at different moments: some during backward, each right after its
    /// last read ([`Optimizer::tensor_updates`]), the rest by [`Optimizer::finish_step`]. All take this step's rule.
    pub fn begin_step(&mut self) -> StepRule {
        debug_assert!(self.can_fuse());
        self.step += 1;
        StepRule(Rule::new(&self.config, self.step))
    }

    /// The updates of the tensors at `ranges` (disjoint, in arena order) for a step begun with
    /// [`Optimizer::begin_step`], each with its share of the optimizer state.
    pub fn tensor_updates<const N: usize>(&mut self, step: StepRule, ranges: [Range<usize>; N]) -> [TensorUpdate<'_>; N] {
        let (mut s1, mut s2, mut offset) = (&mut self.s1[..], &mut self.s2[..], 0);
        let non_finite = &self.non_finite;
        ranges.map(|r| {
            assert!(r.start >= offset, "tensor ranges overlap or are out of order");
            let (_, rest1) = std::mem::take(&mut s1).split_at_mut(r.start - offset);
            let (_, rest2) = std::mem::take(&mut s2).split_at_mut(r.start - offset);
            let (a, rest1) = rest1.split_at_mut(r.len());
            let (b, rest2) = rest2.split_at_mut(r.len());
            (s1, s2, offset) = (rest1, rest2, r.end);
            TensorUpdate { rule: step.0, s1: a, s2: b, non_finite }
        })
    }

    /// Ends a step begun with [`Optimizer::begin_step`]: updates every tensor not marked
    /// [`GradSource::Applied`].
    pub fn finish_step(&mut self, step: StepRule, params: &mut [f32], tensors: &[Range<usize>], sources: &[GradSource]) {
        self.update_with(step.0, params, tensors, sources);
    }

    /// The update proper: tensors are cut into tasks of about `CHUNK` elements, all run in one parallel pass.
    fn update(&mut self, params: &mut [f32], tensors: &[Range<usize>], sources: &[GradSource]) {
        self.step += 1;
        let rule = Rule::new(&self.config, self.step);
        self.update_with(rule, params, tensors, sources);
    }

    fn update_with(&mut self, rule: Rule, params: &mut [f32], tensors: &[Range<usize>], sources: &[GradSource]) {
        // Tensors are contiguous and in arena order: carve every buffer into disjoint per-task slices.
        let mut tasks: Vec<Task> = Vec::with_capacity(tensors.len() + params.len() / CHUNK + 1);
        let (mut p_rest, mut s1_rest, mut s2_rest) = (&mut params[..], &mut self.s1[..], &mut self.s2[..]);
        let mut offset = 0;
        for (r, src) in tensors.iter().zip(sources) {
            debug_assert_eq!(r.start, offset, "tensors cover the arena in order");
            let (mut p, pr) = std::mem::take(&mut p_rest).split_at_mut(r.len());
            let (mut s1, s1r) = std::mem::take(&mut s1_rest).split_at_mut(r.len());
            let (mut s2, s2r) = std::mem::take(&mut s2_rest).split_at_mut(r.len());
            (p_rest, s1_rest, s2_rest, offset) = (pr, s1r, s2r, r.end);
            match *src {
                GradSource::Applied => {}
                GradSource::Stored(g) => {
                    for g in g.chunks(CHUNK) {
                        let (p0, p1) = std::mem::take(&mut p).split_at_mut(g.len());
                        let (a0, a1) = std::mem::take(&mut s1).split_at_mut(g.len());
                        let (b0, b1) = std::mem::take(&mut s2).split_at_mut(g.len());
                        (p, s1, s2) = (p1, a1, b1);
                        tasks.push(Task { p: p0, s1: a0, s2: b0, grad: TaskGrad::Stored(g) });
                    }
                }
                GradSource::LowRank(lr) => {
                    let rows_per_task = (CHUNK / lr.n.max(1)).max(1);
                    let rows = r.len() / lr.n.max(1);
                    for j0 in (0..rows).step_by(rows_per_task) {
                        let len = rows_per_task.min(rows - j0) * lr.n;
                        let (p0, p1) = std::mem::take(&mut p).split_at_mut(len);
                        let (a0, a1) = std::mem::take(&mut s1).split_at_mut(len);
                        let (b0, b1) = std::mem::take(&mut s2).split_at_mut(len);
                        (p, s1, s2) = (p1, a1, b1);
                        tasks.push(Task { p: p0, s1: a0, s2: b0, grad: TaskGrad::LowRank(lr, j0) });
                    }
                }
            }
        }
        // Not `all`, which would stop early and leave tasks of this step undone.
        let finite = tasks
            .into_par_iter()
            .map(|t| match t.grad {
                TaskGrad::Stored(g) => stored_task(&rule, t.p, g, t.s1, t.s2),
                TaskGrad::LowRank(lr, j0) => low_rank_task(&rule, lr, j0, t.p, t.s1, t.s2),
            })
            .reduce(|| true, |a, b| a & b);
        if !finite {
            self.non_finite.store(true, Ordering::Relaxed);
        }
    }
}

/// A weight gradient `dW[m, n] = Gᵀ·X = Σ_t G[t, :]ᵀ X[t, :]` kept as its factors: `k` rows of G (`[k, m]`, rows
/// `ldg` apart) and of X (`[k, n]`, rows `ldx` apart). For a step over a few rows (B·T ≤ 4), e.g. LSTM gate
/// gradients and the layer's inputs, this is how backward leaves a weight gradient.
#[derive(Clone, Copy)]
pub struct LowRankGrad<'a> {
    pub k: usize,
    pub n: usize,
    pub g: &'a [f32],
    pub ldg: usize,
    pub x: &'a [f32],
    pub ldx: usize,
}

/// Where one tensor's gradient comes from.
#[derive(Clone, Copy)]
pub enum GradSource<'a> {
    /// Stored in the gradient arena.
    Stored(&'a [f32]),
    /// Formed on the fly from its factors.
    LowRank(LowRankGrad<'a>),
    /// Already updated this step ([`TensorUpdate`]).
    Applied,
}

/// The rule of one step begun with [`Optimizer::begin_step`].
#[derive(Clone, Copy)]
pub struct StepRule(Rule);

/// One tensor's update within a step begun with [`Optimizer::begin_step`], applied where backward reads the
/// tensor for the last time.
pub struct TensorUpdate<'a> {
    rule: Rule,
    s1: &'a mut [f32],
    s2: &'a mut [f32],
    non_finite: &'a AtomicBool,
}

impl TensorUpdate<'_> {
    /// `C = β·C + A·W` over `m` rows of A, with W this tensor (`[k, n]`, n = `grad.n`), and the tensor's update
    /// from its low-rank gradient `grad`, in one pass over W: each run of rows of W is updated as soon as the
    /// product has read it, instead of being read again by the update at the end of the step. The same floats as
    /// the product followed by [`Optimizer::apply_fused`].
    #[allow(clippy::too_many_arguments)]
    pub fn product_then_update(self, m: usize, a: &[f32], lda: usize, w: &mut [f32], grad: LowRankGrad, beta: f32, c: &mut [f32], ldc: usize) {
        let n = grad.n;
        assert!(n > 0 && w.len().is_multiple_of(n) && w.len() == self.s1.len() && w.len() == self.s2.len(), "tensor and state sizes differ");
        let rule = self.rule;
        let len = self.s1.len();
        let (s1, s2) = (SendPtr::new(self.s1), SendPtr::new(self.s2));
        let non_finite = self.non_finite;
        let after = move |i0: usize, rows: &mut [f32]| {
            let (s1, s2) = (&s1, &s2);
            assert!(i0 * n + rows.len() <= len);
            // SAFETY: the kernel hands each run of rows of W to one call only, so the state rows at the same
            // offsets are disjoint between calls; they lie inside this tensor's state (asserted above).
            let (a, b) =
                unsafe { (std::slice::from_raw_parts_mut(s1.0.add(i0 * n), rows.len()), std::slice::from_raw_parts_mut(s2.0.add(i0 * n), rows.len())) };
            if !low_rank_task(&rule, grad, i0, rows, a, b) {
                non_finite.store(true, Ordering::Relaxed);
            }
        };
        par_gemm_a_b_then(m, w.len() / n, n, a, lda, w, beta, c, ldc, &after);
    }
}

struct Task<'a> {
    p: &'a mut [f32],
    s1: &'a mut [f32],
    s2: &'a mut [f32],
    grad: TaskGrad<'a>,
}

enum TaskGrad<'a> {
    Stored(&'a [f32]),
    /// The factors and the tensor row this task starts at.
    LowRank(LowRankGrad<'a>, usize),
}

/// One optimizer's update rule with this step's constants.
#[derive(Clone, Copy)]
enum Rule {
    Adam { lr: f32, beta1: f32, beta2: f32, epsilon: f32, inv_bc1: f32, inv_bc2: f32 },
    Rmsprop { lr: f32, rho: f32, epsilon: f32, momentum: f32 },
    Sgd { lr: f32, momentum: f32, nesterov: bool },
}

impl Rule {
    fn new(cfg: &OptimizerConfig, step: u64) -> Rule {
        let lr = cfg.learning_rate;
        match cfg.kind {
            OptimizerKind::Adam { beta1, beta2, epsilon } => {
                let t = step as i32;
                let bc1 = 1.0 - (beta1 as f64).powi(t);
                let bc2 = 1.0 - (beta2 as f64).powi(t);
                Rule::Adam { lr, beta1, beta2, epsilon, inv_bc1: (1.0 / bc1) as f32, inv_bc2: (1.0 / bc2) as f32 }
            }
            OptimizerKind::Rmsprop { rho, epsilon, momentum } => Rule::Rmsprop { lr, rho, epsilon, momentum },
            OptimizerKind::Sgd { momentum, nesterov } => Rule::Sgd { lr, momentum, nesterov },
        }
    }

    /// The rule on one chunk, inside a kernel already compiled for `M`; false if it wrote a non-finite value.
    #[inline(always)]
    fn run<M: MulAdd>(&self, p: &mut [f32], g: &[f32], s1: &mut [f32], s2: &mut [f32]) -> bool {
        match *self {
            Rule::Adam { lr, beta1, beta2, epsilon, inv_bc1, inv_bc2 } => adam_body::<M>(p, g, s1, s2, lr, beta1, beta2, epsilon, inv_bc1, inv_bc2),
            Rule::Rmsprop { lr, rho, epsilon, momentum } => rmsprop_body::<M>(p, g, s1, s2, lr, rho, epsilon, momentum),
            Rule::Sgd { lr, momentum, nesterov } => sgd_body::<M>(p, g, s1, lr, momentum, nesterov),
        }
    }
}

#[inline(always)]
fn stored_body<M: MulAdd>(rule: &Rule, p: &mut [f32], g: &[f32], s1: &mut [f32], s2: &mut [f32]) -> bool {
    rule.run::<M>(p, g, s1, s2)
}
dispatch!(
    /// One chunk of a tensor whose gradient is stored; false if it wrote a non-finite value.
    fn stored_task(rule: &Rule, p: &mut [f32], g: &[f32], s1: &mut [f32], s2: &mut [f32]) -> bool => stored_body
);

/// Columns of a low-rank gradient formed at a time: few enough to stay in registers.
const LOW_RANK_COLS: usize = 64;

/// A piece of a low-rank gradient where the compiler keeps it on the stack: aligned to the cache line, so that its
/// 64-byte stores and loads never straddle two lines (a straddling store cannot be forwarded to the load that
/// follows it, which stalls the update on every piece).
#[repr(C, align(64))]
struct Piece([f32; LOW_RANK_COLS]);

/// Columns `c0..c0 + g.len()` of row j of a low-rank gradient: `Σ_t G[t, j]·X[t, c]` in order of t, the order of
/// the rank-k kernel's row sum (`kernels::small::combine_rows`, as `par_gemm_gt_x` runs it on stored gradients).
#[inline(always)]
fn low_rank_piece<M: MulAdd>(lr: &LowRankGrad, j: usize, c0: usize, g: &mut [f32]) {
    g.fill(0.0);
    for t in 0..lr.k {
        let s = lr.g[t * lr.ldg + j];
        let x = &lr.x[t * lr.ldx + c0..t * lr.ldx + c0 + g.len()];
        for (g, x) in g.iter_mut().zip(x) {
            *g = M::mul_add(s, *x, *g);
        }
    }
}

/// Rows `j0..` of a tensor whose gradient is low-rank: each row's gradient is formed a piece at a time next to its
/// update, then the rule runs on it.
#[inline(always)]
fn low_rank_body<M: MulAdd>(rule: &Rule, lr: LowRankGrad, j0: usize, p: &mut [f32], s1: &mut [f32], s2: &mut [f32]) -> bool {
    let mut finite = true;
    for (jr, ((p, s1), s2)) in p.chunks_exact_mut(lr.n).zip(s1.chunks_exact_mut(lr.n)).zip(s2.chunks_exact_mut(lr.n)).enumerate() {
        let j = j0 + jr;
        for c0 in (0..lr.n).step_by(LOW_RANK_COLS) {
            let c1 = (c0 + LOW_RANK_COLS).min(lr.n);
            let mut buf = Piece([0.0f32; LOW_RANK_COLS]);
            let g = &mut buf.0[..c1 - c0];
            if g.len() == LOW_RANK_COLS {
                // A constant length lets the compiler keep the piece in registers rather than in memory.
                let g: &mut [f32; LOW_RANK_COLS] = g.try_into().unwrap();
                low_rank_piece::<M>(&lr, j, c0, g);
                finite &= rule.run::<M>(&mut p[c0..c1], g, &mut s1[c0..c1], &mut s2[c0..c1]);
            } else {
                low_rank_piece::<M>(&lr, j, c0, g);
                finite &= rule.run::<M>(&mut p[c0..c1], g, &mut s1[c0..c1], &mut s2[c0..c1]);
            }
        }
    }
    finite
}
dispatch!(
    fn low_rank_task(rule: &Rule, lr: LowRankGrad, j0: usize, p: &mut [f32], s1: &mut [f32], s2: &mut [f32]) -> bool => low_rank_body
);

#[inline(always)]
// SGD has no multiply-add to fuse, so every target rounds alike; `M` keeps the bodies' shape.
#[allow(clippy::extra_unused_type_parameters)]
fn sgd_body<M: MulAdd>(p: &mut [f32], g: &[f32], vel: &mut [f32], lr: f32, momentum: f32, nesterov: bool) -> bool {
    let mut finite = true;
    for ((p, g), v) in p.iter_mut().zip(g).zip(vel.iter_mut()) {
        if momentum == 0.0 {
            *p -= lr * g;
        } else {
            *v = flushed(momentum * *v - lr * g, STATE_FLUSH);
            *p += if nesterov { momentum * *v - lr * g } else { *v };
        }
        finite &= p.is_finite() & v.is_finite();
    }
    finite
}
dispatch!(
    /// SGD on one chunk of the arena (Keras's momentum and Nesterov forms); false if it wrote a non-finite value.
    pub fn sgd_update(p: &mut [f32], g: &[f32], vel: &mut [f32], lr: f32, momentum: f32, nesterov: bool) -> bool => sgd_body
);

/// Optimizer state (m, v, mean squares, velocities) below this magnitude is stored as zero, and gradients below
/// [`GRAD_TINY`] count as zero. Without it, state that decays step after step (a weight whose gradient stays zero)
/// ends up subnormal, and every operation on a subnormal float costs a microcode assist of about a hundred cycles
/// on Intel CPUs, enough to dominate a batch-1 step. The effect on the weights is far below their float
/// precision: with ε = 1e-10 a flushed gradient moves a weight by under lr·1e-8.
pub const STATE_FLUSH: f32 = 1e-30;
/// Gradients below this magnitude count as zero in the update, so that g² stays a normal float.
pub const GRAD_TINY: f32 = 1e-18;

#[inline(always)]
fn flushed(v: f32, below: f32) -> f32 {
    if v.abs() < below {
        0.0
    } else {
        v
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn adam_body<M: MulAdd>(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr: f32, b1: f32, b2: f32, eps: f32, inv_bc1: f32, inv_bc2: f32) -> bool {
    let mut finite = true;
    for (((p, g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = flushed(*g, GRAD_TINY);
        *m = flushed(M::mul_add(b1, *m, (1.0 - b1) * g), STATE_FLUSH);
        *v = flushed(M::mul_add(b2, *v, (1.0 - b2) * g * g), STATE_FLUSH);
        *p -= lr * (*m * inv_bc1) / ((*v * inv_bc2).sqrt() + eps);
        finite &= p.is_finite() & m.is_finite() & v.is_finite();
    }
    finite
}
dispatch!(
    /// Adam on one chunk of the arena (PyTorch's ε placement); false if it wrote a non-finite value.
    pub fn adam_update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr: f32, b1: f32, b2: f32, eps: f32, inv_bc1: f32, inv_bc2: f32) -> bool => adam_body
);

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rmsprop_body<M: MulAdd>(p: &mut [f32], g: &[f32], ms: &mut [f32], mom: &mut [f32], lr: f32, rho: f32, eps: f32, momentum: f32) -> bool {
    let mut finite = true;
    if momentum > 0.0 {
        for (((p, g), s), mo) in p.iter_mut().zip(g).zip(ms.iter_mut()).zip(mom.iter_mut()) {
            let g = flushed(*g, GRAD_TINY);
            *s = flushed(M::mul_add(rho, *s, (1.0 - rho) * g * g), STATE_FLUSH);
            *mo = flushed(M::mul_add(momentum, *mo, lr * g / (s.sqrt() + eps)), STATE_FLUSH);
            *p -= *mo;
            finite &= p.is_finite() & s.is_finite() & mo.is_finite();
        }
    } else {
        for ((p, g), s) in p.iter_mut().zip(g).zip(ms.iter_mut()) {
            let g = flushed(*g, GRAD_TINY);
            *s = flushed(M::mul_add(rho, *s, (1.0 - rho) * g * g), STATE_FLUSH);
            *p -= lr * g / (s.sqrt() + eps);
            finite &= p.is_finite() & s.is_finite();
        }
    }
    finite
}
dispatch!(
    /// RMSProp on one chunk of the arena (PyTorch's ε placement; Keras's momentum form); false if it wrote a
    /// non-finite value.
    pub fn rmsprop_update(p: &mut [f32], g: &[f32], ms: &mut [f32], mom: &mut [f32], lr: f32, rho: f32, eps: f32, momentum: f32) -> bool => rmsprop_body
);
