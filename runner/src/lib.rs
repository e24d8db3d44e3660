//! The runner behind `cargo lab` (and `socket-labs`, as pip installs it), as a library: its
//! commands, and how it finds the labs' binaries. `main.rs` is the command line.

pub mod book;
pub mod build;
pub mod capture;
pub mod cargo;
pub mod check;
pub mod demo;
pub mod diagram;
pub mod dist;
pub mod docs;
pub mod grade;
pub mod installed;
pub mod new;
pub mod progress;
pub mod report;
pub mod server_command;
pub mod spec;
pub mod step;
pub mod suggest;
pub mod watch;
