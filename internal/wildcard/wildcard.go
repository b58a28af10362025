// Package wildcard matches the * and ? patterns AWS APIs take: EC2 filter
// values, IAM policy strings, EKS Fargate profile selectors.
package wildcard

// Match reports whether s matches pattern, in which * stands for any run
// of characters (none included) and ? for exactly one; every other
// character stands for itself. On a mismatch it retries only from the
// last *, so it runs in O(len(pattern) * len(s)) at worst.
func Match(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case star >= 0:
			// Let the last * take one more character and try again.
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
