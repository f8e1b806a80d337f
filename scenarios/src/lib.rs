//! The testbed's user side: the shell and the `testbed` binary.

pub mod shell;
