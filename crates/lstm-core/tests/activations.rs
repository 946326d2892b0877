//! The fast activations against float64 references over 23.6 million float32 arguments each: every 199th bit
//! pattern (so every binade, from the subnormals to the largest floats, both signs) and a dense grid over [-10, 10].
//! Errors are in ulps of the correctly rounded float32 result. The slice kernels run at the active SIMD level
//! (`LSTM_NATIVE_SIMD`; `.ci/run` runs this file at every level the CPU has); the figures print with `--nocapture`.

use lstm_core::kernels::act::{exp_fast, sigmoid_in_place, tanh_in_place};
use lstm_core::kernels::simd::active;

/// The arguments: every 199th float32 bit pattern that is finite, then a grid of 2^21 points over [-10, 10].
fn arguments() -> Vec<f32> {
    let mut v: Vec<f32> = (0..=u32::MAX / 199).map(|i| f32::from_bits(i * 199)).filter(|x| x.is_finite()).collect();
    v.extend((0..=1 << 21).map(|i| -10.0 + 20.0 * i as f32 / (1 << 21) as f32));
    v.extend([0.0, -0.0, 1e-45, -1e-45, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1e-30, -1e-30, 1e-8, -1e-8, 0.625, -0.625]);
    v
}

/// The distance between float32s at `r`'s magnitude (subnormals: 2^-149).
fn ulp(r: f64) -> f64 {
    let a = r.abs() as f32;
    if a < f32::MIN_POSITIVE {
        return 2f64.powi(-149);
    }
    let e = (a.to_bits() >> 23) as i32 - 127;
    2f64.powi(e - 23)
}

/// Largest error in ulps where the reference is a normal float32 (and where `keep` says), with its argument.
/// Elsewhere (subnormal results) the absolute error must stay below 2^-126.
fn worst_ulps(what: &str, xs: &[f32], got: &[f32], reference: impl Fn(f64) -> f64, keep: impl Fn(f32) -> bool) -> (f64, f32) {
    assert_eq!(xs.len(), got.len());
    let (mut worst, mut at) = (0.0f64, 0.0f32);
    for (&x, &g) in xs.iter().zip(got) {
        if !keep(x) {
            continue;
        }
        let want = reference(x as f64);
        let err = (g as f64 - want).abs();
        assert!(!g.is_nan(), "{what}({x:e}) is NaN");
        if want.abs() < f32::MIN_POSITIVE as f64 {
            assert!(err < f32::MIN_POSITIVE as f64, "{what}({x:e}) = {g:e}, reference {want:e}");
            continue;
        }
        let e = err / ulp(want);
        if e > worst {
            (worst, at) = (e, x);
        }
    }
    (worst, at)
}

#[test]
fn tanh_within_its_ulp_bound_everywhere() {
    let xs = arguments();
    assert!(xs.len() >= 10_000_000);
    let mut got = xs.clone();
    tanh_in_place(&mut got);
    let (worst, at) = worst_ulps("tanh", &xs, &got, f64::tanh, |_| true);
    println!("tanh at {}: {} arguments, max error {worst:.3} ulp at x = {at:e}", active(), xs.len());
    // The bound stated on `tanh_fast`.
    assert!(worst <= 3.0, "tanh: {worst} ulp at {at:e}");
    // Odd, exact at 0, ±1 far out, and x itself for tiny x (tanh x rounds to x there).
    for (x, t) in xs.iter().zip(&got) {
        if x.abs() < 1e-4 {
            assert!((t - x).abs() <= f32::EPSILON * x.abs(), "tanh({x:e}) = {t:e}");
        }
        if x.abs() > 10.0 {
            assert_eq!(*t, x.signum(), "tanh({x:e})");
        }
    }
    let mut neg: Vec<f32> = xs.iter().map(|x| -x).collect();
    tanh_in_place(&mut neg);
    for ((x, n), p) in xs.iter().zip(&neg).zip(&got) {
        assert_eq!(n.to_bits(), (-p).to_bits(), "tanh(-{x:e}) = {n:e} but tanh({x:e}) = {p:e}");
    }
    let mut nan = [f32::NAN];
    tanh_in_place(&mut nan);
    assert!(nan[0].is_nan());
}

#[test]
fn sigmoid_within_its_ulp_bound_everywhere() {
    let xs = arguments();
    let mut got = xs.clone();
    sigmoid_in_place(&mut got);
    let (worst, at) = worst_ulps("sigmoid", &xs, &got, |x| 1.0 / (1.0 + (-x).exp()), |_| true);
    println!("sigmoid at {}: {} arguments, max error {worst:.3} ulp at x = {at:e} (where σ is a normal float)", active(), xs.len());
    assert!(worst <= 3.0, "sigmoid: {worst} ulp at {at:e}");
    assert!(got.iter().all(|s| (0.0..=1.0).contains(s)));
}

#[test]
fn exp_within_its_ulp_bound_on_its_range() {
    let xs = arguments();
    let got: Vec<f32> = xs.iter().map(|&x| exp_fast(x)).collect();
    // Its range: results that are normal floats, below the point where its scale 2^n overflows.
    let (worst, at) = worst_ulps("exp", &xs, &got, f64::exp, |x| (-87.3..=88.37).contains(&x));
    println!("exp: {} arguments in [-87.3, 88.37], max error {worst:.3} ulp at x = {at:e}", xs.iter().filter(|x| (-87.3..=88.37).contains(*x)).count());
    assert!(worst <= 2.0, "exp: {worst} ulp at {at:e}");
}
