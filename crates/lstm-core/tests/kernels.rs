//! Fast kernels against their references: `gemm` / `par_gemm` vs `gemm_reference` on many shapes, strides and thread
//! counts; the fast exp / sigmoid / tanh vs the standard library on a dense grid; the fused LSTM cell vs its reference
//! (and its backward vs a float64 derivation); `par_col_sums_add` vs a plain loop. Run with `--nocapture` to see the
//! measured error figures.

use lstm_core::kernels::act::{
    exp_fast, lstm_cell_backward, lstm_cell_forward, lstm_cell_forward_reference, sigmoid_fast, sigmoid_reference, tanh_fast, tanh_reference,
};
use lstm_core::kernels::gemm::{gemm, gemm_reference, par_col_sums_add, par_gemm, Mat, Strides};
use lstm_core::kernels::small::par_gemm_a_wt;

mod common;
use common::Lcg;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

/// A view layout for an `rows × cols` matrix: row-major or transposed storage, with optional padding.
#[derive(Clone, Copy, Debug)]
enum Layout {
    Rows,
    RowsPadded,
    Cols,
    ColsPadded,
}
const LAYOUTS: [Layout; 4] = [Layout::Rows, Layout::RowsPadded, Layout::Cols, Layout::ColsPadded];

impl Layout {
    fn strides(self, rows: usize, cols: usize) -> Strides {
        match self {
            Layout::Rows => Strides::rows(cols),
            Layout::RowsPadded => Strides::rows(cols + 3),
            Layout::Cols => Strides { rs: 1, cs: rows },
            Layout::ColsPadded => Strides { rs: 1, cs: rows + 2 },
        }
    }
    /// Buffer length holding the view, plus a tail that no view may touch.
    fn len(self, rows: usize, cols: usize) -> usize {
        let s = self.strides(rows, cols);
        if rows == 0 || cols == 0 {
            return 5;
        }
        (rows - 1) * s.rs + (cols - 1) * s.cs + 1 + 5
    }
}

fn random(r: &mut Lcg, len: usize) -> Vec<f32> {
    (0..len).map(|_| r.unit()).collect()
}

struct GemmCase {
    m: usize,
    k: usize,
    n: usize,
    la: Layout,
    lb: Layout,
    lc: Layout,
    alpha: f32,
    beta: f32,
}

