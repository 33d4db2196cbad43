//! The environment config file `.kubectl-gitops.yaml` (SPEC §8), read at the commit evaluated.

use serde::Deserialize;

use k8s_model::IgnoreRule;

/// Name of the config file, looked up in `--path`, then at the repo root.
pub const CONFIG_FILE: &str = ".kubectl-gitops.yaml";

/// Default of `sync.concurrency`.
pub const DEFAULT_SYNC_CONCURRENCY: usize = 16;

/// Default of `applySet.namespace`.
pub const DEFAULT_APPLYSET_NAMESPACE: &str = "default";

/// The environment's configuration with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvConfig {
    /// Name of the environment.
    pub env: String,
    /// Namespace of the ApplySet parent Secret.
    pub apply_set_namespace: String,
    /// Globs of files to skip, relative to `--path` (git wildmatch: `*` stops at `/`, `**/`
    /// spans directories).
    pub exclude: Vec<String>,
    /// Ignore rules for drift and sync.
    pub ignore_differences: Vec<IgnoreRule>,
    /// Concurrent API calls during sync.
    pub sync_concurrency: usize,
    /// Repo-relative path of the file read, `None` when there is none (all defaults).
    pub file: Option<String>,
}

/// A config file that is malformed or has an unknown key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: invalid config: {message} (keys: env, applySet.namespace, exclude, ignoreDifferences, sync.concurrency)", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    /// Repo-relative path of the config file.
    pub file: String,
    /// Line of the offending key or value, when known.
    pub line: Option<usize>,
    /// What is wrong, naming the key.
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    apply_set: Option<RawApplySet>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    ignore_differences: Vec<IgnoreRule>,
    #[serde(default)]
    sync: Option<RawSync>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawApplySet {
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSync {
    #[serde(default)]
    concurrency: Option<usize>,
}

impl EnvConfig {
    /// All defaults, for an environment named `env` without a config file.
    pub fn defaults(env: impl Into<String>) -> Self {
        Self {
            env: env.into(),
            apply_set_namespace: DEFAULT_APPLYSET_NAMESPACE.to_owned(),
            exclude: Vec::new(),
            ignore_differences: Vec::new(),
            sync_concurrency: DEFAULT_SYNC_CONCURRENCY,
            file: None,
        }
    }

    /// Parses the config file at repo-relative `file`; `default_env` names the environment
    /// when the file does not.
    pub fn parse(bytes: &[u8], file: &str, default_env: &str) -> Result<Self, ConfigError> {
        let error = |line: Option<usize>, message: String| ConfigError {
            file: file.to_owned(),
            line,
            message,
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|_| error(None, "file is not valid UTF-8".to_owned()))?;
        let raw: Option<RawConfig> =
            serde_saphyr::from_str_with_options(text, super::documents::yaml_options()).map_err(
                |e| {
                    let parsed = super::documents::yaml_error(&e);
                    // serde names an unknown key but not the key of a value of the wrong
                    // type ("expected sequence start"): find it by walking the file untyped.
                    let message = match wrongly_typed_key(text) {
                        Some(key) => format!("{key}: {}", parsed.message),
                        None => parsed.message,
                    };
                    error(parsed.line, message)
                },
            )?;
        let raw = raw.unwrap_or_default();
        let sync_concurrency = raw
            .sync
            .and_then(|s| s.concurrency)
            .unwrap_or(DEFAULT_SYNC_CONCURRENCY);
        if sync_concurrency == 0 {
            return Err(error(
                line_of(text, "concurrency"),
                "sync.concurrency must be at least 1".to_owned(),
            ));
        }
        for (i, rule) in raw.ignore_differences.iter().enumerate() {
            if let Some((j, pointer)) = rule
                .json_pointers
                .iter()
                .enumerate()
                .find(|(_, p)| !p.starts_with('/'))
            {
                let line = match pointer.trim() {
                    "" => line_of(text, "jsonPointers"),
                    shown => text.lines().position(|l| l.contains(shown)).map(|i| i + 1),
                };
                return Err(error(
                    line,
                    format!(
                        "ignoreDifferences[{i}].jsonPointers[{j}]: {pointer:?} is not a JSON pointer (RFC 6901): write it from the root, e.g. /spec/replicas"
                    ),
                ));
            }
        }
        if let Some(pattern) = raw.exclude.iter().find(|p| p.trim().is_empty()) {
            return Err(error(
                line_of(text, "exclude"),
                format!("exclude: empty pattern {pattern:?}"),
            ));
        }
        Ok(Self {
            env: raw
                .env
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| default_env.to_owned()),
            apply_set_namespace: raw
                .apply_set
                .and_then(|a| a.namespace)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| DEFAULT_APPLYSET_NAMESPACE.to_owned()),
            exclude: raw.exclude,
            ignore_differences: raw.ignore_differences,
            sync_concurrency,
            file: Some(file.to_owned()),
        })
    }

    /// Whether a path relative to `--path` matches an `exclude` glob.
    pub fn is_excluded(&self, relative: &str) -> bool {
        use gix::bstr::ByteSlice;
        self.exclude.iter().any(|pattern| {
            gix::glob::wildmatch(
                pattern.as_bytes().as_bstr(),
                relative.as_bytes().as_bstr(),
                gix::glob::wildmatch::Mode::NO_MATCH_SLASH_LITERAL,
            )
        })
    }
}

