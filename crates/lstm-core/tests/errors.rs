//! Every `LstmError` variant from real bad input, and no panics: each call runs under `catch_unwind`, and every
//! failure (a panic, an Ok, or another error kind) is collected so one run reports them all.

use lstm_core::config::{parse_json, LayerConfig};
use lstm_core::{Data, LossConfig, LstmError, Model, ModelConfig, OptimizerConfig};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[derive(Default)]
struct Checks {
    failures: Vec<String>,
    count: usize,
}

impl Checks {
    /// Runs `f`, which must return the error with `code`, without panicking.
    fn err<T>(&mut self, what: &str, code: &str, f: impl FnOnce() -> Result<T, LstmError>) -> Option<LstmError> {
        self.count += 1;
        match catch_unwind(AssertUnwindSafe(f)) {
            Err(p) => {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                self.failures.push(format!("{what}: PANICKED ({msg}), expected {code}"));
                None
            }
            Ok(Ok(_)) => {
                self.failures.push(format!("{what}: succeeded, expected {code}"));
                None
            }
            Ok(Err(e)) if e.code() == code => {
                println!("ok  {what}: {code}: {e}");
                Some(e)
            }
            Ok(Err(e)) => {
                self.failures.push(format!("{what}: got {} ({e}), expected {code}", e.code()));
                None
            }
        }
    }

    fn ok<T>(&mut self, what: &str, f: impl FnOnce() -> Result<T, LstmError>) -> Option<T> {
        self.count += 1;
        match catch_unwind(AssertUnwindSafe(f)) {
            Err(_) => {
                self.failures.push(format!("{what}: PANICKED, expected Ok"));
                None
            }
            Ok(Err(e)) => {
                self.failures.push(format!("{what}: {e}, expected Ok"));
                None
            }
            Ok(Ok(v)) => Some(v),
        }
    }

    fn that(&mut self, what: &str, cond: bool) {
        self.count += 1;
        if !cond {
            self.failures.push(format!("{what}: does not hold"));
        }
    }

    fn finish(self) {
        assert!(self.failures.is_empty(), "{} of {} checks failed:\n{}", self.failures.len(), self.count, self.failures.join("\n"));
        println!("{} checks passed", self.count);
    }
}