/// Runs one case through the reference, `gemm` and `par_gemm` on 1, 2 and 3 threads; returns the largest error
/// relative to the bound k·ε·Σ|a||b| (≤ 1 passes).
fn run_gemm(case: &GemmCase, r: &mut Lcg) -> f64 {
    let GemmCase { m, k, n, la, lb, lc, alpha, beta } = *case;
    let (sa, sb, sc) = (la.strides(m, k), lb.strides(k, n), lc.strides(m, n));
    let a = random(r, la.len(m, k));
    let b = random(r, lb.len(k, n));
    let c0 = random(r, lc.len(m, n));
    let mut c_nan = c0.clone();
    if beta == 0.0 {
        // β = 0 must ignore C entirely, NaN included (BLAS semantics).
        for i in 0..m {
            for j in 0..n {
                c_nan[i * sc.rs + j * sc.cs] = f32::NAN;
            }
        }
    }
    let mut want = c0.clone();
    gemm_reference(m, k, n, alpha, Mat::new(&a, sa), Mat::new(&b, sb), beta, &mut want, sc);
    let mut single = c_nan.clone();
    gemm(m, k, n, alpha, Mat::new(&a, sa), Mat::new(&b, sb), beta, &mut single, sc);
    let what = format!("m={m} k={k} n={n} A {la:?} B {lb:?} C {lc:?} alpha={alpha} beta={beta}");
    let mut worst = 0.0f64;
    for i in 0..m {
        for j in 0..n {
            let idx = i * sc.rs + j * sc.cs;
            let mag: f64 = (0..k).map(|p| (a[i * sa.rs + p * sa.cs] as f64 * b[p * sb.rs + j * sb.cs] as f64).abs()).sum::<f64>() * alpha.abs() as f64
                + (beta as f64 * c0[idx] as f64).abs();
            let bound = (k as f64 + 2.0) * f32::EPSILON as f64 * mag + 1e-30;
            let err = (single[idx] as f64 - want[idx] as f64).abs();
            assert!(err <= bound, "{what}: C[{i},{j}] = {} vs reference {} (error {err:e}, bound {bound:e})", single[idx], want[idx]);
            worst = worst.max(err / bound);
        }
    }
    // Elements outside the view are never written.
    let mut inside = vec![false; single.len()];
    for i in 0..m {
        for j in 0..n {
            inside[i * sc.rs + j * sc.cs] = true;
        }
    }
    for (idx, (&s, &orig)) in single.iter().zip(&c_nan).enumerate() {
        if !inside[idx] {
            assert_eq!(s.to_bits(), orig.to_bits(), "{what}: gemm wrote outside the view at {idx}");
        }
    }
    // par_gemm is split by output element, so every thread count gives the same bits; for tiny m or k it streams
    // through the kernels of `small` instead of matrixmultiply, so it is held to the reference like gemm.
    let mut first: Option<Vec<f32>> = None;
    for threads in [1, 2, 3] {
        let mut par = c_nan.clone();
        pool(threads).install(|| par_gemm(m, k, n, alpha, Mat::new(&a, sa), Mat::new(&b, sb), beta, &mut par, sc));
        for i in 0..m {
            for j in 0..n {
                let idx = i * sc.rs + j * sc.cs;
                let mag: f64 = (0..k).map(|p| (a[i * sa.rs + p * sa.cs] as f64 * b[p * sb.rs + j * sb.cs] as f64).abs()).sum::<f64>() * alpha.abs() as f64
                    + (beta as f64 * c0[idx] as f64).abs();
                let bound = (k as f64 + 2.0) * f32::EPSILON as f64 * mag + 1e-30;
                let err = (par[idx] as f64 - want[idx] as f64).abs();
                assert!(err <= bound, "{what}: par_gemm on {threads} threads C[{i},{j}] = {} vs reference {}", par[idx], want[idx]);
            }
        }
        for (idx, (&p, &orig)) in par.iter().zip(&c_nan).enumerate() {
            if !inside[idx] {
                assert_eq!(p.to_bits(), orig.to_bits(), "{what}: par_gemm wrote outside the view at {idx}");
            }
        }
        match &first {
            None => first = Some(par),
            Some(f) => {
                for (idx, (p, q)) in par.iter().zip(f).enumerate() {
                    assert_eq!(p.to_bits(), q.to_bits(), "{what}: par_gemm on {threads} threads differs from 1 thread at {idx}: {p} vs {q}");
                }
            }
        }
    }
    worst
}

#[test]
fn gemm_matches_reference_on_many_shapes_and_strides() {
    let r = &mut Lcg(1);
    let ms = [1, 2, 3, 4, 5, 7, 8, 9, 33, 64, 130];
    let ks = [1, 3, 16, 50, 257];
    let ns = [1, 5, 16, 17, 100, 400];
    let scalars = [(1.0, 0.0), (1.0, 1.0), (0.5, 0.0), (-1.5, 0.25)];
    let mut count = 0;
    let mut worst = 0.0f64;
    for (im, &m) in ms.iter().enumerate() {
        for (ik, &k) in ks.iter().enumerate() {
            for (inn, &n) in ns.iter().enumerate() {
                // Every layout of A, B and C, cycled over the shapes (two layouts per shape).
                for rep in 0..2 {
                    let s = im * 31 + ik * 7 + inn * 3 + rep * 17;
                    let (alpha, beta) = scalars[(s / 5) % scalars.len()];
                    let case = GemmCase { m, k, n, la: LAYOUTS[s % 4], lb: LAYOUTS[(s / 4) % 4], lc: LAYOUTS[(s / 16) % 4], alpha, beta };
                    worst = worst.max(run_gemm(&case, r));
                    count += 1;
                }
            }
        }
    }
    // Small shapes with every combination of layouts.
    for (m, k, n) in [(1, 1, 1), (3, 2, 5), (9, 17, 8), (1, 40, 1000), (1000, 40, 1)] {
        for la in LAYOUTS {
            for lb in LAYOUTS {
                for lc in LAYOUTS {
                    worst = worst.max(run_gemm(&GemmCase { m, k, n, la, lb, lc, alpha: 1.0, beta: 1.0 }, r));
                    count += 1;
                }
            }
        }
    }
    println!("gemm: {count} cases; worst error {worst:.3} of the bound (k+2)·ε·Σ|αab|+|βc|");
}

