//! Fallible allocation for the buffers whose size the caller decides (activations and workspaces of a batch,
//! copies of datasets, tensors read from files). Rust's ordinary allocation aborts the process when memory runs
//! out; these return [`LstmError::OutOfMemory`] naming the size and the purpose instead, so the caller lives and
//! the model stays as it was.

use crate::error::{LstmError, Result};

/// The error for `len` elements of `T` that could not be had, for `what`.
pub fn out_of_memory<T>(len: usize, what: impl Into<String>) -> LstmError {
    LstmError::OutOfMemory { bytes: len as u128 * std::mem::size_of::<T>() as u128, what: what.into() }
}

/// Makes `v`'s capacity at least `len`, so that resizing it to `len` afterwards cannot allocate. A no-op when it
/// already is: the per-batch check costs one comparison per buffer.
pub fn room<T>(v: &mut Vec<T>, len: usize, what: impl FnOnce() -> String) -> Result<()> {
    if v.capacity() >= len {
        return Ok(());
    }
    // Beyond isize::MAX bytes no allocation can succeed; try_reserve_exact says so as CapacityOverflow.
    v.try_reserve_exact(len - v.len()).map_err(|_| out_of_memory::<T>(len, what()))
}

/// A vector of `len` copies of `value`, or `OutOfMemory`.
pub fn filled<T: Clone>(len: usize, value: T, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut v = Vec::new();
    room(&mut v, len, what)?;
    v.resize(len, value);
    Ok(v)
}

/// A copy of `src`, or `OutOfMemory`.
pub fn copied<T: Clone>(src: &[T], what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut v = Vec::new();
    room(&mut v, src.len(), what)?;
    v.extend_from_slice(src);
    Ok(v)
}

/// The `len` items of `items` in a new vector, or `OutOfMemory` (room is made before the first item is taken).
pub fn collected<T>(len: usize, items: impl IntoIterator<Item = T>, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut v = Vec::new();
    room(&mut v, len, what)?;
    v.extend(items);
    Ok(v)
}

/// The element count of `dims`, or `OutOfMemory` when it does not even fit in `usize` (no buffer of it could be
/// allocated).
pub fn count<T>(dims: &[usize], what: impl FnOnce() -> String) -> Result<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| {
        let bytes = dims.iter().fold(std::mem::size_of::<T>() as u128, |a, &d| a.saturating_mul(d as u128));
        LstmError::OutOfMemory { bytes, what: what() }
    })
}
