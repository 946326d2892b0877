//! Randomness. Two kinds:
//! - counter-based draws for dropout masks, a pure function of (seed, stream, step, element), so the way work
//!   is split between threads can never change a mask;
//! - a seeded `StdRng` per parameter tensor for initializers and shuffling.

use rand::{rngs::StdRng, SeedableRng};

/// SplitMix64's finaliser: a bijective 64-bit mix with good avalanche.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A key for one family of draws, e.g. "layer 3's recurrent mask at step 1200".
#[derive(Clone, Copy, Debug)]
pub struct CounterKey(u64);

impl CounterKey {
    pub fn new(seed: u64, stream: u64, step: u64) -> Self {
        CounterKey(mix64(mix64(mix64(seed ^ 0x9e37_79b9_7f4a_7c15) ^ stream) ^ step))
    }

    /// Uniform in [0, 1) with 24 bits, for element `index`.
    #[inline(always)]
    pub fn uniform(self, index: u64) -> f32 {
        (mix64(self.0 ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Fill `out` with inverted-dropout multipliers: 0 with probability `rate`, else 1/(1-rate).
    pub fn dropout_mask(self, rate: f32, out: &mut [f32]) {
        let scale = 1.0 / (1.0 - rate);
        for (i, m) in out.iter_mut().enumerate() {
            *m = if self.uniform(i as u64) < rate { 0.0 } else { scale };
        }
    }
}

/// Streams separate the independent uses of the counter generator.
pub fn stream(layer: usize, purpose: u64) -> u64 {
    ((layer as u64) << 8) | purpose
}

pub const STREAM_DROPOUT: u64 = 1;
pub const STREAM_LSTM_INPUT: u64 = 2;
pub const STREAM_LSTM_RECURRENT: u64 = 3;
pub const STREAM_LSTM_INPUT_REVERSE: u64 = 4;
pub const STREAM_LSTM_RECURRENT_REVERSE: u64 = 5;

/// A seeded generator for one purpose (initializing parameter `index` of layer `layer`, shuffling epoch `e`, ...).
pub fn seeded(seed: u64, a: u64, b: u64) -> StdRng {
    StdRng::seed_from_u64(mix64(mix64(seed ^ 0x5851_f42d_4c95_7f2d) ^ a).wrapping_add(mix64(b)))
}
