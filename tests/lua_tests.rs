//! Runs every tests/lua/test-*.lua through the built `stardust` binary, one process per
//! file, and fails if any file exits non-zero or reports a failed test.
//!
//! Each file is a `tap` suite; its output is shown when it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PER_FILE_TIMEOUT: Duration = Duration::from_secs(120);

fn lua_test_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lua");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/lua exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("test-") && name.ends_with(".lua")
        })
        .collect();
    files.sort();
    files
}

struct Outcome {
    file: String,
    ok: bool,
    summary: String,
    output: String,
}

fn run_file(path: &Path) -> Outcome {
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stardust"))
        .arg(path)
        .current_dir(path.parent().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stardust starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break Some(status);
        }
        if started.elapsed() > PER_FILE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().expect("output is readable");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.ends_with(" failed") && l.contains(" passed, "))
        .unwrap_or("(no summary line)")
        .to_string();
    let ok = matches!(status, Some(s) if s.success())
        && summary.ends_with(", 0 failed")
        && !summary.starts_with("0 passed");
    let status_text = match status {
        Some(s) => format!("{s}"),
        None => format!("killed after {PER_FILE_TIMEOUT:?}"),
    };
    Outcome {
        file,
        ok,
        summary,
        output: format!("status: {status_text}\n--- stdout\n{stdout}--- stderr\n{stderr}"),
    }
}

#[test]
fn lua_test_files_pass() {
    let files = lua_test_files();
    assert!(!files.is_empty(), "no tests/lua/test-*.lua files found");
    // Two at a time: the machine has two cores, and some files time things.
    let mut outcomes = Vec::new();
    for pair in files.chunks(2) {
        let handles: Vec<_> = pair
            .iter()
            .cloned()
            .map(|f| std::thread::spawn(move || run_file(&f)))
            .collect();
        outcomes.extend(handles.into_iter().map(|h| h.join().unwrap()));
    }
    let mut failures = Vec::new();
    for o in &outcomes {
        println!(
            "{:<32} {}",
            o.file,
            if o.ok { &o.summary } else { "FAILED" }
        );
        if !o.ok {
            failures.push(format!("==== {} ({})\n{}", o.file, o.summary, o.output));
        }
    }
    assert!(
        failures.is_empty(),
        "{} Lua test file(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
