//! Configuration objects, serialisable as the JSON of the golden cases' `case` schema
//! (`{"layers": [...], "loss": {...}, "optimizer": {...}}`), extended with Keras's options.
//! Field names are camelCase in JSON; every optional field documents its default.

use crate::error::{LstmError, Result};
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize};

/// Lower-case and drop `_`, so `glorot_uniform`, `glorotUniform` and `GlorotUniform` are one name.
fn normalize(name: &str) -> String {
    name.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

/// A value written as a name (`"adam"`) or as an object of fields `F`. Read by hand rather than as an untagged
/// enum: serde's untagged enums report any problem as "did not match any variant", while this keeps the object's
/// own error, which names an unknown or misspelt key (every `F` denies unknown fields).
enum NameOr<F> {
    Name(String),
    Object(F),
}

fn name_or_object<'de, D: Deserializer<'de>, F: DeserializeOwned>(d: D) -> Result<NameOr<F>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(name) => Ok(NameOr::Name(name)),
        serde_json::Value::Object(fields) => {
            // A null would read as "not given", i.e. the default: a NaN or ±Infinity that JSON.stringify turned into
            // null must not silently become the default value.
            if let Some((key, _)) = fields.iter().find(|(_, v)| v.is_null()) {
                return Err(D::Error::custom(format!("`{key}` is null: give a value or leave the key out")));
            }
            serde_json::from_value(serde_json::Value::Object(fields)).map(NameOr::Object).map_err(D::Error::custom)
        }
        other => Err(D::Error::custom(format!("expected a name or an object, got {other}"))),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Initializers

/// How a parameter tensor starts. Defaults follow Keras.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "InitializerRepr", into = "InitializerRepr")]
pub enum Initializer {
    /// U(-l, l), l = sqrt(6 / (fan_in + fan_out)).
    GlorotUniform,
    /// N(0, σ) truncated at 2σ, σ = sqrt(2 / (fan_in + fan_out)).
    GlorotNormal,
    /// U(-l, l), l = sqrt(6 / fan_in).
    HeUniform,
    /// N(0, σ) truncated at 2σ, σ = sqrt(2 / fan_in).
    HeNormal,
    /// U(-l, l), l = sqrt(3 / fan_in).
    LecunUniform,
    /// A matrix with orthonormal columns (or rows), times `gain`.
    Orthogonal {
        gain: f32,
    },
    Zeros,
    Ones,
    Constant {
        value: f32,
    },
    RandomNormal {
        mean: f32,
        stddev: f32,
    },
    RandomUniform {
        minval: f32,
        maxval: f32,
    },
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InitializerFields {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gain: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mean: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stddev: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    minval: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    maxval: Option<f32>,
}

/// An initializer is written as a name (`"glorot_uniform"`) or an object (`{"type": "random_normal", "stddev": 1}`).
#[derive(Serialize)]
#[serde(untagged)]
enum InitializerRepr {
    Name(String),
    Object(InitializerFields),
}

impl<'de> Deserialize<'de> for InitializerRepr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match name_or_object(d)? {
            NameOr::Name(n) => InitializerRepr::Name(n),
            NameOr::Object(f) => InitializerRepr::Object(f),
        })
    }
}

