//! Input and target data as flat row-major slices with a shape, and the gathering of batch rows.

use crate::error::Result;
use crate::mem;
use crate::model::ActShape;

/// Token ids or float features, with their shape (first axis: samples).
#[derive(Clone, Copy, Debug)]
pub enum Data<'a> {
    Tokens(&'a [i32], &'a [usize]),
    Floats(&'a [f32], &'a [usize]),
}

pub type DataRef<'a> = Data<'a>;

impl<'a> Data<'a> {
    pub fn shape(&self) -> &'a [usize] {
        match self {
            Data::Tokens(_, s) | Data::Floats(_, s) => s,
        }
    }
    /// Elements per sample.
    pub fn row_len(&self) -> usize {
        self.shape().iter().skip(1).product()
    }
    pub fn len(&self) -> usize {
        match self {
            Data::Tokens(v, _) => v.len(),
            Data::Floats(v, _) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The current batch, gathered from the caller's data into buffers that are reused from batch to batch.
#[derive(Default)]
pub struct Batch {
    /// Token ids `[B,T]` when the first layer is an embedding.
    pub tokens: Vec<i32>,
    /// Float features `[B,T,F]` or `[B,F]` otherwise.
    pub floats: Vec<f32>,
    /// Targets as floats (class ids are exact in f32 up to 2^24).
    pub y: Vec<f32>,
    pub shape: ActShape,
    /// The first layer is an embedding, so int32 input stays token ids.
    pub tokens_wanted: bool,
}

impl Batch {
    /// Copies `rows` (all rows when `None`) of x, and of y when given. Int tokens feeding a float layer become floats.
    /// `OutOfMemory` when the buffers cannot grow to the batch; nothing is copied then.
    pub fn gather(&mut self, x: &Data, y: Option<&Data>, rows: Option<&[usize]>) -> Result<()> {
        let n = x.shape()[0];
        let b = rows.map_or(n, |r| r.len());
        let xs = x.shape();
        let rl = x.row_len();
        let embedding_input = matches!(x, Data::Tokens(..)) && xs.len() == 2 && self.tokens_wanted;
        self.tokens.clear();
        self.floats.clear();
        self.y.clear();
        let what = |name: &str, row: usize| format!("a copy of the batch's {name} [{b}, {row}]");
        let x_len = mem::count::<f32>(&[b, rl], || what("x", rl))?;
        if embedding_input {
            mem::room(&mut self.tokens, x_len, || what("x", rl))?;
        } else {
            mem::room(&mut self.floats, x_len, || what("x", rl))?;
        }
        if let Some(y) = y {
            let yl = y.row_len();
            mem::room(&mut self.y, mem::count::<f32>(&[b, yl], || what("y", yl))?, || what("y", yl))?;
        }
        let each = |f: &mut dyn FnMut(usize)| match rows {
            Some(r) => r.iter().for_each(|&i| f(i)),
            None => (0..n).for_each(&mut *f),
        };
        match x {
            Data::Tokens(v, _) if embedding_input => each(&mut |i| self.tokens.extend_from_slice(&v[i * rl..(i + 1) * rl])),
            Data::Tokens(v, _) => each(&mut |i| self.floats.extend(v[i * rl..(i + 1) * rl].iter().map(|&t| t as f32))),
            Data::Floats(v, _) => each(&mut |i| self.floats.extend_from_slice(&v[i * rl..(i + 1) * rl])),
        }
        self.shape = if embedding_input {
            ActShape { b, t: Some(xs[1]), f: 1 }
        } else if xs.len() == 3 {
            ActShape { b, t: Some(xs[1]), f: xs[2] }
        } else {
            ActShape { b, t: None, f: *xs.last().unwrap_or(&1) }
        };
        if let Some(y) = y {
            let yl = y.row_len();
            match y {
                Data::Tokens(v, _) => each(&mut |i| self.y.extend(v[i * yl..(i + 1) * yl].iter().map(|&t| t as f32))),
                Data::Floats(v, _) => each(&mut |i| self.y.extend_from_slice(&v[i * yl..(i + 1) * yl])),
            }
        }
        Ok(())
    }

    /// Frees the batch's buffers.
    pub fn release(&mut self) {
        (self.tokens, self.floats, self.y) = (Vec::new(), Vec::new(), Vec::new());
    }
}
