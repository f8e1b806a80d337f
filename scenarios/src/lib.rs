//! The testbed's user side: the command language (shared by `testbed
//! shell` and scenario files), scenario files and their runner, JUnit
//! output and CI partitions. Every call into the machine goes through
//! [`machine`].

pub mod callpath;
pub mod command;
pub mod duration;
pub mod expect;
pub mod explore;
pub mod junit;
pub mod location;
pub mod machine;
pub mod partition;
pub mod runner;
pub mod scenario;
pub mod shell;
pub mod suite;