#[test]
fn gemm_degenerate_sizes() {
    let r = &mut Lcg(2);
    // k = 0: C = β·C. m = 0 or n = 0: nothing to do.
    for (m, k, n) in [(3, 0, 4), (0, 3, 4), (3, 4, 0), (0, 0, 0)] {
        for threads in [1, 2] {
            let a = random(r, m * k + 1);
            let b = random(r, k * n + 1);
            let c0 = random(r, m * n + 1);
            let (mut want, mut got) = (c0.clone(), c0.clone());
            gemm_reference(m, k, n, 1.0, Mat::new(&a, Strides::rows(k)), Mat::new(&b, Strides::rows(n)), 0.5, &mut want, Strides::rows(n));
            pool(threads).install(|| par_gemm(m, k, n, 1.0, Mat::new(&a, Strides::rows(k)), Mat::new(&b, Strides::rows(n)), 0.5, &mut got, Strides::rows(n)));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-7, "m={m} k={k} n={n}: {g} vs {w}");
            }
        }
    }
}

/// Sweeps `x` over [lo, hi] in `steps` and returns (max abs error, max rel error, worst x for each).
fn sweep(lo: f64, hi: f64, steps: usize, extra: &[f32], fast: impl Fn(f32) -> f32, reference: impl Fn(f64) -> f64, rel_floor: f64) -> (f64, f32, f64, f32) {
    let (mut max_abs, mut at_abs, mut max_rel, mut at_rel) = (0.0f64, 0.0f32, 0.0f64, 0.0f32);
    let grid = (0..=steps).map(|i| (lo + (hi - lo) * i as f64 / steps as f64) as f32);
    for x in grid.chain(extra.iter().copied()) {
        let (got, want) = (fast(x) as f64, reference(x as f64));
        let abs = (got - want).abs();
        if abs > max_abs {
            (max_abs, at_abs) = (abs, x);
        }
        if want.abs() >= rel_floor {
            let rel = abs / want.abs();
            if rel > max_rel {
                (max_rel, at_rel) = (rel, x);
            }
        }
    }
    (max_abs, at_abs, max_rel, at_rel)
}

