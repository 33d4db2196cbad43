//! Flux post-build variable substitution (kustomize-controller `spec.postBuild`): the bash-like
//! `${...}` expressions of fluxcd/pkg `envsubst` in an object's YAML text. `$VAR` without
//! braces is left alone (Flux documents it as the way to keep shell variables), `$${VAR}` gives
//! the literal `${VAR}`, and an unset variable without a default becomes the empty string
//! (Flux's default; its `StrictPostBuildSubstitutions` gate is not modelled).

/// What a variable is, for [`substitute`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Set to this value.
    Set(&'a str),
    /// Not set: defaults apply, else the empty string.
    Unset,
    /// Its value exists but cannot be read here (an encrypted Secret): the expression is kept
    /// as written.
    Unknown,
}

/// Whether `name` is a valid variable name for Flux (`^[_[:alpha:]][_[:alpha:][:digit:]]*$`).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `text` with every `${...}` expression replaced; an error names an expression it cannot
/// evaluate (an unterminated `${`, an unsupported operator).
pub fn substitute<'v>(text: &str, vars: &dyn Fn(&str) -> Lookup<'v>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix("${") {
            // `$${x}`: the literal `${x}`, never evaluated.
            let end = closing_brace(escaped).ok_or_else(|| unterminated(&rest[at..]))?;
            out.push_str("${");
            out.push_str(&escaped[..=end]);
            rest = &escaped[end + 1..];
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body).ok_or_else(|| unterminated(&rest[at..]))?;
            let expression = &body[..end];
            match evaluate(expression, vars)? {
                Some(value) => out.push_str(&value),
                None => {
                    out.push_str("${");
                    out.push_str(expression);
                    out.push('}');
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn unterminated(at: &str) -> String {
    let shown: String = at.chars().take(40).collect();
    format!("unterminated variable expression {shown:?} (a `${{` needs its `}}`)")
}

/// Index of the `}` closing an expression whose `${` precedes `body`, counting nested `${`.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The value of one expression (what is between `${` and `}`); `None` keeps it as written
/// (a variable of [`Lookup::Unknown`], or no variable name at all, as envsubst leaves it).
fn evaluate<'v>(
    expression: &str,
    vars: &dyn Fn(&str) -> Lookup<'v>,
) -> Result<Option<String>, String> {
    if let Some(name) = expression.strip_prefix('#')
        && valid_name(name)
    {
        return Ok(match vars(name) {
            Lookup::Set(value) => Some(value.chars().count().to_string()),
            Lookup::Unset => Some("0".to_owned()),
            Lookup::Unknown => None,
        });
    }
    let name_len = expression
        .char_indices()
        .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(expression.len(), |(i, _)| i);
    if name_len == 0 {
        return Ok(None);
    }
    let (name, operator) = expression.split_at(name_len);
    let value = vars(name);
    let nested = |text: &str| substitute(text, vars);
    let set = match value {
        Lookup::Set(v) => Some(v),
        Lookup::Unset => None,
        Lookup::Unknown => return Ok(None),
    };
    let current = set.unwrap_or("");
    let result = if operator.is_empty() {
        current.to_owned()
    } else if let Some(default) = operator
        .strip_prefix(":-")
        .or_else(|| operator.strip_prefix(":="))
    {
        match set {
            Some(v) if !v.is_empty() => v.to_owned(),
            _ => nested(default)?,
        }
    } else if let Some(default) = operator
        .strip_prefix('-')
        .or_else(|| operator.strip_prefix('='))
    {
        match set {
            Some(v) => v.to_owned(),
            None => nested(default)?,
        }
    } else if let Some(pattern) = operator.strip_prefix("##") {
        current
            .strip_prefix(nested(pattern)?.as_str())
            .unwrap_or(current)
            .to_owned()
    } else if let Some(pattern) = operator.strip_prefix('#') {
        current
            .strip_prefix(nested(pattern)?.as_str())
            .unwrap_or(current)
            .to_owned()
    } else if let Some(pattern) = operator.strip_prefix("%%") {
        current
            .strip_suffix(nested(pattern)?.as_str())
            .unwrap_or(current)
            .to_owned()
    } else if let Some(pattern) = operator.strip_prefix('%') {
        current
            .strip_suffix(nested(pattern)?.as_str())
            .unwrap_or(current)
            .to_owned()
    } else if operator == "^^" {
        current.to_uppercase()
    } else if operator == ",," {
        current.to_lowercase()
    } else if operator == "^" {
        change_first(current, char::to_ascii_uppercase)
    } else if operator == "," {
        change_first(current, char::to_ascii_lowercase)
    } else if let Some(spec) = operator.strip_prefix("//") {
        let (from, to) = spec.split_once('/').unwrap_or((spec, ""));
        if from.is_empty() {
            current.to_owned()
        } else {
            current.replace(from, to)
        }
    } else if let Some(spec) = operator.strip_prefix('/') {
        let (from, to) = spec.split_once('/').unwrap_or((spec, ""));
        if from.is_empty() {
            current.to_owned()
        } else {
            current.replacen(from, to, 1)
        }
    } else if let Some(spec) = operator.strip_prefix(':') {
        let (position, length) = match spec.split_once(':') {
            Some((p, l)) => (p, Some(l)),
            None => (spec, None),
        };
        let bad = || format!("unsupported variable expression ${{{expression}}}");
        let position: i64 = position.trim().parse().map_err(|_| bad())?;
        let chars: Vec<char> = current.chars().collect();
        let len = chars.len() as i64;
        let start = if position < 0 {
            (len + position).max(0)
        } else {
            position.min(len)
        };
        let end = match length {
            Some(l) => {
                let l: i64 = l.trim().parse().map_err(|_| bad())?;
                if l < 0 {
                    (len + l).max(start)
                } else {
                    (start + l).min(len)
                }
            }
            None => len,
        };
        chars[start as usize..end as usize].iter().collect()
    } else {
        return Err(format!(
            "unsupported variable expression ${{{expression}}} (Flux's envsubst: ${{VAR}}, \
             ${{VAR:=default}}, ${{VAR:-default}}, ${{VAR-default}}, #, ##, %, %%, /, //, ^, ^^, \
             ,, ,, :offset:length)"
        ));
    };
    Ok(Some(result))
}

fn change_first(text: &str, change: fn(&char) -> char) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => std::iter::once(change(&first)).chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(text: &str, vars: &[(&str, &str)]) -> Result<String, String> {
        substitute(text, &|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map_or(Lookup::Unset, |(_, v)| Lookup::Set(v))
        })
    }

    #[test]
    fn plain_variables_and_defaults() {
        let vars = [("DOMAIN", "example.com"), ("EMPTY", "")];
        assert_eq!(
            with("host: app.${DOMAIN}", &vars).unwrap(),
            "host: app.example.com"
        );
        assert_eq!(with("a: ${MISSING}.", &vars).unwrap(), "a: .");
        assert_eq!(with("${MISSING:=dflt}", &vars).unwrap(), "dflt");
        assert_eq!(with("${MISSING:-dflt}", &vars).unwrap(), "dflt");
        assert_eq!(with("${EMPTY:-dflt}", &vars).unwrap(), "dflt");
        assert_eq!(with("${EMPTY:=dflt}", &vars).unwrap(), "dflt");
        assert_eq!(with("${EMPTY-dflt}", &vars).unwrap(), "");
        assert_eq!(with("${MISSING-dflt}", &vars).unwrap(), "dflt");
        assert_eq!(with("${DOMAIN:=dflt}", &vars).unwrap(), "example.com");
        assert_eq!(with("${MISSING:=${DOMAIN}}", &vars).unwrap(), "example.com");
        assert_eq!(with("${MISSING:=a b/c}", &vars).unwrap(), "a b/c");
    }

    #[test]
    fn escapes_and_shell_variables_are_kept() {
        let vars = [("X", "1")];
        assert_eq!(
            with("$${X} and $${Y:=2}", &vars).unwrap(),
            "${X} and ${Y:=2}"
        );
        assert_eq!(
            with("echo $X $HOME $1 $", &vars).unwrap(),
            "echo $X $HOME $1 $"
        );
        assert_eq!(with("cost: 5$", &vars).unwrap(), "cost: 5$");
        assert_eq!(with("${1}", &vars).unwrap(), "${1}");
    }

    #[test]
    fn string_functions() {
        let vars = [("SRC", "config.yaml.dist"), ("NAME", "podinfo")];
        assert_eq!(with("${SRC%.dist}", &vars).unwrap(), "config.yaml");
        assert_eq!(with("${SRC#config.}", &vars).unwrap(), "yaml.dist");
        assert_eq!(with("${#NAME}", &vars).unwrap(), "7");
        assert_eq!(with("${NAME^^}", &vars).unwrap(), "PODINFO");
        assert_eq!(with("${NAME^}", &vars).unwrap(), "Podinfo");
        assert_eq!(with("${NAME/o/0}", &vars).unwrap(), "p0dinfo");
        assert_eq!(with("${NAME//o/0}", &vars).unwrap(), "p0dinf0");
        assert_eq!(with("${NAME:3}", &vars).unwrap(), "info");
        assert_eq!(with("${NAME:0:3}", &vars).unwrap(), "pod");
    }

    #[test]
    fn unknown_values_keep_the_expression() {
        let unknown = |name: &str| {
            if name == "SECRET" {
                Lookup::Unknown
            } else {
                Lookup::Set("v")
            }
        };
        assert_eq!(
            substitute("${SECRET} ${SECRET:=x} ${OTHER}", &unknown).unwrap(),
            "${SECRET} ${SECRET:=x} v"
        );
    }

    #[test]
    fn bad_expressions_are_errors() {
        assert!(
            with("a: ${UNCLOSED", &[])
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            with("${X:+alt}", &[("X", "1")])
                .unwrap_err()
                .contains("unsupported")
        );
        assert!(valid_name("CLUSTER_DOMAIN") && valid_name("_x1"));
        assert!(!valid_name("1X") && !valid_name("a-b") && !valid_name(""));
    }
}
