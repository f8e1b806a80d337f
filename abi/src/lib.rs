//! The C/Rust boundary, defined once in `mini-xen/include/public/` and
//! mirrored here by `#[repr(C)]` types and constants. Dependency-free, so
//! the emulator and the payload build tool share one copy; every value and
//! layout is checked against the header (and the C compiler) by this
//! crate's tests.

#[cfg(test)]
mod cheader;
pub mod counters;
pub mod hypercall;
pub mod livepatch;
pub mod platform;
