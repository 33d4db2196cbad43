//! What the revert tests share: git work trees built with the git CLI (the oracle) under a
//! sealed, fixed identity and date, our binary run with the same identity, and whole-directory
//! snapshots to prove a refusal changed nothing.

// Each test crate uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The identity and date both git and our binary commit with, so their commits can be equal
/// byte for byte.
const IDENTITY: [(&str, &str); 6] = [
    ("GIT_AUTHOR_NAME", "Ada Example"),
    ("GIT_AUTHOR_EMAIL", "ada@example.com"),
    ("GIT_COMMITTER_NAME", "Ada Example"),
    ("GIT_COMMITTER_EMAIL", "ada@example.com"),
    ("GIT_AUTHOR_DATE", "2026-01-02T03:04:05+00:00"),
    ("GIT_COMMITTER_DATE", "2026-01-02T03:04:05+00:00"),
];

/// What one command produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A directory holding work trees, with its own HOME.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A new temp dir.
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::Builder::new()
                .prefix("kgo-revert-")
                // Set KGO_KEEP_SANDBOX to inspect a failing case.
                .disable_cleanup(std::env::var_os("KGO_KEEP_SANDBOX").is_some())
                .tempdir()
                .unwrap(),
        }
    }

    /// A fresh `git init -b main` work tree named `name`.
    pub fn init(&self, name: &str) -> Repo {
        let repo = Repo {
            dir: self.dir.path().join(name),
            home: self.dir.path().to_path_buf(),
        };
        std::fs::create_dir_all(&repo.dir).unwrap();
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// A clone of `source` named `name`, on the same branch.
    pub fn clone_of(&self, source: &Repo, name: &str) -> Repo {
        let dir = self.dir.path().join(name);
        source.git(&["clone", "-q", ".", dir.to_str().unwrap()]);
        Repo {
            dir,
            home: self.dir.path().to_path_buf(),
        }
    }
}

/// A git work tree.
pub struct Repo {
    dir: PathBuf,
    home: PathBuf,
}

impl Repo {
    /// The work tree.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn sealed(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null());
        for (k, v) in IDENTITY {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs git; returns the run whatever its exit code.
    pub fn git_run(&self, args: &[&str]) -> Run {
        let out = self.sealed(Path::new("git")).args(args).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs git, which must succeed; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let run = self.git_run(args);
        assert_eq!(run.code, 0, "git {args:?}\n{run}");
        run.stdout
    }

    /// `git rev-parse REV`.
    pub fn rev(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev]).trim().to_owned()
    }

    /// Runs our binary with `-C <work tree>` and `args`, with `env` added.
    pub fn gitops_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.sealed(Path::new(env!("CARGO_BIN_EXE_kubectl-gitops")));
        cmd.arg("-C").arg(&self.dir).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs our binary with `-C <work tree>` and `args`, without the variables `unset`.
    pub fn gitops_without(&self, args: &[&str], unset: &[&str]) -> Run {
        let mut cmd = self.sealed(Path::new(env!("CARGO_BIN_EXE_kubectl-gitops")));
        cmd.arg("-C").arg(&self.dir).args(args);
        for k in unset {
            cmd.env_remove(k);
        }
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs our binary with `-C <work tree>` and `args`.
    pub fn gitops(&self, args: &[&str]) -> Run {
        self.gitops_env(args, &[])
    }

    /// Writes a file, creating directories.
    pub fn write(&self, path: &str, content: &str) {
        let path = self.dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Stages everything and commits; returns the full sha.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.rev("HEAD")
    }

    /// `git status --porcelain` (untracked files included).
    pub fn porcelain(&self) -> String {
        self.git(&["status", "--porcelain"])
    }

    /// Every file below the work tree, `.git` included: kind, mode and content (symlink target
    /// for links). Equal snapshots mean nothing was changed.
    pub fn snapshot(&self) -> BTreeMap<String, (String, Vec<u8>)> {
        let mut out = BTreeMap::new();
        snapshot_into(&self.dir, &self.dir, &mut out);
        out
    }
}

fn snapshot_into(root: &Path, dir: &Path, out: &mut BTreeMap<String, (String, Vec<u8>)>) {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mode = format!("{:o}", meta.permissions().mode());
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            out.insert(
                rel,
                (
                    format!("link {mode}"),
                    target.to_string_lossy().into_owned().into_bytes(),
                ),
            );
        } else if meta.is_dir() {
            out.insert(rel, (format!("dir {mode}"), Vec::new()));
            snapshot_into(root, &path, out);
        } else {
            out.insert(rel, (format!("file {mode}"), std::fs::read(&path).unwrap()));
        }
    }
}

/// Asserts two snapshots are equal, naming the first paths that differ.
pub fn assert_same(
    before: &BTreeMap<String, (String, Vec<u8>)>,
    after: &BTreeMap<String, (String, Vec<u8>)>,
) {
    let differing: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .take(10)
        .collect();
    assert!(
        differing.is_empty(),
        "the repository changed: {differing:?}"
    );
}
