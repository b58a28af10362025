// Package arns checks the shapes of the Amazon Resource Names berth's
// APIs take.
package arns

import "strings"

// IsRole reports whether arn is an IAM role ARN of a 12-digit account
// (arn:aws:iam::ACCOUNT:role/NAME, any partition), at most maxLen long.
func IsRole(arn string, maxLen int) bool {
	parts := strings.SplitN(arn, ":", 6)
	return len(arn) <= maxLen && len(parts) == 6 && parts[0] == "arn" && strings.HasPrefix(parts[1], "aws") &&
		parts[2] == "iam" && parts[3] == "" && IsAccount(parts[4]) &&
		strings.HasPrefix(parts[5], "role/") && len(parts[5]) > len("role/")
}

// IsAccount reports whether s is a 12-digit AWS account id.
func IsAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