#[test]
fn exp_sigmoid_tanh_fast_vs_std() {
    let extremes = [0.0, -0.0, 1e-8, -1e-8, 1e-30, -1e-30, 1e-3, -1e-3, 0.5, -0.5, 10.0, -10.0, 44.0, -44.0, 87.0, -87.0, 87.3, -87.3, 88.0, 100.0, -100.0];
    let n = 2_000_000;
    // exp, against the float64 exp: within its domain [-87.3, 88.3] (results from 2^-126 to about 2^127).
    let (ea, eax, er, erx) = sweep(-87.3, 88.3, n, &[0.0, 1e-8, -1e-8, 1e-3, -1e-3, 1.0, -1.0, 88.0, 88.3, -87.3], exp_fast, f64::exp, 0.0);
    println!("exp_fast     on [-87.3, 88.3]: max rel error {er:.3e} at {erx}, (abs {ea:.3e} at {eax})");
    assert!(er < 3e-7, "exp_fast relative error {er:e} at {erx}");
    // Below -87.3 the result clamps at e^-87.3 ≈ 1.2e-38 (std: down to subnormals and 0): a tiny absolute error.
    for x in [-87.4f32, -90.0, -100.0, -1e30] {
        assert!(exp_fast(x) >= 0.0 && exp_fast(x) < 1.3e-38, "exp_fast({x}) = {}", exp_fast(x));
    }
    // Above about 88.38 the scale 2^n overflows to inf (std overflows only past 88.72): recorded, not hidden.
    let first_inf = (0..=4000).map(|i| 88.0f32 + i as f32 * 1e-4).find(|x| exp_fast(*x).is_infinite());
    println!(
        "exp_fast     overflows to inf from x = {first_inf:?} (std from {:?})",
        (0..=8000).map(|i| 88.0f32 + i as f32 * 1e-4).find(|x| x.exp().is_infinite())
    );
    assert!(exp_fast(f32::NAN).is_nan());

    // sigmoid over the whole range that matters, abs error everywhere and rel error where σ ≥ 1e-30.
    let (sa, sax, sr, srx) = sweep(-100.0, 100.0, n, &extremes, sigmoid_fast, |x| 1.0 / (1.0 + (-x).exp()), 1e-30);
    println!("sigmoid_fast on [-100, 100]:   max abs error {sa:.3e} at {sax}, max rel error {sr:.3e} at {srx} (where σ ≥ 1e-30)");
    assert!(sa < 2e-7, "sigmoid_fast abs error {sa:e} at {sax}");
    assert!(sr < 1e-6, "sigmoid_fast rel error {sr:e} at {srx}");
    let (ra, rax, _, _) = sweep(-100.0, 100.0, n / 10, &extremes, sigmoid_reference, |x| 1.0 / (1.0 + (-x).exp()), 1e-30);
    println!("sigmoid_reference:             max abs error {ra:.3e} at {rax}");
    assert!((0.0..=1.0).contains(&sigmoid_fast(-1e30)) && (0.0..=1.0).contains(&sigmoid_fast(1e30)));

    // tanh: absolute error (1 - 2/(e^2x + 1) cancels near 0, by design); relative error away from 0.
    let (ta, tax, _, _) = sweep(-100.0, 100.0, n, &extremes, tanh_fast, f64::tanh, f64::INFINITY);
    let (_, _, tr, trx) = sweep(-100.0, 100.0, n, &extremes, tanh_fast, f64::tanh, 0.1);
    let (_, _, tr0, trx0) = sweep(-0.1, 0.1, n / 10, &[1e-8, -1e-8, 1e-30], tanh_fast, f64::tanh, 1e-12);
    println!("tanh_fast    on [-100, 100]:   max abs error {ta:.3e} at {tax}, max rel error {tr:.3e} at {trx} (where |tanh| ≥ 0.1)");
    println!("tanh_fast    near 0:           max rel error {tr0:.3e} at {trx0} (absolute error stays ≤ {ta:.1e}; tanh(1e-8) = {})", tanh_fast(1e-8));
    assert!(ta < 3e-7, "tanh_fast abs error {ta:e} at {tax}");
    assert!(tr < 1e-6, "tanh_fast rel error {tr:e} at {trx}");
    let (rta, rtax, _, _) = sweep(-100.0, 100.0, n / 10, &extremes, tanh_reference, f64::tanh, f64::INFINITY);
    println!("tanh_reference:                max abs error {rta:.3e} at {rtax}");
    for x in [100.0f32, -100.0, 1e30, -1e30] {
        assert_eq!(tanh_fast(x), x.signum(), "tanh_fast({x})");
        assert_eq!(sigmoid_fast(x), if x > 0.0 { 1.0 } else { 0.0 }, "sigmoid_fast({x})");
    }
}

#[test]
fn lstm_cell_fast_vs_reference() {
    let r = &mut Lcg(3);
    let (mut max_h, mut max_c, mut max_g) = (0.0f32, 0.0f32, 0.0f32);
    for &h in &[1usize, 2, 3, 7, 8, 16, 17, 64, 100] {
        for scale in [0.1f32, 1.0, 5.0, 30.0] {
            let gates: Vec<f32> = (0..4 * h).map(|_| r.unit() * scale).collect();
            let c_prev: Vec<f32> = (0..h).map(|_| r.unit() * scale).collect();
            let (mut g1, mut g2) = (gates.clone(), gates.clone());
            let (mut c1, mut c2, mut h1, mut h2) = (vec![0.0; h], vec![0.0; h], vec![0.0; h], vec![0.0; h]);
            lstm_cell_forward(h, &mut g1, &c_prev, &mut c1, &mut h1);
            lstm_cell_forward_reference(h, &mut g2, &c_prev, &mut c2, &mut h2);
            for j in 0..4 * h {
                let e = (g1[j] - g2[j]).abs();
                max_g = max_g.max(e);
                assert!(e <= 3e-7, "h={h} scale={scale}: gate {j}: {} vs {}", g1[j], g2[j]);
            }
            for j in 0..h {
                let (ec, eh) = ((c1[j] - c2[j]).abs(), (h1[j] - h2[j]).abs());
                max_c = max_c.max(ec / (1.0 + c2[j].abs()));
                max_h = max_h.max(eh);
                assert!(ec <= 1e-6 * (1.0 + c2[j].abs()), "h={h} scale={scale}: c[{j}] {} vs {}", c1[j], c2[j]);
                assert!(eh <= 5e-7, "h={h} scale={scale}: h[{j}] {} vs {}", h1[j], h2[j]);
            }
        }
    }
    println!("lstm_cell_forward vs reference: max gate error {max_g:.2e}, max c error {max_c:.2e} (relative to 1+|c|), max h error {max_h:.2e}");
}

