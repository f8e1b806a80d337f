//! The loader fuzzer: a deterministic, seeded, structure-aware mutation
//! harness that sends mutated live-patch payloads through dom0's real
//! sysctl path on a booted mini-xen and, for every payload the loader
//! accepts, APPLY (or REPLACE, or APPLY with NODEPS), REVERT and UNLOAD,
//! checking the invariants of [`harness`] after each step.
//!
//! [`mutate`] says what is mutated and what is out of scope; [`campaign`]
//! runs many cases over threads (one machine per thread) and writes a
//! reproducer per failure.

pub mod campaign;
pub mod elf;
pub mod harness;
pub mod mutate;
