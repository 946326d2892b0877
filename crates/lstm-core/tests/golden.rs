//! The PyTorch golden cases: for each `*.safetensors` in `tests/golden` (or `$LSTM_GOLDEN_DIR`), subfolders included, load the case's
//! architecture and initial parameters, then check the output, the loss, every gradient (and the input gradient)
//! and the parameters after one optimizer step, within 1e-5 absolute + 1e-4 relative. Cases that record three steps
//! (`expected.param_after_3.*`, `expected.losses_3`: the `optim3_*` cases) also take two more steps on the same batch
//! and check the loss before each and the parameters after the third; cases without them check one step only.

use lstm_core::{Data, Model, ModelConfig, OptimizerConfig};
use safetensors::tensor::{Dtype, SafeTensors};
use std::path::PathBuf;

const ATOL: f32 = 1e-5;
const RTOL: f32 = 1e-4;

fn f32s(st: &SafeTensors, name: &str) -> (Vec<f32>, Vec<usize>) {
    let t = st.tensor(name).unwrap_or_else(|_| panic!("missing tensor {name}"));
    assert_eq!(t.dtype(), Dtype::F32, "{name} dtype");
    (t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(), t.shape().to_vec())
}

fn i32s(st: &SafeTensors, name: &str) -> (Vec<i32>, Vec<usize>) {
    let t = st.tensor(name).unwrap();
    (t.data().chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap())).collect(), t.shape().to_vec())
}

// `!(err <= tol)` rather than `err > tol`: a NaN must fail the comparison.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn close(case: &str, what: &str, got: &[f32], want: &[f32]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{case}: {what}: length {} vs expected {}", got.len(), want.len()));
    }
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        if !((g - w).abs() <= ATOL + RTOL * w.abs()) {
            return Err(format!("{case}: {what}[{k}] = {g}, expected {w}"));
        }
    }
    Ok(())
}

fn run_case(path: &PathBuf) -> Result<usize, String> {
    let case = path.strip_prefix(path.parent().and_then(|p| p.parent()).unwrap_or(path)).unwrap_or(path).display().to_string();
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| format!("{case}: {e}"))?;
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let json = header.metadata().as_ref().and_then(|m| m.get("case")).ok_or(format!("{case}: no case metadata"))?.clone();
    let config = ModelConfig::from_json(&json).map_err(|e| format!("{case}: {e}"))?;
    let loss = config.loss.clone().expect("a case has a loss");
    let optimizer = config.optimizer.clone();
    let mut model = Model::new(ModelConfig { loss: None, optimizer: None, ..config }, 1).map_err(|e| format!("{case}: {e}"))?;
    model.compile(loss, optimizer.clone().unwrap_or(OptimizerConfig::try_from_name("sgd"))).unwrap();
    model.compute_input_grad = true;

    let token_input = st.tensor("input").unwrap().dtype() == Dtype::I32;
    let (xi, xs) = if token_input { i32s(&st, "input") } else { (Vec::new(), Vec::new()) };
    let (xf, xfs) = if token_input { (Vec::new(), Vec::new()) } else { f32s(&st, "input") };
    let x = if token_input { Data::Tokens(&xi, &xs) } else { Data::Floats(&xf, &xfs) };
    let target_is_int = st.tensor("target").unwrap().dtype() == Dtype::I32;
    let (yi, yis) = if target_is_int { i32s(&st, "target") } else { (Vec::new(), Vec::new()) };
    let (yf, yfs) = if target_is_int { (Vec::new(), Vec::new()) } else { f32s(&st, "target") };
    let y = if target_is_int { Data::Tokens(&yi, &yis) } else { Data::Floats(&yf, &yfs) };
    model.check_input(&x).map_err(|e| format!("{case}: {e}"))?;

    let mut names = Vec::new();
    for name in st.names() {
        if let Some(short) = name.strip_prefix("param.") {
            let (v, shape) = f32s(&st, name);
            model.set_weight(short, &shape, &v).map_err(|e| format!("{case}: {e}"))?;
            names.push(short.to_string());
        }
    }
    assert_eq!(names.len(), model.entries().len(), "{case}: every parameter has a golden value");

    let (out, _) = model.predict(&x, 1024).map_err(|e| format!("{case}: {e}"))?;
    close(&case, "output", &out, &f32s(&st, "expected.output").0)?;

    model.zero_grad();
    let stats = model.forward_backward(&x, &y).map_err(|e| format!("{case}: {e}"))?;
    close(&case, "loss", &[stats.loss as f32], &f32s(&st, "expected.loss").0)?;
    let mut checks = 2;
    for name in &names {
        close(&case, &format!("grad {name}"), model.get_grad(name).unwrap(), &f32s(&st, &format!("expected.grad.{name}")).0)?;
        checks += 1;
    }
    if !token_input {
        close(&case, "grad input", model.input_grad(), &f32s(&st, "expected.grad.input").0)?;
        checks += 1;
    }
    if optimizer.is_some() {
        model.apply_gradients().unwrap();
        for name in &names {
            close(&case, &format!("param_after {name}"), model.get_weight(name).unwrap().0, &f32s(&st, &format!("expected.param_after.{name}")).0)?;
            checks += 1;
        }
        if st.names().iter().any(|n| n.starts_with("expected.param_after_3.")) {
            let losses = f32s(&st, "expected.losses_3").0;
            for (step, want) in losses.iter().enumerate().skip(1) {
                model.zero_grad();
                let stats = model.forward_backward(&x, &y).map_err(|e| format!("{case}: {e}"))?;
                close(&case, &format!("loss before step {}", step + 1), &[stats.loss as f32], &[*want])?;
                model.apply_gradients().unwrap();
                checks += 1;
            }
            for name in &names {
                close(&case, &format!("param_after_3 {name}"), model.get_weight(name).unwrap().0, &f32s(&st, &format!("expected.param_after_3.{name}")).0)?;
                checks += 1;
            }
        }
    }
    Ok(checks)
}

/// The `*.safetensors` cases in `dir` and its subfolders (`rnn/` holds the GRU, SimpleRNN and Conv1D cases).
fn collect_cases(dir: &std::path::Path, cases: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read golden folder {}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("cannot read golden folder {}: {e}", dir.display())).path();
        if path.is_dir() {
            collect_cases(&path, cases);
        } else if path.extension().is_some_and(|x| x == "safetensors") {
            cases.push(path);
        }
    }
}

#[test]
fn golden_cases_match_pytorch() {
    let dir = std::env::var_os("LSTM_GOLDEN_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden"));
    let mut cases = Vec::new();
    collect_cases(&dir, &mut cases);
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases in {}", dir.display());
    let mut failures = Vec::new();
    for c in &cases {
        match run_case(c) {
            Ok(n) => println!("golden: {} ok ({n} tensors checked)", c.strip_prefix(&dir).unwrap_or(c).display()),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "golden failures:\n{}", failures.join("\n"));
    println!("golden: {} cases passed", cases.len());
}