impl TryFrom<InitializerRepr> for Initializer {
    type Error = String;
    fn try_from(r: InitializerRepr) -> Result<Self, String> {
        let f = match r {
            InitializerRepr::Name(kind) => InitializerFields { kind, ..Default::default() },
            InitializerRepr::Object(f) => f,
        };
        // JSON numbers beyond f32 parse as ±inf: they would make inf weights, or panic in the uniform sampler.
        for (name, v) in [("gain", f.gain), ("value", f.value), ("mean", f.mean), ("stddev", f.stddev), ("minval", f.minval), ("maxval", f.maxval)] {
            if let Some(v) = v {
                if !v.is_finite() {
                    return Err(format!("initializer {:?}: {name} must be a finite float32, got {v}", f.kind));
                }
            }
        }
        if f.stddev.is_some_and(|s| s < 0.0) {
            return Err(format!("initializer {:?}: stddev must not be negative, got {}", f.kind, f.stddev.unwrap_or(0.0)));
        }
        let (minval, maxval) = (f.minval.unwrap_or(-0.05), f.maxval.unwrap_or(0.05));
        if minval > maxval {
            return Err(format!("initializer {:?}: minval {minval} must not exceed maxval {maxval}", f.kind));
        }
        Ok(match normalize(&f.kind).as_str() {
            "glorotuniform" => Initializer::GlorotUniform,
            "glorotnormal" => Initializer::GlorotNormal,
            "heuniform" => Initializer::HeUniform,
            "henormal" => Initializer::HeNormal,
            "lecununiform" => Initializer::LecunUniform,
            "orthogonal" => Initializer::Orthogonal { gain: f.gain.unwrap_or(1.0) },
            "zeros" => Initializer::Zeros,
            "ones" => Initializer::Ones,
            "constant" => Initializer::Constant { value: f.value.unwrap_or(0.0) },
            // Keras's RandomNormal defaults to stddev 0.05; RandomUniform to [-0.05, 0.05].
            "randomnormal" | "normal" => Initializer::RandomNormal { mean: f.mean.unwrap_or(0.0), stddev: f.stddev.unwrap_or(0.05) },
            "randomuniform" | "uniform" => Initializer::RandomUniform { minval: f.minval.unwrap_or(-0.05), maxval: f.maxval.unwrap_or(0.05) },
            _ => return Err(format!("unknown initializer {:?}", f.kind)),
        })
    }
}

impl From<Initializer> for InitializerRepr {
    fn from(i: Initializer) -> Self {
        let name = |n: &str| InitializerRepr::Name(n.into());
        let obj = |kind: &str, f: InitializerFields| InitializerRepr::Object(InitializerFields { kind: kind.into(), ..f });
        match i {
            Initializer::GlorotUniform => name("glorot_uniform"),
            Initializer::GlorotNormal => name("glorot_normal"),
            Initializer::HeUniform => name("he_uniform"),
            Initializer::HeNormal => name("he_normal"),
            Initializer::LecunUniform => name("lecun_uniform"),
            Initializer::Zeros => name("zeros"),
            Initializer::Ones => name("ones"),
            Initializer::Orthogonal { gain } => obj("orthogonal", InitializerFields { gain: Some(gain), ..Default::default() }),
            Initializer::Constant { value } => obj("constant", InitializerFields { value: Some(value), ..Default::default() }),
            Initializer::RandomNormal { mean, stddev } => {
                obj("random_normal", InitializerFields { mean: Some(mean), stddev: Some(stddev), ..Default::default() })
            }
            Initializer::RandomUniform { minval, maxval } => {
                obj("random_uniform", InitializerFields { minval: Some(minval), maxval: Some(maxval), ..Default::default() })
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Layers

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
}

fn default_true() -> bool {
    true
}
fn glorot_uniform() -> Initializer {
    Initializer::GlorotUniform
}
fn orthogonal() -> Initializer {
    Initializer::Orthogonal { gain: 1.0 }
}
fn tanh() -> Activation {
    Activation::Tanh
}
fn one() -> usize {
    1
}
fn two() -> usize {
    2
}
fn zeros() -> Initializer {
    Initializer::Zeros
}
fn embedding_uniform() -> Initializer {
    Initializer::RandomUniform { minval: -0.05, maxval: 0.05 }
}

/// Token ids `[B,T]` to vectors `[B,T,outputDim]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// Vocabulary size: ids must lie in `[0, inputDim)`.
    pub input_dim: usize,
    /// Size of each vector.
    pub output_dim: usize,
    /// Treat id 0 as padding and mask it for the layers after (default false).
    #[serde(default)]
    pub mask_zero: bool,
    /// Default: uniform(-0.05, 0.05), as Keras.
    #[serde(default = "embedding_uniform")]
    pub embeddings_initializer: Initializer,
}

/// A long short-term memory layer; gates i, f, g, o as PyTorch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LstmConfig {
    /// Size of the hidden state H.
    pub units: usize,
    /// Output the whole sequence `[B,T,H]` rather than the last state `[B,H]` (default false).
    #[serde(default)]
    pub return_sequences: bool,
    /// Fraction of the inputs dropped in training, one mask per sequence (per sequence and gate with recurrent
    /// dropout, as Keras) (default 0).
    #[serde(default)]
    pub dropout: f32,
    /// Fraction of the recurrent state dropped in training, one mask per sequence and gate, as Keras (default 0).
    #[serde(default)]
    pub recurrent_dropout: f32,
    /// Run a second LSTM over the reversed sequence and concatenate (default false).
    #[serde(default)]
    pub bidirectional: bool,
    /// Start the forget gate's bias at 1, as Keras (default true). PyTorch's `bias_ih` f-block holds it.
    #[serde(default = "default_true")]
    pub unit_forget_bias: bool,
    /// `weight_ih`: default glorot_uniform.
    #[serde(default = "glorot_uniform")]
    pub kernel_initializer: Initializer,
    /// `weight_hh`: default orthogonal.
    #[serde(default = "orthogonal")]
    pub recurrent_initializer: Initializer,
    /// `bias_ih` and `bias_hh`: default zeros.
    #[serde(default = "zeros")]
    pub bias_initializer: Initializer,
    /// `[T, features]` or `[features]` when this is the first layer and takes floats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<Option<usize>>>,
}

/// A gated recurrent unit, Keras's with `reset_after=True` (PyTorch's GRU); gates r, z, n as PyTorch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GruConfig {
    /// Size of the hidden state H.
    pub units: usize,
    /// Output the whole sequence `[B,T,H]` rather than the last state `[B,H]` (default false).
    #[serde(default)]
    pub return_sequences: bool,
    /// Fraction of the inputs dropped in training, one mask per sequence (per sequence and gate with recurrent
    /// dropout, as Keras) (default 0).
    #[serde(default)]
    pub dropout: f32,
    /// Fraction of the recurrent state dropped in training, one mask per sequence and gate, as Keras (default 0).
    #[serde(default)]
    pub recurrent_dropout: f32,
    /// Run a second GRU over the reversed sequence and concatenate (default false).
    #[serde(default)]
    pub bidirectional: bool,
    /// `weight_ih`: default glorot_uniform.
    #[serde(default = "glorot_uniform")]
    pub kernel_initializer: Initializer,
    /// `weight_hh`: default orthogonal.
    #[serde(default = "orthogonal")]
    pub recurrent_initializer: Initializer,
    /// `bias_ih` and `bias_hh`: default zeros.
    #[serde(default = "zeros")]
    pub bias_initializer: Initializer,
    /// `[T, features]` when this is the first layer and takes floats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<Option<usize>>>,
}

