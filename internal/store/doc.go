// Package store keeps berth's own desired state durably: clusters, updates,
// credentials and, as later features arrive, node groups and the rest.
//
// Records are JSON values under a (kind, key) pair. Every write bumps a
// store-wide revision, and updates and deletes may be made conditional on the
// revision a caller read, so two writers never lose each other's change.
// The implementation is bbolt, fsynced on every commit: a write that
// returned is on disk, whatever happens to the process next. Callers see the
// store through small interfaces of their own, so an etcd-backed store can
// replace this one for several berth replicas.
package store
