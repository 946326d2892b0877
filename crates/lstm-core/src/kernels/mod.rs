//! Numeric kernels. Each fast kernel has a plain reference kernel beside it, and the tests hold one to the other.
//! [`simd`] says which kernels exist at which SIMD level and how the level is chosen.

pub mod act;
pub mod gemm;
pub mod packed;
pub mod simd;
pub mod small;

use std::marker::PhantomData;

/// A raw pointer to an output that several threads write, each its own disjoint elements (rows, columns or tiles).
/// It borrows the output mutably for `'a`, so it cannot outlive it, and nothing else touches the output meanwhile;
/// every user checks that the pieces it hands out lie inside the output and cannot overlap.
pub(crate) struct SendPtr<'a, T = f32>(pub(crate) *mut T, PhantomData<&'a mut T>);

impl<'a, T> SendPtr<'a, T> {
    /// A pointer to the start of `out`, borrowing it for `'a`.
    pub(crate) fn new(out: &'a mut [T]) -> Self {
        SendPtr(out.as_mut_ptr(), PhantomData)
    }

    /// The pointer (a method, so that closures capture the whole `SendPtr`, which is `Sync`, not its field).
    pub(crate) fn get(self) -> *mut T {
        self.0
    }

    /// The same output `offset` elements on.
    ///
    /// # Safety
    /// `offset` is at most the output's length.
    pub(crate) unsafe fn add(self, offset: usize) -> Self {
        // SAFETY: inside the output or one past its end (the caller's contract).
        SendPtr(unsafe { self.0.add(offset) }, PhantomData)
    }
}

impl<T> Clone for SendPtr<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<'_, T> {}

// SAFETY: the pointer is only used to write disjoint elements of one output from different threads, while the
// output stays mutably borrowed (`'a`).
unsafe impl<T: Send> Send for SendPtr<'_, T> {}
unsafe impl<T: Send> Sync for SendPtr<'_, T> {}