/// A fully connected recurrent layer (Keras's SimpleRNN, PyTorch's `nn.RNN` names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimpleRnnConfig {
    /// Size of the hidden state H.
    pub units: usize,
    /// tanh (default), relu, sigmoid or linear.
    #[serde(default = "tanh")]
    pub activation: Activation,
    /// Output the whole sequence `[B,T,H]` rather than the last state `[B,H]` (default false).
    #[serde(default)]
    pub return_sequences: bool,
    /// Fraction of the inputs dropped in training, one mask per sequence (default 0).
    #[serde(default)]
    pub dropout: f32,
    /// Fraction of the recurrent state dropped in training, one mask per sequence (default 0).
    #[serde(default)]
    pub recurrent_dropout: f32,
    /// Run a second layer over the reversed sequence and concatenate (default false).
    #[serde(default)]
    pub bidirectional: bool,
    /// `weight_ih`: default glorot_uniform.
    #[serde(default = "glorot_uniform")]
    pub kernel_initializer: Initializer,
    /// `weight_hh`: default orthogonal.
    #[serde(default = "orthogonal")]
    pub recurrent_initializer: Initializer,
    /// `bias_ih` and `bias_hh`: default zeros.
    #[serde(default = "zeros")]
    pub bias_initializer: Initializer,
    /// `[T, features]` when this is the first layer and takes floats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<Option<usize>>>,
}

/// How a convolution or pooling pads the time axis (Keras's rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: windows lie inside the sequence.
    #[default]
    Valid,
    /// `ceil(T/strides)` outputs, the smaller half of the padding on the left.
    Same,
    /// `dilationRate·(kernelSize−1)` on the left, so no output reads a later step (Conv1D only).
    Causal,
}