/// The dotted key (`ignoreDifferences[0].jsonPointers`) of the first value whose type the
/// config's schema does not allow, when the file is well-formed YAML.
fn wrongly_typed_key(text: &str) -> Option<String> {
    use serde_json::Value;
    #[derive(Clone, Copy)]
    enum Shape {
        Text,
        Count,
        Texts,
        Map(&'static [(&'static str, Shape)]),
        Rules,
    }
    const RULE: &[(&str, Shape)] = &[
        ("group", Shape::Text),
        ("kind", Shape::Text),
        ("name", Shape::Text),
        ("namespace", Shape::Text),
        ("jsonPointers", Shape::Texts),
        ("managedFieldsManagers", Shape::Texts),
    ];
    const TOP: &[(&str, Shape)] = &[
        ("env", Shape::Text),
        ("applySet", Shape::Map(&[("namespace", Shape::Text)])),
        ("exclude", Shape::Texts),
        ("ignoreDifferences", Shape::Rules),
        ("sync", Shape::Map(&[("concurrency", Shape::Count)])),
    ];
    fn check(value: &Value, shape: Shape, key: &str) -> Option<String> {
        let texts = |items: &Vec<Value>| {
            items
                .iter()
                .position(|v| !v.is_string())
                .map(|i| format!("{key}[{i}]"))
        };
        match (shape, value) {
            (_, Value::Null) => None,
            (Shape::Text, Value::String(_)) => None,
            (Shape::Count, Value::Number(n)) if n.is_u64() => None,
            (Shape::Texts, Value::Array(items)) => texts(items),
            (Shape::Rules, Value::Array(items)) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| check(item, Shape::Map(RULE), &format!("{key}[{i}]"))),
            (Shape::Map(fields), Value::Object(map)) => fields.iter().find_map(|(name, shape)| {
                let key = if key.is_empty() {
                    (*name).to_owned()
                } else {
                    format!("{key}.{name}")
                };
                map.get(*name).and_then(|v| check(v, *shape, &key))
            }),
            _ => Some(key.to_owned()),
        }
    }
    let value: Value =
        serde_saphyr::from_str_with_options(text, super::documents::yaml_options()).ok()?;
    check(&value, Shape::Map(TOP), "")
}

