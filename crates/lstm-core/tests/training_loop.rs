//! The batch loop of `fit` (`Model::train_batches`), all-or-nothing `set_weights` and the batch-size checks, tested in
//! the core: the Node binding only forwards to them.

use lstm_core::{Data, Model, ModelConfig};
use std::sync::atomic::{AtomicBool, Ordering};

fn model() -> Model {
    let json = r#"{"layers":[{"type":"embedding","inputDim":7,"outputDim":4},{"type":"lstm","units":5},
        {"type":"dense","units":1,"activation":"sigmoid"}],"loss":"binaryCrossentropy","optimizer":{"type":"adam"},"seed":3}"#;
    Model::new(ModelConfig::from_json(json).unwrap(), 2).unwrap()
}

fn data() -> (Vec<i32>, Vec<f32>) {
    let x: Vec<i32> = (0..10 * 6).map(|k| k * 5 % 7).collect();
    let y: Vec<f32> = (0..10).map(|k| (k % 2) as f32).collect();
    (x, y)
}

#[test]
fn batches_follow_the_order_and_match_train_rows() {
    let (x, y) = data();
    let (xd, yd) = (Data::Tokens(&x, &[10, 6]), Data::Floats(&y, &[10, 1]));
    let order: Vec<usize> = vec![3, 1, 4, 0, 9, 2, 6, 5, 8, 7];
    let mut a = model();
    a.check_dataset(&xd, &yd).unwrap();
    let mut seen = Vec::new();
    // Batches 1.. of size 4: rows 9,2,6,5 then 8,7 (short), then the order runs out.
    let stats = a.train_batches(&xd, &yd, &order, 4, 1, 5, &AtomicBool::new(false), |k, s| seen.push((k, s))).unwrap();
    assert_eq!(stats.len(), 2);
    assert_eq!(seen.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![0, 1]);
    let mut b = model();
    let s0 = b.train_rows(&xd, &yd, &[9, 2, 6, 5]).unwrap();
    let s1 = b.train_rows(&xd, &yd, &[8, 7]).unwrap();
    assert_eq!(stats, vec![s0, s1]);
    assert_eq!(a.params(), b.params());
}

#[test]
fn a_set_stop_flag_runs_no_batch() {
    let (x, y) = data();
    let (xd, yd) = (Data::Tokens(&x, &[10, 6]), Data::Floats(&y, &[10, 1]));
    let mut m = model();
    let before = m.params().to_vec();
    let stop = AtomicBool::new(true);
    let stats = m.train_batches(&xd, &yd, &(0..10).collect::<Vec<_>>(), 2, 0, 5, &stop, |_, _| {}).unwrap();
    assert!(stats.is_empty());
    assert_eq!(m.params(), &before[..]);
    // Set from the progress callback, it stops the loop after that batch.
    stop.store(false, Ordering::SeqCst);
    let stats = m
        .train_batches(&xd, &yd, &(0..10).collect::<Vec<_>>(), 2, 0, 5, &stop, |k, _| {
            if k == 1 {
                stop.store(true, Ordering::SeqCst)
            }
        })
        .unwrap();
    assert_eq!(stats.len(), 2);
}

#[test]
fn bad_batches_are_typed_errors() {
    let (x, y) = data();
    let (xd, yd) = (Data::Tokens(&x, &[10, 6]), Data::Floats(&y, &[10, 1]));
    let mut m = model();
    let e = m.train_batches(&xd, &yd, &[0, 1], 0, 0, 1, &AtomicBool::new(false), |_, _| {}).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
    let e = m.train_batches(&xd, &yd, &[0, 10], 2, 0, 1, &AtomicBool::new(false), |_, _| {}).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
    assert!(e.to_string().contains("row 10"), "{e}");
    let e = m.evaluate_checked(&xd, &yd, 0).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
}

#[test]
fn set_weights_is_all_or_nothing() {
    let mut m = model();
    let before = m.params().to_vec();
    let w = |name: &str, shape: Vec<usize>, v: f32| (name.to_string(), shape.clone(), vec![v; shape.iter().product()]);
    let good = w("2.bias", vec![1], 0.5);
    for bad in [w("2.bias", vec![2], 0.5), w("9.weight", vec![1], 0.5), w("2.weight", vec![1, 5], f32::NAN)] {
        let e = m.set_weights(&[good.clone(), bad.clone()]).unwrap_err();
        assert!(["SHAPE_MISMATCH", "INVALID_ARGUMENT", "NON_FINITE"].contains(&e.code()), "{e}");
        assert_eq!(m.params(), &before[..], "a failed set_weights changed nothing ({})", bad.0);
    }
    m.set_weights(&[good]).unwrap();
    assert_eq!(m.get_weight("2.bias").unwrap().0, &[0.5]);
}
