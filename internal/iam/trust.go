package iam

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode"

	"github.com/berthproject/berth/internal/wildcard"
)

// A role's trust policy (AssumeRolePolicyDocument) says who may assume
// it. CreateRole checks its grammar as IAM does for trust policies; at
// AssumeRole, trusts evaluates it for the caller.
//
// The evaluation is minimal: a Deny statement that applies wins, else an
// Allow statement that applies grants. A statement applies when its
// Action (or NotAction) covers sts:AssumeRole, its Principal names the
// caller (Principal "*", AWS "*", the caller's ARN, the account's root
// ARN or its id, which stand for every principal of the account; for a
// service such as EC2 giving an instance its profile's role, a Service
// principal naming that service), and its Condition holds. Conditions are understood for the operators
// StringEquals, StringNotEquals, StringLike, StringNotLike (and their
// IfExists forms) on the keys sts:ExternalId, sts:RoleSessionName,
// aws:PrincipalArn and aws:PrincipalAccount; a statement with any other
// condition does not apply.

// trustPolicy is a parsed trust policy.
type trustPolicy struct {
	statements []trustStatement
}

type trustStatement struct {
	allow      bool
	anyone     bool     // Principal "*"
	aws        []string // Principal.AWS values
	services   []string // Principal.Service values (ec2.amazonaws.com)
	actions    []string
	notActions []string
	condition  map[string]map[string][]string
}

// parseTrust checks doc against IAM's trust policy grammar. validAWS
// tells whether a Principal.AWS value names a principal that exists.
func parseTrust(doc string, validAWS func(string) bool) (*trustPolicy, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err != nil || top == nil {
		return nil, malformedPolicy("This policy contains invalid Json")
	}
	syntax := malformedPolicy("Syntax errors in policy.")
	for k := range top {
		if k != "Version" && k != "Id" && k != "Statement" {
			return nil, syntax
		}
	}
	if raw, ok := top["Version"]; ok {
		var v string
		if json.Unmarshal(raw, &v) != nil || (v != "2012-10-17" && v != "2008-10-17") {
			return nil, malformedPolicy("The policy must contain a valid version string")
		}
	}
	if raw, ok := top["Id"]; ok {
		var id string
		if json.Unmarshal(raw, &id) != nil {
			return nil, syntax
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, syntax
	}
	var stmts []map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		var one map[string]json.RawMessage
		if json.Unmarshal(raw, &one) != nil {
			return nil, syntax
		}
		stmts = append(stmts, one)
	} else if json.Unmarshal(raw, &stmts) != nil {
		return nil, syntax
	}
	if len(stmts) == 0 {
		return nil, malformedPolicy("Could not parse the policy: Statement is empty!")
	}
	p := &trustPolicy{}
	sids := map[string]bool{}
	for _, st := range stmts {
		if st == nil {
			return nil, syntax
		}
		s, sid, err := parseStatement(st, validAWS)
		if err != nil {
			return nil, err
		}
		if sid != "" {
			if sids[sid] {
				return nil, malformedPolicy("Statement IDs (SID) in a single policy must be unique.")
			}
			sids[sid] = true
		}
		p.statements = append(p.statements, s)
	}
	return p, nil
}

