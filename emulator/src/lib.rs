//! A deterministic multi-vCPU x86-64 machine, built on Unicorn, that boots
//! mini-xen: scheduler, devices, interrupt delivery through the guest IDT,
//! injection, failure detection and snapshots.

pub mod board;
pub mod deliver;
pub mod engine;
pub mod hypercall;
pub mod image;
pub mod livepatch;
pub mod machine;
pub mod ram;
pub mod report;

pub use abi::platform;
pub use image::Image;
pub use machine::{Config, Irq, Machine, MachineError, Snapshot};
pub use report::{Crash, CrashReason};