/// A 1-D convolution over time on `[B,T,C]` (channels last, as Keras); weight `[filters, C, kernelSize]` as PyTorch.
/// It does not carry a mask: after an embedding with `maskZero` the mask is dropped (as Keras).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Conv1dConfig {
    /// Output channels F.
    pub filters: usize,
    /// Window length k.
    pub kernel_size: usize,
    /// Step between windows (default 1).
    #[serde(default = "one")]
    pub strides: usize,
    /// valid (default), same or causal.
    #[serde(default)]
    pub padding: Padding,
    /// Spacing of the window's taps (default 1); Keras allows it above 1 only with strides 1.
    #[serde(default = "one")]
    pub dilation_rate: usize,
    /// Default linear.
    #[serde(default)]
    pub activation: Activation,
    /// Default glorot_uniform (fans: C·k in, F·k out, as Keras).
    #[serde(default = "glorot_uniform")]
    pub kernel_initializer: Initializer,
    /// Default zeros.
    #[serde(default = "zeros")]
    pub bias_initializer: Initializer,
    /// `[T, channels]` when this is the first layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<Option<usize>>>,
}

/// Max pooling over time windows, Keras's MaxPooling1D: `[B,T,F]` → `[B,T',F]`. It does not carry a mask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaxPooling1dConfig {
    /// Window length (default 2).
    #[serde(default = "two")]
    pub pool_size: usize,
    /// Step between windows (default poolSize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<usize>,
    /// valid (default) or same (windows over the padding ignore it).
    #[serde(default)]
    pub padding: Padding,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<Option<usize>>>,
}

impl MaxPooling1dConfig {
    /// The step between windows: `strides`, else `poolSize`.
    pub fn stride(&self) -> usize {
        self.strides.unwrap_or(self.pool_size)
    }
}

/// A fully connected layer on the last axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DenseConfig {
    pub units: usize,
    /// Default linear.
    #[serde(default)]
    pub activation: Activation,
    /// Default glorot_uniform.
    #[serde(default = "glorot_uniform")]
    pub kernel_initializer: Initializer,
    /// Default zeros.
    #[serde(default = "zeros")]
    pub bias_initializer: Initializer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<Option<usize>>>,
}

/// Inverted dropout, active only in training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DropoutConfig {
    pub rate: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<Option<usize>>>,
}

/// Global pooling over the time axis: `[B,T,F]` → `[B,F]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlobalPoolingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<Option<usize>>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LayerConfig {
    Embedding(EmbeddingConfig),
    Lstm(LstmConfig),
    Gru(GruConfig),
    #[serde(rename = "simpleRnn")]
    SimpleRnn(SimpleRnnConfig),
    Conv1d(Conv1dConfig),
    #[serde(rename = "maxPooling1d")]
    MaxPooling1d(MaxPooling1dConfig),
    Dense(DenseConfig),
    Dropout(DropoutConfig),
    /// The mean over the steps the mask keeps (Keras's GlobalAveragePooling1D).
    #[serde(rename = "globalAveragePooling1d")]
    GlobalAveragePooling1d(GlobalPoolingConfig),
    /// The maximum over every step (Keras's GlobalMaxPooling1D, which ignores the mask).
    #[serde(rename = "globalMaxPooling1d")]
    GlobalMaxPooling1d(GlobalPoolingConfig),
}