var statementKeys = []string{"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}

func parseStatement(st map[string]json.RawMessage, validAWS func(string) bool) (trustStatement, string, error) {
	var s trustStatement
	syntax := malformedPolicy("Syntax errors in policy.")
	for k := range st {
		if !slices.Contains(statementKeys, k) {
			return s, "", syntax
		}
	}
	var sid string
	if raw, ok := st["Sid"]; ok && json.Unmarshal(raw, &sid) != nil {
		return s, "", syntax
	}
	raw, ok := st["Effect"]
	if !ok {
		return s, "", malformedPolicy("Missing required field Effect")
	}
	var effect string
	if json.Unmarshal(raw, &effect) != nil {
		return s, "", syntax
	}
	switch effect {
	case "Allow":
		s.allow = true
	case "Deny":
	default:
		return s, "", malformedPolicy("Invalid effect: " + effect)
	}
	if _, ok := st["NotPrincipal"]; ok {
		if s.allow {
			return s, "", malformedPolicy("Allow with NotPrincipal is not allowed.")
		}
		return s, "", malformedPolicy("AssumeRole policy must not contain NotPrincipal field.")
	}
	if _, ok := st["Resource"]; ok {
		return s, "", malformedPolicy("Has prohibited field Resource")
	}
	if _, ok := st["NotResource"]; ok {
		return s, "", malformedPolicy("Has prohibited field NotResource")
	}
	raw, ok = st["Principal"]
	if !ok {
		return s, "", malformedPolicy("Missing required field Principal")
	}
	if err := s.parsePrincipal(raw, validAWS); err != nil {
		return s, "", err
	}
	actRaw, hasAction := st["Action"]
	notRaw, hasNot := st["NotAction"]
	switch {
	case hasAction && hasNot:
		return s, "", syntax
	case !hasAction && !hasNot:
		return s, "", malformedPolicy("Missing required field Action")
	case hasAction:
		if s.actions, ok = stringOrList(actRaw); !ok {
			return s, "", syntax
		}
	default:
		if s.notActions, ok = stringOrList(notRaw); !ok {
			return s, "", syntax
		}
	}
	if len(s.actions)+len(s.notActions) == 0 {
		return s, "", malformedPolicy("Missing required field Action")
	}
	for _, a := range append(slices.Clone(s.actions), s.notActions...) {
		if len(a) < 4 || !strings.EqualFold(a[:4], "sts:") {
			return s, "", malformedPolicy("AssumeRole policy may only specify STS AssumeRole actions.")
		}
	}
	if raw, ok := st["Condition"]; ok {
		var cond map[string]map[string]json.RawMessage
		if json.Unmarshal(raw, &cond) != nil {
			return s, "", syntax
		}
		s.condition = map[string]map[string][]string{}
		for op, keys := range cond {
			s.condition[op] = map[string][]string{}
			for k, v := range keys {
				values, ok := stringOrList(v)
				if !ok {
					return s, "", syntax
				}
				s.condition[op][k] = values
			}
		}
	}
	return s, sid, nil
}

// parsePrincipal reads a Principal: "*", or an object whose AWS, Service,
// Federated or CanonicalUser members are a string or a list of strings.
func (s *trustStatement) parsePrincipal(raw json.RawMessage, validAWS func(string) bool) error {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return malformedPolicy(`Invalid principal in policy: "` + star + `"`)
		}
		s.anyone = true
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return malformedPolicy("Syntax errors in policy.")
	}
	if len(obj) == 0 {
		return malformedPolicy("Missing required field Principal cannot be empty!")
	}
	for kind, v := range obj {
		values, ok := stringOrList(v)
		if !ok {
			return malformedPolicy("Syntax errors in policy.")
		}
		switch kind {
		case "AWS":
			for _, a := range values {
				if !validAWS(a) {
					return malformedPolicy(`Invalid principal in policy: "AWS":"` + a + `"`)
				}
			}
			s.aws = append(s.aws, values...)
		case "Service", "Federated", "CanonicalUser":
			for _, a := range values {
				if a == "" {
					return malformedPolicy(`Invalid principal in policy: "` + kind + `":""`)
				}
			}
			if kind == "Service" {
				s.services = append(s.services, values...)
			}
		default:
			return malformedPolicy(`Invalid principal in policy: "` + kind + `"`)
		}
	}
	return nil
}

// stringOrList decodes a policy value that is a string or a list of
// strings.
func stringOrList(raw json.RawMessage) ([]string, bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many, true
	}
	return nil, false
}

// policySize is the size IAM counts against ACLSizePerRole: characters
// other than white space.
func policySize(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// trustRequest is what a trust policy is evaluated against.
type trustRequest struct {
	callerARN   string
	account     string
	sessionName string
	externalID  string
	// service is the AWS service principal asking (ec2.amazonaws.com for
	// an instance profile), else "".
	service string
}

// trusts evaluates p for r (see the comment at the top of this file).
func (p *trustPolicy) trusts(r trustRequest) bool {
	allowed := false
	for _, s := range p.statements {
		if !s.applies(r) {
			continue
		}
		if !s.allow {
			return false
		}
		allowed = true
	}
	return allowed
}

func (s *trustStatement) applies(r trustRequest) bool {
	const action = "sts:AssumeRole"
	if len(s.actions) > 0 && !slices.ContainsFunc(s.actions, func(a string) bool { return wildcardMatch(a, action) }) {
		return false
	}
	if len(s.notActions) > 0 && slices.ContainsFunc(s.notActions, func(a string) bool { return wildcardMatch(a, action) }) {
		return false
	}
	var named bool
	if r.service != "" {
		// A service assumes a role only when the policy names it.
		named = slices.Contains(s.services, r.service)
	} else {
		named = s.anyone || slices.ContainsFunc(s.aws, func(p string) bool {
			return p == "*" || p == r.callerARN || p == r.account || p == "arn:aws:iam::"+r.account+":root"
		})
	}
	return named && s.conditionHolds(r)
}

// conditionHolds evaluates the supported subset of condition operators
// and keys; anything else does not hold.
func (s *trustStatement) conditionHolds(r trustRequest) bool {
	for op, keys := range s.condition {
		base, ifExists := strings.CutSuffix(op, "IfExists")
		for key, want := range keys {
			var have string
			var present bool
			switch strings.ToLower(key) {
			case "sts:externalid":
				have, present = r.externalID, r.externalID != ""
			case "sts:rolesessionname":
				have, present = r.sessionName, true
			case "aws:principalarn":
				have, present = r.callerARN, true
			case "aws:principalaccount":
				have, present = r.account, true
			default:
				return false
			}
			if !present {
				if ifExists || strings.Contains(base, "Not") {
					continue
				}
				return false
			}
			var match func(pattern, s string) bool
			switch base {
			case "StringEquals", "StringNotEquals":
				match = func(p, s string) bool { return p == s }
			case "StringLike", "StringNotLike":
				match = wildcard.Match
			default:
				return false
			}
			hit := slices.ContainsFunc(want, func(p string) bool { return match(p, have) })
			if strings.Contains(base, "Not") == hit {
				return false
			}
		}
	}
	return true
}

// wildcardMatch matches an action against a pattern with * and ?,
// ignoring case, as IAM matches actions.
func wildcardMatch(pattern, s string) bool {
	return wildcard.Match(strings.ToLower(pattern), strings.ToLower(s))
}
