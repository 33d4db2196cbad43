//! A `kubectl-gitops sandbox` process of a test's own, with the fault flags of issue #7 and a
//! `--state` file kept across restarts (on the same port, for clients that stay connected), and
//! an environment of ConfigMaps to run against it. Used by tests/faults.rs and
//! tests/faults_ui.rs; they run against the sandbox even when the rest of the suite targets a
//! real cluster.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::cli_env::{EnvRepo, Run};
use crate::common::{self, gitops_binary, line_channel};

/// The fault mix of the issue.
pub const FAULTS: [&str; 8] = [
    "--fail-rate",
    "0.15",
    "--throttle-rate",
    "0.10",
    "--latency",
    "5",
    "--drop-watches-after",
    "20",
];

/// Namespace the environment lives in.
pub const NS: &str = "faults";

/// A `kubectl-gitops sandbox` child keeping its objects in a state file; killed on drop.
pub struct Sandbox {
    child: Child,
    kubeconfig: PathBuf,
    stderr_log: PathBuf,
}

impl Sandbox {
    /// Starts a sandbox on any free port with `--state <dir>/state` and `flags`.
    pub fn start(dir: &Path, flags: &[&str]) -> Sandbox {
        Sandbox::start_on(dir, 0, flags)
    }

    /// Starts a sandbox on `port` (0: any free one) with `--state <dir>/state` and `flags`:
    /// on the port of one that was killed, it is that server restarted.
    pub fn start_on(dir: &Path, port: u16, flags: &[&str]) -> Sandbox {
        let kubeconfig = dir.join("kubeconfig");
        let stderr_log = dir.join(format!("sandbox-{}.stderr", common::random_suffix()));
        let mut child = Command::new(gitops_binary())
            .args(["sandbox", "--port", &port.to_string(), "--kubeconfig-out"])
            .arg(&kubeconfig)
            .arg("--state")
            .arg(dir.join("state"))
            .args(flags)
            .env_remove("KUBECONFIG")
            .env_remove("KUBECTL_GITOPS_LOG")
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&stderr_log).unwrap()))
            .spawn()
            .unwrap();
        let lines = line_channel(child.stdout.take().unwrap());
        let ready = lines.recv_timeout(Duration::from_secs(60));
        assert!(
            matches!(&ready, Ok(line) if line.starts_with("ready ")),
            "sandbox not ready: {ready:?}\n{}",
            std::fs::read_to_string(&stderr_log).unwrap_or_default()
        );
        std::thread::spawn(move || for _ in lines {});
        Sandbox {
            child,
            kubeconfig,
            stderr_log,
        }
    }

    /// The port it serves on, from its kubeconfig.
    pub fn port(&self) -> u16 {
        let kubeconfig = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let server = kubeconfig
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .unwrap_or_else(|| panic!("no server in\n{kubeconfig}"));
        server
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no port in {server}"))
    }

    /// SIGKILL: no chance to flush anything, like a crashed server.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the flush.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// kubectl against this sandbox (retried on the injected faults, which kubectl does not
    /// retry itself), with `input` on stdin.
    pub fn kubectl(&self, args: &[&str], input: Option<&str>) -> String {
        let kubectl = common::find_kubectl();
        let home = self.kubeconfig.parent().unwrap().join("kubectl-home");
        let mut last = String::new();
        for _ in 0..20 {
            let mut cmd = Command::new(&kubectl);
            cmd.args(args)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", &home)
                .env("KUBECONFIG", &self.kubeconfig);
            let child = gitops_git::fixture::spawn_with_input(&mut cmd, input).unwrap();
            let out = child.wait_with_output().unwrap();
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        panic!("kubectl {args:?} kept failing: {last}");
    }

    /// The binary against this sandbox, on `repo`, in a sealed environment.
    pub fn command(&self, repo: &EnvRepo, args: &[&str]) -> Command {
        let mut cmd = Command::new(gitops_binary());
        cmd.arg("-C")
            .arg(repo.dir())
            .args(["-n", NS])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "HOME",
                self.kubeconfig.parent().unwrap().join("gitops-home"),
            )
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the binary against this sandbox, on `repo`.
    pub fn gitops(&self, repo: &EnvRepo, args: &[&str]) -> Run {
        let out = self.command(repo, args).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ConfigMap `cm-<i>` with `value`.
pub fn config_map(i: usize, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:03}\n  namespace: {NS}\ndata:\n  value: \"{value}\"\n  index: \"{i}\"\n"
    )
}

/// `count` ConfigMaps, one file each, in one commit (none for 0).
pub fn environment(count: usize) -> EnvRepo {
    let mut repo = EnvRepo::new();
    let files: Vec<(String, String)> = (0..count)
        .map(|i| (format!("cms/cm-{i:03}.yaml"), config_map(i, "git")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    if count > 0 {
        repo.commit("environment", &refs);
    }
    repo
}

/// `(kind, name, status, fields)` of every row of a `status -o json`, sorted.
pub fn rows(run: &Run) -> Vec<(String, String, String, String)> {
    let json = run.json();
    let mut rows: Vec<_> = json["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no resources\n{run}"))
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (
                text("kind"),
                text("name"),
                text("status"),
                r["fields"].to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// A state dir, an environment of `count` ConfigMaps, and a healthy sandbox holding the first
/// `live` of them, every `drift_every`-th with a live value.
pub fn prepared(count: usize, live: usize, drift_every: usize) -> (TempDir, EnvRepo, Sandbox) {
    let dir = tempfile::Builder::new()
        .prefix("kgo-faults-")
        .tempdir()
        .unwrap();
    let repo = environment(count);
    let healthy = Sandbox::start(dir.path(), &[]);
    healthy.kubectl(&["create", "namespace", NS], None);
    if live > 0 {
        let manifests: String = (0..live)
            .map(|i| {
                let value = if i % drift_every == 0 { "live" } else { "git" };
                format!("---\n{}", config_map(i, value))
            })
            .collect();
        healthy.kubectl(&["apply", "--server-side", "-f", "-"], Some(&manifests));
    }
    (dir, repo, healthy)
}
