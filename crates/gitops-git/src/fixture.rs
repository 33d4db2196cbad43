//! Test fixtures: real git repositories built with the git CLI in temp dirs, with fixed names
//! and dates so commit ids are stable.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A work tree in a temp dir; removed on drop.
pub struct FixtureRepo {
    dir: tempfile::TempDir,
}

impl Default for FixtureRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl FixtureRepo {
    /// `git init` on branch `main` with a fixed identity.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("env-repo")
            .tempdir()
            .unwrap();
        let fx = Self { dir };
        fx.git(&["init", "-q", "-b", "main"]);
        fx
    }

    /// The work tree.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the work tree with a sealed, fixed environment; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.command(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        sealed_git(self.dir(), args, "2026-01-02T03:04:05Z")
    }

    /// Runs git with `input` on stdin; returns stdout trimmed.
    pub fn git_stdin(&self, args: &[&str], input: &str) -> String {
        let child = spawn_with_input(&mut self.command(args), Some(input)).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Writes a file (creating directories).
    pub fn write(&self, path: &str, content: &str) {
        let path = self.dir().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Stages everything and commits.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.rev_parse("HEAD")
    }

    /// `git rev-parse` as the oracle.
    pub fn rev_parse(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev]).trim().to_owned()
    }

    /// A bare clone next to nothing else, inside this fixture's temp dir.
    pub fn bare_clone(&self, name: &str) -> PathBuf {
        let target = self.dir().join(".bare").join(name);
        let target_str = target.to_string_lossy().into_owned();
        self.git(&["clone", "-q", "--bare", ".", &target_str]);
        target
    }
}

/// Spawns `command` with stdout and stderr piped and `input`, if any, written to its stdin
/// (which is null without input).
pub fn spawn_with_input(command: &mut Command, input: Option<&str>) -> std::io::Result<Child> {
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input.as_bytes())?;
    }
    Ok(child)
}

/// git with `args` in `dir`, sealed from the machine's configuration (no system or user
/// config: HOME is `dir`), as Ada Example at `date` (RFC 3339), so that commit ids are stable.
pub fn sealed_git(dir: &Path, args: &[&str], date: &str) -> Command {
    let mut command = Command::new("git");
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada Example")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Example")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date);
    command
}
