//! The krew Plugin manifest is valid for krew and agrees with Cargo.toml.

use std::collections::BTreeSet;

use serde_json::Value;

fn manifest() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/krew-manifest.yaml"))
        .expect("krew-manifest.yaml at the repo root");
    serde_saphyr::from_str(&text).expect("krew-manifest.yaml is YAML")
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("krew manifest has no string at {pointer}"))
}

#[test]
fn manifest_is_a_krew_plugin_named_gitops() {
    let m = manifest();
    assert_eq!(
        str_at(&m, "/apiVersion"),
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(str_at(&m, "/kind"), "Plugin");
    assert_eq!(str_at(&m, "/metadata/name"), "gitops");
    assert!(!str_at(&m, "/spec/shortDescription").is_empty());
    assert!(
        str_at(&m, "/spec/shortDescription").len() <= 70,
        "krew-index limits shortDescription"
    );
    assert!(!str_at(&m, "/spec/description").is_empty());
    assert!(str_at(&m, "/spec/homepage").starts_with("https://"));
}

#[test]
fn manifest_version_is_cargo_version() {
    let m = manifest();
    assert_eq!(
        str_at(&m, "/spec/version"),
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn manifest_covers_every_platform_with_the_right_binary() {
    let m = manifest();
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    let platforms = m
        .pointer("/spec/platforms")
        .and_then(Value::as_array)
        .expect("platforms");
    let mut seen = BTreeSet::new();
    for p in platforms {
        let os = str_at(p, "/selector/matchLabels/os");
        let arch = str_at(p, "/selector/matchLabels/arch");
        assert!(
            seen.insert((os.to_string(), arch.to_string())),
            "{os}/{arch} listed twice"
        );
        let bin = str_at(p, "/bin");
        let expected_bin = if os == "windows" {
            "kubectl-gitops.exe"
        } else {
            "kubectl-gitops"
        };
        assert_eq!(bin, expected_bin, "bin for {os}/{arch}");
        let uri = str_at(p, "/uri");
        assert!(uri.starts_with("https://"), "{uri}");
        assert!(uri.contains(&version), "{uri} is not the {version} release");
        let target_os = match os {
            "linux" => "linux",
            "darwin" => "apple-darwin",
            "windows" => "windows",
            other => panic!("unexpected os {other}"),
        };
        let target_arch = match arch {
            "amd64" => "x86_64",
            "arm64" => "aarch64",
            other => panic!("unexpected arch {other}"),
        };
        assert!(
            uri.contains(target_os) && uri.contains(target_arch),
            "{uri} is not for {os}/{arch}"
        );
        let sha = str_at(p, "/sha256");
        assert!(
            sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()),
            "sha256 of {os}/{arch}"
        );
        // The binary krew links must be one of the files the archive installs.
        let files = p.get("files").and_then(Value::as_array).expect("files");
        assert!(
            files
                .iter()
                .any(|f| f.get("from").and_then(Value::as_str) == Some(bin)),
            "{os}/{arch}: bin {bin} is not among the installed files"
        );
    }
    let expected: BTreeSet<(String, String)> = [
        ("linux", "amd64"),
        ("linux", "arm64"),
        ("darwin", "amd64"),
        ("darwin", "arm64"),
        ("windows", "amd64"),
    ]
    .iter()
    .map(|(o, a)| (o.to_string(), a.to_string()))
    .collect();
    assert_eq!(seen, expected);
}
