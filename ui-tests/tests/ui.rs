//! Every compile-time diagnostic of `#[stream_job]`, each with its expected `.stderr`, and jobs
//! that must compile cleanly under `#![deny(warnings)]`.
//!
//! Refresh the expected output with `TRYBUILD=overwrite cargo test -p streamflow-ui-tests`,
//! then review the diff: see `README.md`.

/// The `.stderr` files hold rustc's exact output, which changes between releases: they are
/// pinned to the toolchain they were written with, and other toolchains skip this test.
#[rustversion::attr(not(stable(1.95)), ignore = "the .stderr files are pinned to rustc 1.95")]
#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
