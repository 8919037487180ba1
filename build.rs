//! Embeds every file under lua_lib/ into the binary as (module name, source) pairs.
//! `lua_lib/http/server.lua` becomes the module `http.server`.

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
    let mut src = String::from("/// (module path under lua_lib/ without .lua, source)\npub static FILES: &[(&str, &str)] = &[\n");
    for (name, path) in &files {
        src.push_str(&format!("    ({name:?}, include_str!({path:?})),\n"));
    }
    src.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("lua_lib.rs");
    fs::write(out, src).unwrap();

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
}
