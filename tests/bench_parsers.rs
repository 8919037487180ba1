//! The bench's output parsers, checked against recorded wrk and ab output
//! (bench/test_bench.py). The bench itself is not part of `cargo test`.

#[test]
fn bench_parsers_read_recorded_output() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(root.join("bench/test_bench.py"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "bench/test_bench.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