impl LayerConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            LayerConfig::Embedding(_) => "embedding",
            LayerConfig::Lstm(_) => "lstm",
            LayerConfig::Gru(_) => "gru",
            LayerConfig::SimpleRnn(_) => "simpleRnn",
            LayerConfig::Conv1d(_) => "conv1d",
            LayerConfig::MaxPooling1d(_) => "maxPooling1d",
            LayerConfig::Dense(_) => "dense",
            LayerConfig::Dropout(_) => "dropout",
            LayerConfig::GlobalAveragePooling1d(_) => "globalAveragePooling1d",
            LayerConfig::GlobalMaxPooling1d(_) => "globalMaxPooling1d",
        }
    }

    /// Whether the layer reads only sequences `[B,T,F]` (a Dense or Dropout also takes `[B,F]`).
    pub fn needs_sequence(&self) -> bool {
        matches!(
            self,
            LayerConfig::Lstm(_)
                | LayerConfig::Gru(_)
                | LayerConfig::SimpleRnn(_)
                | LayerConfig::Conv1d(_)
                | LayerConfig::MaxPooling1d(_)
                | LayerConfig::GlobalAveragePooling1d(_)
                | LayerConfig::GlobalMaxPooling1d(_)
        )
    }

    pub fn input_shape(&self) -> Option<&[Option<usize>]> {
        match self {
            LayerConfig::Lstm(c) => c.input_shape.as_deref(),
            LayerConfig::Gru(c) => c.input_shape.as_deref(),
            LayerConfig::SimpleRnn(c) => c.input_shape.as_deref(),
            LayerConfig::Conv1d(c) => c.input_shape.as_deref(),
            LayerConfig::MaxPooling1d(c) => c.input_shape.as_deref(),
            LayerConfig::Dense(c) => c.input_shape.as_deref(),
            LayerConfig::Dropout(c) => c.input_shape.as_deref(),
            LayerConfig::GlobalAveragePooling1d(c) | LayerConfig::GlobalMaxPooling1d(c) => c.input_shape.as_deref(),
            LayerConfig::Embedding(_) => None,
        }
    }

    pub fn validate(&self, index: usize) -> Result<()> {
        let bad = |msg: String| Err(LstmError::InvalidConfig(format!("layer {index} ({}): {msg}", self.kind())));
        let rate_ok = |r: f32| (0.0..1.0).contains(&r);
        match self {
            LayerConfig::Embedding(c) => {
                if c.input_dim == 0 {
                    return bad("inputDim must be at least 1, got 0".into());
                }
                if c.output_dim == 0 {
                    return bad("outputDim must be at least 1, got 0".into());
                }
            }
            LayerConfig::Lstm(c) => {
                if c.units == 0 {
                    return bad("units must be at least 1, got 0".into());
                }
                if !rate_ok(c.dropout) {
                    return bad(format!("dropout must be in [0, 1), got {}", c.dropout));
                }
                if !rate_ok(c.recurrent_dropout) {
                    return bad(format!("recurrentDropout must be in [0, 1), got {}", c.recurrent_dropout));
                }
            }
            LayerConfig::Gru(GruConfig { units, dropout, recurrent_dropout, .. })
            | LayerConfig::SimpleRnn(SimpleRnnConfig { units, dropout, recurrent_dropout, .. }) => {
                if *units == 0 {
                    return bad("units must be at least 1, got 0".into());
                }
                if !rate_ok(*dropout) {
                    return bad(format!("dropout must be in [0, 1), got {dropout}"));
                }
                if !rate_ok(*recurrent_dropout) {
                    return bad(format!("recurrentDropout must be in [0, 1), got {recurrent_dropout}"));
                }
                if let LayerConfig::SimpleRnn(c) = self {
                    if c.activation == Activation::Softmax {
                        return bad("activation must be tanh, relu, sigmoid or linear, got softmax".into());
                    }
                }
            }
            LayerConfig::Conv1d(c) => {
                for (name, v) in [("filters", c.filters), ("kernelSize", c.kernel_size), ("strides", c.strides), ("dilationRate", c.dilation_rate)] {
                    if v == 0 {
                        return bad(format!("{name} must be at least 1, got 0"));
                    }
                }
                if c.strides > 1 && c.dilation_rate > 1 {
                    return bad(format!("strides must be 1 when dilationRate > 1 (as Keras), got strides {} and dilationRate {}", c.strides, c.dilation_rate));
                }
                if c.kernel_size.checked_mul(c.dilation_rate).is_none() {
                    return bad(format!("kernelSize·dilationRate overflows: {} · {}", c.kernel_size, c.dilation_rate));
                }
            }
            LayerConfig::MaxPooling1d(c) => {
                if c.pool_size == 0 {
                    return bad("poolSize must be at least 1, got 0".into());
                }
                if c.strides == Some(0) {
                    return bad("strides must be at least 1, got 0".into());
                }
                if c.padding == Padding::Causal {
                    return bad("padding must be valid or same, got causal".into());
                }
            }
            LayerConfig::Dense(c) => {
                if c.units == 0 {
                    return bad("units must be at least 1, got 0".into());
                }
            }
            LayerConfig::Dropout(c) => {
                if !rate_ok(c.rate) {
                    return bad(format!("rate must be in [0, 1), got {}", c.rate));
                }
            }
            LayerConfig::GlobalAveragePooling1d(c) | LayerConfig::GlobalMaxPooling1d(c) => {
                if c.input_shape.as_ref().is_some_and(|s| s.len() != 2) {
                    return bad(format!("inputShape must be [T, features]: pooling reads a sequence, got {:?}", c.input_shape.as_ref().unwrap()));
                }
            }
        }
        if let Some(shape) = self.input_shape() {
            if shape.is_empty() || shape.len() > 2 || shape.last().copied().flatten().unwrap_or(0) == 0 {
                return bad(format!("inputShape must be [T, features] or [features] with features ≥ 1, got {shape:?}"));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Losses

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// On probabilities in (0, 1); targets `[B,1]` or `[B]` of 0/1.
    BinaryCrossentropy,
    /// Integer class targets `[B]`; outputs are probabilities, or logits with `fromLogits`.
    SparseCategoricalCrossentropy,
    /// One-hot (or soft) targets shaped like the output.
    CategoricalCrossentropy,
    /// Mean over all elements.
    MeanSquaredError,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LossRepr", into = "LossRepr")]
pub struct LossConfig {
    pub kind: LossKind,
    /// The outputs are logits rather than probabilities (default false).
    pub from_logits: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum LossRepr {
    Name(String),
    Object(LossFields),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LossFields {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, rename = "fromLogits")]
    from_logits: bool,
}

impl<'de> Deserialize<'de> for LossRepr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match name_or_object(d)? {
            NameOr::Name(n) => LossRepr::Name(n),
            NameOr::Object(f) => LossRepr::Object(f),
        })
    }
}

