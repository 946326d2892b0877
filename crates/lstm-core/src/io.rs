//! Weights I/O as safetensors. Tensor keys are the weight names (`1.weight_ih`), so PyTorch loads them by name;
//! optimizer state goes under `optimizer.<slot>.<name>`; the architecture is JSON in `__metadata__["model"]`
//! (the golden cases' `case` schema: layers, loss, optimizer). Saving writes a temporary file in the same folder
//! and renames it, so a crash leaves the old file or the new one, never half of one.
//!
//! Files are verified on load. The metadata holds a CRC-32C of every tensor's bytes (`checksums`, a JSON object of
//! tensor name → 8 hex digits) and one of the whole header (`headerChecksum`, computed with its own 8 digits as
//! `00000000`), so any flipped byte is found; other safetensors readers ignore both, as they are plain metadata
//! strings. CRC-32C rather than a hash: it detects every error of up to 32 consecutive bits and every 1-, 2- or
//! 3-bit error at these lengths for certain, not just with high probability, and the crc32c crate runs on the CPU's
//! CRC instruction. The metadata and the architecture JSON are parsed strictly: an unknown or missing key is
//! `CorruptWeights` naming it, as is optimizer state no update could have produced. Files without checksums (from
//! other writers, or saved before they were added) still load, with every other check.

use crate::config::{ModelConfig, OptimizerConfig, OptimizerKind};
use crate::error::{LstmError, Result};
use crate::model::{check_finite, Model};
use crate::pool::Threads;
use safetensors::tensor::{Dtype, Metadata, SafeTensors, TensorInfo, TensorView};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;

const FORMAT: &str = "lstm-native";
const OPTIMIZER_PREFIX: &str = "optimizer.";
const CHECKSUMS: &str = "checksums";
const HEADER_CHECKSUM: &str = "headerChecksum";
/// The header checksum's own digits while the header checksum is computed.
const PLACEHOLDER: &str = "00000000";
/// Every metadata key a file may hold (`case` is the golden cases' name for the architecture).
const METADATA_KEYS: [&str; 8] = ["format", "model", "case", "step", "optimizerStep", "user", CHECKSUMS, HEADER_CHECKSUM];

impl Model {
    /// Writes the weights, the architecture, optional optimizer state and optional user metadata (a JSON string,
    /// e.g. a vocabulary).
    pub fn save(&self, path: &Path, include_optimizer: bool, user_metadata: Option<&str>) -> Result<()> {
        if !self.is_built() {
            return Err(LstmError::InvalidArgument("the model has no weights yet: give the first layer an inputShape, or fit it on data first".into()));
        }
        // Never replace a file with one that load would refuse.
        self.check_saveable(include_optimizer)?;
        let mut blobs: Vec<(String, Vec<usize>, &[f32])> =
            self.entries().iter().map(|e| (e.name.clone(), e.shape.clone(), &self.params()[e.range.clone()])).collect();
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert("model".to_string(), self.config().to_json());
        meta.insert("step".to_string(), self.step().to_string());
        if let Some(u) = user_metadata {
            meta.insert("user".to_string(), u.to_string());
        }
        if include_optimizer {
            if let Some(opt) = self.optimizer_state() {
                let (s1, s2) = opt.slot_names();
                for e in self.entries() {
                    blobs.push((format!("{OPTIMIZER_PREFIX}{s1}.{}", e.name), e.shape.clone(), &opt.s1[e.range.clone()]));
                    blobs.push((format!("{OPTIMIZER_PREFIX}{s2}.{}", e.name), e.shape.clone(), &opt.s2[e.range.clone()]));
                }
                meta.insert("optimizerStep".to_string(), opt.step.to_string());
            }
        }
        let mut checksums = std::collections::BTreeMap::new();
        for (name, _, values) in &blobs {
            let mut crc = 0;
            le_chunks(values, |b| {
                crc = crc32c::crc32c_append(crc, b);
                Ok(())
            })
            .expect("the checksum cannot fail");
            checksums.insert(name.as_str(), hex(crc));
        }
        meta.insert(CHECKSUMS.to_string(), serde_json::to_string(&checksums).expect("a map of strings serialises"));
        meta.insert(HEADER_CHECKSUM.to_string(), PLACEHOLDER.to_string());
        // The file as safetensors::serialize lays it out (tensors by name, all F32, then the header padded with
        // spaces to a multiple of 8), written piece by piece: the weights are never copied whole, so a model that
        // fits in memory can always be saved.
        blobs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut offset = 0;
        let infos = blobs
            .iter()
            .map(|(name, shape, values)| {
                let len = values.len() * 4;
                offset += len;
                (name.clone(), TensorInfo { dtype: Dtype::F32, shape: shape.clone(), data_offsets: (offset - len, offset) })
            })
            .collect();
        let header = Metadata::new(Some(meta), infos).map_err(|e| LstmError::InvalidArgument(format!("cannot serialise weights: {e}")))?;
        let mut header = serde_json::to_string(&header).map_err(|e| LstmError::InvalidArgument(format!("cannot serialise weights: {e}")))?.into_bytes();
        header.resize(header.len().next_multiple_of(8), b' ');
        let mut head = (header.len() as u64).to_le_bytes().to_vec();
        head.extend_from_slice(&header);
        let (digits, crc) = header_checksum(&head, PLACEHOLDER).ok_or_else(|| LstmError::InvalidArgument("the header checksum was not written".into()))?;
        head[digits].copy_from_slice(hex(crc).as_bytes());
        write_atomic(path, |f| {
            f.write_all(&head)?;
            blobs.iter().try_for_each(|(_, _, values)| le_chunks(values, |b| f.write_all(b)))
        })
    }

