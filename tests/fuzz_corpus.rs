//! The fuzz corpus (`fuzz/corpus/<target>/*`: seeds, and every crash the fuzzer found) replayed
//! on the stable toolchain through the same entry points the cargo-fuzz targets call, plus the
//! hostile inputs that matter most at full size. `fuzz/run.sh` runs the fuzzer itself.

#[path = "../fuzz/src/lib.rs"]
mod entry;

use std::path::Path;

/// Runs `entry` on every file of `fuzz/corpus/<target>/`; returns how many there were.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        // A panic names the input, so a failure reads as "this corpus file".
        eprintln!("replaying {}", file.display());
        entry(&bytes);
    }
    files.len()
}

#[test]
fn render_documents_corpus() {
    assert!(replay("render_documents", entry::render_documents) >= 10);
}

#[test]
fn client_diff_corpus() {
    assert!(replay("client_diff", entry::client_diff) >= 5);
}

#[test]
fn sandbox_merge_corpus() {
    assert!(replay("sandbox_merge", entry::sandbox_merge) >= 5);
}

/// Nesting 10,000 levels deep (flow YAML, JSON) and 2,000 (block YAML): refused by the depth budget, not a stack overflow.
#[test]
fn deep_nesting_does_not_overflow() {
    let depth = 10_000;
    let flow = format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    // Block style indents one more space per level: 2,000 levels are already 2 MB.
    let block: String = (0..2_000)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let json = format!("{}{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    for input in [flow, block, json] {
        entry::render_documents(input.as_bytes());
        let pair = format!("[{input}, {{}}]");
        entry::client_diff(pair.as_bytes());
        entry::sandbox_merge(pair.as_bytes());
    }
}

/// A billion-laughs document: refused by the alias budget, fast and in bounded memory.
#[test]
fn alias_bomb_is_bounded() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    entry::render_documents(text.as_bytes());
}
