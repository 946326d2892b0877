//! `LSTM_NATIVE_SIMD`: level names, the errors for an unknown level or one the CPU lacks (model construction fails
//! with INVALID_CONFIG naming the variable and its value), and that each level this CPU has is the one that runs
//! when asked for. The level is read once per process, so those checks run in child processes of this test binary,
//! each with its own setting (the `child_*` tests, ignored unless run that way).

use lstm_core::kernels::gemm::{par_gemm, Mat, Strides};
use lstm_core::kernels::packed;
use lstm_core::kernels::simd::{active, detected, level_from, supported, SimdLevel, SIMD_ENV};
use lstm_core::{backend, Data, Model, ModelConfig};
use std::process::Command;

mod common;
use common::Lcg;

#[test]
fn level_names_and_values() {
    for l in SimdLevel::ALL {
        assert_eq!(SimdLevel::from_name(l.name()), Some(l));
        assert_eq!(l.to_string(), l.name());
    }
    assert_eq!(SimdLevel::from_name(" AVX2 "), Some(SimdLevel::Avx2));
    assert_eq!(SimdLevel::from_name("sse4"), None);
    // Unset or empty: the best the CPU has.
    assert_eq!(level_from(None), Ok(detected()));
    assert_eq!(level_from(Some("")), Ok(detected()));
    assert_eq!(supported().first(), Some(&SimdLevel::Scalar));
    assert_eq!(supported().last(), Some(&detected()));
    for l in SimdLevel::ALL {
        match level_from(Some(l.name())) {
            Ok(got) => assert!(l <= detected() && got == l),
            Err(e) => assert!(l > detected() && e.contains(SIMD_ENV) && e.contains(l.name()) && e.contains("does not support"), "{e}"),
        }
    }
    let e = level_from(Some("avx3")).unwrap_err();
    assert!(e.contains("LSTM_NATIVE_SIMD=\"avx3\"") && e.contains("scalar, avx2 or avx512"), "{e}");
}

/// Runs the ignored test `name` of this binary in a child process with `LSTM_NATIVE_SIMD=value`.
fn run_child(name: &str, value: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(SIMD_ENV, value)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "{name} with {SIMD_ENV}={value}:\n{text}");
}

#[test]
fn a_bad_level_fails_model_construction() {
    let mut bad = vec!["avx3", "sse2", "512"];
    // A level above this CPU's, when there is one.
    bad.extend(SimdLevel::ALL.into_iter().filter(|&l| l > detected()).map(|l| l.name()));
    for value in bad {
        run_child("child_bad_level", value);
    }
}

#[test]
fn each_level_this_cpu_has_runs_when_asked() {
    for l in supported() {
        run_child("child_level_runs", l.name());
    }
    println!("SIMD levels checked: {}", supported().iter().map(|l| l.name()).collect::<Vec<_>>().join(", "));
}

fn config() -> ModelConfig {
    let json = r#"{"layers": [{"type":"embedding","inputDim":20,"outputDim":6}, {"type":"lstm","units":8},
        {"type":"dense","units":3,"activation":"softmax"}], "loss": "sparse_categorical_crossentropy",
        "optimizer": {"type":"adam","learningRate":0.01}, "seed": 5}"#;
    ModelConfig::from_json(json).unwrap()
}

#[test]
#[ignore = "run in a child process by a_bad_level_fails_model_construction"]
fn child_bad_level() {
    let value = std::env::var(SIMD_ENV).unwrap();
    let err = Model::new(config(), 1).err().expect("a model built with a bad LSTM_NATIVE_SIMD");
    assert_eq!(err.code(), "INVALID_CONFIG");
    let msg = err.to_string();
    assert!(msg.contains(&format!("{SIMD_ENV}={value:?}")), "{msg}");
    assert_eq!(backend().unwrap_err().code(), "INVALID_CONFIG");
    // Kernels called directly, without a model, take the portable path.
    assert_eq!(active(), SimdLevel::Scalar);
    assert!(!packed::available());
}

#[test]
#[ignore = "run in a child process by each_level_this_cpu_has_runs_when_asked"]
fn child_level_runs() {
    let want = SimdLevel::from_name(&std::env::var(SIMD_ENV).unwrap()).unwrap();
    assert_eq!(active(), want);
    let b = backend().unwrap();
    assert_eq!(b.simd, want);
    assert!(b.threads >= 1);
    assert_eq!(packed::available(), cfg!(target_arch = "x86_64") && want >= SimdLevel::Avx2);
    if want == SimdLevel::Scalar && cfg!(target_arch = "x86_64") {
        // Every product goes through the portable loops: each element is exactly the in-order float32 sum of
        // separate multiplies and adds (matrixmultiply's kernels would fuse them, or sum in another order). On
        // aarch64 matrixmultiply's NEON kernel, baseline there, keeps the products.
        // Shapes past the portable loops' blocks (64 columns, passes of 32 rows, pieces of 64 rows of B), with B
        // read in place (row-major) and packed (transposed).
        let r = &mut Lcg(9);
        for (m, k, n) in [(37, 300, 45), (70, 130, 150)] {
            let a: Vec<f32> = (0..m * k).map(|_| r.unit()).collect();
            let bm: Vec<f32> = (0..k * n).map(|_| r.unit()).collect();
            let bt: Vec<f32> = (0..n * k).map(|i| bm[(i % k) * n + i / k]).collect();
            let c0: Vec<f32> = (0..m * n).map(|_| r.unit()).collect();
            for (b, bs) in [(&bm, Strides::rows(n)), (&bt, Strides::transposed(k))] {
                let mut c = c0.clone();
                par_gemm(m, k, n, 0.5, Mat::new(&a, Strides::rows(k)), Mat::new(b, bs), 2.0, &mut c, Strides::rows(n));
                for i in 0..m {
                    for j in 0..n {
                        let mut acc = 0.0f32;
                        for p in 0..k {
                            acc += std::hint::black_box(a[i * k + p] * bm[p * n + j]);
                        }
                        assert_eq!(c[i * n + j].to_bits(), (0.5 * acc + 2.0 * c0[i * n + j]).to_bits(), "{m}x{k}x{n} B {bs:?}: C[{i},{j}]");
                    }
                }
            }
        }
    }
    // A model builds and trains at this level.
    let mut model = Model::new(config(), 2).unwrap();
    let x: Vec<i32> = (0..8 * 5).map(|i| i * 7 % 20).collect();
    let y: Vec<i32> = (0..8).map(|i| i % 3).collect();
    let stats = model.train_step(&Data::Tokens(&x, &[8, 5]), &Data::Tokens(&y, &[8])).unwrap();
    assert!(stats.loss.is_finite());
}