    /// What [`Model::save`] would write must pass [`Model::load`]: finite weights, and optimizer state that an
    /// update can produce.
    fn check_saveable(&self, include_optimizer: bool) -> Result<()> {
        for e in self.entries() {
            check_finite(&format!("weight {}", e.name), &self.params()[e.range.clone()], &e.shape)?;
        }
        if let (true, Some(opt)) = (include_optimizer, self.optimizer_state()) {
            let (s1, s2) = opt.slot_names();
            for e in self.entries() {
                for (first, slot, values) in [(true, s1, &opt.s1), (false, s2, &opt.s2)] {
                    let what = format!("optimizer state {slot} of {}", e.name);
                    let values = &values[e.range.clone()];
                    check_finite(&what, values, &e.shape)?;
                    if let Some(why) = slot_problem(&opt.config, opt.step, first, values) {
                        return Err(LstmError::InvalidArgument(format!("{what} {why}; the saved file would not load")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads a model saved by [`Model::save`]: architecture, weights and (when present) optimizer state.
    /// Returns the model and the user metadata string.
    pub fn load(path: &Path, num_threads: usize) -> Result<(Model, Option<String>)> {
        Model::load_with(path, Threads::shared(num_threads))
    }

    /// [`Model::load`] with the choice of shared or dedicated threads.
    pub fn load_with(path: &Path, threads: Threads) -> Result<(Model, Option<String>)> {
        let bytes = read_file(path)?;
        Model::load_from_bytes_with(&bytes, path, threads)
    }

    /// [`Model::load`] on the bytes of a file already read; `path` only names the file in error messages.
    /// Never allocates much more than the file's size: an architecture needing more parameters than the file
    /// holds is refused before the model is built.
    pub fn load_from_bytes(bytes: &[u8], path: &Path, num_threads: usize) -> Result<(Model, Option<String>)> {
        Model::load_from_bytes_with(bytes, path, Threads::shared(num_threads))
    }

    fn load_from_bytes_with(bytes: &[u8], path: &Path, threads: Threads) -> Result<(Model, Option<String>)> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| LstmError::corrupt(path, format!("not a safetensors file: {e}")))?;
        let meta = verified_metadata(path, bytes, &st)?;
        let (json, stored_by_us) = match (meta.get("model"), meta.get("case")) {
            (Some(m), None) => (m, true),
            (None, Some(c)) => (c, false),
            (Some(_), Some(_)) => return Err(LstmError::corrupt(path, "two architectures in __metadata__ (model and case)")),
            (None, None) => return Err(LstmError::corrupt(path, "no model architecture in __metadata__ (not an lstm-native file)")),
        };
        let mut config = ModelConfig::from_json(json).map_err(|e| LstmError::corrupt(path, format!("bad architecture: {e}")))?;
        if stored_by_us {
            // Save writes every key of the architecture, defaults included: one missing was lost to damage, and
            // reading it as its default would silently change the model.
            let stored: serde_json::Value = serde_json::from_str(json).map_err(|e| LstmError::corrupt(path, format!("bad architecture: {e}")))?;
            let canonical = serde_json::to_value(&config).map_err(|e| LstmError::corrupt(path, format!("bad architecture: {e}")))?;
            if let Some(key) = missing_key(&stored, &canonical, "") {
                return Err(LstmError::corrupt(path, format!("bad architecture: the key {key} is missing")));
            }
        }
        let step = metadata_count(path, &meta, "step")?;
        let optimizer_step = metadata_count(path, &meta, "optimizerStep")?;
        if config.input_dim.is_none() {
            // A float-input model saved by an older writer: the first weight's last axis is the feature size.
            if let Ok(t) = st.tensor("0.weight_ih").or_else(|_| st.tensor("0.weight")) {
                config.input_dim = t.shape().get(1).copied();
            }
        }
        // The architecture comes from the file, so it is untrusted: building it allocates params, grads and the
        // optimizer slots, so first check the file really holds that many parameters (a flipped digit in the JSON
        // must not ask for terabytes).
        let in_file: usize = st.tensors().iter().filter(|(name, _)| !name.starts_with(OPTIMIZER_PREFIX)).map(|(_, t)| t.data().len() / 4).sum();
        match Model::parameter_count(&config) {
            Err(e) => return Err(LstmError::corrupt(path, format!("bad architecture: {e}"))),
            Ok(Some(n)) if n > in_file => {
                return Err(LstmError::corrupt(path, format!("the architecture has {n} parameters but the file holds only {in_file} weights")))
            }
            _ => {}
        }
        let mut model = Model::new_for_load(config, threads).map_err(|e| LstmError::corrupt(path, format!("bad architecture: {e}")))?;
        if !model.is_built() {
            return Err(LstmError::corrupt(path, "the architecture does not say its input size"));
        }
        model.read_tensors(path, &st, Some(optimizer_step))?;
        if let Some(step) = step {
            model.set_step(step);
        }
        Ok((model, meta.get("user").cloned()))
    }

    /// Loads only the weights into this model, whose architecture must be the file's.
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        let bytes = read_file(path)?;
        self.load_weights_from_bytes(&bytes, path)
    }

    /// [`Model::load_weights`] on the bytes of a file already read; `path` only names the file in error messages.
    pub fn load_weights_from_bytes(&mut self, bytes: &[u8], path: &Path) -> Result<()> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| LstmError::corrupt(path, format!("not a safetensors file: {e}")))?;
        verified_metadata(path, bytes, &st)?;
        if !self.is_built() {
            let first = st.tensor("0.weight_ih").or_else(|_| st.tensor("0.weight")).map_err(|_| LstmError::corrupt(path, "no first-layer weight"))?;
            // The input size is read from the file: only a real, non-empty matrix may set it (a [0, 2^40] tensor holds
            // no bytes yet would size the model at terabytes).
            let f = match first.shape() {
                &[rows, f] if rows > 0 && f > 0 => f,
                s => return Err(LstmError::corrupt(path, format!("first-layer weight has shape {s:?}, expected a non-empty matrix"))),
            };
            // Check the file on a throwaway model of this architecture built for `f` features before building this
            // one: building fixes the input size, so a bad file must not get that far (it would leave the model built
            // for the file's input size, and later refuse the right data).
            let mut probe_config = self.config().clone();
            probe_config.input_dim = Some(f);
            probe_config.loss = None;
            probe_config.optimizer = None;
            let mut probe = Model::new(probe_config, 1).map_err(|e| LstmError::corrupt(path, format!("first-layer weight does not fit: {e}")))?;
            probe.read_tensors(path, &st, None)?;
            let mut shape = vec![1, 1, f];
            if !self.config().layers[0].needs_sequence() {
                shape.remove(1);
            }
            self.check_input(&crate::Data::Floats(&vec![0.0; f], &shape))
                .map_err(|e| LstmError::corrupt(path, format!("first-layer weight does not fit: {e}")))?;
            self.params_mut().copy_from_slice(probe.params());
            return Ok(());
        }
        self.read_tensors(path, &st, None)
    }

    /// Copies every weight from `st` after checking names, dtypes and shapes all match, so a bad file changes nothing.
    /// With `optimizer_step` (a whole load: the metadata's `optimizerStep`), also the optimizer state, which must
    /// then be complete, of this model's optimizer, and a state its updates can produce.
    fn read_tensors(&mut self, path: &Path, st: &SafeTensors, optimizer_step: Option<Option<u64>>) -> Result<()> {
        let mut staged: Vec<(std::ops::Range<usize>, Vec<f32>)> = Vec::new();
        for e in self.entries() {
            let t = st.tensor(&e.name).map_err(|_| LstmError::corrupt(path, format!("missing tensor {} (is it a file of another architecture?)", e.name)))?;
            staged.push((e.range.clone(), tensor_f32(path, &e.name, &t, &e.shape)?));
        }
        for name in st.names() {
            if !name.starts_with(OPTIMIZER_PREFIX) && !self.entries().iter().any(|e| e.name == name) {
                return Err(LstmError::corrupt(path, format!("unexpected tensor {name} (is it a file of another architecture?)")));
            }
        }
        let mut opt_staged: Vec<(bool, std::ops::Range<usize>, Vec<f32>)> = Vec::new();
        if let Some(opt_step) = optimizer_step {
            opt_staged = self.read_optimizer_state(path, st, opt_step)?;
        }
        for (r, v) in staged {
            self.params_mut()[r].copy_from_slice(&v);
        }
        if let Some(opt) = self.optimizer_state_mut() {
            if let Some(Some(step)) = optimizer_step {
                opt.step = step;
            }
            for (first, r, v) in opt_staged {
                let slot = if first { &mut opt.s1 } else { &mut opt.s2 };
                slot[r].copy_from_slice(&v);
            }
        }
        Ok(())
    }

    /// The optimizer tensors of `st`, checked: all of this model's optimizer or none, nothing else, with
    /// `optimizerStep` exactly when there is state, and values an update can produce.
    #[allow(clippy::type_complexity)]
    fn read_optimizer_state(&self, path: &Path, st: &SafeTensors, step: Option<u64>) -> Result<Vec<(bool, std::ops::Range<usize>, Vec<f32>)>> {
        let names: Vec<String> = st.names().into_iter().filter(|n| n.starts_with(OPTIMIZER_PREFIX)).map(str::to_string).collect();
        let Some(opt) = self.optimizer_state() else {
            return match names.first() {
                Some(n) => Err(LstmError::corrupt(path, format!("optimizer tensor {n}, but the architecture has no optimizer"))),
                None if step.is_some() => Err(LstmError::corrupt(path, "optimizerStep, but the architecture has no optimizer")),
                None => Ok(Vec::new()),
            };
        };
        let step = match (names.is_empty(), step) {
            (true, None) => return Ok(Vec::new()),
            (true, Some(_)) => return Err(LstmError::corrupt(path, "optimizerStep without optimizer tensors")),
            (false, None) => return Err(LstmError::corrupt(path, "optimizer tensors without optimizerStep")),
            (false, Some(s)) => s,
        };
        let (s1, s2) = opt.slot_names();
        let mut staged = Vec::new();
        for e in self.entries() {
            for (first, slot) in [(true, s1), (false, s2)] {
                let key = format!("{OPTIMIZER_PREFIX}{slot}.{}", e.name);
                let t = st.tensor(&key).map_err(|_| LstmError::corrupt(path, format!("missing optimizer tensor {key}")))?;
                let values = tensor_f32(path, &key, &t, &e.shape)?;
                if let Some(why) = slot_problem(&opt.config, step, first, &values) {
                    return Err(LstmError::corrupt(path, format!("optimizer tensor {key} {why}")));
                }
                staged.push((first, e.range.clone(), values));
            }
        }
        if let Some(n) = names.iter().find(|n| !self.entries().iter().any(|e| [s1, s2].iter().any(|s| **n == format!("{OPTIMIZER_PREFIX}{s}.{}", e.name)))) {
            return Err(LstmError::corrupt(path, format!("unexpected optimizer tensor {n} (is it a file of another optimizer?)")));
        }
        Ok(staged)
    }
}

fn tensor_f32(path: &Path, name: &str, t: &TensorView, shape: &[usize]) -> Result<Vec<f32>> {
    if t.dtype() != Dtype::F32 {
        return Err(LstmError::corrupt(path, format!("tensor {name} is {:?}, expected F32", t.dtype())));
    }
    if t.shape() != shape {
        return Err(LstmError::corrupt(path, format!("tensor {name} has shape {:?}, expected {shape:?}", t.shape())));
    }
    let v = crate::mem::collected(t.data().len() / 4, t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])), || {
        format!("tensor {name} {shape:?} of {}", path.display())
    })?;
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(LstmError::corrupt(path, format!("tensor {name} holds a non-finite value {x}")));
    }
    Ok(v)
}

