//! Stateful inference: stepping one token at a time with `predict_step` gives what `predict` gives on the whole
//! sequence, and `reset_states` starts over.

use lstm_core::{Data, Model, ModelConfig};

fn model(mask_zero: bool, cell: &str) -> Model {
    let json = format!(
        r#"{{"layers": [{{"type":"embedding","inputDim":20,"outputDim":6,"maskZero":{mask_zero}}},
            {{"type":"{cell}","units":8,"returnSequences":true}}, {{"type":"{cell}","units":7}},
            {{"type":"dense","units":5,"activation":"softmax"}}], "seed": 3}}"#
    );
    Model::new(ModelConfig::from_json(&json).unwrap(), 2).unwrap()
}

fn check(mask_zero: bool, tokens: &[i32]) {
    for cell in ["lstm", "gru", "simpleRnn"] {
        check_cell(mask_zero, cell, tokens);
    }
}

fn check_cell(mask_zero: bool, cell: &str, tokens: &[i32]) {
    let (b, t) = (2, tokens.len() / 2);
    let mut m = model(mask_zero, cell);
    let (whole, _) = m.predict(&Data::Tokens(tokens, &[b, t]), 8).unwrap();
    let mut last = Vec::new();
    for s in 0..t {
        let step: Vec<i32> = (0..b).map(|bi| tokens[bi * t + s]).collect();
        last = m.predict_step(&Data::Tokens(&step, &[b, 1])).unwrap().0;
    }
    for (a, w) in last.iter().zip(&whole) {
        assert!((a - w).abs() < 1e-5, "{cell}: stepped {a} vs whole {w}");
    }
    // After a reset the first step matches a one-token sequence.
    m.reset_states();
    let first: Vec<i32> = (0..b).map(|bi| tokens[bi * t]).collect();
    let stepped = m.predict_step(&Data::Tokens(&first, &[b, 1])).unwrap().0;
    let (direct, _) = m.predict(&Data::Tokens(&first, &[b, 1]), 8).unwrap();
    assert_eq!(stepped, direct, "{cell}");
}

#[test]
fn stepping_matches_whole_sequence() {
    check(false, &[3, 7, 1, 9, 12, 4, 5, 5, 2, 19, 0, 8]);
}

#[test]
fn stepping_keeps_state_over_masked_steps() {
    check(true, &[0, 0, 1, 9, 12, 4, 5, 0, 2, 19, 3, 8]);
}

#[test]
fn bidirectional_cannot_step() {
    for cell in ["lstm", "gru", "simpleRnn"] {
        let json = format!(r#"{{"layers": [{{"type":"embedding","inputDim":5,"outputDim":2}}, {{"type":"{cell}","units":2,"bidirectional":true}}]}}"#);
        let mut m = Model::new(ModelConfig::from_json(&json).unwrap(), 1).unwrap();
        let e = m.predict_step(&Data::Tokens(&[1], &[1, 1])).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{cell}");
    }
}

/// A convolution or max pooling reads a window of steps: a model with one cannot step one step at a time, and says so.
#[test]
fn windows_cannot_step() {
    for layer in [r#"{"type":"conv1d","filters":2,"kernelSize":2,"padding":"causal"}"#, r#"{"type":"maxPooling1d","poolSize":2,"padding":"same"}"#] {
        let json = format!(r#"{{"layers": [{{"type":"embedding","inputDim":5,"outputDim":2}}, {layer}, {{"type":"gru","units":2}}]}}"#);
        let mut m = Model::new(ModelConfig::from_json(&json).unwrap(), 1).unwrap();
        let e = m.predict_step(&Data::Tokens(&[1], &[1, 1])).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{layer}");
    }
}

/// Dropout acts in training only, and inference does not depend on how the batch is split.
#[test]
fn recurrent_layers_with_dropout_change_the_training_loss_only() {
    for cell in ["gru", "simpleRnn"] {
        let json = format!(
            r#"{{"layers": [{{"type":"{cell}","units":4,"dropout":0.5,"recurrentDropout":0.5,"inputShape":[5,3]}},{{"type":"dense","units":1}}],
                "loss":"mse","optimizer":"sgd","seed":1}}"#
        );
        let mut m = Model::new(ModelConfig::from_json(&json).unwrap(), 1).unwrap();
        let x: Vec<f32> = (0..4 * 5 * 3).map(|k| ((k * 37 % 17) as f32 - 8.0) / 8.0).collect();
        let y = vec![0.5f32; 4];
        let (xd, yd) = (Data::Floats(&x, &[4, 5, 3]), Data::Floats(&y, &[4, 1]));
        let train = m.forward_backward(&xd, &yd).unwrap().loss;
        let eval = m.evaluate(&xd, &yd, 4).unwrap().loss;
        assert!((train - eval).abs() > 1e-6, "{cell}: dropout had no effect in training ({train} vs {eval})");
        let (p1, _) = m.predict(&xd, 4).unwrap();
        let (p2, _) = m.predict(&xd, 2).unwrap();
        assert_eq!(p1, p2, "{cell}: inference is deterministic and independent of the batch split");
    }
}

/// The carried states belong to one batch size (as Keras's stateful layers): another one is SHAPE_MISMATCH naming
/// both sizes, the states survive the refused call, and after `reset_states` any batch size starts afresh.
#[test]
fn another_batch_size_is_refused_until_reset() {
    for cell in ["lstm", "gru", "simpleRnn"] {
        let mut m = model(false, cell);
        let first = m.predict_step(&Data::Tokens(&[3, 7], &[2, 1])).unwrap().0;
        for (tokens, shape) in [(&[3][..], [1, 1]), (&[3, 7, 1, 9][..], [4, 1])] {
            let e = m.predict_step(&Data::Tokens(tokens, &shape)).unwrap_err();
            assert_eq!(e.code(), "SHAPE_MISMATCH", "{cell}");
            assert!(e.to_string().contains("expected 2") && e.to_string().contains(&format!("got {}", shape[0])), "{cell}: {e}");
        }
        // The refused calls left the states alone: the second step still continues from the first.
        let second = m.predict_step(&Data::Tokens(&[3, 7], &[2, 1])).unwrap().0;
        let (whole, _) = m.predict(&Data::Tokens(&[3, 3, 7, 7], &[2, 2]), 8).unwrap();
        for (a, w) in second.iter().zip(&whole) {
            assert!((a - w).abs() < 1e-5, "{cell}: stepped {a} vs whole {w}");
        }
        assert_ne!(first, second, "{cell}");
        m.reset_states();
        m.predict_step(&Data::Tokens(&[3], &[1, 1])).unwrap();
    }
}
