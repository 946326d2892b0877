//! Parameter initializers (Keras's definitions, on PyTorch layouts: a weight `[out, in]` has fan_in = in).

use crate::config::Initializer;
use crate::error::Result;
use rand::Rng;
use rand_distr::{Distribution, Normal, StandardNormal, Uniform};

/// Fill a tensor of `shape` from `init`, with Keras's fans: `[out, in]` has fan_in = in; a convolution's
/// `[out, in, k]` has fan_in = in·k and fan_out = out·k (the orthogonal initializer sees it as `[out, in·k]`).
pub fn fill_tensor(init: &Initializer, shape: &[usize], rng: &mut impl Rng, out: &mut [f32]) -> Result<()> {
    let rows = shape.first().copied().unwrap_or(out.len());
    let cols = shape.get(1).copied().unwrap_or(0);
    let receptive: usize = shape.iter().skip(2).product();
    if shape.len() > 2 {
        fill_fans(init, rows, cols * receptive, cols * receptive, rows * receptive, rng, out)
    } else {
        fill(init, rows, cols, rng, out)
    }
}

/// Fill `out` (shape `[rows, cols]`, or `[len]` for vectors) from `init`.
pub fn fill(init: &Initializer, rows: usize, cols: usize, rng: &mut impl Rng, out: &mut [f32]) -> Result<()> {
    // A vector's fans are its length, as Keras computes them for 1-D shapes.
    let (fan_in, fan_out) = if cols == 0 { (rows, rows) } else { (cols, rows) };
    fill_fans(init, rows, cols, fan_in, fan_out, rng, out)
}

/// The work space of the orthogonal initializer (twice the tensor's bytes) is the one allocation; it is fallible.
fn fill_fans(init: &Initializer, rows: usize, cols: usize, fan_in: usize, fan_out: usize, rng: &mut impl Rng, out: &mut [f32]) -> Result<()> {
    let (fan_in, fan_out) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
    let uniform = |limit: f64, rng: &mut dyn rand::RngCore, out: &mut [f32]| {
        let d = Uniform::new_inclusive(-limit, limit).expect("finite limit");
        out.iter_mut().for_each(|v| *v = d.sample(rng) as f32);
    };
    // Keras's truncated normal: redraw beyond 2σ; σ corrected for the truncation.
    let truncated = |std: f64, rng: &mut dyn rand::RngCore, out: &mut [f32]| {
        let std = std / 0.879_625_661_034_239_8;
        for v in out.iter_mut() {
            loop {
                let z: f64 = StandardNormal.sample(rng);
                if z.abs() <= 2.0 {
                    *v = (z * std) as f32;
                    break;
                }
            }
        }
    };
    match init {
        Initializer::GlorotUniform => uniform((6.0 / (fan_in + fan_out)).sqrt(), rng, out),
        Initializer::GlorotNormal => truncated((2.0 / (fan_in + fan_out)).sqrt(), rng, out),
        Initializer::HeUniform => uniform((6.0 / fan_in).sqrt(), rng, out),
        Initializer::HeNormal => truncated((2.0 / fan_in).sqrt(), rng, out),
        Initializer::LecunUniform => uniform((3.0 / fan_in).sqrt(), rng, out),
        Initializer::Zeros => out.fill(0.0),
        Initializer::Ones => out.fill(1.0),
        Initializer::Constant { value } => out.fill(*value),
        Initializer::RandomNormal { mean, stddev } => {
            let d = Normal::new(*mean as f64, *stddev as f64).unwrap_or(Normal::new(0.0, 0.05).expect("valid"));
            out.iter_mut().for_each(|v| *v = d.sample(rng) as f32);
        }
        Initializer::RandomUniform { minval, maxval } => {
            let (lo, hi) = (minval.min(*maxval) as f64, minval.max(*maxval) as f64);
            let d = Uniform::new_inclusive(lo, hi).expect("finite bounds");
            out.iter_mut().for_each(|v| *v = d.sample(rng) as f32);
        }
        Initializer::Orthogonal { gain } => return orthogonal(rows, cols.max(1), *gain, rng, out),
    }
    Ok(())
}

/// A `[rows, cols]` matrix with orthonormal columns (rows ≥ cols) or rows, from the QR of a Gaussian matrix
/// (modified Gram-Schmidt, which gives R a positive diagonal, as Keras's sign correction does).
fn orthogonal(rows: usize, cols: usize, gain: f32, rng: &mut impl Rng, out: &mut [f32]) -> Result<()> {
    // Orthonormalise the longer side's vectors: work on a tall [n, k] matrix stored by column.
    let (n, k) = (rows.max(cols), rows.min(cols));
    let what = || format!("work space of the orthogonal initializer of a [{rows}, {cols}] weight");
    let mut q: Vec<Vec<f64>> = crate::mem::filled(k, Vec::new(), what)?;
    for v in q.iter_mut() {
        *v = crate::mem::filled(n, 0.0, what)?;
        v.iter_mut().for_each(|x| *x = StandardNormal.sample(rng));
    }
    for j in 0..k {
        let (done, rest) = q.split_at_mut(j);
        let v = &mut rest[0];
        for u in done.iter() {
            let dot: f64 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(x, u)| *x -= dot * u);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-30);
        v.iter_mut().for_each(|x| *x /= norm);
    }
    for r in 0..rows {
        for c in 0..cols {
            // Tall: column c of q; wide: the transpose.
            let val = if rows >= cols { q[c][r] } else { q[r][c] };
            out[r * cols + c] = (val * gain as f64) as f32;
        }
    }
    Ok(())
}
