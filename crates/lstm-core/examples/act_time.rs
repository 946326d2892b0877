//! Times the activation kernels `tanh_in_place` and `sigmoid_in_place` over 4,096 floats spread over [-8, 8] (the
//! gate rows of a batch-10, H = 100 cell step), at the active SIMD level (`LSTM_NATIVE_SIMD`): ns per element, the
//! best of 5 runs; and, for comparison, plain loops (baseline code) of `tanh_fast` and of the form it replaced,
//! `1 − 2/(e^{2x} + 1)`.
use lstm_core::kernels::act::{exp_fast, sigmoid_in_place, tanh_fast, tanh_in_place};
use std::time::Instant;

fn time(name: &str, f: fn(&mut [f32])) {
    let src: Vec<f32> = (0..4096).map(|i| (i as f32 / 4096.0 - 0.5) * 16.0).collect();
    let mut v = src.clone();
    let reps = 20_000;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            v.copy_from_slice(&src);
            f(std::hint::black_box(&mut v));
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{name}: {:.3} ns per element (copy included) ({})", best / (reps * src.len()) as f64 * 1e9, v[7]);
}

fn tanh_loop(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = tanh_fast(*x));
}

fn tanh_exp_form_loop(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = 1.0 - 2.0 / (exp_fast(2.0 * *x) + 1.0));
}

fn main() {
    println!("SIMD level: {}", lstm_core::kernels::simd::active());
    time("tanh_in_place", tanh_in_place);
    time("sigmoid_in_place", sigmoid_in_place);
    time("tanh_fast loop (baseline)", tanh_loop);
    time("1 - 2/(e^2x + 1) loop (baseline)", tanh_exp_form_loop);
}
