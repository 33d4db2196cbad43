//! `Status` error responses, with the messages, reasons and details kube-apiserver uses.

use serde_json::{Map, Value, json};

use super::apply::Conflict;
use super::kinds::KindInfo;
use super::validation::FieldError;

/// An error answered as a `meta/v1 Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `reason`, e.g. `NotFound`.
    pub reason: &'static str,
    /// `message`.
    pub message: String,
    /// `details`, when kube sends them.
    pub details: Option<Box<Value>>,
    /// `Retry-After` seconds (429).
    pub retry_after: Option<u64>,
}

fn details(kind: &KindInfo, name: &str) -> Value {
    let mut d = Map::new();
    d.insert("name".into(), json!(name));
    if !kind.group.is_empty() {
        d.insert("group".into(), json!(kind.group));
    }
    d.insert("kind".into(), json!(kind.plural));
    Value::Object(d)
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 404 for an object: `deployments.apps "web" not found`.
    pub fn not_found(kind: &KindInfo, name: &str) -> ApiError {
        ApiError {
            details: Some(Box::new(details(kind, name))),
            ..ApiError::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", kind.qualified_resource()),
            )
        }
    }

    /// 404 for a namespace that does not exist: `namespaces "x" not found`.
    pub fn namespace_not_found(namespace: &str) -> ApiError {
        ApiError {
            details: Some(Box::new(json!({"name": namespace, "kind": "namespaces"}))),
            ..ApiError::new(
                404,
                "NotFound",
                format!("namespaces \"{namespace}\" not found"),
            )
        }
    }

    /// 503 for the discovery of an aggregated API whose backend does not answer: the sandbox
    /// runs no APIService backend, so every non-local APIService is unavailable, as on a
    /// cluster whose metrics-server is down.
    pub fn service_unavailable() -> ApiError {
        ApiError::new(503, "ServiceUnavailable", "service unavailable")
    }

    /// 404 for a path nothing is served at.
    pub fn no_route() -> ApiError {
        ApiError {
            details: Some(Box::new(json!({}))),
            ..ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        }
    }

    /// 409 AlreadyExists.
    pub fn already_exists(kind: &KindInfo, name: &str) -> ApiError {
        ApiError {
            details: Some(Box::new(details(kind, name))),
            ..ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", kind.qualified_resource()),
            )
        }
    }

    /// 409 Conflict for a stale resourceVersion (or other failed precondition).
    pub fn conflict(kind: &KindInfo, name: &str, why: &str) -> ApiError {
        ApiError {
            details: Some(Box::new(details(kind, name))),
            ..ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": {why}",
                    kind.qualified_resource()
                ),
            )
        }
    }

    /// 409 Conflict for a stale `metadata.resourceVersion`.
    pub fn modified(kind: &KindInfo, name: &str) -> ApiError {
        ApiError::conflict(
            kind,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 for server-side apply conflicts, formatted as the apiserver's field manager does.
    pub fn apply_conflicts(conflicts: &[Conflict]) -> ApiError {
        let manager = |m: &str| {
            // A manager that is already described ("\"x\" using apps/v1") is printed as is.
            if m.starts_with('"') {
                m.to_string()
            } else {
                format!("{m:?}")
            }
        };
        let message = if let [only] = conflicts {
            format!(
                "Apply failed with 1 conflict: conflict with {}: {}",
                manager(&only.manager),
                only.field
            )
        } else {
            let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
            managers.sort_by_key(|m| manager(m));
            managers.dedup();
            let mut lines = Vec::new();
            for m in managers {
                lines.push(format!("conflicts with {}:", manager(m)));
                for c in conflicts.iter().filter(|c| c.manager == m) {
                    lines.push(format!("- {}", c.field));
                }
            }
            format!(
                "Apply failed with {} conflicts: {}",
                conflicts.len(),
                lines.join("\n")
            )
        };
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|c| {
                json!({"reason": "FieldManagerConflict",
                    "message": format!("conflict with {}", manager(&c.manager)),
                    "field": c.field})
            })
            .collect();
        ApiError {
            details: Some(Box::new(json!({"causes": causes}))),
            ..ApiError::new(409, "Conflict", message)
        }
    }

    /// 422 Invalid: `Deployment.apps "web" is invalid: spec.x: Required value`.
    pub fn invalid(kind: &KindInfo, name: &str, errors: &[FieldError]) -> ApiError {
        let qualified = if kind.group.is_empty() {
            kind.kind.clone()
        } else {
            format!("{}.{}", kind.kind, kind.group)
        };
        ApiError::invalid_named(&qualified, &kind.group, &kind.kind, name, errors)
    }

    /// 422 Invalid for something that is not a served kind (e.g. `PatchOptions.meta.k8s.io`).
    pub fn invalid_named(
        qualified: &str,
        group: &str,
        kind: &str,
        name: &str,
        errors: &[FieldError],
    ) -> ApiError {
        let parts: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        let joined = if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("[{}]", parts.join(", "))
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.reason, "message": e.message, "field": e.field}))
            .collect();
        let mut d = Map::new();
        d.insert("name".into(), json!(name));
        if !group.is_empty() {
            d.insert("group".into(), json!(group));
        }
        d.insert("kind".into(), json!(kind));
        d.insert("causes".into(), Value::Array(causes));
        ApiError {
            details: Some(Box::new(Value::Object(d))),
            ..ApiError::new(
                422,
                "Invalid",
                format!("{qualified} \"{name}\" is invalid: {joined}"),
            )
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// 403 Forbidden for an object.
    pub fn forbidden(kind: &KindInfo, name: &str, why: &str) -> ApiError {
        ApiError {
            details: Some(Box::new(details(kind, name))),
            ..ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{} \"{name}\" is forbidden: {why}",
                    kind.qualified_resource()
                ),
            )
        }
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> ApiError {
        ApiError {
            details: Some(Box::new(json!({}))),
            ..ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        }
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                if accepted.is_empty() {
                    content_type.to_string()
                } else {
                    accepted.join(", ")
                }
            ),
        )
    }

    /// 410 Expired: a watch or continue token too old to serve.
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// 429 TooManyRequests with `Retry-After: 1`.
    pub fn too_many_requests() -> ApiError {
        ApiError {
            details: Some(Box::new(json!({"retryAfterSeconds": 1}))),
            retry_after: Some(1),
            ..ApiError::new(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
            )
        }
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            details: Some(Box::new(json!({"causes": [{"message": message}]}))),
            ..ApiError::new(
                500,
                "InternalError",
                format!("Internal error occurred: {message}"),
            )
        }
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut s = Map::new();
        s.insert("kind".into(), json!("Status"));
        s.insert("apiVersion".into(), json!("v1"));
        s.insert("metadata".into(), json!({}));
        s.insert("status".into(), json!("Failure"));
        s.insert("message".into(), json!(self.message));
        s.insert("reason".into(), json!(self.reason));
        if let Some(d) = &self.details {
            s.insert("details".into(), (**d).clone());
        }
        s.insert("code".into(), json!(self.code));
        Value::Object(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::builtin_named;

    fn deploy() -> KindInfo {
        builtin_named("Deployment")
    }

    #[test]
    fn not_found_is_shaped_like_kube() {
        let s = ApiError::not_found(&deploy(), "web").to_status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["code"], 404);
        assert_eq!(
            s["details"],
            json!({"name": "web", "group": "apps", "kind": "deployments"})
        );
        let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "kind",
                "apiVersion",
                "metadata",
                "status",
                "message",
                "reason",
                "details",
                "code"
            ]
        );
    }

    #[test]
    fn apply_conflict_messages() {
        let one = ApiError::apply_conflicts(&[Conflict {
            manager: "kubectl".into(),
            field: ".spec.replicas".into(),
        }]);
        assert_eq!(
            one.message,
            "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
        );
        assert_eq!(one.code, 409);
        let two = ApiError::apply_conflicts(&[
            Conflict {
                manager: "\"b\" using apps/v1".into(),
                field: ".spec.replicas".into(),
            },
            Conflict {
                manager: "a".into(),
                field: ".data.x".into(),
            },
        ]);
        assert_eq!(
            two.message,
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .data.x\nconflicts with \"b\" using apps/v1:\n- .spec.replicas"
        );
        assert_eq!(
            two.to_status()["details"]["causes"][0]["reason"],
            "FieldManagerConflict"
        );
    }

    #[test]
    fn invalid_lists_causes() {
        let errs = vec![FieldError {
            reason: "FieldValueInvalid".into(),
            field: "metadata.name".into(),
            message: "Invalid value: \"Web\": bad".into(),
        }];
        let s = ApiError::invalid(&deploy(), "Web", &errs).to_status();
        assert_eq!(
            s["message"],
            "Deployment.apps \"Web\" is invalid: metadata.name: Invalid value: \"Web\": bad"
        );
        assert_eq!(s["details"]["kind"], "Deployment");
        assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");
        assert_eq!(s["code"], 422);
    }
}
