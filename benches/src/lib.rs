//! Benchmarks live in `benches/`; the library holds what they share and
//! what is tested on its own: the native call paths (`native`).

pub mod native;
