//! `socket-labs`: the runner as pip installs it from the wheel (`cargo lab dist`). The same
//! program as `cargo lab`, main.rs, under the name a student types where there is no cargo.

#[path = "../main.rs"]
mod lab;

fn main() -> std::process::ExitCode {
    lab::main()
}
