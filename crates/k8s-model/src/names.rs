//! Name and label syntax, as kube-apiserver checks it (`apimachinery/pkg/util/validation`,
//! `apimachinery/pkg/api/validation/path`): each check returns the server's messages, empty when
//! the value is valid. The sandbox validates with these and `status` reports a name the server
//! would refuse before asking it.

/// The message `validation.IsDNS1123Subdomain` gives for a malformed value.
pub const DNS1123_SUBDOMAIN_MSG: &str = r"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// The message `validation.IsDNS1123Label` gives for a malformed value.
pub const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// The message `validation.IsDNS1035Label` gives for a malformed value.
pub const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

const QUALIFIED_NAME_WHOLE_MSG: &str = "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";

const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

pub fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_label_shape(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && s.chars().next().is_some_and(is_alnum_lower)
        && s.chars().last().is_some_and(is_alnum_lower)
}

/// The messages of a length-limited, regex-checked value: `MaxLenError` then the regex error.
fn checked(value: &str, max_len: usize, shape_ok: bool, msg: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > max_len {
        out.push(format!("must be no more than {max_len} characters"));
    }
    if !shape_ok {
        out.push(msg.into());
    }
    out
}

/// `validation.IsDNS1123Subdomain`: the messages for `value`, empty when valid.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let shape = value.split('.').all(is_label_shape);
    checked(value, 253, shape, DNS1123_SUBDOMAIN_MSG)
}

/// `validation.IsDNS1123Label`: the messages for `value`, empty when valid.
pub fn dns1123_label(value: &str) -> Vec<String> {
    checked(value, 63, is_label_shape(value), DNS1123_LABEL_MSG)
}

/// `validation.IsDNS1035Label`: the messages for `value`, empty when valid.
pub fn dns1035_label(value: &str) -> Vec<String> {
    let shape = is_label_shape(value) && value.starts_with(|c: char| c.is_ascii_lowercase());
    checked(value, 63, shape, DNS1035_LABEL_MSG)
}

/// `path.IsValidPathSegmentName` (RBAC object names).
pub fn path_segment_name(value: &str) -> Vec<String> {
    if value == "." || value == ".." {
        return vec![format!("may not be '{value}'")];
    }
    let mut out = Vec::new();
    for bad in ["/", "%"] {
        if value.contains(bad) {
            out.push(format!("may not contain '{bad}'"));
        }
    }
    out
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_part(s: &str) -> bool {
    let ok_inner = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    !s.is_empty()
        && s.chars().all(ok_inner)
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// `validation.IsQualifiedName` (label and annotation keys).
pub fn qualified_name(value: &str) -> Vec<String> {
    let parts: Vec<&str> = value.split('/').collect();
    let (prefix, name) = match parts.as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => return vec![QUALIFIED_NAME_WHOLE_MSG.into()],
    };
    let mut out = Vec::new();
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            out.push("prefix part must be non-empty".into());
        } else {
            for msg in dns1123_subdomain(prefix) {
                out.push(format!("prefix part {msg}"));
            }
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".into());
    } else if name.len() > 63 {
        out.push("name part must be no more than 63 characters".into());
    }
    if !name.is_empty() && !is_qualified_part(name) {
        out.push(QUALIFIED_NAME_MSG.into());
    }
    out
}

/// `validation.IsValidLabelValue`.
pub fn label_value(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    if !value.is_empty() && !is_qualified_part(value) {
        out.push(LABEL_VALUE_MSG.into());
    }
    out
}

/// `validation.IsConfigMapKey` (ConfigMap and Secret data keys).
pub fn config_key(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > 253 {
        out.push("must be no more than 253 characters".into());
    }
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        out.push(CONFIG_KEY_MSG.into());
    }
    if value == "." {
        out.push("must not be '.'".into());
    } else if value == ".." {
        out.push("must not be '..'".into());
    } else if value.starts_with("..") {
        out.push("must not start with '..'".into());
    }
    out
}

/// The rule a kind's object names follow (the server's name validation per kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// Namespaces.
    Dns1123Label,
    /// Services.
    Dns1035Label,
    /// RBAC objects.
    PathSegment,
    /// Every other kind, custom resources included.
    Dns1123Subdomain,
}

impl NameRule {
    /// The rule of the kind `kind` in `group`.
    pub fn of(group: &str, kind: &str) -> NameRule {
        match (group, kind) {
            ("", "Namespace") => NameRule::Dns1123Label,
            ("", "Service") => NameRule::Dns1035Label,
            ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
            _ => NameRule::Dns1123Subdomain,
        }
    }

    /// The rule as people name it: `RFC 1123 label`, `path segment name`…
    pub fn describe(self) -> &'static str {
        match self {
            NameRule::Dns1123Label => "RFC 1123 label",
            NameRule::Dns1035Label => "RFC 1035 label",
            NameRule::PathSegment => "path segment name",
            NameRule::Dns1123Subdomain => "RFC 1123 subdomain",
        }
    }

    /// The server's messages for `name`, empty when it is valid.
    pub fn check(self, name: &str) -> Vec<String> {
        match self {
            NameRule::Dns1123Label => dns1123_label(name),
            NameRule::Dns1035Label => dns1035_label(name),
            NameRule::PathSegment => path_segment_name(name),
            NameRule::Dns1123Subdomain => dns1123_subdomain(name),
        }
    }
}