/// Why `values` cannot be the first (`first`) or second state slot of `config`'s optimizer after `step` updates, if
/// they cannot: values no update writes. Finiteness is checked by the caller.
fn slot_problem(config: &OptimizerConfig, step: u64, first: bool, values: &[f32]) -> Option<String> {
    let find = |bad: &dyn Fn(f32) -> bool, why: &str| values.iter().position(|&v| bad(v)).map(|k| format!("holds {} at element {k}: {why}", values[k]));
    if step == 0 {
        return find(&|v| v != 0.0, "no update has run yet (optimizerStep 0), so the state is zero");
    }
    match (config.kind, first) {
        (OptimizerKind::Adam { .. }, false) => find(&|v| v < 0.0, "Adam's second moment is never negative"),
        (OptimizerKind::Rmsprop { .. }, true) => find(&|v| v < 0.0, "RMSProp's mean square is never negative"),
        (OptimizerKind::Rmsprop { momentum: 0.0, .. }, false) => find(&|v| v != 0.0, "RMSProp without momentum keeps no momentum"),
        (OptimizerKind::Sgd { momentum: 0.0, .. }, true) => find(&|v| v != 0.0, "SGD without momentum keeps no velocity"),
        (OptimizerKind::Sgd { .. }, false) => find(&|v| v != 0.0, "SGD keeps no second state"),
        _ => None,
    }
}

