//! Single-thread GFLOP/s of the packed kernel (AVX-512 or AVX2, the SIMD level's) at the IMDB model's per-step shapes:
//! `cargo run --release -p lstm-core --example packed_times`.
use lstm_core::kernels::gemm::{gemm, Mat, Strides};
use lstm_core::kernels::packed::{available, gemm_packed, gemm_packed_batch, PackedB};
use std::time::Instant;

fn time(name: &str, flops: f64, mut f: impl FnMut()) {
    f();
    let reps = (2e9 / flops).ceil() as usize;
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!("{name:58} {:8.2} us  {:6.1} GFLOP/s", s * 1e6, flops / s / 1e9);
}

fn main() {
    assert!(available(), "needs AVX2 and FMA");
    let (t, h, i, g4) = (200usize, 100usize, 50usize, 400usize);
    let w_hh = vec![0.01f32; g4 * h];
    let w_ih = vec![0.01f32; g4 * i];
    let mut p_hh = PackedB::default();
    p_hh.pack(h, g4, Mat::new(&w_hh, Strides::transposed(h)));
    let mut p_ih = PackedB::default();
    p_ih.pack(i, g4, Mat::new(&w_ih, Strides::transposed(i)));
    let mut p_cat = PackedB::default();
    p_cat.pack_side_by_side(g4, &[(h, Mat::new(&w_hh, Strides::rows(h))), (i, Mat::new(&w_ih, Strides::rows(i)))]);
    let hs = vec![0.5f32; 32 * t * h];
    let xs = vec![0.5f32; 32 * t * i];
    let dg = vec![0.25f32; 32 * t * g4];
    let mut gates = vec![0.0f32; 32 * t * g4];
    let mut out = vec![0.0f32; 32 * (h + i)];
    let fl = |m: usize, k: usize, n: usize| 2.0 * (m * k * n) as f64;
    time("recurrent 32x100x400, rows T apart (training forward)", fl(32, h, g4), || gemm_packed(32, &hs, t * h, &p_hh, 1.0, &mut gates, t * g4));
    time("recurrent 32x100x400, contiguous rows (inference)", fl(32, h, g4), || gemm_packed(32, &hs, h, &p_hh, 1.0, &mut gates, g4));
    time("projection 32 samples x 8 steps x50x400", fl(256, i, g4), || gemm_packed_batch(32, 8, &xs, t * i, i, &p_ih, 1.0, &mut gates, t * g4, g4));
    time("backward 32x400x150, [W_hh W_ih]", fl(32, g4, h + i), || gemm_packed(32, &dg, t * g4, &p_cat, 0.0, &mut out, h + i));
    // The same per-step product through matrixmultiply, which packs W_hhᵀ again on every call.
    let w = Mat::new(&w_hh, Strides::transposed(h));
    time("recurrent 32x100x400 rows T apart, matrixmultiply", fl(32, h, g4), || {
        gemm(32, h, g4, 1.0, Mat::new(&hs, Strides::rows(t * h)), w, 1.0, &mut gates, Strides::rows(t * g4))
    });
}
