//! A deterministic multi-vCPU x86-64 machine, built on Unicorn, that boots
//! mini-xen and hunts live-patch races: pluggable schedulers with race
//! windows, a replayable schedule log, cross-vCPU triggers, detectors,
//! interrupt delivery through the guest IDT, snapshots.

pub mod blocks;
pub mod board;
pub mod deliver;
pub mod detect;
pub mod engine;
pub mod hypercall;
pub mod image;
pub mod livepatch;
pub mod log;
pub mod machine;
pub mod ram;
pub mod report;
pub mod sched;
pub mod timeline;
pub mod trigger;
pub mod vcpu;
pub mod window;

pub use abi::platform;
pub use image::Image;
pub use machine::{Config, Machine, MachineError, Snapshot};
pub use report::{Crash, CrashReason};
pub use sched::Strategy;
pub use vcpu::Irq;
