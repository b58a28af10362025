package efs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/store"
)

// CreateAccessPointInput is a CreateAccessPoint request.
type CreateAccessPointInput struct {
	ClientToken   string
	FileSystemID  string
	PosixUser     *PosixUser
	RootDirectory *RootDirectory
	Tags          []Tag
}

const (
	maxPOSIXID       = 4294967295
	maxSecondaryGIDs = 16
	maxPathLength    = 100
	maxPathDepth     = 4
)

var permissionsRE = regexp.MustCompile(`^[0-7]{3,4}$`)

// ValidatePath checks an access point root directory path as EFS does:
// absolute, at most 100 characters and four components, no component
// starting with a dot, none of $ # < > ; ` | & ? { } ^ * or a newline.
func ValidatePath(p string) error {
	if p == "/" {
		return nil
	}
	if p == "" || len(p) > maxPathLength || !strings.HasPrefix(p, "/") {
		return badRequest("Path '%s' is not valid: it must be an absolute path of 1 to %d characters.", p, maxPathLength)
	}
	parts := strings.Split(p[1:], "/")
	if len(parts) > maxPathDepth {
		return badRequest("Path '%s' is not valid: it can have at most %d subdirectories.", p, maxPathDepth)
	}
	for _, c := range parts {
		if c == "" || strings.HasPrefix(c, ".") || strings.ContainsAny(c, "$#<>;`|&?{}^*\n") {
			return badRequest("Path '%s' is not valid: a component is empty, starts with '.' or contains one of $ # < > ; ` | & ? { } ^ *.", p)
		}
	}
	return nil
}

func validateAccessPoint(in *CreateAccessPointInput) error {
	if in.ClientToken == "" || len(in.ClientToken) > 64 {
		return badRequest("ClientToken must be 1 to 64 characters long.")
	}
	if in.FileSystemID == "" {
		return badRequest("FileSystemId is required.")
	}
	if u := in.PosixUser; u != nil {
		if u.UID < 0 || u.UID > maxPOSIXID || u.GID < 0 || u.GID > maxPOSIXID {
			return badRequest("PosixUser Uid and Gid must be between 0 and %d.", int64(maxPOSIXID))
		}
		if len(u.SecondaryGIDs) > maxSecondaryGIDs {
			return badRequest("PosixUser can have at most %d SecondaryGids.", maxSecondaryGIDs)
		}
		if len(u.SecondaryGIDs) == 0 {
			u.SecondaryGIDs = nil
		}
		for _, g := range u.SecondaryGIDs {
			if g < 0 || g > maxPOSIXID {
				return badRequest("SecondaryGids must be between 0 and %d.", int64(maxPOSIXID))
			}
		}
	}
	if in.RootDirectory == nil {
		in.RootDirectory = &RootDirectory{}
	}
	if in.RootDirectory.Path == "" {
		in.RootDirectory.Path = "/"
	}
	if err := ValidatePath(in.RootDirectory.Path); err != nil {
		return err
	}
	if ci := in.RootDirectory.CreationInfo; ci != nil {
		if ci.OwnerUID < 0 || ci.OwnerUID > maxPOSIXID || ci.OwnerGID < 0 || ci.OwnerGID > maxPOSIXID {
			return badRequest("CreationInfo OwnerUid and OwnerGid must be between 0 and %d.", int64(maxPOSIXID))
		}
		if !permissionsRE.MatchString(ci.Permissions) {
			return badRequest("CreationInfo Permissions '%s' must be an octal mode of 3 or 4 digits.", ci.Permissions)
		}
	}
	return validateTags(in.Tags)
}

