//! Embeds every file under lua_lib/ into the binary, deflated, as (module name,
//! source length, deflated source) entries (`lua_lib/http/server.lua` becomes the
//! module `http.server`), and sets how the binary is linked: its code layout,
//! libgcc's unwinder, and, in the static build, the table of C symbols `ffi.C` finds
//! (docs/memory.md).

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
    if is_static() {
        static_link(&out);
    } else {
        static_unwinder(&out);
    }
}

/// Whether this build links glibc statically (`.cargo/config.toml` asks for it on
/// x86_64-unknown-linux-gnu: docs/memory.md, "A static binary").
fn is_static() -> bool {
    let crt_static = std::env::var("CARGO_CFG_TARGET_FEATURE")
        .map(|f| f.split(',').any(|f| f == "crt-static"))
        .unwrap_or(false);
    crt_static && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
}

/// What the static binary links besides Rust's and LuaJIT's code:
/// - the symbols `ffi.C` finds (`src/c/ffi_symbols.c`): a static binary has no
///   dynamic symbol table for LuaJIT's `dlsym(RTLD_DEFAULT, name)` to search, so this
///   writes a table of the addresses of every function and variable glibc exports
///   (the default-version symbols of `libc.so.6` that `libc.a` defines) and of the math
///   functions `src/math.rs` defines, sorted by name, and the link sends every call
///   to `dlsym` to the C file's lookup (`--wrap`). Referring to all of glibc's symbols
///   links all of `libc.a` into the binary, about 0.9 MB that no server runs, after
///   the code that runs (link-order.txt), never read;
/// - no-ops in place of the start-up's registration of the unwind tables
///   (`src/c/no_frame_registry.c`), which read a page of them.
fn static_link(out: &Path) {
    let run = |tool: &str, args: &[&str]| -> String {
        let out = std::process::Command::new(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool} (binutils) is needed for the static build: {e}"));
        assert!(out.status.success(), "{tool} {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let path_of = |file| {
        let path = c_compiler_file(file).unwrap_or_else(|| panic!("the C compiler has no {file}"));
        path.display().to_string()
    };
    let (archive, shared) = (path_of("libc.a"), path_of("libc.so.6"));
    // What libc.a defines...
    let defined: std::collections::HashSet<String> = run("nm", &["-g", "--defined-only", &archive])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3).then(|| f[2].to_string())
        })
        .collect();
    // ... of glibc's public interface: the default version of each function and
    // variable libc.so.6 exports (not its thread-local ones: `errno` is a macro).
    // "  12: 00000000000c8e60    33 FUNC    GLOBAL DEFAULT   16 getpid@@GLIBC_2.2.5"
    let mut names: Vec<String> = run("readelf", &["--dyn-syms", "-W", &shared])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let public = f.len() == 8
                && matches!(f[3], "FUNC" | "IFUNC" | "OBJECT")
                && matches!(f[4], "GLOBAL" | "WEAK")
                && f[6] != "UND";
            let name = f.get(7)?.split_once("@@")?.0;
            (public && defined.contains(name)).then(|| name.to_string())
        })
        .collect();
    names.extend(own_c_functions());
    names.sort();
    names.dedup();
    assert!(
        names.len() > 1000,
        "only {} of glibc's symbols found in {archive}",
        names.len()
    );

    // Each symbol is declared under a C name of its own (`s12`) with its real name as
    // the assembler's, so that no declaration clashes with a keyword or a builtin.
    let mut table = String::from("/* Generated by build.rs (static_link). */\n");
    for (i, name) in names.iter().enumerate() {
        table.push_str(&format!("extern char s{i}[] __asm__(\"{name}\");\n"));
    }
    table.push_str("static const char *const names[] = {\n");
    for name in &names {
        table.push_str(&format!("  \"{name}\",\n"));
    }
    table.push_str("};\nstatic void *const addresses[] = {\n");
    for i in 0..names.len() {
        table.push_str(&format!("  s{i},\n"));
    }
    table.push_str("};\n");
    fs::write(out.join("ffi_symbols_table.h"), table).unwrap();
    // The objects are given to the linker themselves, not in an archive: the only
    // references to their functions are made by --wrap, and the linker does not pull
    // an archive's member for those.
    let objects = cc::Build::new()
        .file("src/c/ffi_symbols.c")
        .file("src/c/no_frame_registry.c")
        .include(out)
        .compile_intermediates();
    for object in objects {
        println!("cargo:rustc-link-arg-bins={}", object.display());
    }
    for wrapped in ["dlsym", "__register_frame_info", "__deregister_frame_info"] {
        println!("cargo:rustc-link-arg-bins=-Wl,--wrap={wrapped}");
    }
    println!("cargo:rerun-if-changed=src/c");
    println!("cargo:rerun-if-changed=src/math.rs");
}

/// The C functions `src/math.rs` defines (`#[no_mangle]`, or listed in its `unary!`):
/// the dynamic build exports them for `ffi.C`, so the static one lists them too.
fn own_c_functions() -> Vec<String> {
    let source = fs::read_to_string("src/math.rs").unwrap();
    let mut names = Vec::new();
    for line in source.lines().map(str::trim) {
        if let Some(list) = line.strip_prefix("unary!(") {
            names.extend(
                list.trim_end_matches(");")
                    .split(',')
                    .map(|n| n.trim().to_string()),
            );
        } else if let Some((_, rest)) = line.split_once("extern \"C\" fn ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    names
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
fn static_unwinder(out: &Path) {
    println!("cargo:rerun-if-env-changed=STARDUST_LIBGCC_S");
    if std::env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || std::env::var_os("STARDUST_LIBGCC_S").is_some()
    {
        return;
    }
    let Some(archive) = c_compiler_file("libgcc_eh.a") else {
        println!("cargo:warning=no libgcc_eh.a found: linking libgcc_s.so.1");
        return;
    };
    let dir = out.join("static-unwinder");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("libgcc_s.so"),
        format!("INPUT({})\n", archive.display()),
    )
    .unwrap();
    println!("cargo:rustc-link-search=native={}", dir.display());
}

/// Where the C compiler the link goes through has one of its libraries (`libc.a`,
/// `libgcc_eh.a`), if it has it.
fn c_compiler_file(name: &str) -> Option<std::path::PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = std::process::Command::new(cc)
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // (It prints the bare name back when it has no such file.)
    (path.is_absolute() && path.exists()).then_some(path)
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