fn config(json: &str) -> ModelConfig {
    ModelConfig::from_json(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// Embedding(20, 4, maskZero) → LSTM(3) → Dense(1, sigmoid), binary cross-entropy, Adam.
fn imdb() -> Model {
    Model::new(
        config(
            r#"{"layers":[{"type":"embedding","inputDim":20,"outputDim":4,"maskZero":true},{"type":"lstm","units":3},{"type":"dense","units":1,"activation":"sigmoid"}],
                "loss":"binary_crossentropy","optimizer":"adam","seed":1}"#,
        ),
        1,
    )
    .unwrap()
}

/// A float-input LSTM → Dense(3, softmax), sparse categorical cross-entropy.
fn floats_model() -> Model {
    Model::new(
        config(
            r#"{"layers":[{"type":"lstm","units":4,"returnSequences":true,"inputShape":[5,2]},{"type":"lstm","units":3},{"type":"dense","units":3,"activation":"softmax"}],
                "loss":"sparse_categorical_crossentropy","optimizer":{"type":"rmsprop","learningRate":0.01},"seed":2}"#,
        ),
        1,
    )
    .unwrap()
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("lstm-core-errors-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn codes_are_stable() {
    let cases: Vec<(LstmError, &str)> = vec![
        (LstmError::ShapeMismatch { what: "x".into(), expected: "a".into(), got: "b".into() }, "SHAPE_MISMATCH"),
        (LstmError::IndexOutOfRange { index: 5, limit: 3, position: "x[0]".into() }, "INDEX_OUT_OF_RANGE"),
        (LstmError::NonFinite { what: "x".into(), value: f32::NAN, position: "x[0]".into() }, "NON_FINITE"),
        (LstmError::InvalidConfig("c".into()), "INVALID_CONFIG"),
        (LstmError::InvalidArgument("a".into()), "INVALID_ARGUMENT"),
        (LstmError::CorruptWeights { path: "p".into(), reason: "r".into() }, "CORRUPT_WEIGHTS"),
        (LstmError::Io { path: "p".into(), message: "m".into() }, "IO"),
    ];
    for (e, code) in cases {
        assert_eq!(e.code(), code);
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn shape_mismatch() {
    let mut c = Checks::default();
    let x = vec![1i32; 4 * 5];
    let y = vec![1.0f32; 3];
    let mut m = imdb();
    c.err("x and y sample counts differ", "SHAPE_MISMATCH", || m.forward_backward(&Data::Tokens(&x, &[4, 5]), &Data::Floats(&y, &[3, 1])));
    c.err("evaluate with mismatched counts", "SHAPE_MISMATCH", || m.evaluate(&Data::Tokens(&x, &[4, 5]), &Data::Floats(&y, &[3, 1]), 2));
    let y4 = vec![1.0f32; 8];
    c.err("y shaped [4,2] for an output [4,1]", "SHAPE_MISMATCH", || m.train_step(&Data::Tokens(&x, &[4, 5]), &Data::Floats(&y4, &[4, 2])));
    c.err("y of rank 0", "SHAPE_MISMATCH", || m.train_step(&Data::Tokens(&x, &[4, 5]), &Data::Floats(&y4[..1], &[])));
    c.err("token x of rank 3", "SHAPE_MISMATCH", || m.predict(&Data::Tokens(&x, &[4, 5, 1]), 4));
    c.err("token x of rank 1", "SHAPE_MISMATCH", || m.predict(&Data::Tokens(&x, &[20]), 4));
    c.err("x data shorter than its shape", "SHAPE_MISMATCH", || m.predict(&Data::Tokens(&x, &[5, 5]), 4));
    c.err("x data longer than its shape", "SHAPE_MISMATCH", || m.predict(&Data::Tokens(&x, &[3, 5]), 4));
    c.err("y data shorter than its shape", "SHAPE_MISMATCH", || m.train_step(&Data::Tokens(&x, &[4, 5]), &Data::Floats(&y, &[4, 1])));
    c.err("shape product overflows", "SHAPE_MISMATCH", || m.predict(&Data::Tokens(&x, &[1 << 40, 1 << 40]), 4));
    c.err("zero timesteps into an embedding", "SHAPE_MISMATCH", || m.predict(&Data::Tokens(&[], &[4, 0]), 4));
    c.err("set_weight with the wrong shape", "SHAPE_MISMATCH", || m.set_weight("1.weight_ih", &[12, 5], &[0.0; 60]));
    c.err("set_weight with data not matching the shape", "SHAPE_MISMATCH", || m.set_weight("1.weight_ih", &[12, 4], &[0.0; 40]));
    c.err("set_weight transposed", "SHAPE_MISMATCH", || m.set_weight("1.weight_ih", &[4, 12], &[0.0; 48]));

    let mut f = floats_model();
    let xf = vec![0.5f32; 4 * 5 * 2];
    let yl = vec![1i32; 4];
    c.err("float x of rank 2 into an lstm", "SHAPE_MISMATCH", || f.forward_backward(&Data::Floats(&xf, &[4, 10]), &Data::Tokens(&yl, &[4])));
    c.err("float x of rank 4", "SHAPE_MISMATCH", || f.predict(&Data::Floats(&xf, &[4, 5, 2, 1]), 4));
    c.err("wrong feature count", "SHAPE_MISMATCH", || f.predict(&Data::Floats(&xf, &[4, 10, 1]), 4));
    c.err("zero features", "SHAPE_MISMATCH", || f.predict(&Data::Floats(&[], &[4, 5, 0]), 4));
    c.err("zero timesteps into an lstm", "SHAPE_MISMATCH", || f.predict(&Data::Floats(&[], &[4, 0, 2]), 4));
    c.err("sparse labels [4,1,2]", "SHAPE_MISMATCH", || f.train_step(&Data::Floats(&xf, &[4, 5, 2]), &Data::Tokens(&[0; 8], &[4, 1, 2])));
    c.err("sparse labels with the wrong count", "SHAPE_MISMATCH", || f.train_step(&Data::Floats(&xf, &[4, 5, 2]), &Data::Tokens(&[0; 8], &[4, 2])));
    // After all that, the models still work.
    c.ok("the embedding model still trains", || m.train_step(&Data::Tokens(&x, &[4, 5]), &Data::Floats(&y4[..4], &[4, 1])));
    c.ok("the float model still trains", || f.train_step(&Data::Floats(&xf, &[4, 5, 2]), &Data::Tokens(&yl, &[4])));
    c.finish();
}

#[test]
fn index_out_of_range() {
    let mut c = Checks::default();
    let mut m = imdb();
    let mut x = vec![3i32; 2 * 4];
    let y = vec![1.0f32; 2];
    x[6] = 20;
    let e = c.err("token = inputDim", "INDEX_OUT_OF_RANGE", || m.predict(&Data::Tokens(&x, &[2, 4]), 2));
    if let Some(LstmError::IndexOutOfRange { index, limit, position }) = e {
        c.that("the error names the token, the limit and where", index == 20 && limit == 20 && position.contains("1, 2"));
    }
    x[6] = -1;
    c.err("negative token", "INDEX_OUT_OF_RANGE", || m.train_step(&Data::Tokens(&x, &[2, 4]), &Data::Floats(&y, &[2, 1])));
    x[6] = i32::MAX;
    c.err("token i32::MAX", "INDEX_OUT_OF_RANGE", || m.evaluate(&Data::Tokens(&x, &[2, 4]), &Data::Floats(&y, &[2, 1]), 1));
    x[6] = i32::MIN;
    c.err("token i32::MIN", "INDEX_OUT_OF_RANGE", || m.predict(&Data::Tokens(&x, &[2, 4]), 1));

    x[6] = 1;
    c.err("train_rows with a row past the data", "INDEX_OUT_OF_RANGE", || m.train_rows(&Data::Tokens(&x, &[2, 4]), &Data::Floats(&y, &[2, 1]), &[0, 2]));

    let mut f = floats_model();
    let xf = vec![0.1f32; 2 * 5 * 2];
    let xs = [2, 5, 2];
    c.err("class label = classes", "INDEX_OUT_OF_RANGE", || f.train_step(&Data::Floats(&xf, &xs), &Data::Tokens(&[0, 3], &[2])));
    c.err("negative class label", "INDEX_OUT_OF_RANGE", || f.train_step(&Data::Floats(&xf, &xs), &Data::Tokens(&[-1, 0], &[2])));
    c.err("float class label out of range", "INDEX_OUT_OF_RANGE", || f.evaluate(&Data::Floats(&xf, &xs), &Data::Floats(&[0.0, 7.0], &[2]), 2));
    c.err("fractional float class label", "INVALID_ARGUMENT", || f.evaluate(&Data::Floats(&xf, &xs), &Data::Floats(&[0.0, 1.5], &[2]), 2));
    c.ok("labels in range", || f.train_step(&Data::Floats(&xf, &xs), &Data::Tokens(&[0, 2], &[2])));
    c.finish();
}

#[test]
fn non_finite() {
    let mut c = Checks::default();
    let mut f = floats_model();
    let xs = [2, 5, 2];
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut xf = vec![0.1f32; 20];
        xf[13] = bad;
        let e = c.err(&format!("{bad} in x (train)"), "NON_FINITE", || f.train_step(&Data::Floats(&xf, &xs), &Data::Tokens(&[0, 1], &[2])));
        if let Some(LstmError::NonFinite { position, .. }) = e {
            c.that("the position is x[1, 1, 1]", position.contains("[1, 1, 1]"));
        }
        c.err(&format!("{bad} in x (predict)"), "NON_FINITE", || f.predict(&Data::Floats(&xf, &xs), 1));
        c.err(&format!("{bad} in float class ids"), "NON_FINITE", || f.evaluate(&Data::Floats(&[0.1; 20], &xs), &Data::Floats(&[0.0, bad], &[2]), 2));
        c.err(&format!("{bad} in set_weight"), "NON_FINITE", || f.set_weight("2.bias", &[3], &[0.0, bad, 0.0]));
    }
    let mut m = imdb();
    let x = vec![1i32; 8];
    c.err("NaN in a binary target", "NON_FINITE", || m.train_step(&Data::Tokens(&x, &[2, 4]), &Data::Floats(&[1.0, f32::NAN], &[2, 1])));
    c.err("Inf in a binary target", "NON_FINITE", || m.evaluate(&Data::Tokens(&x, &[2, 4]), &Data::Floats(&[f32::INFINITY, 0.0], &[2, 1]), 2));
    let mut mse = Model::new(config(r#"{"layers":[{"type":"dense","units":2,"inputShape":[3]}],"loss":"mse","optimizer":"sgd"}"#), 1).unwrap();
    c.err("Inf in an mse target", "NON_FINITE", || {
        mse.train_step(&Data::Floats(&[0.0; 6], &[2, 3]), &Data::Floats(&[0.0, 0.0, 0.0, f32::NEG_INFINITY], &[2, 2]))
    });
    // A finite input whose loss overflows f64 cannot come from finite f32 data; huge targets give a huge but finite mse.
    c.ok("huge finite targets", || mse.evaluate(&Data::Floats(&[0.0; 6], &[2, 3]), &Data::Floats(&[f32::MAX; 4], &[2, 2]), 2));
    c.finish();
}

#[test]
fn invalid_config() {
    let mut c = Checks::default();
    let new = |json: &str| Model::new(ModelConfig::from_json(json)?, 1);
    c.err("lstm units 0", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"lstm","units":0,"inputShape":[3,2]}]}"#));
    c.err("dense units 0", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"dense","units":0,"inputShape":[2]}]}"#));
    c.err("embedding inputDim 0", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"embedding","inputDim":0,"outputDim":2}]}"#));
    c.err("embedding outputDim 0", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"embedding","inputDim":3,"outputDim":0}]}"#));
    c.err("negative units", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"dense","units":-3,"inputShape":[2]}]}"#));
    for rate in ["1", "1.0", "-0.1", "1.5", "1e39"] {
        c.err(&format!("dropout rate {rate}"), "INVALID_CONFIG", || new(&format!(r#"{{"layers":[{{"type":"dropout","rate":{rate},"inputShape":[2]}}]}}"#)));
        c.err(&format!("lstm dropout {rate}"), "INVALID_CONFIG", || {
            new(&format!(r#"{{"layers":[{{"type":"lstm","units":2,"dropout":{rate},"inputShape":[3,2]}}]}}"#))
        });
        c.err(&format!("lstm recurrentDropout {rate}"), "INVALID_CONFIG", || {
            new(&format!(r#"{{"layers":[{{"type":"lstm","units":2,"recurrentDropout":{rate},"inputShape":[3,2]}}]}}"#))
        });
    }
    c.ok("dropout rate 0", || new(r#"{"layers":[{"type":"dropout","rate":0,"inputShape":[2]}]}"#));
    c.err("unknown activation", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"dense","units":2,"activation":"gelu","inputShape":[2]}]}"#));
    c.err("unknown layer type", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"conv1d","units":2}]}"#));
    c.err("unknown loss", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"dense","units":2,"inputShape":[2]}],"loss":"hinge"}"#));
    c.err("unknown optimizer", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"dense","units":2,"inputShape":[2]}],"loss":"mse","optimizer":"adagrad"}"#));
    c.err("unknown initializer", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"dense","units":2,"kernelInitializer":"xavier","inputShape":[2]}]}"#));
    c.err("negative learning rate", "INVALID_CONFIG", || {
        new(r#"{"layers":[{"type":"dense","units":2,"inputShape":[2]}],"optimizer":{"type":"adam","learningRate":-1}}"#)
    });
    c.err("adam beta1 = 1", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"dense","units":2,"inputShape":[2]}],"optimizer":{"type":"adam","beta1":1}}"#));
    c.err("no layers", "INVALID_CONFIG", || new(r#"{"layers":[]}"#));
    c.err("not JSON", "INVALID_CONFIG", || new(r#"{"layers":["#));
    c.err("layers not a list", "INVALID_CONFIG", || new(r#"{"layers":3}"#));
    c.err("an embedding after the first layer", "INVALID_CONFIG", || {
        new(r#"{"layers":[{"type":"dense","units":2,"inputShape":[2]},{"type":"embedding","inputDim":3,"outputDim":2}]}"#)
    });
    c.err("an lstm after a 2-D output", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"dense","units":2,"inputShape":[2]},{"type":"lstm","units":2}]}"#));
    c.err("an lstm after an lstm without sequences", "INVALID_CONFIG", || {
        new(r#"{"layers":[{"type":"embedding","inputDim":3,"outputDim":2},{"type":"lstm","units":2},{"type":"lstm","units":2}]}"#)
    });
    c.err("inputShape with 0 features", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"lstm","units":2,"inputShape":[3,0]}]}"#));
    c.err("inputShape of rank 3", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"lstm","units":2,"inputShape":[3,2,1]}]}"#));
    // Absurd sizes are refused, not a panic or an abort on allocation.
    c.err("parameter count overflows usize", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"dense","units":1099511627776,"inputShape":[1099511627776]}]}"#));
    c.err("parameters beyond any allocation", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"dense","units":1000000000000,"inputShape":[1000000]}]}"#));
    c.err("an lstm of 2^62 units", "INVALID_CONFIG", || {
        new(r#"{"layers":[{"type":"embedding","inputDim":3,"outputDim":2},{"type":"lstm","units":4611686018427387904}]}"#)
    });
    c.err("embedding of 2^40 x 2^40", "INVALID_CONFIG", || new(r#"{"layers":[{"type":"embedding","inputDim":1099511627776,"outputDim":1099511627776}]}"#));
    // Initializer parameters that do not fit an f32 are not numbers to start from.
    c.err("random_uniform bounds beyond f32", "INVALID_CONFIG", || {
        new(r#"{"layers":[{"type":"dense","units":2,"inputShape":[2],"kernelInitializer":{"type":"random_uniform","minval":-1e39,"maxval":1e39}}]}"#)
    });
    c.err("constant initializer beyond f32", "INVALID_CONFIG", || {
        new(r#"{"layers":[{"type":"dense","units":2,"inputShape":[2],"biasInitializer":{"type":"constant","value":1e40}}]}"#)
    });
    c.err("random_uniform with minval above maxval", "INVALID_CONFIG", || {
        new(r#"{"layers":[{"type":"dense","units":2,"inputShape":[2],"kernelInitializer":{"type":"random_uniform","minval":1,"maxval":-1}}]}"#)
    });
    c.err("random_uniform with minval above the default maxval", "INVALID_CONFIG", || {
        new(r#"{"layers":[{"type":"dense","units":2,"inputShape":[2],"kernelInitializer":{"type":"random_uniform","minval":0.5}}]}"#)
    });
    // A null in an initializer or optimizer object is what JSON.stringify makes of NaN or ±Infinity: never the default.
    for (what, json) in [
        ("constant initializer value null", r#"{"layers":[{"type":"dense","units":2,"inputShape":[2],"biasInitializer":{"type":"constant","value":null}}]}"#),
        ("random_normal stddev null", r#"{"layers":[{"type":"dense","units":2,"inputShape":[2],"kernelInitializer":{"type":"random_normal","stddev":null}}]}"#),
        ("adam learningRate null", r#"{"layers":[{"type":"dense","units":2,"inputShape":[2]}],"loss":"mse","optimizer":{"type":"adam","learningRate":null}}"#),
    ] {
        if let Some(e) = c.err(what, "INVALID_CONFIG", || new(json)) {
            assert!(e.to_string().contains("is null"), "{what}: {e}");
        }
    }
    c.err("orthogonal gain beyond f32", "INVALID_CONFIG", || {
        new(r#"{"layers":[{"type":"dense","units":2,"inputShape":[2],"kernelInitializer":{"type":"orthogonal","gain":-1e39}}]}"#)
    });

    // The piecewise parsers.
    c.err("parse_json layer with unknown activation", "INVALID_CONFIG", || {
        parse_json::<LayerConfig>("layer", r#"{"type":"dense","units":2,"activation":"swish"}"#)
    });
    c.err("parse_json unknown loss", "INVALID_CONFIG", || parse_json::<LossConfig>("loss", r#""hinge""#));
    c.err("parse_json loss object of unknown type", "INVALID_CONFIG", || parse_json::<LossConfig>("loss", r#"{"type":"kld"}"#));
    c.err("parse_json unknown optimizer", "INVALID_CONFIG", || parse_json::<OptimizerConfig>("optimizer", r#"{"type":"lbfgs"}"#));
    c.err("OptimizerConfig::from_name unknown", "INVALID_CONFIG", || OptimizerConfig::from_name("adamw"));
    c.ok("parse_json known loss", || parse_json::<LossConfig>("loss", r#"{"type":"sparseCategoricalCrossentropy","fromLogits":true}"#));

    // Training, evaluation and updates before compile.
    let mut m = Model::new(config(r#"{"layers":[{"type":"dense","units":1,"inputShape":[2]}]}"#), 1).unwrap();
    let (x, y) = ([0.0f32; 4], [0.0f32; 2]);
    c.err("train_step before compile", "INVALID_CONFIG", || m.train_step(&Data::Floats(&x, &[2, 2]), &Data::Floats(&y, &[2, 1])));
    c.err("forward_backward before compile", "INVALID_CONFIG", || m.forward_backward(&Data::Floats(&x, &[2, 2]), &Data::Floats(&y, &[2, 1])));
    c.err("evaluate before compile", "INVALID_CONFIG", || m.evaluate(&Data::Floats(&x, &[2, 2]), &Data::Floats(&y, &[2, 1]), 2));
    c.err("train_rows before compile", "INVALID_CONFIG", || m.train_rows(&Data::Floats(&x, &[2, 2]), &Data::Floats(&y, &[2, 1]), &[0, 1]));
    c.err("apply_gradients before compile", "INVALID_CONFIG", || m.apply_gradients());
    c.ok("predict needs no compile", || m.predict(&Data::Floats(&x, &[2, 2]), 2));
    c.finish();
}

#[test]
fn invalid_argument() {
    let mut c = Checks::default();
    let mut m = imdb();
    let x = vec![1i32; 8];
    let y = vec![0.0f32; 2];
    c.err("empty dataset (predict)", "INVALID_ARGUMENT", || m.predict(&Data::Tokens(&[], &[0, 4]), 2));
    c.err("empty dataset (train)", "INVALID_ARGUMENT", || m.train_step(&Data::Tokens(&[], &[0, 4]), &Data::Floats(&[], &[0, 1])));
    c.err("empty dataset (evaluate)", "INVALID_ARGUMENT", || m.evaluate(&Data::Tokens(&[], &[0, 4]), &Data::Floats(&[], &[0, 1]), 2));
    c.err("empty dataset (check_dataset)", "INVALID_ARGUMENT", || m.check_dataset(&Data::Tokens(&[], &[0, 4]), &Data::Floats(&[], &[0, 1])));
    c.err("shape []", "INVALID_ARGUMENT", || m.predict(&Data::Tokens(&[], &[]), 2));
    c.err("predict batch size 0", "INVALID_ARGUMENT", || m.predict(&Data::Tokens(&x, &[2, 4]), 0));
    c.err("evaluate batch size 0", "INVALID_ARGUMENT", || m.evaluate(&Data::Tokens(&x, &[2, 4]), &Data::Floats(&y, &[2, 1]), 0));
    let xf = vec![1.0f32; 8];
    c.err("train_rows with no rows", "INVALID_ARGUMENT", || m.train_rows(&Data::Tokens(&x, &[2, 4]), &Data::Floats(&y, &[2, 1]), &[]));
    c.err("float tensor into an embedding", "INVALID_ARGUMENT", || m.predict(&Data::Floats(&xf, &[2, 4]), 2));
    c.err("float tensor into an embedding (train)", "INVALID_ARGUMENT", || m.train_step(&Data::Floats(&xf, &[2, 4]), &Data::Floats(&y, &[2, 1])));
    c.err("set_weight of an unknown name", "INVALID_ARGUMENT", || m.set_weight("7.weight", &[1], &[0.0]));
    let unbuilt = Model::new(config(r#"{"layers":[{"type":"lstm","units":2},{"type":"dense","units":1}]}"#), 1).unwrap();
    let dir = TempDir::new("unbuilt");
    c.err("save before the model has weights", "INVALID_ARGUMENT", || unbuilt.save(&dir.path("u.safetensors"), true, None));
    c.that("a refused save writes nothing", dir.listing().is_empty());
    c.finish();
}

// ---------------------------------------------------------------------------------------------------------------
// Files

/// Serialises tensors (name, shape, values) with the given metadata as a safetensors file.
fn write_st(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)], meta: Option<HashMap<String, String>>) {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(&str, TensorView)> =
        tensors.iter().zip(&bytes).map(|((n, s, _), b)| (n.as_str(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
    std::fs::write(path, safetensors::serialize(views, meta).unwrap()).unwrap();
}

/// The tensors and metadata of a saved file.
/// A stored tensor: name, shape, values.
type StoredTensor = (String, Vec<usize>, Vec<f32>);

fn read_st(path: &Path) -> (Vec<StoredTensor>, HashMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(|s| s.to_string()).collect();
    names.sort();
    let tensors = names
        .into_iter()
        .map(|n| {
            let t = st.tensor(&n).unwrap();
            let v = t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            (n, t.shape().to_vec(), v)
        })
        .collect();
    (tensors, header.metadata().clone().unwrap_or_default())
}

#[test]
fn corrupt_weights() {
    let mut c = Checks::default();
    let dir = TempDir::new("corrupt");
    let good = dir.path("good.safetensors");
    let mut m = imdb();
    let x = vec![1i32, 2, 3, 0, 4, 5, 6, 7];
    let y = [1.0f32, 0.0];
    m.train_step(&Data::Tokens(&x, &[2, 4]), &Data::Floats(&y, &[2, 1])).unwrap();
    m.save(&good, true, Some(r#"{"vocab":["a","b"]}"#)).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let (tensors, meta) = read_st(&good);
    let p = |name: &str| dir.path(name);

    // Round trip first: load gives the same weights, optimizer step and user metadata.
    if let Some((l, user)) = c.ok("load the good file", || Model::load(&good, 1)) {
        c.that("weights round-trip", l.params() == m.params());
        c.that("step round-trips", l.step() == m.step());
        c.that("user metadata round-trips", user.as_deref() == Some(r#"{"vocab":["a","b"]}"#));
    }

    let write = |name: &str, b: &[u8]| {
        std::fs::write(p(name), b).unwrap();
        p(name)
    };
    for cut in [0, 4, 7, 8, 9, 100, bytes.len() / 2, bytes.len() - 1] {
        let f = write("truncated.safetensors", &bytes[..cut]);
        c.err(&format!("truncated to {cut} bytes (load)"), "CORRUPT_WEIGHTS", || Model::load(&f, 1));
        let mut target = imdb();
        c.err(&format!("truncated to {cut} bytes (load_weights)"), "CORRUPT_WEIGHTS", || target.load_weights(&f));
    }
    let mut extended = bytes.clone();
    extended.extend_from_slice(&[0; 16]);
    let f = write("extended.safetensors", &extended);
    c.err("trailing bytes after the data", "CORRUPT_WEIGHTS", || Model::load(&f, 1));
    let f = write("text.safetensors", b"this is not a weights file at all, just some text");
    c.err("a text file", "CORRUPT_WEIGHTS", || Model::load(&f, 1));
    let mut bad_header = bytes.clone();
    bad_header[8] = b'[';
    let f = write("bad_header.safetensors", &bad_header);
    c.err("header JSON broken", "CORRUPT_WEIGHTS", || Model::load(&f, 1));
    for n in [u64::MAX, u64::MAX / 2, 1 << 40, 99_999_999, bytes.len() as u64 - 7] {
        let mut b = bytes.clone();
        b[..8].copy_from_slice(&n.to_le_bytes());
        let f = write("huge_header_len.safetensors", &b);
        c.err(&format!("header length {n}"), "CORRUPT_WEIGHTS", || Model::load(&f, 1));
        let mut target = imdb();
        c.err(&format!("header length {n} (load_weights)"), "CORRUPT_WEIGHTS", || target.load_weights(&f));
    }

    let without = |skip: &str| tensors.iter().filter(|t| t.0 != skip).cloned().collect::<Vec<_>>();
    write_st(&p("missing.safetensors"), &without("1.weight_hh"), Some(meta.clone()));
    c.err("missing tensor (load)", "CORRUPT_WEIGHTS", || Model::load(&p("missing.safetensors"), 1));
    let mut target = imdb();
    let before = target.params().to_vec();
    c.err("missing tensor (load_weights)", "CORRUPT_WEIGHTS", || target.load_weights(&p("missing.safetensors")));
    c.that("a failed load_weights changes nothing", target.params() == before.as_slice());

    let mut extra = tensors.clone();
    extra.push(("3.weight".into(), vec![1, 1], vec![0.5]));
    write_st(&p("extra.safetensors"), &extra, Some(meta.clone()));
    c.err("extra tensor (load)", "CORRUPT_WEIGHTS", || Model::load(&p("extra.safetensors"), 1));
    c.err("extra tensor (load_weights)", "CORRUPT_WEIGHTS", || imdb().load_weights(&p("extra.safetensors")));

    let mut wrong = tensors.clone();
    let k = wrong.iter().position(|t| t.0 == "2.weight").unwrap();
    wrong[k].1 = vec![3, 1];
    write_st(&p("wrong_shape.safetensors"), &wrong, Some(meta.clone()));
    c.err("wrong shape (load)", "CORRUPT_WEIGHTS", || Model::load(&p("wrong_shape.safetensors"), 1));
    c.err("wrong shape (load_weights)", "CORRUPT_WEIGHTS", || imdb().load_weights(&p("wrong_shape.safetensors")));

    let mut wrong_opt = tensors.clone();
    let k = wrong_opt.iter().position(|t| t.0 == "optimizer.m.2.bias").unwrap();
    wrong_opt[k].1 = vec![1, 1];
    write_st(&p("wrong_opt.safetensors"), &wrong_opt, Some(meta.clone()));
    c.err("optimizer state of the wrong shape", "CORRUPT_WEIGHTS", || Model::load(&p("wrong_opt.safetensors"), 1));

    let mut nan = tensors.clone();
    let k = nan.iter().position(|t| t.0 == "1.bias_hh").unwrap();
    nan[k].2[3] = f32::NAN;
    write_st(&p("nan.safetensors"), &nan, Some(meta.clone()));
    c.err("NaN weight (load)", "CORRUPT_WEIGHTS", || Model::load(&p("nan.safetensors"), 1));
    c.err("NaN weight (load_weights)", "CORRUPT_WEIGHTS", || imdb().load_weights(&p("nan.safetensors")));

    // A tensor stored as f64.
    {
        let t = &tensors[0];
        let b64: Vec<u8> = t.2.iter().flat_map(|x| (*x as f64).to_le_bytes()).collect();
        let mut views = vec![(t.0.as_str(), TensorView::new(Dtype::F64, t.1.clone(), &b64).unwrap())];
        let rest: Vec<Vec<u8>> = tensors[1..].iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
        for (t, b) in tensors[1..].iter().zip(&rest) {
            views.push((t.0.as_str(), TensorView::new(Dtype::F32, t.1.clone(), b).unwrap()));
        }
        std::fs::write(p("f64.safetensors"), safetensors::serialize(views, Some(meta.clone())).unwrap()).unwrap();
        c.err("a tensor in f64", "CORRUPT_WEIGHTS", || Model::load(&p("f64.safetensors"), 1));
    }

    write_st(&p("nometa.safetensors"), &tensors, None);
    c.err("no architecture metadata (load)", "CORRUPT_WEIGHTS", || Model::load(&p("nometa.safetensors"), 1));
    c.ok("no metadata is fine for load_weights", || imdb().load_weights(&p("nometa.safetensors")));
    let mut bad_arch = meta.clone();
    bad_arch.insert("model".into(), r#"{"layers":[{"type":"dense","units":0}]}"#.into());
    write_st(&p("badarch.safetensors"), &tensors, Some(bad_arch));
    c.err("an invalid architecture", "CORRUPT_WEIGHTS", || Model::load(&p("badarch.safetensors"), 1));
    let mut other_arch = meta.clone();
    other_arch
        .insert("model".into(), r#"{"layers":[{"type":"embedding","inputDim":20,"outputDim":4},{"type":"lstm","units":5},{"type":"dense","units":1}]}"#.into());
    write_st(&p("otherarch.safetensors"), &tensors, Some(other_arch));
    c.err("architecture metadata that does not match the tensors", "CORRUPT_WEIGHTS", || Model::load(&p("otherarch.safetensors"), 1));
    let mut huge_arch = meta.clone();
    huge_arch.insert(
        "model".into(),
        r#"{"layers":[{"type":"embedding","inputDim":20,"outputDim":4},{"type":"lstm","units":3000000},{"type":"dense","units":1}]}"#.into(),
    );
    write_st(&p("hugearch.safetensors"), &tensors, Some(huge_arch));
    c.err("an architecture far larger than the file", "CORRUPT_WEIGHTS", || Model::load(&p("hugearch.safetensors"), 1));

    // A file of another architecture given to load_weights.
    let other =
        Model::new(config(r#"{"layers":[{"type":"embedding","inputDim":20,"outputDim":4},{"type":"lstm","units":5},{"type":"dense","units":1}],"seed":3}"#), 1)
            .unwrap();
    other.save(&p("other.safetensors"), false, None).unwrap();
    let mut target = imdb();
    let before = target.params().to_vec();
    c.err("load_weights of another architecture", "CORRUPT_WEIGHTS", || target.load_weights(&p("other.safetensors")));
    c.that("a failed load_weights changes nothing", target.params() == before.as_slice());
    c.err("load_weights of a float model into a token model", "CORRUPT_WEIGHTS", || {
        floats_model().save(&p("floats.safetensors"), false, None)?;
        imdb().load_weights(&p("floats.safetensors"))
    });
    c.err("load_weights of a token model into a float model", "CORRUPT_WEIGHTS", || floats_model().load_weights(&good));

    // load_weights into an unbuilt float model reads the input size from the first weight: it must be a real matrix.
    let unbuilt = || Model::new(config(r#"{"layers":[{"type":"dense","units":2},{"type":"dense","units":1}]}"#), 1).unwrap();
    write_st(&p("emptyfirst.safetensors"), &[("0.weight".into(), vec![0, 1 << 40], vec![])], None);
    c.err("unbuilt model, first weight [0, 2^40]", "CORRUPT_WEIGHTS", || unbuilt().load_weights(&p("emptyfirst.safetensors")));
    // A bad file must leave an unbuilt model unbuilt: building would fix the input size at the file's.
    let mut half = vec![("0.weight".to_string(), vec![2, 7], vec![0.1; 14]), ("0.bias".to_string(), vec![2], vec![0.0; 2])];
    write_st(&p("half.safetensors"), &half, None);
    let mut u = unbuilt();
    c.err("unbuilt model, second layer missing", "CORRUPT_WEIGHTS", || u.load_weights(&p("half.safetensors")));
    c.that("a failed load_weights leaves an unbuilt model unbuilt", !u.is_built());
    c.ok("and it then builds for other data", || u.predict(&Data::Floats(&[0.0; 6], &[2, 3]), 2));
    let mut u = unbuilt();
    half.push(("1.weight".to_string(), vec![1, 2], vec![0.5, -0.5]));
    half.push(("1.bias".to_string(), vec![1], vec![0.25]));
    write_st(&p("whole.safetensors"), &half, None);
    c.ok("unbuilt model, a complete file", || u.load_weights(&p("whole.safetensors")));
    c.that(
        "the weights are the file's",
        u.get_weight("1.bias").map(|w| w.0.to_vec()) == Some(vec![0.25]) && u.get_weight("0.weight").is_some_and(|w| w.1 == [2, 7]),
    );
    write_st(&p("vecfirst.safetensors"), &[("0.weight".into(), vec![4], vec![0.0; 4])], None);
    c.err("unbuilt model, first weight a vector", "CORRUPT_WEIGHTS", || unbuilt().load_weights(&p("vecfirst.safetensors")));
    // A float model saved without an input size: the file's first weight [0, 2^40] must not size the model.
    let mut nodim = HashMap::new();
    nodim.insert("model".to_string(), r#"{"layers":[{"type":"dense","units":2},{"type":"dense","units":1}]}"#.to_string());
    write_st(&p("nodim.safetensors"), &[("0.weight".into(), vec![0, 1 << 40], vec![])], Some(nodim));
    c.err("load: input size from an empty first weight", "CORRUPT_WEIGHTS", || Model::load(&p("nodim.safetensors"), 1));
    c.finish();
}

#[test]
fn io_errors_and_atomic_save() {
    let mut c = Checks::default();
    let dir = TempDir::new("io");
    let m = imdb();
    c.err("load a missing file", "IO", || Model::load(&dir.path("nope.safetensors"), 1));
    c.err("load_weights a missing file", "IO", || imdb().load_weights(&dir.path("nope.safetensors")));
    c.err("load a directory", "IO", || Model::load(&dir.0, 1));
    c.err("load_weights a directory", "IO", || imdb().load_weights(&dir.0));
    c.err("load an empty path", "IO", || Model::load(Path::new(""), 1));
    c.err("load /dev/zero (not a regular file)", "IO", || Model::load(Path::new("/dev/zero"), 1));

    let nested = dir.path("no/such/folder/m.safetensors");
    c.err("save into a missing folder", "IO", || m.save(&nested, true, None));
    c.that("save never creates folders", !dir.path("no").exists());
    c.err("save onto a directory", "IO", || m.save(&dir.0, true, None));
    std::fs::create_dir(dir.path("sub")).unwrap();
    c.err("save onto a subdirectory", "IO", || m.save(&dir.path("sub"), true, None));
    c.err("save to an empty path", "IO", || m.save(Path::new(""), true, None));
    c.err("save to /", "IO", || m.save(Path::new("/"), true, None));
    // Unwritable: /proc refuses new files even to root; a read-only folder refuses them to anyone else.
    c.err("save to an unwritable folder (/proc)", "IO", || m.save(Path::new("/proc/lstm-core-test.safetensors"), true, None));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path("readonly");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let is_root = std::fs::File::create(ro.join("probe")).is_ok();
        if !is_root {
            c.err("save into a read-only folder", "IO", || m.save(&ro.join("m.safetensors"), true, None));
        } else {
            let _ = std::fs::remove_file(ro.join("probe"));
            println!("(running as root: the read-only folder check is covered by /proc instead)");
        }
        c.that("a failed save leaves no temporary file", std::fs::read_dir(&ro).unwrap().count() == 0);
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_dir(&ro).unwrap();
    }
    // Saves that work leave only the target, also when overwriting.
    let target = dir.path("m.safetensors");
    c.ok("save", || m.save(&target, true, Some("{}")));
    c.ok("save again over it", || m.save(&target, false, None));
    c.that("only the saved file and the folder made by the test remain", dir.listing() == vec!["m.safetensors".to_string(), "sub".to_string()]);
    c.ok("the overwritten file loads", || Model::load(&target, 1));
    c.finish();
}
