//! Per-gate dropout masks (Keras 3's LSTM cell with recurrent dropout): each gate reads x_t and h_{t-1} through its
//! own masks. The fast forward (gate-by-gate products, packed kernel for batches above 4) is checked against a
//! plain scalar LSTM written from the equations, with masks that differ between gates, and the same run with gate
//! 0's masks shared must differ from it (so the check can fail).

use lstm_core::layers::lstm::{lstm_forward, LstmCache, LstmDims, LstmParams};

mod common;
use common::Lcg;

fn vec(r: &mut Lcg, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| r.unit() * scale).collect()
}

/// An inverted-dropout mask: 0 or 1/(1-rate), about `rate` of it 0.
fn mask(r: &mut Lcg, n: usize, rate: f32) -> Vec<f32> {
    (0..n).map(|_| if (r.unit() + 1.0) / 2.0 < rate { 0.0 } else { 1.0 / (1.0 - rate) }).collect()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// h `[B,T,H]` from the LSTM equations, one gate at a time, each through its own copy of the masks
/// (`in_mask` `[B,4,I]`, `rec_mask` `[B,4,H]`), in f64.
fn reference(d: LstmDims, x: &[f32], p: &LstmParams, in_mask: &[f32], rec_mask: &[f32]) -> Vec<f32> {
    let LstmDims { b, t, i, h } = d;
    let mut out = vec![0.0f32; b * t * h];
    for bi in 0..b {
        let (mut hs, mut cs) = (vec![0.0f64; h], vec![0.0f64; h]);
        for tt in 0..t {
            let xt = &x[(bi * t + tt) * i..][..i];
            let mut z = [vec![0.0f64; h], vec![0.0f64; h], vec![0.0f64; h], vec![0.0f64; h]];
            for (g, zg) in z.iter_mut().enumerate() {
                let (mi, mr) = (&in_mask[(bi * 4 + g) * i..][..i], &rec_mask[(bi * 4 + g) * h..][..h]);
                for (j, zj) in zg.iter_mut().enumerate() {
                    let row = g * h + j;
                    *zj = (p.b_ih[row] + p.b_hh[row]) as f64;
                    *zj += (0..i).map(|c| p.w_ih[row * i + c] as f64 * (xt[c] * mi[c]) as f64).sum::<f64>();
                    *zj += (0..h).map(|c| p.w_hh[row * h + c] as f64 * hs[c] * mr[c] as f64).sum::<f64>();
                }
            }
            for j in 0..h {
                cs[j] = sigmoid(z[1][j]) * cs[j] + sigmoid(z[0][j]) * z[2][j].tanh();
                hs[j] = sigmoid(z[3][j]) * cs[j].tanh();
                out[(bi * t + tt) * h + j] = hs[j] as f32;
            }
        }
    }
    out
}

fn check(b: usize, t: usize, i: usize, h: usize, seed: u64) {
    let d = LstmDims { b, t, i, h };
    let r = &mut Lcg(seed);
    let (w_ih, w_hh, b_ih, b_hh) = (vec(r, 4 * h * i, 0.4), vec(r, 4 * h * h, 0.4), vec(r, 4 * h, 0.2), vec(r, 4 * h, 0.2));
    let p = LstmParams { w_ih: &w_ih, w_hh: &w_hh, b_ih: &b_ih, b_hh: &b_hh };
    let x = vec(r, b * t * i, 1.0);
    let (in_mask, rec_mask) = (mask(r, b * 4 * i, 0.3), mask(r, b * 4 * h, 0.3));
    // The gates' masks must differ, or the test could not tell per-gate from shared.
    assert_ne!(in_mask[..i], in_mask[i..2 * i]);
    assert_ne!(rec_mask[..h], rec_mask[3 * h..4 * h]);
    let want = reference(d, &x, &p, &in_mask, &rec_mask);
    let mut cache = LstmCache::default();
    (cache.in_mask, cache.rec_mask) = (in_mask.clone(), rec_mask.clone());
    lstm_forward(d, false, &x, None, p, &mut cache);
    let worst = cache.h[..b * t * h].iter().zip(&want).map(|(a, e)| (a - e).abs()).fold(0.0f32, f32::max);
    assert!(worst < 2e-5, "B={b}: per-gate masked LSTM differs from the reference by {worst}");
    // Sharing gate 0's masks gives a different result: the check above can fail.
    let shared = |m: &[f32], w: usize| (0..b).flat_map(|bi| (0..4).flat_map(move |_| m[bi * 4 * w..][..w].to_vec())).collect::<Vec<f32>>();
    let mut cache = LstmCache::default();
    (cache.in_mask, cache.rec_mask) = (shared(&in_mask, i), shared(&rec_mask, h));
    lstm_forward(d, false, &x, None, p, &mut cache);
    let moved = cache.h[..b * t * h].iter().zip(&want).map(|(a, e)| (a - e).abs()).fold(0.0f32, f32::max);
    assert!(moved > 1e-3, "B={b}: the reference does not depend on the gates' own masks ({moved})");
}

#[test]
fn per_gate_masks_match_the_lstm_equations_small_batch() {
    check(3, 5, 4, 6, 1);
}

/// Batches above 4 take the packed kernel (on AVX-512 CPUs), one product per gate of 40 columns here.
#[test]
fn per_gate_masks_match_the_lstm_equations_packed_batch() {
    check(7, 9, 12, 40, 2);
}