/// Line of the first occurrence of `key:` for values serde accepted but we refuse.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let needle = format!("{key}:");
    text.lines()
        .position(|l| l.contains(&needle))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config() {
        let text = "\
env: prod
applySet: {namespace: ops}
exclude: [\"**/*.secret.yaml\", \"docs/**\"]
ignoreDifferences:
  - group: apps
    kind: Deployment
    jsonPointers: [/spec/replicas]
sync: {concurrency: 4}
";
        let config =
            EnvConfig::parse(text.as_bytes(), "envs/prod/.kubectl-gitops.yaml", "x").unwrap();
        assert_eq!(config.env, "prod");
        assert_eq!(config.apply_set_namespace, "ops");
        assert_eq!(config.sync_concurrency, 4);
        assert_eq!(config.ignore_differences.len(), 1);
        assert_eq!(
            config.ignore_differences[0].json_pointers,
            ["/spec/replicas"]
        );
        assert!(config.is_excluded("a/b/x.secret.yaml"));
        assert!(config.is_excluded("x.secret.yaml"));
        assert!(config.is_excluded("docs/a/b.yaml"));
        assert!(!config.is_excluded("apps/docs/b.yaml"));
        assert!(!config.is_excluded("x.yaml"));
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = EnvConfig::parse(b"# nothing\n", ".kubectl-gitops.yaml", "repo").unwrap();
        assert_eq!(
            config,
            EnvConfig {
                file: Some(".kubectl-gitops.yaml".into()),
                ..EnvConfig::defaults("repo")
            }
        );
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = "env: prod\nsync:\n  concurency: 3\n";
        let err = EnvConfig::parse(text.as_bytes(), "c.yaml", "x").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("concurency"), "{err}");
        assert!(
            err.to_string().starts_with("c.yaml:3: invalid config: "),
            "{err}"
        );
        let err = EnvConfig::parse(b"env: a\nprune: true\n", "c.yaml", "x").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("prune"), "{err}");
        let err = EnvConfig::parse(
            b"ignoreDifferences:\n  - kind: X\n    jsonPointer: [/a]\n",
            "c.yaml",
            "x",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("jsonPointer"), "{err}");
    }

    #[test]
    fn malformed_values_are_errors() {
        let err = EnvConfig::parse(b"sync: {concurrency: many}\n", "c.yaml", "x").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
        let err = EnvConfig::parse(b"sync:\n  concurrency: 0\n", "c.yaml", "x").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("sync.concurrency"), "{err}");
        // A value of the wrong type names its key as well as its line.
        let cases: [(&str, usize, &str); 5] = [
            (
                "ignoreDifferences:\n  - kind: Deployment\n    jsonPointers: spec/replicas\n",
                3,
                "ignoreDifferences[0].jsonPointers: ",
            ),
            (
                "ignoreDifferences:\n  - kind: [Deployment]\n",
                2,
                "ignoreDifferences[0].kind: ",
            ),
            (
                "ignoreDifferences:\n  - kind: A\n  - managedFieldsManagers: hpa\n",
                3,
                "ignoreDifferences[1].managedFieldsManagers: ",
            ),
            (
                "ignoreDifferences:\n  kind: Deployment\n",
                2,
                "ignoreDifferences: ",
            ),
            (
                "ignoreDifferences:\n  - Deployment\n",
                2,
                "ignoreDifferences[0]: ",
            ),
        ];
        for (text, line, key) in cases {
            let err = EnvConfig::parse(text.as_bytes(), "c.yaml", "x").unwrap_err();
            assert_eq!(err.line, Some(line), "{text}\n{err}");
            assert!(err.message.starts_with(key), "{text}\n{err}");
        }
        let err = EnvConfig::parse(
            b"ignoreDifferences:\n  - kind: Deployment\n    jsonPointers: [spec/replicas]\n",
            "c.yaml",
            "x",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(
            err.message
                .starts_with("ignoreDifferences[0].jsonPointers[0]: "),
            "{err}"
        );
        let err = EnvConfig::parse(b"env: [a\n", "c.yaml", "x").unwrap_err();
        assert!(err.line.is_some(), "{err}");
    }
}