#[test]
fn lstm_cell_backward_vs_float64_derivation() {
    let r = &mut Lcg(4);
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let mut worst = 0.0f64;
    for &h in &[1usize, 3, 8, 17] {
        let pre: Vec<f32> = (0..4 * h).map(|_| r.unit() * 2.0).collect();
        let c_prev: Vec<f32> = (0..h).map(|_| r.unit()).collect();
        let dh: Vec<f32> = (0..h).map(|_| r.unit()).collect();
        let dc_next: Vec<f32> = (0..h).map(|_| r.unit()).collect();
        let mut gates = pre.clone();
        let (mut c, mut hh) = (vec![0.0; h], vec![0.0; h]);
        lstm_cell_forward(h, &mut gates, &c_prev, &mut c, &mut hh);
        let mut dc = dc_next.clone();
        let mut dgates = vec![0.0; 4 * h];
        lstm_cell_backward(h, &gates, &c_prev, &c, &dh, &mut dc, &mut dgates);
        for j in 0..h {
            let (i, f, g, o) = (sig(pre[j] as f64), sig(pre[h + j] as f64), (pre[2 * h + j] as f64).tanh(), sig(pre[3 * h + j] as f64));
            let cj = f * c_prev[j] as f64 + i * g;
            let tc = cj.tanh();
            let dcj = dc_next[j] as f64 + dh[j] as f64 * o * (1.0 - tc * tc);
            let want = [dcj * g * i * (1.0 - i), dcj * c_prev[j] as f64 * f * (1.0 - f), dcj * i * (1.0 - g * g), dh[j] as f64 * tc * o * (1.0 - o)];
            for (blk, w) in want.iter().enumerate() {
                let got = dgates[blk * h + j] as f64;
                let e = (got - w).abs();
                worst = worst.max(e);
                assert!(e <= 2e-6 * (1.0 + w.abs()), "h={h} gate block {blk} unit {j}: {got} vs {w}");
            }
            let e = (dc[j] as f64 - dcj * f).abs();
            assert!(e <= 2e-6 * (1.0 + (dcj * f).abs()), "h={h}: dc_prev[{j}] {} vs {}", dc[j], dcj * f);
        }
    }
    println!("lstm_cell_backward vs float64: max error {worst:.2e}");
}

/// Whether the packed kernel runs on this CPU; says so when it does not.
fn packed_kernel_here(available: bool) -> bool {
    if !available {
        println!("packed gemm: not available at this SIMD level, the kernel is not used here");
    }
    available
}

/// A packed product `got` against the reference `want` for C `[m, n]` with rows `ldc` apart, from `c0` with `beta`:
/// each element within (k+2)·ε·Σ|terms| (`term(i, j, p)`, the p-th product of element (i, j)), and every element
/// past column n left as it was.
fn assert_product_close(
    (m, k, n, ldc): (usize, usize, usize, usize),
    beta: f32,
    c0: &[f32],
    got: &[f32],
    want: &[f32],
    term: impl Fn(usize, usize, usize) -> f32,
) {
    for i in 0..m {
        for j in 0..ldc {
            let idx = i * ldc + j;
            if j >= n {
                assert_eq!(got[idx].to_bits(), c0[idx].to_bits(), "m={m} k={k} n={n}: wrote outside C at ({i},{j})");
                continue;
            }
            let mag: f64 = (0..k).map(|p| (term(i, j, p) as f64).abs()).sum::<f64>() + (beta * c0[idx]).abs() as f64;
            let bound = (k as f64 + 2.0) * f32::EPSILON as f64 * mag + 1e-30;
            assert!((got[idx] as f64 - want[idx] as f64).abs() <= bound, "m={m} k={k} n={n} beta={beta}: C[{i},{j}] = {} vs {}", got[idx], want[idx]);
        }
    }
}

