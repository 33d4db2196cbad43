//! Records the git commit of the build without needing git installed.

use std::fs;
use std::path::Path;

fn main() {
    let commit = head_commit(Path::new(".git")).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=KUBECTL_GITOPS_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-changed=.git/packed-refs");
}

fn head_commit(git_dir: &Path) -> Option<String> {
    // A worktree's .git is a file pointing at its git dir.
    let git_dir = if git_dir.is_file() {
        let text = fs::read_to_string(git_dir).ok()?;
        Path::new(text.strip_prefix("gitdir:")?.trim()).to_path_buf()
    } else {
        git_dir.to_path_buf()
    };
    let head = fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref:") else {
        return Some(head.chars().take(12).collect());
    };
    let reference = reference.trim();
    // Refs of a worktree live in the common dir.
    let common = fs::read_to_string(git_dir.join("commondir"))
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|_| git_dir.clone());
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
