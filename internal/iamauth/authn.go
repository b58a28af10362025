package iamauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/berthproject/berth/internal/access"
	"github.com/berthproject/berth/internal/cluster"
)

// Extra keys of the users the webhook authenticates, as
// aws-iam-authenticator sets them; the authorization webhook reads
// canonicalArn.
const (
	ExtraARN          = "arn"
	ExtraCanonicalARN = "canonicalArn"
	ExtraSessionName  = "sessionName"
	ExtraAccessKeyID  = "accessKeyId"
	ExtraAccessEntry  = "berth.dev/access-entry"
)

// authenticate answers a TokenReview.
func (h *Handler) authenticate(ctx context.Context, cl *cluster.Cluster, body []byte) (*authenticationv1.TokenReview, error) {
	var review authenticationv1.TokenReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("decoding the TokenReview: %w", err)
	}
	out := &authenticationv1.TokenReview{TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"}}
	if !strings.HasPrefix(review.Spec.Token, TokenPrefix) {
		// Not ours: other authenticators may know it.
		return out, nil
	}
	id, err := h.tokens.verify(ctx, cl.Name, review.Spec.Token)
	if err != nil {
		out.Status.Error = err.Error()
		if !errors.Is(err, ErrToken) {
			h.log.Warn("verifying a token", "cluster", cl.Name, "err", err)
		}
		return out, nil
	}
	user, ok, err := h.mapIdentity(ctx, cl, id)
	if err != nil {
		out.Status.Error = "mapping " + id.ARN + ": " + err.Error()
		h.log.Warn("mapping an identity", "cluster", cl.Name, "arn", id.ARN, "err", err)
		return out, nil
	}
	if !ok {
		out.Status.Error = fmt.Sprintf("%s has no access to cluster %s: no access entry or aws-auth mapping", id.ARN, cl.Name)
		return out, nil
	}
	out.Status.Authenticated = true
	out.Status.User = user
	out.Status.Audiences = review.Spec.Audiences
	return out, nil
}

// mapIdentity maps an IAM identity to a Kubernetes user through the
// cluster's access entries (authentication modes API and
// API_AND_CONFIG_MAP) or its aws-auth ConfigMap (CONFIG_MAP and
// API_AND_CONFIG_MAP, after the entries).
func (h *Handler) mapIdentity(ctx context.Context, cl *cluster.Cluster, id Identity) (authenticationv1.UserInfo, bool, error) {
	mode := cl.Access.AuthenticationMode
	vars := map[string]string{access.VarAccountID: id.AccountID}
	if id.SessionName != "" {
		vars[access.VarSessionName] = id.SessionName
		vars[access.VarSessionNameRaw] = id.SessionName
		if h.cfg.NodeName != nil {
			if dns, ok := h.cfg.NodeName(ctx, id.SessionName); ok {
				vars[access.VarEC2PrivateDNSName] = dns
			}
		}
	}
	user := authenticationv1.UserInfo{
		UID: "aws-iam-authenticator:" + id.AccountID + ":" + id.AccessKeyID,
		Extra: map[string]authenticationv1.ExtraValue{
			ExtraARN:          {id.ARN},
			ExtraCanonicalARN: {id.CanonicalARN},
			ExtraAccessKeyID:  {id.AccessKeyID},
		},
	}
	if id.SessionName != "" {
		user.Extra[ExtraSessionName] = authenticationv1.ExtraValue{id.SessionName}
	}
	if mode == access.ModeAPI || mode == access.ModeAPIAndConfig {
		e, ok, err := h.cfg.Entries.Resolve(ctx, cl.Name, id.ARN)
		if err != nil {
			return user, false, err
		}
		if ok {
			user.Username = access.ExpandUsername(e.Username, vars)
			user.Groups = append(slices.Clone(e.KubernetesGroups), nodeGroups(e.Type)...)
			user.Extra[ExtraAccessEntry] = authenticationv1.ExtraValue{e.PrincipalARN}
			return user, user.Username != "", nil
		}
	}
	if mode == access.ModeConfigMap || mode == access.ModeAPIAndConfig {
		m, err := h.awsAuthOf(ctx, cl.Name)
		if err != nil {
			return user, false, err
		}
		if name, groups, ok := m.lookup(id); ok {
			user.Username = access.ExpandUsername(name, vars)
			user.Groups = groups
			return user, user.Username != "", nil
		}
	}
	return user, false, nil
}