/// The packed recurrent kernel (AVX-512 or AVX2, the level's) against the reference, on every tile remainder (rows
/// 1..=17 against tiles of 8 or 6, and around the 32-row blocks; columns around the 8/16/32 register and panel
/// edges), strided A and C, β 0 and 1; and it writes nothing outside C's view.
#[test]
fn packed_gemm_matches_reference() {
    use lstm_core::kernels::packed::{available, gemm_packed, PackedB};
    if !packed_kernel_here(available()) {
        return;
    }
    let r = &mut Lcg(8);
    let mut packed = PackedB::default();
    let mut cases = 0;
    for m in (1..=17).chain([31, 32, 33, 70]) {
        for &k in &[1usize, 3, 16, 100] {
            for &n in &[1usize, 7, 8, 9, 15, 16, 17, 24, 25, 31, 32, 33, 100, 400] {
                for beta in [0.0f32, 1.0] {
                    let (lda, ldc) = (k + m % 3, n + 2 * (k % 2));
                    let a = random(r, (m - 1) * lda + k);
                    // B given transposed, as W_hhᵀ is in the forward pass.
                    let bt = random(r, n * k);
                    let b = Mat::new(&bt, Strides::transposed(k));
                    packed.pack(k, n, b);
                    let c0 = random(r, m * ldc);
                    let mut want = c0.clone();
                    gemm_reference(m, k, n, 1.0, Mat::new(&a, Strides::rows(lda)), b, beta, &mut want, Strides::rows(ldc));
                    let mut got = c0.clone();
                    gemm_packed(m, &a, lda, &packed, beta, &mut got, ldc);
                    assert_product_close((m, k, n, ldc), beta, &c0, &got, &want, |i, j, p| a[i * lda + p] * bt[j * k + p]);
                    cases += 1;
                }
            }
        }
    }
    println!("packed gemm: {cases} cases match the reference");
}

/// A batch of row groups in one call, and B packed as two matrices side by side, give bit for bit what one call
/// per group and one product per matrix give (each element of C is the same sum in the same order); so does the
/// bias form against a copy of the bias followed by β = 1.
#[test]
fn packed_batch_and_side_by_side_match_single_products() {
    use lstm_core::kernels::packed::{available, gemm_packed, gemm_packed_batch, gemm_packed_batch_bias, PackedB};
    if !packed_kernel_here(available()) {
        return;
    }
    let r = &mut Lcg(12);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for &(count, m, k, n1, n2) in
        &[(1usize, 5usize, 7usize, 3usize, 40usize), (3, 8, 50, 100, 50), (32, 8, 50, 400, 0), (5, 1, 16, 31, 2), (2, 40, 100, 17, 16), (9, 3, 400, 100, 50)]
    {
        let n = n1 + n2;
        let (lda, a_step) = (k + 1, (m + 2) * (k + 1));
        let (ldc, c_step) = (n + 3, (m + 1) * (n + 3));
        let a = random(r, count * a_step);
        let (b1, b2) = (random(r, k * n1), random(r, k * n2));
        let (v1, v2) = (Mat::new(&b1, Strides::rows(n1)), Mat::new(&b2, Strides::rows(n2)));
        let mut both = PackedB::default();
        both.pack_side_by_side(k, &[(n1, v1), (n2, v2)]);
        let (mut p1, mut p2) = (PackedB::default(), PackedB::default());
        p1.pack(k, n1, v1);
        p2.pack(k, n2, v2);
        for beta in [0.0f32, 1.0] {
            let c0 = random(r, count * c_step);
            let mut batched = c0.clone();
            gemm_packed_batch(count, m, &a, a_step, lda, &both, beta, &mut batched, c_step, ldc);
            let mut single = c0.clone();
            for j in 0..count {
                gemm_packed(m, &a[j * a_step..], lda, &p1, beta, &mut single[j * c_step..], ldc);
                gemm_packed(m, &a[j * a_step..], lda, &p2, beta, &mut single[j * c_step + n1..], ldc);
            }
            assert_eq!(bits(&batched), bits(&single), "count={count} m={m} k={k} n={n1}+{n2} beta={beta}");
        }
        let bias = random(r, n);
        let c0 = random(r, count * c_step);
        let mut with_bias = c0.clone();
        gemm_packed_batch_bias(count, m, &a, a_step, lda, &both, &bias, &mut with_bias, c_step, ldc);
        let mut copied = c0.clone();
        for j in 0..count {
            for row in 0..m {
                copied[j * c_step + row * ldc..][..n].copy_from_slice(&bias);
            }
        }
        gemm_packed_batch(count, m, &a, a_step, lda, &both, 1.0, &mut copied, c_step, ldc);
        assert_eq!(bits(&with_bias), bits(&copied), "bias: count={count} m={m} k={k} n={n1}+{n2}");
    }
}

