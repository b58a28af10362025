// Package versions is the catalog of Kubernetes versions berth offers: the
// minor that its compiled-in Kubernetes serves natively and the earlier
// minors it serves through kube-apiserver's emulated-version.
package versions

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Version describes one Kubernetes minor as DescribeClusterVersions shows it.
type Version struct {
	Minor           string // "1.37"
	PatchVersion    string // what /version reports, e.g. "1.37.2"
	PlatformVersion string // eks.N
	Default         bool
	Released        time.Time
	EndOfStandard   time.Time
	EndOfExtended   time.Time
}

// Status is the support status at a time: STANDARD_SUPPORT,
// EXTENDED_SUPPORT or UNSUPPORTED (the VersionStatus enum).
func (v Version) Status(now time.Time) string {
	switch {
	case now.Before(v.EndOfStandard):
		return "STANDARD_SUPPORT"
	case now.Before(v.EndOfExtended):
		return "EXTENDED_SUPPORT"
	}
	return "UNSUPPORTED"
}

// LegacyStatus is the same in the older ClusterVersionStatus enum spelling.
func (v Version) LegacyStatus(now time.Time) string {
	return strings.ToLower(strings.ReplaceAll(v.Status(now), "_", "-"))
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Catalog is the set of versions one berth build offers.
type Catalog struct {
	versions []Version // newest first
}

// Builtin returns the catalog of this build. binaryPatch is the patch
// version of the compiled-in Kubernetes (e.g. "1.37.2"). Release dates are
// EKS's where known and berth's estimates otherwise; support windows follow
// EKS policy (14 months standard, 12 more extended).
func Builtin(binaryPatch string) *Catalog {
	releases := []struct{ minor, released string }{
		{"1.37", "2026-10-06"},
		{"1.36", "2026-06-02"},
		{"1.35", "2026-01-27"},
		{"1.34", "2025-10-02"},
	}
	var c Catalog
	for i, r := range releases {
		rel := day(r.released)
		patch := r.minor + ".0"
		if strings.HasPrefix(binaryPatch, r.minor+".") {
			patch = binaryPatch
		}
		c.versions = append(c.versions, Version{
			Minor:           r.minor,
			PatchVersion:    patch,
			PlatformVersion: "eks.1",
			Default:         i == 0,
			Released:        rel,
			EndOfStandard:   rel.AddDate(0, 14, 0),
			EndOfExtended:   rel.AddDate(0, 26, 0),
		})
	}
	return &c
}

// All returns every version, newest first.
func (c *Catalog) All() []Version { return slices.Clone(c.versions) }

// Get returns the version for a minor ("1.36").
func (c *Catalog) Get(minor string) (Version, bool) {
	i := slices.IndexFunc(c.versions, func(v Version) bool { return v.Minor == minor })
	if i < 0 {
		return Version{}, false
	}
	return c.versions[i], true
}

// Default returns the version a cluster gets when none is asked for.
func (c *Catalog) Default() Version {
	for _, v := range c.versions {
		if v.Default {
			return v
		}
	}
	return c.versions[0]
}

// Minors lists the offered minors, oldest first, for error messages.
func (c *Catalog) Minors() []string {
	out := make([]string, 0, len(c.versions))
	for i := len(c.versions) - 1; i >= 0; i-- {
		out = append(out, c.versions[i].Minor)
	}
	return out
}

// Next returns the minor after m, the only one an upgrade may go to.
func (c *Catalog) Next(m string) (Version, bool) {
	i := slices.IndexFunc(c.versions, func(v Version) bool { return v.Minor == m })
	if i <= 0 {
		return Version{}, false
	}
	return c.versions[i-1], true
}

// Compare compares two minors numerically ("1.9" < "1.10").
func Compare(a, b string) int {
	var am, an, bm, bn int
	fmt.Sscanf(a, "%d.%d", &am, &an)
	fmt.Sscanf(b, "%d.%d", &bm, &bn)
	if am != bm {
		return am - bm
	}
	return an - bn
}

// Only returns the catalog restricted to the given minors (those a build
// can really serve). The default moves to the newest kept version if the
// old default is dropped.
func (c *Catalog) Only(minors []string) *Catalog {
	var out Catalog
	hasDefault := false
	for _, v := range c.versions {
		if slices.Contains(minors, v.Minor) {
			out.versions = append(out.versions, v)
			hasDefault = hasDefault || v.Default
		}
	}
	if !hasDefault && len(out.versions) > 0 {
		out.versions[0].Default = true
	}
	return &out
}
