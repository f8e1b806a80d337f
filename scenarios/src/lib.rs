//! The testbed's user side: the command language (shared by `testbed
//! shell` and scenario files), scenario files and their runner, JUnit
//! output and CI partitions; the race tools over it: explore, replay,
//! minimise and the timeline picture. Every call into the machine goes through
//! [`machine`].

pub mod callpath;
pub mod command;
pub mod duration;
pub mod expect;
pub mod explore;
pub mod junit;
pub mod location;
pub mod machine;
pub mod minimise;
pub mod partition;
pub mod picture;
pub mod replay;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod search;
pub mod shell;
pub mod suite;