/// The metadata of a file, once its checksums (when it has them) and its keys are verified.
fn verified_metadata(path: &Path, bytes: &[u8], st: &SafeTensors) -> Result<HashMap<String, String>> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| LstmError::corrupt(path, e.to_string()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    if let Some(key) = meta.keys().find(|k| !METADATA_KEYS.contains(&k.as_str())) {
        return Err(LstmError::corrupt(path, format!("unknown key {key:?} in __metadata__")));
    }
    if let Some(f) = meta.get("format").filter(|f| *f != FORMAT) {
        return Err(LstmError::corrupt(path, format!("__metadata__ format is {f:?}, expected {FORMAT:?}")));
    }
    match (meta.get(HEADER_CHECKSUM), meta.get(CHECKSUMS)) {
        (None, None) => {}
        (Some(stored), Some(sums)) => {
            let (_, crc) = header_checksum(bytes, stored).ok_or_else(|| LstmError::corrupt(path, format!("bad {HEADER_CHECKSUM} {stored:?}")))?;
            if hex(crc) != *stored {
                return Err(LstmError::corrupt(path, format!("the header fails its checksum (stored {stored}, computed {}): the file is damaged", hex(crc))));
            }
            let sums: std::collections::BTreeMap<String, String> =
                serde_json::from_str(sums).map_err(|e| LstmError::corrupt(path, format!("bad {CHECKSUMS}: {e}")))?;
            for (name, t) in st.tensors() {
                let stored = sums.get(&name).ok_or_else(|| LstmError::corrupt(path, format!("tensor {name} has no checksum")))?;
                let computed = hex(crc32c::crc32c(t.data()));
                if computed != *stored {
                    return Err(LstmError::corrupt(
                        path,
                        format!("tensor {name} fails its checksum (stored {stored}, computed {computed}): the file is damaged"),
                    ));
                }
            }
            if let Some(name) = sums.keys().find(|n| st.tensor(n).is_err()) {
                return Err(LstmError::corrupt(path, format!("a checksum for tensor {name}, which the file does not hold")));
            }
        }
        (Some(_), None) => return Err(LstmError::corrupt(path, format!("{HEADER_CHECKSUM} without {CHECKSUMS}"))),
        (None, Some(_)) => return Err(LstmError::corrupt(path, format!("{CHECKSUMS} without {HEADER_CHECKSUM}"))),
    }
    Ok(meta)
}

