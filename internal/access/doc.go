// Package access is the EKS access entry service: the CreateAccessEntry,
// DescribeAccessEntry, ListAccessEntries, UpdateAccessEntry,
// DeleteAccessEntry, AssociateAccessPolicy, DisassociateAccessPolicy,
// ListAssociatedAccessPolicies and ListAccessPolicies operations, their
// validation as EKS validates them, and the entry records.
//
// An entry gives one IAM principal (a user, a role with or without a path,
// or the account's root) access to one cluster: a Kubernetes username,
// Kubernetes groups, and the EKS access policies associated with it, each
// scoped to the cluster or to namespaces. The access policies are EKS's,
// kept here as data (Policies). Entries exist only while the cluster's
// authenticationMode is API or API_AND_CONFIG_MAP.
//
// The cluster service writes the entry of a cluster's creator in the
// same commit as the cluster and removes a cluster's entries with it
// (Records). Resolve and All are what the cluster side uses to
// authenticate and authorize callers: the entry that applies to a caller,
// an STS assumed-role session matching the entry of its role.
package access
