//! Faults (issue #7, SPEC §10's fault injection): with 15% of requests answered 500, 10% 429
//! with `Retry-After`, added latency and watches dropped, the commands still finish with the
//! same answers as on a healthy server; a sandbox killed midway loses nothing.
//!
//! These tests drive their own sandbox processes (fault flags, `--state` across restarts), so
//! they run against the sandbox even when the rest of the suite targets a real cluster.

mod cli_env;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cli_env::{EnvRepo, Run};
use common::{gitops_binary, line_channel};

/// The fault mix of the issue.
const FAULTS: [&str; 8] = [
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
const NS: &str = "faults";

/// A `kubectl-gitops sandbox` child keeping its objects in a state file; killed on drop.
struct Sandbox {
    child: Child,
    kubeconfig: PathBuf,
    stderr_log: PathBuf,
}

impl Sandbox {
    /// Starts a sandbox on any free port with `--state <dir>/state` and `flags`.
    fn start(dir: &Path, flags: &[&str]) -> Sandbox {
        let kubeconfig = dir.join("kubeconfig");
        let stderr_log = dir.join(format!("sandbox-{}.stderr", common::random_suffix()));
        let mut child = Command::new(gitops_binary())
            .args(["sandbox", "--port", "0", "--kubeconfig-out"])
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

    /// SIGTERM, then waits for the flush.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// kubectl against this sandbox (retried on the injected faults, which kubectl does not
    /// retry itself), with `input` on stdin.
    fn kubectl(&self, args: &[&str], input: Option<&str>) -> String {
        let kubectl = common::find_kubectl();
        let home = self.kubeconfig.parent().unwrap().join("kubectl-home");
        let mut last = String::new();
        for _ in 0..20 {
            let mut cmd = Command::new(&kubectl);
            cmd.args(args)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", &home)
                .env("KUBECONFIG", &self.kubeconfig)
                .stdin(if input.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            if let Some(input) = input {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
            }
            let out = child.wait_with_output().unwrap();
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        panic!("kubectl {args:?} kept failing: {last}");
    }

    /// The binary against this sandbox, on `repo`.
    fn gitops(&self, repo: &EnvRepo, args: &[&str]) -> Run {
        let home = self.kubeconfig.parent().unwrap().join("gitops-home");
        let out = Command::new(gitops_binary())
            .arg("-C")
            .arg(repo.dir())
            .args(["-n", NS])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn log(&self) -> String {
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
fn config_map(i: usize, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:03}\n  namespace: {NS}\ndata:\n  value: \"{value}\"\n  index: \"{i}\"\n"
    )
}

/// `count` ConfigMaps, one file each, in one commit.
fn environment(count: usize) -> EnvRepo {
    let mut repo = EnvRepo::new();
    let files: Vec<(String, String)> = (0..count)
        .map(|i| (format!("cms/cm-{i:03}.yaml"), config_map(i, "git")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    repo.commit("environment", &refs);
    repo
}

/// `(kind, name, status, fields)` of every row of a `status -o json`, sorted.
fn rows(run: &Run) -> Vec<(String, String, String, String)> {
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

#[test]
fn status_over_320_resources_survives_faults_with_the_same_answer() {
    let dir = tempfile::Builder::new()
        .prefix("kgo-faults-")
        .tempdir()
        .unwrap();
    let count = 320;
    let repo = environment(count);
    // Populate a healthy sandbox: 300 synced, 12 drifted, 8 missing.
    let healthy = Sandbox::start(dir.path(), &[]);
    healthy.kubectl(&["create", "namespace", NS], None);
    let live: String = (0..300)
        .map(|i| {
            format!(
                "---\n{}",
                config_map(i, if i % 25 == 0 { "live" } else { "git" })
            )
        })
        .collect();
    healthy.kubectl(&["apply", "--server-side", "-f", "-"], Some(&live));
    let baseline = healthy.gitops(&repo, &["status", "-o", "json"]);
    assert_eq!(baseline.code, 1, "{baseline}");
    let expected = rows(&baseline);
    let count_of = |rows: &[(String, String, String, String)], state: &str| {
        rows.iter().filter(|r| r.2 == state).count()
    };
    assert_eq!(
        (
            expected.len(),
            count_of(&expected, "Synced"),
            count_of(&expected, "Drifted"),
            count_of(&expected, "Missing")
        ),
        (count, 288, 12, 20),
        "{baseline}"
    );
    healthy.stop();

    let faulty = Sandbox::start(dir.path(), &FAULTS);
    let mut retry_log = String::new();
    for attempt in 1..=2 {
        let run = faulty.gitops(&repo, &["-vv", "status", "-o", "json"]);
        assert_eq!(run.code, 1, "attempt {attempt}\n{run}\n{}", faulty.log());
        assert_eq!(rows(&run), expected, "attempt {attempt}\n{}", run.stderr);
        retry_log.push_str(&run.stderr);
    }
    // The faults really happened and were retried; a 429's `Retry-After: 1` was honoured.
    let retries: Vec<&str> = retry_log
        .lines()
        .filter(|l| l.contains("retrying in"))
        .collect();
    assert!(
        retries
            .iter()
            .any(|l| l.contains("500") || l.contains("injected")),
        "no 500 retried:\n{retry_log}"
    );
    assert!(
        retries
            .iter()
            .any(|l| (l.contains("429") || l.contains("Too many")) && l.contains("retrying in 1s")),
        "no 429 retried after its Retry-After:\n{}",
        retries.join("\n")
    );
    let text = faulty.gitops(&repo, &["status"]);
    assert_eq!(text.code, 1, "{text}");
    assert!(
        text.stderr.contains("288 Synced, 12 Drifted, 20 Missing"),
        "{text}"
    );
}
