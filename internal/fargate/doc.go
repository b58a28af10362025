// Package fargate is the EKS Fargate profile service: the
// CreateFargateProfile, DescribeFargateProfile, ListFargateProfiles and
// DeleteFargateProfile operations, their validation as EKS validates
// them, the profile records, and Match, the rule by which EKS picks the
// profile a pod runs with. It writes desired state and returns at once;
// the Fargate controller makes profiles ACTIVE and runs their pods.
//
// Profiles are immutable: EKS has no update operation for them, only tags
// change. EKS works on one profile of a cluster at a time, so a profile
// cannot be created while another one of its cluster is CREATING or
// DELETING, nor deleted while another one is DELETING.
package fargate