impl TryFrom<LossRepr> for LossConfig {
    type Error = String;
    fn try_from(r: LossRepr) -> Result<Self, String> {
        let (name, from_logits) = match r {
            LossRepr::Name(n) => (n, false),
            LossRepr::Object(LossFields { kind, from_logits }) => (kind, from_logits),
        };
        let kind = match normalize(&name).as_str() {
            "binarycrossentropy" | "bce" => LossKind::BinaryCrossentropy,
            "sparsecategoricalcrossentropy" => LossKind::SparseCategoricalCrossentropy,
            "categoricalcrossentropy" => LossKind::CategoricalCrossentropy,
            "meansquarederror" | "mse" => LossKind::MeanSquaredError,
            _ => {
                return Err(format!(
                    "unknown loss {name:?}; expected binaryCrossentropy, sparseCategoricalCrossentropy, categoricalCrossentropy or meanSquaredError (mse)"
                ))
            }
        };
        Ok(LossConfig { kind, from_logits })
    }
}

impl From<LossConfig> for LossRepr {
    fn from(l: LossConfig) -> Self {
        let kind = match l.kind {
            LossKind::BinaryCrossentropy => "binary_crossentropy",
            LossKind::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            LossKind::CategoricalCrossentropy => "categorical_crossentropy",
            LossKind::MeanSquaredError => "mse",
        };
        LossRepr::Object(LossFields { kind: kind.into(), from_logits: l.from_logits })
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Optimizers

/// An optimizer and its hyper-parameters. ε is placed as PyTorch does: `p -= lr·m̂/(√v̂ + ε)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "OptimizerRepr", into = "OptimizerRepr")]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub learning_rate: f32,
    /// Clip each gradient tensor to this L2 norm (Keras `clipnorm`).
    pub clipnorm: Option<f32>,
    /// Clip each gradient element to [-clipvalue, clipvalue].
    pub clipvalue: Option<f32>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    /// Default lr 0.01, momentum 0, nesterov false.
    Sgd { momentum: f32, nesterov: bool },
    /// Default lr 0.001, rho 0.9, epsilon 1e-7, momentum 0.
    Rmsprop { rho: f32, epsilon: f32, momentum: f32 },
    /// Default lr 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7.
    Adam { beta1: f32, beta2: f32, epsilon: f32 },
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OptimizerFields {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    learning_rate: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    momentum: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nesterov: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rho: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epsilon: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    beta1: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    beta2: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    clipnorm: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    clipvalue: Option<f32>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OptimizerRepr {
    Name(String),
    Object(OptimizerFields),
}

impl<'de> Deserialize<'de> for OptimizerRepr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match name_or_object(d)? {
            NameOr::Name(n) => OptimizerRepr::Name(n),
            NameOr::Object(f) => OptimizerRepr::Object(f),
        })
    }
}

