// Package e2e holds berth's end-to-end tests and benchmarks: they build the
// berth binary, start `berth serve` as a user would, and drive it with the
// AWS SDK for Go v2 (EKS client and waiters) and client-go against the
// clusters it creates. They start real control planes, so they take tens of
// seconds; `go test -short` skips them.
package e2e
