//! Layers as explicit `*_forward` / `*_backward` pairs over flat f32 buffers (no autograd tape).
//! Shapes are written `[B,T,F]`: batch, time, features. Gradients are prefixed `d`.
//! Backward passes *accumulate* into parameter gradients (`+=`), as PyTorch does, so `zero_grad` matters.

pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod lstm;
pub mod pooling;
