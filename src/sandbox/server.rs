//! HTTP serving: routing, discovery, CRUD, watch, subresources, Status errors, fault injection.