// nodeGroups are the groups EKS gives the node types of access entries.
func nodeGroups(typ string) []string {
	switch typ {
	case access.TypeEC2Linux, access.TypeEC2Windows, access.TypeHybridLinux, access.TypeHyperPodLinux, access.TypeEC2:
		return []string{"system:bootstrappers", "system:nodes"}
	case access.TypeFargateLinux:
		return []string{"system:bootstrappers", "system:nodes", "system:node-proxier"}
	}
	return nil
}

// awsAuthMap is the aws-auth ConfigMap of a cluster, parsed.
type awsAuthMap struct {
	Roles    []awsAuthRole
	Users    []awsAuthUser
	Accounts []string
}

type awsAuthRole struct {
	RoleARN  string   `json:"rolearn"`
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

type awsAuthUser struct {
	UserARN  string   `json:"userarn"`
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

type cachedAWSAuth struct {
	m  awsAuthMap
	at time.Time
}

// awsAuthTTL is how long a cluster's aws-auth is used before it is read
// again.
const awsAuthTTL = 5 * time.Second

// awsAuthOf reads (or recalls) kube-system/aws-auth of a cluster.
func (h *Handler) awsAuthOf(ctx context.Context, name string) (awsAuthMap, error) {
	now := h.cfg.Now()
	h.mu.Lock()
	c, ok := h.awsAuth[name]
	h.mu.Unlock()
	if ok && now.Sub(c.at) < awsAuthTTL {
		return c.m, nil
	}
	client, err := h.cfg.Admin(ctx, name)
	if err != nil {
		return awsAuthMap{}, err
	}
	cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "aws-auth", metav1.GetOptions{})
	var m awsAuthMap
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return awsAuthMap{}, err
	default:
		// A malformed section is skipped, as aws-iam-authenticator does,
		// with a warning.
		if err := yaml.Unmarshal([]byte(cm.Data["mapRoles"]), &m.Roles); err != nil {
			h.log.Warn("aws-auth mapRoles is malformed", "cluster", name, "err", err)
		}
		if err := yaml.Unmarshal([]byte(cm.Data["mapUsers"]), &m.Users); err != nil {
			h.log.Warn("aws-auth mapUsers is malformed", "cluster", name, "err", err)
		}
		if err := yaml.Unmarshal([]byte(cm.Data["mapAccounts"]), &m.Accounts); err != nil {
			h.log.Warn("aws-auth mapAccounts is malformed", "cluster", name, "err", err)
		}
	}
	h.mu.Lock()
	h.awsAuth[name] = cachedAWSAuth{m: m, at: now}
	h.mu.Unlock()
	return m, nil
}

// lookup maps an identity through aws-auth: mapUsers by the user ARN,
// mapRoles by the role ARN (with or without its path, since aws-auth
// entries commonly drop it), mapAccounts by the account (the username is
// then the ARN).
func (m awsAuthMap) lookup(id Identity) (string, []string, bool) {
	for _, u := range m.Users {
		if u.UserARN == id.CanonicalARN {
			return u.Username, slices.Clone(u.Groups), true
		}
	}
	if id.SessionName != "" {
		for _, r := range m.Roles {
			if sameRole(r.RoleARN, id.CanonicalARN) {
				return r.Username, slices.Clone(r.Groups), true
			}
		}
	}
	if slices.Contains(m.Accounts, id.AccountID) {
		return id.CanonicalARN, nil, true
	}
	return "", nil, false
}

// sameRole compares role ARNs, ignoring paths: arn:aws:iam::1:role/a/b is
// the role b, as a session ARN names it.
func sameRole(a, b string) bool {
	name := func(arn string) string {
		prefix, rest, ok := strings.Cut(arn, ":role/")
		if !ok {
			return arn
		}
		return prefix + ":role/" + rest[strings.LastIndex(rest, "/")+1:]
	}
	return name(a) == name(b)
}
