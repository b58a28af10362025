package addon

import (
	"strings"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/arns"
)

// maxRoleARNLength is the length limit of the RoleArn shape.
const maxRoleARNLength = 255

func invalid(format string, args ...any) *apierror.Error {
	return apierror.New(apierror.InvalidParameter, format, args...)
}

// fields adds the cluster and add-on names to the errors whose EKS
// exception shapes carry them (clusterName and addonName are members of
// InvalidParameterException, InvalidRequestException,
// ResourceInUseException and ResourceNotFoundException).
func fields(err error, clusterName, name string) error {
	e, ok := apierror.As(err)
	if !ok {
		return err
	}
	switch e.Kind {
	case apierror.InvalidParameter, apierror.InvalidRequest, apierror.ResourceInUse, apierror.ResourceNotFound:
		if clusterName != "" {
			e.With("clusterName", clusterName)
		}
		if name != "" {
			e.With("addonName", name)
		}
	}
	return e
}

func notFound(clusterName, name string) error {
	return fields(apierror.New(apierror.ResourceNotFound, "No addon: %s found in cluster: %s", name, clusterName), clusterName, name)
}

func alreadyExists(clusterName, name string) error {
	return fields(apierror.New(apierror.ResourceInUse, "Addon already exists."), clusterName, name)
}

// notSupported is EKS's answer to an add-on name it does not offer for a
// cluster's Kubernetes version (an unknown name included).
func notSupported(name, minor string) *apierror.Error {
	return invalid("Addon %s specified is not supported in %s kubernetes version", name, minor)
}

// versionNotSupported is EKS's answer to an addonVersion it does not
// offer, or not for the cluster's Kubernetes version.
func versionNotSupported() *apierror.Error {
	return invalid("Addon version specified is not supported")
}

// validateRole checks serviceAccountRoleArn: an IAM role of a 12-digit
// account; "" is none.
func validateRole(arn string) error {
	if arn == "" || arns.IsRole(arn, maxRoleARNLength) {
		return nil
	}
	return invalid("The service account role ARN %q is not a valid IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME).", arn)
}

// validateResolveConflicts checks resolveConflicts against the
// ResolveConflicts enum; "" is the default. CreateAddon does not take
// PRESERVE: there is nothing of the add-on's to preserve yet.
func validateResolveConflicts(v string, create bool) error {
	switch v {
	case "", ResolveNone, ResolveOverwrite:
		return nil
	case ResolvePreserve:
		if !create {
			return nil
		}
		return invalid("Preserve is not a supported value of resolveConflicts for CreateAddon: use NONE or OVERWRITE.")
	}
	return invalid("1 validation error detected: Value '%s' at 'resolveConflicts' failed to satisfy constraint: Member must satisfy enum value set: [OVERWRITE, NONE, PRESERVE]", v)
}

// validateUnsupported refuses request members berth does not model.
func validateUnsupported(members []string) error {
	if len(members) == 0 {
		return nil
	}
	return invalid("berth does not implement %s for add-ons: give the add-on's role with serviceAccountRoleArn.", strings.Join(members, " and "))
}