/// The transposed-A form (`C = β·C + Aᵀ·B`, A read where it lies, as the weight gradients read dgates) against the
/// reference, with B packed by row blocks as the LSTM packs it, and nothing written outside C's view.
#[test]
fn packed_gemm_at_matches_reference() {
    use lstm_core::kernels::packed::{available, gemm_packed_at, PackedB};
    if !packed_kernel_here(available()) {
        return;
    }
    let r = &mut Lcg(13);
    let mut packed = PackedB::default();
    for &m in &[1usize, 7, 8, 9, 33, 400] {
        for &k in &[1usize, 5, 64, 130] {
            for &n in &[1usize, 16, 33, 151] {
                for beta in [0.0f32, 1.0] {
                    let (lda, ldc) = (m + 3, n + 1);
                    let a = random(r, (k - 1) * lda + m);
                    let x = random(r, (k + 2) * n);
                    // Rows 2..k+2 of a taller X, as a block of the weight gradients' rows is packed.
                    packed.pack_rows(2..k + 2, &[(n, Mat::new(&x, Strides::rows(n)))]);
                    let c0 = random(r, m * ldc);
                    let mut want = c0.clone();
                    gemm_reference(
                        m,
                        k,
                        n,
                        1.0,
                        Mat::new(&a, Strides::transposed(lda)),
                        Mat::new(&x[2 * n..], Strides::rows(n)),
                        beta,
                        &mut want,
                        Strides::rows(ldc),
                    );
                    let mut got = c0.clone();
                    gemm_packed_at(m, &a, lda, &packed, beta, &mut got, ldc);
                    assert_product_close((m, k, n, ldc), beta, &c0, &got, &want, |i, j, p| a[p * lda + i] * x[(p + 2) * n + j]);
                }
            }
        }
    }
}

/// `par_gemm` sends at most 4 rows to the matrix-vector kernel; called directly with more, it takes them four at a
/// time, and must still give every thread count the same bits, within the reference's bound.
#[test]
fn matrix_vector_kernel_takes_any_number_of_rows() {
    let r = &mut Lcg(7);
    for (m, k, n) in [(5, 37, 9), (9, 64, 33), (4, 16, 1)] {
        let (a, w) = (random(r, m * k), random(r, n * k));
        let mut want = vec![0.0f32; m * n];
        gemm_reference(m, k, n, 1.0, Mat::new(&a, Strides::rows(k)), Mat::new(&w, Strides::transposed(k)), 0.0, &mut want, Strides::rows(n));
        let mut first: Option<Vec<f32>> = None;
        for threads in [1, 2, 3] {
            let mut c = vec![f32::NAN; m * n];
            pool(threads).install(|| par_gemm_a_wt(m, k, n, &a, k, &w, 0.0, &mut c, n));
            for (idx, (got, want)) in c.iter().zip(&want).enumerate() {
                let mag: f64 = (0..k).map(|p| (a[(idx / n) * k + p] as f64 * w[(idx % n) * k + p] as f64).abs()).sum();
                assert!(((got - want) as f64).abs() <= (k as f64 + 2.0) * f32::EPSILON as f64 * mag + 1e-30, "m={m} k={k} n={n}: C[{idx}] = {got} vs {want}");
            }
            match &first {
                None => first = Some(c),
                Some(f) => assert!(f.iter().zip(&c).all(|(x, y)| x.to_bits() == y.to_bits()), "m={m}: {threads} threads differ from 1"),
            }
        }
    }
}

