package addon

import (
	"context"
	"slices"

	"github.com/berthproject/berth/internal/paging"
)

// VersionsQuery is a DescribeAddonVersions request: every filter given
// must match.
type VersionsQuery struct {
	// KubernetesVersion keeps the versions compatible with that minor,
	// and their compatibility with it only.
	KubernetesVersion string
	Name              string
	Types             []string
	Publishers        []string
	Owners            []string
	MaxResults        int
	NextToken         string
}

// Info is one add-on as DescribeAddonVersions shows it (AddonInfo).
type Info struct {
	Definition
	// Compatible are the add-on's versions that have a compatibility
	// with a Kubernetes version berth offers, newest first.
	Compatible []VersionInfo
}

// VersionInfo is one AddonVersionInfo: a version and the offered
// Kubernetes versions it works with.
type VersionInfo struct {
	Version
	Compatibilities []Compatibility
}

// Compatibility is one Compatibility of an add-on version.
type Compatibility struct {
	ClusterVersion   string
	PlatformVersions []string
	Default          bool
}

// DescribeVersions answers DescribeAddonVersions: the add-ons that match
// the query, sorted by name, a page at a time (the token is opaque).
// Filters that match nothing give an empty page, as on EKS.
func (s *Service) DescribeVersions(_ context.Context, q VersionsQuery) ([]Info, string, error) {
	limit, err := paging.Limit(q.MaxResults)
	if err != nil {
		return nil, "", err
	}
	after, err := paging.After(q.NextToken)
	if err != nil {
		return nil, "", err
	}
	var minors []string
	for _, v := range s.cfg.Versions.All() {
		if q.KubernetesVersion == "" || v.Minor == q.KubernetesVersion {
			minors = append(minors, v.Minor)
		}
	}
	byName := map[string]Info{}
	var names []string
	for _, def := range s.cfg.Catalog.All() {
		if q.Name != "" && def.Name != q.Name ||
			!filter(q.Types, def.Type) || !filter(q.Publishers, def.Publisher) || !filter(q.Owners, def.Owner) {
			continue
		}
		info := Info{Definition: def}
		for _, v := range def.Versions {
			vi := VersionInfo{Version: v}
			for _, m := range minors {
				if !v.Supports(m) {
					continue
				}
				d, _ := def.Default(m)
				vi.Compatibilities = append(vi.Compatibilities, Compatibility{ClusterVersion: m, PlatformVersions: []string{"*"}, Default: d.Version == v.Version})
			}
			if len(vi.Compatibilities) > 0 {
				info.Compatible = append(info.Compatible, vi)
			}
		}
		if len(info.Compatible) > 0 {
			byName[def.Name] = info
			names = append(names, def.Name)
		}
	}
	page, next := paging.Page(names, limit, after)
	out := make([]Info, 0, len(page))
	for _, n := range page {
		out = append(out, byName[n])
	}
	return out, next, nil
}

// filter reports whether v passes a filter list (an empty one passes
// everything).
func filter(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }

// Configuration is DescribeAddonConfiguration's answer.
type Configuration struct {
	Name    string
	Version string
	// Schema is the JSON schema configurationValues are checked
	// against, on one line.
	Schema      string
	PodIdentity []PodIdentityConfig
}

// DescribeConfiguration answers DescribeAddonConfiguration for one
// version of an add-on.
func (s *Service) DescribeConfiguration(_ context.Context, name, version string) (*Configuration, error) {
	if name == "" {
		return nil, invalid("addonName is required.")
	}
	if version == "" {
		return nil, invalid("addonVersion is required.").With("addonName", name)
	}
	def, ok := s.cfg.Catalog.Get(name)
	if !ok {
		return nil, invalid("Addon %s specified is not supported", name).With("addonName", name)
	}
	if _, ok := def.Version(version); !ok {
		return nil, versionNotSupported().With("addonName", name)
	}
	return &Configuration{
		Name:        name,
		Version:     version,
		Schema:      compactSchema(def.Schema),
		PodIdentity: slices.Clone(def.PodIdentity),
	}, nil
}
