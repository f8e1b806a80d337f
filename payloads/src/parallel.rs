//! Parallelism only where it pays. Starting rayon's thread pool costs more
//! than diffing a small object takes (a typical hypervisor object has a few
//! hundred sections and diffs in about a millisecond), so small inputs are
//! handled on the calling thread; results are the same either way.

use rayon::prelude::*;

/// Work items (sections, units) from which the engine goes parallel.
pub const MIN_ITEMS: usize = 4096;

/// Input bytes (both objects) from which parsing and analysis run the two
/// objects side by side.
pub const MIN_BYTES: usize = 1 << 20;

/// `rayon::join` when `parallel`, else `a` then `b`.
pub fn join<A, B, RA, RB>(parallel: bool, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    if parallel {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

/// `f(0..n)` in order, in parallel from [`MIN_ITEMS`] items.
pub fn map<R, F>(n: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize) -> R + Sync + Send,
{
    if n >= MIN_ITEMS {
        (0..n).into_par_iter().map(f).collect()
    } else {
        (0..n).map(f).collect()
    }
}