#[test]
fn col_sums_match_plain_loop() {
    let r = &mut Lcg(5);
    for &rows in &[0usize, 1, 2, 7, 100, 1000] {
        for &cols in &[1usize, 5, 15, 16, 17, 33, 400, 1000] {
            let mat = random(r, rows * cols);
            let init = random(r, cols);
            let mut want = init.clone();
            for rr in 0..rows {
                for j in 0..cols {
                    want[j] += mat[rr * cols + j];
                }
            }
            for threads in [1, 2, 3] {
                let mut got = init.clone();
                pool(threads).install(|| par_col_sums_add(&mat, rows, cols, &mut got));
                // The same order of additions per column: equal bit for bit.
                assert_eq!(
                    got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    "rows={rows} cols={cols} threads={threads}"
                );
            }
        }
    }
}

/// Backpropagation through a long sequence shrinks the carried gradient geometrically; the backward pass flushes it
/// to zero below `GRAD_FLUSH` so it never reaches the float32 subnormals, on which every x86 operation is ~100×
/// slower (this made backward 10-25× slower than forward at T = 200).
#[test]
fn lstm_backward_makes_no_subnormals() {
    use lstm_core::kernels::act::GRAD_FLUSH;
    use lstm_core::layers::lstm::{lstm_backward, lstm_forward, LstmCache, LstmDims, LstmGrads, LstmParams, OutputGrad};
    let r = &mut Lcg(6);
    let dims = LstmDims { b: 8, t: 300, i: 5, h: 8 };
    let (b, t, i, h) = (dims.b, dims.t, dims.i, dims.h);
    let g4 = 4 * h;
    let scaled = |r: &mut Lcg, n: usize, s: f32| random(r, n).into_iter().map(|v| v * s).collect::<Vec<f32>>();
    let x = random(r, b * t * i);
    let (w_ih, w_hh, b_ih, b_hh) = (scaled(r, g4 * i, 0.1), scaled(r, g4 * h, 0.1), scaled(r, g4, 0.1), scaled(r, g4, 0.1));
    let p = LstmParams { w_ih: &w_ih, w_hh: &w_hh, b_ih: &b_ih, b_hh: &b_hh };
    let dy = random(r, b * h);
    let (mut dw_ih, mut dw_hh, mut db_ih, mut db_hh) = (vec![0.0; g4 * i], vec![0.0; g4 * h], vec![0.0; g4], vec![0.0; g4]);
    let mut dx = vec![0.0; b * t * i];
    let mut cache = LstmCache::default();
    pool(1).install(|| {
        lstm_forward(dims, false, &x, None, p, &mut cache);
        let grads = LstmGrads { dw_ih: Some(&mut dw_ih), dw_hh: Some(&mut dw_hh), db_ih: &mut db_ih, db_hh: &mut db_hh };
        lstm_backward(dims, false, &x, None, p, &mut cache, OutputGrad::Last { dy: &dy, features: h, offset: 0 }, grads, Some(&mut dx), None);
    });
    let dgates = &cache.dgates[..b * t * g4];
    // The gradient really does vanish along the sequence (else this test would prove nothing)...
    let flushed = dgates.iter().filter(|v| **v == 0.0).count();
    assert!(flushed > dgates.len() / 10, "only {flushed} of {} gate gradients vanished", dgates.len());
    // ...and nothing is left between 0 and the flush threshold, in the gates or anything computed from them.
    for (what, v) in [("dgates", dgates), ("dx", &dx[..]), ("dW_ih", &dw_ih[..]), ("dW_hh", &dw_hh[..])] {
        let sub = v.iter().filter(|x| x.is_subnormal()).count();
        assert_eq!(sub, 0, "{what}: {sub} subnormal values");
    }
    assert!(dgates.iter().all(|v| *v == 0.0 || v.abs() >= GRAD_FLUSH));
}
