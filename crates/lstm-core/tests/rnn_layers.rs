//! GRU, SimpleRNN, Conv1D and MaxPooling1D outside the gradient checks: typed errors for bad options and short
//! inputs, Keras's output lengths, the default initializers, and the configuration's JSON round trip.

use lstm_core::{Data, Model, ModelConfig};

fn model(layers: &str) -> lstm_core::Result<Model> {
    Model::new(ModelConfig::from_json(&format!(r#"{{"layers": {layers}}}"#))?, 1)
}

#[test]
fn bad_options_are_invalid_config_naming_the_option() {
    let cases = [
        (r#"[{"type":"gru","units":0,"inputShape":[3,2]}]"#, "units"),
        (r#"[{"type":"gru","units":2,"dropout":1.0,"inputShape":[3,2]}]"#, "dropout"),
        (r#"[{"type":"gru","units":2,"recurrentDropout":-0.1,"inputShape":[3,2]}]"#, "recurrentDropout"),
        (r#"[{"type":"simpleRnn","units":2,"activation":"softmax","inputShape":[3,2]}]"#, "activation"),
        (r#"[{"type":"simpleRnn","units":2,"activation":"gelu","inputShape":[3,2]}]"#, "gelu"),
        (r#"[{"type":"conv1d","filters":0,"kernelSize":2,"inputShape":[3,2]}]"#, "filters"),
        (r#"[{"type":"conv1d","filters":2,"kernelSize":0,"inputShape":[3,2]}]"#, "kernelSize"),
        (r#"[{"type":"conv1d","filters":2,"kernelSize":2,"strides":0,"inputShape":[3,2]}]"#, "strides"),
        (r#"[{"type":"conv1d","filters":2,"kernelSize":2,"dilationRate":0,"inputShape":[3,2]}]"#, "dilationRate"),
        (r#"[{"type":"conv1d","filters":2,"kernelSize":2,"strides":2,"dilationRate":2,"inputShape":[3,2]}]"#, "dilationRate"),
        (r#"[{"type":"conv1d","filters":2,"kernelSize":2,"padding":"full","inputShape":[3,2]}]"#, "full"),
        (r#"[{"type":"maxPooling1d","poolSize":0,"inputShape":[3,2]}]"#, "poolSize"),
        (r#"[{"type":"maxPooling1d","strides":0,"inputShape":[3,2]}]"#, "strides"),
        (r#"[{"type":"maxPooling1d","padding":"causal","inputShape":[3,2]}]"#, "padding"),
        (r#"[{"type":"dense","units":2,"inputShape":[3]},{"type":"gru","units":2}]"#, "sequence"),
        (r#"[{"type":"dense","units":2,"inputShape":[3]},{"type":"conv1d","filters":2,"kernelSize":1}]"#, "sequence"),
    ];
    for (layers, word) in cases {
        let e = model(layers).err().unwrap_or_else(|| panic!("{layers} was accepted"));
        assert_eq!(e.code(), "INVALID_CONFIG", "{layers}: {e}");
        assert!(e.to_string().contains(word), "{layers}: {e} does not name {word}");
    }
}

#[test]
fn inputs_shorter_than_a_window_are_invalid_argument() {
    let x = vec![0.5f32; 2 * 2 * 3];
    for layers in [
        r#"[{"type":"conv1d","filters":2,"kernelSize":3}]"#,
        r#"[{"type":"conv1d","filters":2,"kernelSize":2,"dilationRate":2}]"#,
        r#"[{"type":"maxPooling1d","poolSize":3}]"#,
    ] {
        let mut m = model(layers).unwrap();
        let e = m.predict(&Data::Floats(&x, &[2, 2, 3]), 4).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{layers}: {e}");
    }
}

/// Output lengths by Keras's rules, from the shapes summaries use and from a forward pass.
#[test]
fn output_lengths_follow_keras() {
    // (layer, T, expected T')
    let cases = [
        (r#"{"type":"conv1d","filters":2,"kernelSize":3}"#, 10, 8),
        (r#"{"type":"conv1d","filters":2,"kernelSize":3,"strides":2}"#, 10, 4),
        (r#"{"type":"conv1d","filters":2,"kernelSize":3,"padding":"same","strides":3}"#, 10, 4),
        (r#"{"type":"conv1d","filters":2,"kernelSize":4,"padding":"same"}"#, 10, 10),
        (r#"{"type":"conv1d","filters":2,"kernelSize":3,"padding":"causal","dilationRate":3}"#, 10, 10),
        (r#"{"type":"conv1d","filters":2,"kernelSize":3,"dilationRate":3}"#, 10, 4),
        (r#"{"type":"maxPooling1d"}"#, 9, 4),
        (r#"{"type":"maxPooling1d","poolSize":4}"#, 10, 2),
        (r#"{"type":"maxPooling1d","poolSize":3,"strides":1}"#, 10, 8),
        (r#"{"type":"maxPooling1d","poolSize":2,"padding":"same"}"#, 9, 5),
        (r#"{"type":"maxPooling1d","poolSize":3,"strides":2,"padding":"same"}"#, 10, 5),
    ];
    for (layer, t, want) in cases {
        let mut m = model(&format!("[{layer}]")).unwrap();
        assert_eq!(m.layer_output_shapes(1, Some(t)).last().unwrap().t, Some(want), "{layer} on {t} steps (summary)");
        let x = vec![0.25f32; 2 * t * 3];
        let (_, shape) = m.predict(&Data::Floats(&x, &[2, t, 3]), 4).unwrap();
        assert_eq!(shape[1], want, "{layer} on {t} steps");
    }
}

/// Same padding: the smaller half of the padding on the left. With k = 4 on T = 5 (total padding 3), output step 0
/// reads steps -1..=2: a kernel that keeps only tap 0 outputs x[t-1], 0 for t = 0.
#[test]
fn same_padding_puts_the_smaller_half_on_the_left() {
    let mut m = model(r#"[{"type":"conv1d","filters":1,"kernelSize":4,"padding":"same","inputShape":[5,1]}]"#).unwrap();
    m.set_weight("0.weight", &[1, 1, 4], &[1.0, 0.0, 0.0, 0.0]).unwrap();
    let x = [1.0f32, 2.0, 3.0, 4.0, 5.0];
    let (y, _) = m.predict(&Data::Floats(&x, &[1, 5, 1]), 1).unwrap();
    assert_eq!(y, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    // Causal with dilation 2, k = 2: y[t] = w0·x[t-2] + w1·x[t].
    let mut m = model(r#"[{"type":"conv1d","filters":1,"kernelSize":2,"padding":"causal","dilationRate":2,"inputShape":[5,1]}]"#).unwrap();
    m.set_weight("0.weight", &[1, 1, 2], &[10.0, 1.0]).unwrap();
    let (y, _) = m.predict(&Data::Floats(&x, &[1, 5, 1]), 1).unwrap();
    assert_eq!(y, vec![1.0, 2.0, 13.0, 24.0, 35.0]);
}

#[test]
fn parameters_follow_pytorch_names_and_defaults() {
    let m = model(
        r#"[{"type":"embedding","inputDim":10,"outputDim":4},{"type":"conv1d","filters":6,"kernelSize":3},{"type":"maxPooling1d"},
            {"type":"gru","units":5,"bidirectional":true,"returnSequences":true},{"type":"simpleRnn","units":3},{"type":"dense","units":1}]"#,
    )
    .unwrap();
    let names: Vec<(String, Vec<usize>)> = m.entries().iter().map(|e| (e.name.clone(), e.shape.clone())).collect();
    let want: Vec<(&str, Vec<usize>)> = vec![
        ("0.weight", vec![10, 4]),
        ("1.weight", vec![6, 4, 3]),
        ("1.bias", vec![6]),
        ("3.weight_ih", vec![15, 6]),
        ("3.weight_hh", vec![15, 5]),
        ("3.bias_ih", vec![15]),
        ("3.bias_hh", vec![15]),
        ("3.weight_ih_reverse", vec![15, 6]),
        ("3.weight_hh_reverse", vec![15, 5]),
        ("3.bias_ih_reverse", vec![15]),
        ("3.bias_hh_reverse", vec![15]),
        ("4.weight_ih", vec![3, 10]),
        ("4.weight_hh", vec![3, 3]),
        ("4.bias_ih", vec![3]),
        ("4.bias_hh", vec![3]),
        ("5.weight", vec![1, 3]),
        ("5.bias", vec![1]),
    ];
    assert_eq!(names, want.into_iter().map(|(n, s)| (n.to_string(), s)).collect::<Vec<_>>());
    // glorot_uniform with Keras's conv fans: limit sqrt(6 / (C·k + F·k)) = sqrt(6 / 30).
    let w = m.get_weight("1.weight").unwrap().0;
    let limit = (6.0f32 / 30.0).sqrt();
    assert!(w.iter().all(|v| v.abs() <= limit) && w.iter().any(|v| v.abs() > 0.8 * limit), "conv weight outside glorot_uniform's range");
    assert!(m.get_weight("1.bias").unwrap().0.iter().all(|&v| v == 0.0));
    // orthogonal recurrent weights: each gate's [H, H] block is not, but the [3H, H] matrix has orthonormal columns.
    let whh = m.get_weight("3.weight_hh").unwrap().0;
    for a in 0..5 {
        for b in 0..5 {
            let dot: f32 = (0..15).map(|r| whh[r * 5 + a] * whh[r * 5 + b]).sum();
            assert!((dot - if a == b { 1.0 } else { 0.0 }).abs() < 1e-5, "weight_hh columns {a}, {b}: {dot}");
        }
    }
}

#[test]
fn config_round_trips_through_json() {
    let json = r#"{"layers":[{"type":"conv1d","filters":3,"kernelSize":2,"strides":1,"padding":"causal","dilationRate":2,"activation":"relu","inputShape":[null,4]},
        {"type":"maxPooling1d","poolSize":3,"padding":"same"},{"type":"gru","units":2,"returnSequences":true,"dropout":0.1,"recurrentDropout":0.2},
        {"type":"simpleRnn","units":2,"activation":"relu","bidirectional":true}]}"#;
    let c = ModelConfig::from_json(json).unwrap();
    assert_eq!(ModelConfig::from_json(&c.to_json()).unwrap(), c);
    assert!(c.to_json().contains(r#""type":"simpleRnn""#) && c.to_json().contains(r#""type":"maxPooling1d""#));
}
