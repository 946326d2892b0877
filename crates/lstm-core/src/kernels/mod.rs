//! Numeric kernels. Each fast kernel has a plain reference kernel beside it, and the tests hold one to the other.

pub mod act;
pub mod gemm;
pub mod packed;
pub mod simd;
pub mod small;

/// A raw pointer to an output that several threads write, each its own disjoint elements (rows, columns or tiles);
/// every user asserts the bounds before handing it out.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub(crate) *mut f32);
// SAFETY: only used to write disjoint elements of one output from different threads.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
