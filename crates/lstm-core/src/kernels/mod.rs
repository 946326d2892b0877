//! Numeric kernels. Each fast kernel has a plain reference kernel beside it, and the tests hold one to the other.

pub mod act;
pub mod gemm;
pub mod packed;
pub mod simd;
pub mod small;
