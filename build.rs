//! Embeds every file under lua_lib/ into the binary, deflated, as (module name,
//! source length, deflated source) entries (`lua_lib/http/server.lua` becomes the
//! module `http.server`), and sets how the binary is linked: its code layout and
//! libgcc's unwinder (docs/memory.md).

use std::fs;
use std::path::Path;

fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("lua_lib/ is readable")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            walk(&path, &format!("{prefix}{name}/"), out);
        } else if let Some(stem) = name.strip_suffix(".lua") {
            out.push((
                format!("{prefix}{stem}"),
                path.canonicalize().unwrap().display().to_string(),
            ));
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=lua_lib");
    let mut files = Vec::new();
    walk(Path::new("lua_lib"), "", &mut files);
    // Each source is stored deflated (docs/memory.md, "The Lua sources are stored
    // deflated"): a server reads its modules' sources once, at start, and the pages
    // that held them stayed resident for good.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let deflated_dir = out.join("lua_lib");
    fs::create_dir_all(&deflated_dir).unwrap();
    let mut src = String::from(
        "/// (module path under lua_lib/ without .lua, source length, deflated source)\n\
         pub static FILES: &[(&str, usize, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        let source = fs::read(path).unwrap();
        let deflated = deflated_dir.join(format!("{}.deflate", name.replace('/', ".")));
        fs::write(
            &deflated,
            miniz_oxide::deflate::compress_to_vec(&source, 10),
        )
        .unwrap();
        src.push_str(&format!(
            "    ({name:?}, {}, include_bytes!({:?})),\n",
            source.len(),
            deflated.display().to_string()
        ));
    }
    src.push_str("];\n");
    fs::write(out.join("lua_lib.rs"), src).unwrap();

    // `stardust -v` names the mio it was built with.
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mio = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"mio\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=STARDUST_MIO_VERSION={mio}");

    link_layout();
    static_unwinder();
}

/// How the stardust binary is linked (see docs/memory.md):
/// - the functions a server runs come first in .text, in the order of
///   src/link-order.txt (made by bench/link_order.py), so that the pages of code a
///   process touches are few and together: the kernel maps a binary's code 64 KiB at a
///   time, and every such block counts in the process's RSS;
/// - symbols are stripped here rather than by the profile's `strip`, so that
///   STARDUST_KEEP_SYMBOLS=1 gives the very same build with its symbols (a different
///   profile setting would change every symbol's name, and the names are what
///   link-order.txt lists);
/// - the binary is not position-independent (`-no-pie`), so the dynamic loader has no
///   relocations to apply: a PIE's 82 KB of them were read, and the 50 KB of pointers
///   they patch copied, at every start. STARDUST_PIE=1 builds a PIE instead.
fn link_layout() {
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/link-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    if order.exists() && links_with_lld() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Names missing from this build (libc's, or a function since renamed) are
        // expected: they are skipped.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    println!("cargo:rerun-if-env-changed=STARDUST_PIE");
    if std::env::var_os("STARDUST_PIE").is_none() {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-env-changed=STARDUST_KEEP_SYMBOLS");
    let profile = std::env::var("PROFILE").unwrap_or_default();
    if profile == "release" && std::env::var_os("STARDUST_KEEP_SYMBOLS").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,--strip-all");
    }
}

/// Links libgcc's unwinder (which Rust's panics use) into the binary from the static
/// `libgcc_eh.a` instead of loading `libgcc_s.so.1`: a shared library costs every
/// process its relocations, its writable pages and the blocks of its code that start-up
/// touches, about 100 KB of RSS (docs/memory.md, "No libgcc_s"). Rust's standard
/// library asks for `-lgcc_s`; a linker script of that name, put first on the search
/// path, answers with the archive. STARDUST_LIBGCC_S=1 keeps the shared library.
fn static_unwinder() {
    println!("cargo:rerun-if-env-changed=STARDUST_LIBGCC_S");
    if std::env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || std::env::var_os("STARDUST_LIBGCC_S").is_some()
    {
        return;
    }
    // The C compiler the link goes through knows where its libgcc_eh.a is.
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let archive = std::process::Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    // (It prints the bare name back when it has no such file.)
    if !Path::new(&archive).is_absolute() || !Path::new(&archive).exists() {
        println!("cargo:warning=no libgcc_eh.a found: linking libgcc_s.so.1");
        return;
    }
    let dir = Path::new(&std::env::var("OUT_DIR").unwrap()).join("static-unwinder");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("libgcc_s.so"), format!("INPUT({archive})\n")).unwrap();
    println!("cargo:rustc-link-search=native={}", dir.display());
}

/// Whether rustc links this build with its own lld, which knows
/// --symbol-ordering-file (GNU ld does not): rustc does so by default for
/// x86_64-unknown-linux-gnu since 1.90.
fn links_with_lld() -> bool {
    if std::env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    matches!(minor, Some(m) if m >= 90)
}
