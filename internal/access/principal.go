package access

import (
	"errors"
	"fmt"
	"strings"

	"github.com/berthproject/berth/internal/arns"
)

// Kinds of principal ARNs.
const (
	KindUser = "user"
	KindRole = "role"
	KindRoot = "root"
	// KindSession is an STS assumed-role session: a caller, never the
	// principal of an entry.
	KindSession = "assumed-role"
)

// Limits of IAM and STS names.
const (
	maxPrincipalARN = 2048
	maxIAMName      = 64
	maxIAMPath      = 512
	maxSessionName  = 64
)

// Principal is a parsed IAM principal ARN:
// arn:PARTITION:iam::ACCOUNT:root, arn:PARTITION:iam::ACCOUNT:user/[PATH/]NAME,
// arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME or the STS session
// arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION.
type Principal struct {
	ARN       string
	Partition string
	Account   string
	Kind      string
	// Path is the IAM path of a user or role: "/" or "/a/b/".
	Path string
	// Name is the user or role name (for a session, its role's; for the
	// root, "root").
	Name string
	// Session is the session name of an assumed-role session.
	Session string
}

// errPrincipal is the reason ParsePrincipal gives for any malformed ARN.
var errPrincipal = errors.New("access: not an IAM user, role, root or assumed-role session ARN")

// ParsePrincipal parses an IAM principal ARN or an STS assumed-role
// session ARN.
func ParsePrincipal(arn string) (Principal, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(arn) > maxPrincipalARN || len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") ||
		parts[3] != "" || !arns.IsAccount(parts[4]) {
		return Principal{}, errPrincipal
	}
	p := Principal{ARN: arn, Partition: parts[1], Account: parts[4]}
	res := parts[5]
	switch parts[2] {
	case "iam":
		if res == "root" {
			p.Kind, p.Name, p.Path = KindRoot, "root", "/"
			return p, nil
		}
		kind, rest, ok := strings.Cut(res, "/")
		if !ok || (kind != KindUser && kind != KindRole) {
			return Principal{}, errPrincipal
		}
		i := strings.LastIndex(rest, "/")
		p.Kind, p.Path, p.Name = kind, "/"+rest[:i+1], rest[i+1:]
		if !validIAMName(p.Name, maxIAMName) || !validPath(p.Path) {
			return Principal{}, errPrincipal
		}
		return p, nil
	case "sts":
		kind, rest, ok := strings.Cut(res, "/")
		if !ok || kind != KindSession {
			return Principal{}, errPrincipal
		}
		role, session, ok := strings.Cut(rest, "/")
		if !ok || !validIAMName(role, maxIAMName) || !validIAMName(session, maxSessionName) {
			return Principal{}, errPrincipal
		}
		p.Kind, p.Path, p.Name, p.Session = KindSession, "/", role, session
		return p, nil
	}
	return Principal{}, errPrincipal
}

// validIAMName checks a user, role or session name: 1 to max of
// [A-Za-z0-9+=,.@_-].
func validIAMName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+=,.@_-", r)
		if !ok {
			return false
		}
	}
	return true
}

// validPath checks an IAM path: "/" or "/SEGMENTS/" of printable ASCII
// with no empty segment.
func validPath(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) > maxIAMPath || strings.Contains(p, "//") {
		return false
	}
	for _, r := range p {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

// RoleARN is the ARN of the role of an assumed-role session, without a
// path (a session ARN does not carry its role's path).
func (p Principal) RoleARN() string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", p.Partition, p.Account, p.Name)
}

// defaultUsername is the username EKS gives an entry of the type for the
// principal when none is specified (the EKS user guide, "Create access
// entries"): a user's or the root's ARN; for a role, its STS session ARN
// without the role's path and with {{SessionName}}; the node identities
// for node types.
func defaultUsername(typ string, p Principal) string {
	switch typ {
	case TypeEC2Linux, TypeEC2Windows, TypeEC2, TypeHyperPodLinux:
		return "system:node:{{EC2PrivateDNSName}}"
	case TypeFargateLinux, TypeHybridLinux:
		return "system:node:{{SessionName}}"
	}
	if p.Kind == KindRole {
		return fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/{{SessionName}}", p.Partition, p.Account, p.Name)
	}
	return p.ARN
}

// defaultGroups are the Kubernetes groups EKS gives entries of a node
// type, which cannot have groups of their own.
func defaultGroups(typ string) []string {
	switch typ {
	case TypeEC2Linux, TypeHybridLinux, TypeHyperPodLinux:
		return []string{"system:nodes"}
	case TypeEC2Windows:
		return []string{"eks:kube-proxy-windows", "system:nodes"}
	case TypeFargateLinux:
		return []string{"system:node-proxier", "system:nodes"}
	}
	return nil
}

// ExpandUsername fills in the variables of an entry's username template
// as EKS does: {{SessionName}} is vars["SessionName"] with every "@"
// replaced by "-", {{SessionNameRaw}} the session name as it is (or
// vars["SessionNameRaw"] when given), {{AccountID}} and
// {{EC2PrivateDNSName}} their values. A variable vars does not hold is
// left as it is.
func ExpandUsername(template string, vars map[string]string) string {
	if !strings.Contains(template, "{{") {
		return template
	}
	values := map[string]string{}
	for k, v := range vars {
		values[k] = v
	}
	if raw, ok := vars[VarSessionName]; ok {
		values[VarSessionName] = strings.ReplaceAll(raw, "@", "-")
		if _, ok := vars[VarSessionNameRaw]; !ok {
			values[VarSessionNameRaw] = raw
		}
	}
	var b strings.Builder
	for {
		i := strings.Index(template, "{{")
		if i < 0 {
			b.WriteString(template)
			return b.String()
		}
		j := strings.Index(template[i:], "}}")
		if j < 0 {
			b.WriteString(template)
			return b.String()
		}
		name := template[i+2 : i+j]
		b.WriteString(template[:i])
		if v, ok := values[name]; ok {
			b.WriteString(v)
		} else {
			b.WriteString(template[i : i+j+2])
		}
		template = template[i+j+2:]
	}
}
