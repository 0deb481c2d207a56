//! Every compile-time diagnostic of `#[stream_job]`, each with its expected `.stderr`, and jobs
//! that must compile cleanly under `#![deny(warnings)]`.
//!
//! Refresh the expected output with `TRYBUILD=overwrite cargo test -p streamflow-ui-tests`,
//! then review the diff: see `README.md`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