/// Where the header checksum's 8 digits `digits` lie in a file, and the CRC-32C of the length prefix and the header
/// with those digits read as [`PLACEHOLDER`]. None if the header does not hold them (as JSON writes them: the key's
/// quotes are bare, while a quote inside a metadata string is escaped, so no string can fake the key).
fn header_checksum(bytes: &[u8], digits: &str) -> Option<(std::ops::Range<usize>, u32)> {
    let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let end = n.checked_add(8).filter(|&e| e <= bytes.len())?;
    let pattern = format!("\"{HEADER_CHECKSUM}\":\"{digits}\"");
    if digits.len() != PLACEHOLDER.len() {
        return None;
    }
    let header = &bytes[8..end];
    let at = header.windows(pattern.len()).position(|w| w == pattern.as_bytes())?;
    let start = 8 + at + pattern.len() - 1 - digits.len();
    let crc = crc32c::crc32c(&bytes[..start]);
    let crc = crc32c::crc32c_append(crc, PLACEHOLDER.as_bytes());
    let crc = crc32c::crc32c_append(crc, &bytes[start + digits.len()..end]);
    Some((start..start + digits.len(), crc))
}

fn hex(crc: u32) -> String {
    format!("{crc:08x}")
}

/// A count in the metadata (`step`, `optimizerStep`): absent, or a whole number.
fn metadata_count(path: &Path, meta: &HashMap<String, String>, key: &str) -> Result<Option<u64>> {
    meta.get(key).map(|s| s.parse().map_err(|_| LstmError::corrupt(path, format!("__metadata__ {key} is {s:?}, expected a whole number")))).transpose()
}