impl TryFrom<OptimizerRepr> for OptimizerConfig {
    type Error = String;
    fn try_from(r: OptimizerRepr) -> Result<Self, String> {
        let f = match r {
            OptimizerRepr::Name(kind) => OptimizerFields { kind, ..Default::default() },
            OptimizerRepr::Object(f) => f,
        };
        let (kind, default_lr) = match normalize(&f.kind).as_str() {
            "sgd" => (OptimizerKind::Sgd { momentum: f.momentum.unwrap_or(0.0), nesterov: f.nesterov.unwrap_or(false) }, 0.01),
            "rmsprop" => (OptimizerKind::Rmsprop { rho: f.rho.unwrap_or(0.9), epsilon: f.epsilon.unwrap_or(1e-7), momentum: f.momentum.unwrap_or(0.0) }, 0.001),
            "adam" => (OptimizerKind::Adam { beta1: f.beta1.unwrap_or(0.9), beta2: f.beta2.unwrap_or(0.999), epsilon: f.epsilon.unwrap_or(1e-7) }, 0.001),
            _ => return Err(format!("unknown optimizer {:?}; expected adam, rmsprop or sgd", f.kind)),
        };
        let cfg = OptimizerConfig { kind, learning_rate: f.learning_rate.unwrap_or(default_lr), clipnorm: f.clipnorm, clipvalue: f.clipvalue };
        cfg.check()?;
        Ok(cfg)
    }
}

impl OptimizerConfig {
    fn check(&self) -> Result<(), String> {
        let pos = |name: &str, v: f32| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a positive number, got {v}"))
            }
        };
        let unit = |name: &str, v: f32| {
            if v.is_finite() && (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be in [0, 1), got {v}"))
            }
        };
        pos("learningRate", self.learning_rate)?;
        if let Some(c) = self.clipnorm {
            pos("clipnorm", c)?;
        }
        if let Some(c) = self.clipvalue {
            pos("clipvalue", c)?;
        }
        match self.kind {
            OptimizerKind::Sgd { momentum, .. } => unit("momentum", momentum),
            OptimizerKind::Rmsprop { rho, epsilon, momentum } => {
                unit("rho", rho)?;
                pos("epsilon", epsilon)?;
                unit("momentum", momentum)
            }
            OptimizerKind::Adam { beta1, beta2, epsilon } => {
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                pos("epsilon", epsilon)
            }
        }
    }
}

impl From<OptimizerConfig> for OptimizerRepr {
    fn from(o: OptimizerConfig) -> Self {
        let mut f = OptimizerFields { learning_rate: Some(o.learning_rate), clipnorm: o.clipnorm, clipvalue: o.clipvalue, ..Default::default() };
        match o.kind {
            OptimizerKind::Sgd { momentum, nesterov } => {
                f.kind = "sgd".into();
                f.momentum = Some(momentum);
                f.nesterov = Some(nesterov);
            }
            OptimizerKind::Rmsprop { rho, epsilon, momentum } => {
                f.kind = "rmsprop".into();
                f.rho = Some(rho);
                f.epsilon = Some(epsilon);
                f.momentum = Some(momentum);
            }
            OptimizerKind::Adam { beta1, beta2, epsilon } => {
                f.kind = "adam".into();
                f.beta1 = Some(beta1);
                f.beta2 = Some(beta2);
                f.epsilon = Some(epsilon);
            }
        }
        OptimizerRepr::Object(f)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The model

/// A whole model: the golden cases' `case` schema plus the seed and the float input's feature size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelConfig {
    pub layers: Vec<LayerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerConfig>,
    /// Seeds the initializers, dropout masks and shuffling (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Feature size of a float input, when known (from `inputShape` or from the first data seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_dim: Option<usize>,
}

impl ModelConfig {
    pub fn new(layers: Vec<LayerConfig>) -> Self {
        ModelConfig { layers, loss: None, optimizer: None, seed: 0, input_dim: None }
    }

    /// Parse JSON, mapping every problem to `InvalidConfig` with serde's description of the offending value.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| LstmError::InvalidConfig(e.to_string()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a config always serialises")
    }
}

/// Parse one JSON value of a config type (a layer, a loss, an optimizer) into `InvalidConfig` on error.
pub fn parse_json<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| LstmError::InvalidConfig(format!("{what}: {e}")))
}

impl OptimizerConfig {
    /// An optimizer by name with its defaults (`"adam"`, `"rmsprop"`, `"sgd"`).
    pub fn from_name(name: &str) -> Result<Self> {
        OptimizerConfig::try_from(OptimizerRepr::Name(name.to_string())).map_err(LstmError::InvalidConfig)
    }
    /// Like [`OptimizerConfig::from_name`] for names known to be valid.
    pub fn try_from_name(name: &str) -> Self {
        Self::from_name(name).expect("a known optimizer name")
    }
}
