# socket-labs recipes. `cargo lab ...` does the same as `just lab ...` with cargo alone.

set positional-arguments

# List the recipes.
default:
    @just --list

# A lab's narrated demo (`just lab udp-echo`), one role (`just lab udp-echo server`), or
# `just lab check NAME --server CMD`. With no arguments, list the labs.
lab *args:
    cargo lab "$@"

# Run every test in the workspace.
test:
    cargo test

# What CI checks: formatting, lints, then the tests.
check:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo test
