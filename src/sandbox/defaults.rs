//! Server defaulting, as kube-apiserver 1.33 applies it, so that defaulted fields appear live.

use serde_json::Value;

use super::kinds::KindInfo;

/// Allocates Service cluster IPs (kept by the store so that they stay unique).
pub trait ClusterIpAllocator {
    /// A free IPv4 address in the service range (10.96.0.0/12).
    fn allocate(&mut self) -> String;
}

/// Fills defaulted fields of `obj` in place. `old` is the stored object on updates, so that
/// immutable allocated values (Service clusterIP) are kept.
pub fn apply_defaults(
    _kind: &KindInfo,
    _obj: &mut Value,
    _old: Option<&Value>,
    _ips: &mut dyn ClusterIpAllocator,
) {
    todo!("sandbox defaults")
}
