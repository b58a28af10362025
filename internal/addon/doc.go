// Package addon is the EKS add-on service: the CreateAddon,
// DescribeAddon, ListAddons, UpdateAddon, DeleteAddon,
// DescribeAddonVersions and DescribeAddonConfiguration operations, their
// validation and messages as EKS has them, the add-on records and their
// updates (DescribeUpdate and ListUpdates with an addonName), and the
// catalog of add-ons and versions (catalog.go, kept as data).
//
// # Which add-ons berth runs
//
// The catalog marks each add-on with Runs. berth runs three of them, the
// CSI drivers aws-ebs-csi-driver, aws-efs-csi-driver and
// aws-fsx-csi-driver: the add-on controller installs them into the
// cluster and drives their records. The others (vpc-cni, coredns,
// kube-proxy, eks-pod-identity-agent) are accepted as EKS accepts them,
// with the same validation, versions and messages, but they are records
// only: nothing is installed into the cluster for them.
//
// The service writes desired state and returns at once. For an add-on
// berth runs, a record stays CREATING, UPDATING or DELETING until the
// controller moves it with MarkActive, MarkFailed or FinishDelete (List
// and All give it the records to reconcile, Catalog the Runs flag). For
// a records-only add-on the service makes the change itself in the same
// commit: CreateAddon returns it ACTIVE, UpdateAddon applies at once and
// records the update as Successful, DeleteAddon removes the record and
// answers with it DELETING, as EKS's answer shows it.
//
// # Clusters
//
// EKS deletes a cluster's add-ons with the cluster: DeleteCluster is not
// refused for them (only node groups and Fargate profiles block it, as
// its API reference says). RemoveOps, or the hook RemoveOpsIn, gives the
// store ops that delete every add-on record and add-on update of a
// cluster, to commit with the cluster's removal.
package addon