// CreateAccessPoint validates a request, creates the root directory in
// the file system when it does not exist and CreationInfo says how, and
// records the access point. A repeated request with the same ClientToken
// returns the access point the first one made; the same token with other
// parameters is AccessPointAlreadyExists.
func (s *Service) CreateAccessPoint(ctx context.Context, in CreateAccessPointInput) (*AccessPoint, error) {
	if err := validateAccessPoint(&in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	fs, _, err := s.getFileSystem(ctx, in.FileSystemID)
	if err != nil {
		return nil, err
	}
	if existing, err := s.byClientToken(ctx, in.ClientToken); err != nil {
		return nil, err
	} else if existing != nil {
		if existing.FileSystemID == fs.ID && reflect.DeepEqual(existing.PosixUser, in.PosixUser) &&
			reflect.DeepEqual(existing.RootDirectory, *in.RootDirectory) && slices.Equal(existing.Tags, in.Tags) {
			return s.fillAccessPoint(existing), nil
		}
		return nil, apierror.New(AccessPointAlreadyExists, "Access point already exists with client token '%s'.", in.ClientToken).
			With("AccessPointId", existing.ID)
	}
	if st := s.state(fs.State, fs.CreatedAt); st != StateAvailable {
		return nil, wrongState(fs, st)
	}
	aps, err := s.accessPointsOf(ctx, fs.ID)
	if err != nil {
		return nil, err
	}
	if len(aps) >= s.cfg.MaxAccessPointsPerFileSystem {
		return nil, apierror.New(AccessPointLimitExceeded,
			"You have reached the maximum number of access points (%d) for file system '%s'.", s.cfg.MaxAccessPointsPerFileSystem, fs.ID)
	}
	ap := &AccessPoint{
		ID:            newID("fsap"),
		FileSystemID:  fs.ID,
		OwnerID:       s.cfg.Account,
		ClientToken:   in.ClientToken,
		CreatedAt:     s.cfg.Now().UTC().Truncate(time.Second),
		State:         StateCreating,
		PosixUser:     in.PosixUser,
		RootDirectory: *in.RootDirectory,
		Tags:          slices.Clone(in.Tags),
	}
	ap.ARN = s.AccessPointARN(ap.ID)
	if err := s.makeRoot(fs.ID, ap.RootDirectory); err != nil {
		return nil, err
	}
	_, err = s.cfg.Store.Apply(ctx,
		store.Op{Kind: KindAccessPoint, Key: ap.ID, Value: marshal(ap), Create: true},
		store.Op{Kind: kindClientToken, Key: ap.ClientToken, Value: marshal(ap.ID), Create: true})
	if err != nil {
		return nil, storeErr("storing access point", err)
	}
	s.log.Debug("access point created", "accessPointId", ap.ID, "fileSystemId", fs.ID, "path", ap.RootDirectory.Path)
	ap.Name = nameOf(ap.Tags)
	return ap, nil
}

// makeRoot creates an access point's root directory when it is missing
// and CreationInfo is given: the directories above it as root's, 0755,
// the root directory itself with CreationInfo's owner and mode. Paths
// resolve inside the file system only (symbolic links that users left in
// it cannot lead out).
func (s *Service) makeRoot(fsID string, rd RootDirectory) error {
	if rd.Path == "/" || rd.CreationInfo == nil {
		return nil
	}
	root, err := os.OpenRoot(s.Dir(fsID))
	if err != nil {
		return fmt.Errorf("opening the data of %s: %w", fsID, err)
	}
	defer root.Close()
	rel := strings.TrimPrefix(rd.Path, "/")
	if _, err := root.Stat(rel); err == nil {
		return nil // EFS leaves an existing directory as it is
	}
	if dir := path.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return badRequest("Cannot create the root directory '%s': %v", rd.Path, err)
		}
	}
	mode, _ := strconv.ParseUint(rd.CreationInfo.Permissions, 8, 32)
	if err := root.Mkdir(rel, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return badRequest("Cannot create the root directory '%s': %v", rd.Path, err)
	}
	if os.Geteuid() == 0 {
		if err := root.Lchown(rel, int(rd.CreationInfo.OwnerUID), int(rd.CreationInfo.OwnerGID)); err != nil {
			return fmt.Errorf("setting the owner of %s in %s: %w", rd.Path, fsID, err)
		}
	}
	if err := root.Chmod(rel, unixMode(uint32(mode))); err != nil {
		return fmt.Errorf("setting the mode of %s in %s: %w", rd.Path, fsID, err)
	}
	return nil
}

// unixMode turns an octal mode with setuid, setgid and sticky bits into
// an os.FileMode.
func unixMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

// AccessPointByClientToken returns the access point a ClientToken
// created, or nil.
func (s *Service) AccessPointByClientToken(ctx context.Context, token string) (*AccessPoint, error) {
	ap, err := s.byClientToken(ctx, token)
	if ap != nil {
		s.fillAccessPoint(ap)
	}
	return ap, err
}

