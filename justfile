# socket-labs recipes. `cargo lab ...` does the same as `just lab ...` with cargo alone.

set positional-arguments

# List the recipes.
default:
    @just --list

# Same as `cargo lab`: list labs, NAME for a demo, NAME ROLE to run one, check NAME --server CMD.
lab *args:
    @cargo lab "$@"

# Run every test in the workspace.
test:
    cargo test

# What CI checks: formatting, lints, then the tests.
check:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo test

# Regenerate each chapter's demo output and sequence diagram from a real run (all labs, or the ones named).
docs *labs:
    cargo lab docs "$@"

# Serve the book (docs/) on 127.0.0.1, as `cargo lab book` does; `just book --open` opens it too.
book *args:
    @cargo lab book "$@"

# Build the wheel for a class without Rust: dist/socket_labs-VERSION-….whl (`pip install` it).
dist:
    cargo lab dist

# Open every page of the book, and the HTML reports, in headless Chromium, as CI does (needs
# mdbook, chromium, npm).
book-test:
    npm ci --prefix tests/browser --no-audit --no-fund
    cd tests/browser && node --test
