//! The protocol translation layer, format by format, against recorded
//! upstream streams replayed at every chunk split point and strict
//! validators of what each client receives.

mod anthropic;
mod chat;
mod properties;
mod validate;

use std::path::PathBuf;

/// A fixture's bytes, from `tests/fixtures/protocol/<path>`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/protocol", path]
        .iter()
        .collect();
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The ways `bytes` may arrive: whole, cut once at every point, one byte
/// at a time, and a few random multi-cuts (seeded, so a failure repeats).
pub fn splits(bytes: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut out = vec![vec![bytes]];
    for cut in 1..bytes.len() {
        let (a, b) = bytes.split_at(cut);
        out.push(vec![a, b]);
    }
    out.push(bytes.chunks(1).collect());
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..20 {
        let mut cuts: Vec<usize> = (0..rng.usize(2..12)).map(|_| rng.usize(0..=bytes.len())).collect();
        cuts.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for cut in cuts {
            parts.push(&bytes[start..cut]);
            start = cut;
        }
        parts.push(&bytes[start..]);
        out.push(parts);
    }
    out
}

/// Compares output with its golden file under `tests/fixtures/protocol/golden/`;
/// `UPDATE_GOLDEN=1` rewrites the file instead (review the diff).
pub fn golden(path: &str, actual: &[u8]) {
    let full: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/protocol/golden", path]
        .iter()
        .collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, actual).unwrap();
        return;
    }
    let want = std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", full.display()));
    assert!(
        want == actual,
        "{path} differs from its golden file:\n--- want\n{}\n--- got\n{}",
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(actual)
    );
}
