//! Records the git commit of the build (in [`version`](src/version.rs)) without needing git
//! installed.
//!
//! Cargo reruns a build script whenever a `rerun-if-changed` path does not exist, so only paths
//! that exist now are named: HEAD, the loose ref it points to, `packed-refs`, and the refs
//! directory (a ref packed or unpacked later changes that directory's listing).

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The workspace's repository: this crate's directory is two levels below its root.
    let Some(git_dir) = git_dir(Path::new("../../.git")) else {
        // A source archive: no repository to watch.
        println!("cargo:rustc-env=KUBECTL_GITOPS_GIT_COMMIT=unknown");
        return;
    };
    let common = common_dir(&git_dir);
    let head = fs::read_to_string(git_dir.join("HEAD")).ok();
    let reference = head
        .as_deref()
        .and_then(|h| h.trim().strip_prefix("ref:"))
        .map(|r| r.trim().to_owned());
    let mut watched = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Some(reference) = &reference {
        let loose = common.join(reference);
        watched.push(loose.clone());
        if let Some(parent) = loose.parent() {
            watched.push(parent.to_path_buf());
        }
    }
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let commit = head_commit(head.as_deref(), reference.as_deref(), &common)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=KUBECTL_GITOPS_GIT_COMMIT={commit}");
}

/// The git directory: `.git` itself, or where a worktree's `.git` file points.
fn git_dir(dot_git: &Path) -> Option<PathBuf> {
    if dot_git.is_file() {
        let text = fs::read_to_string(dot_git).ok()?;
        Some(PathBuf::from(text.strip_prefix("gitdir:")?.trim()))
    } else if dot_git.is_dir() {
        Some(dot_git.to_path_buf())
    } else {
        None
    }
}

/// Refs of a worktree live in the common dir.
fn common_dir(git_dir: &Path) -> PathBuf {
    fs::read_to_string(git_dir.join("commondir"))
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|_| git_dir.to_path_buf())
}

fn head_commit(head: Option<&str>, reference: Option<&str>, common: &Path) -> Option<String> {
    let head = head?.trim();
    let Some(reference) = reference else {
        return Some(head.chars().take(12).collect());
    };
    let sha = fs::read_to_string(common.join(reference))
        .ok()
        .or_else(|| {
            fs::read_to_string(common.join("packed-refs"))
                .ok()?
                .lines()
                .find_map(|l| {
                    let (sha, name) = l.split_once(' ')?;
                    (name == reference).then(|| sha.to_string())
                })
        })?;
    Some(sha.trim().chars().take(12).collect())
}