func (s *Service) byClientToken(ctx context.Context, token string) (*AccessPoint, error) {
	rec, err := s.cfg.Store.Get(ctx, kindClientToken, token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var id string
	if err := jsonUnmarshal(rec.Value, &id); err != nil {
		return nil, err
	}
	ap, _, err := s.getAccessPoint(ctx, id)
	if apierror.IsKind(err, AccessPointNotFound) {
		return nil, nil
	}
	return ap, err
}

func (s *Service) getAccessPoint(ctx context.Context, idOrARN string) (*AccessPoint, uint64, error) {
	id, ok := resourceID(idOrARN, accessPointIDRE)
	if !ok {
		return nil, 0, badRequest("Invalid access point ID '%s'.", idOrARN)
	}
	ap, rev, err := store.Read[AccessPoint](ctx, s.cfg.Store, KindAccessPoint, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, accessPointNotFound(id)
	}
	return ap, rev, err
}

// AccessPoint returns one access point (by id or ARN).
func (s *Service) AccessPoint(ctx context.Context, idOrARN string) (*AccessPoint, error) {
	ap, _, err := s.getAccessPoint(ctx, idOrARN)
	if err != nil {
		return nil, err
	}
	return s.fillAccessPoint(ap), nil
}

func (s *Service) fillAccessPoint(ap *AccessPoint) *AccessPoint {
	ap.State = s.state(ap.State, ap.CreatedAt)
	ap.Name = nameOf(ap.Tags)
	return ap
}

// accessPointsOf returns the access points of a file system, by id.
func (s *Service) accessPointsOf(ctx context.Context, fsID string) ([]*AccessPoint, error) {
	all, err := store.ReadAll[AccessPoint](ctx, s.cfg.Store, KindAccessPoint, "")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(ap *AccessPoint) bool { return ap.FileSystemID != fsID }), nil
}

// DescribeAccessPointsInput is a DescribeAccessPoints request: one access
// point, or those of one file system, or all, a page at a time.
type DescribeAccessPointsInput struct {
	AccessPointID string
	FileSystemID  string
	NextToken     string
	MaxResults    int
}

// DescribeAccessPoints lists access points.
func (s *Service) DescribeAccessPoints(ctx context.Context, in DescribeAccessPointsInput) ([]*AccessPoint, string, error) {
	if in.AccessPointID != "" && in.FileSystemID != "" {
		return nil, "", badRequest("Specify either AccessPointId or FileSystemId, not both.")
	}
	if in.MaxResults < 0 {
		return nil, "", badRequest("MaxResults must be at least 1.")
	}
	if in.AccessPointID != "" {
		ap, err := s.AccessPoint(ctx, in.AccessPointID)
		if err != nil {
			return nil, "", err
		}
		return []*AccessPoint{ap}, "", nil
	}
	var all []*AccessPoint
	var err error
	if in.FileSystemID != "" {
		fs, _, ferr := s.getFileSystem(ctx, in.FileSystemID)
		if ferr != nil {
			return nil, "", ferr
		}
		all, err = s.accessPointsOf(ctx, fs.ID)
	} else {
		all, err = store.ReadAll[AccessPoint](ctx, s.cfg.Store, KindAccessPoint, "")
	}
	if err != nil {
		return nil, "", err
	}
	keys := make([]string, len(all))
	for i, ap := range all {
		keys[i] = ap.ID
		s.fillAccessPoint(ap)
	}
	return pageOf(all, keys, in.MaxResults, in.NextToken)
}

// DeleteAccessPoint deletes an access point. Its root directory and the
// data in it stay in the file system, as on EFS.
func (s *Service) DeleteAccessPoint(ctx context.Context, idOrARN string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ap, rev, err := s.getAccessPoint(ctx, idOrARN)
	if err != nil {
		return err
	}
	ops := []store.Op{{Kind: KindAccessPoint, Key: ap.ID, Delete: true, IfRevision: rev}}
	if ap.ClientToken != "" {
		ops = append(ops, store.Op{Kind: kindClientToken, Key: ap.ClientToken, Delete: true})
	}
	if _, err := s.cfg.Store.Apply(ctx, ops...); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return accessPointNotFound(ap.ID)
		}
		return storeErr("deleting access point", err)
	}
	s.log.Debug("access point deleted", "accessPointId", ap.ID)
	return nil
}

// AccessPointRoot returns the host path of an access point's root
// directory, DIR/fs-ID/PATH. Code that opens it should resolve PATH
// inside the file system (os.OpenRoot of Dir), so that symbolic links
// users left in the data cannot lead out.
func (s *Service) AccessPointRoot(ap *AccessPoint) string {
	return s.Dir(ap.FileSystemID) + ap.RootDirectory.Path
}