/// The first key of `canonical` (the architecture as save writes it) that `stored` lacks, as a path like
/// `layers[1].activation`.
fn missing_key(stored: &serde_json::Value, canonical: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match (stored, canonical) {
        (Value::Object(s), Value::Object(c)) => c.iter().find_map(|(k, cv)| {
            let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
            match s.get(k) {
                None => Some(path),
                Some(sv) => missing_key(sv, cv, &path),
            }
        }),
        (Value::Array(s), Value::Array(c)) => s.iter().zip(c).enumerate().find_map(|(i, (sv, cv))| missing_key(sv, cv, &format!("{at}[{i}]"))),
        _ => None,
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let meta = fs::metadata(path).map_err(|e| LstmError::io(path, e))?;
    if meta.is_dir() {
        return Err(LstmError::io(path, "is a directory, not a weights file"));
    }
    // A device or a pipe (/dev/zero, /dev/stdin) could be read forever.
    if !meta.is_file() {
        return Err(LstmError::io(path, "is not a regular file"));
    }
    // The whole file is held at once: a buffer of its size, fallible, so a file larger than memory is OutOfMemory.
    let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    let mut bytes = Vec::new();
    crate::mem::room(&mut bytes, len, || format!("reading {} ({len} bytes)", path.display()))?;
    let mut file = fs::File::open(path).map_err(|e| LstmError::io(path, e))?;
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| LstmError::io(path, e))?;
    Ok(bytes)
}

/// `values` as little-endian bytes, handed to `out` a fixed-size piece at a time.
fn le_chunks(values: &[f32], mut out: impl FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    for piece in values.chunks(buf.len() / 4) {
        for (d, v) in buf.chunks_exact_mut(4).zip(piece) {
            d.copy_from_slice(&v.to_le_bytes());
        }
        out(&buf[..piece.len() * 4])?;
    }
    Ok(())
}

/// Writes a file through `write` to a temporary file in the same folder, then renames it to `path`, so `path` is
/// the old file or the whole new one, never a part. Never creates folders.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut fs::File) -> std::io::Result<()>) -> Result<()> {
    if path.is_dir() {
        return Err(LstmError::io(path, "is a directory"));
    }
    let name = path.file_name().ok_or_else(|| LstmError::io(path, "has no file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(LstmError::io(path, format!("the folder {} does not exist (save never creates folders)", dir.display())));
    }
    remove_stale_temporaries(dir, &name.to_string_lossy());
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let tmp = dir.join(format!(".{}.{}-{nonce}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        write(&mut f)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(LstmError::io(path, e));
    }
    Ok(())
}

/// Removes the temporary files that earlier saves to the same target left when their process died mid-write
/// (`.NAME.<pid>-<nonce>.tmp` whose pid no longer runs). A temporary of a live process, ours included (another
/// thread may be saving to the same path), is left alone, as is anything not named like one of ours. Best effort: a
/// temporary that cannot be removed does not stop the save.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file.to_str().and_then(|f| temporary_writer(f, &prefix)) else { continue };
        if pid != std::process::id() && !process_alive(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The writer's pid when `file` is `{prefix}<pid>-<nonce>.tmp`.
fn temporary_writer(file: &str, prefix: &str) -> Option<u32> {
    let (pid, nonce) = file.strip_prefix(prefix)?.strip_suffix(".tmp")?.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(nonce) {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process with this pid exists (signal 0 checks without sending; EPERM means it exists under another
/// user). A reused pid makes a dead writer look alive, which only keeps its temporary a while longer.
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
    if pid <= 0 {
        return true;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) }
}

/// Elsewhere there is no cheap check, so no temporary is taken for dead.
#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}
