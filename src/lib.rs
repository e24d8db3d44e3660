//! The root package of socket-labs holds no code of its own: its `tests/` directory has the
//! suite-wide tests (the runner, `cargo lab check`, the docs). The labs are in `labs/`, the
//! harness that drives them in `harness/`.
