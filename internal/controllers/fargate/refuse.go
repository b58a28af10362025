package fargate

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// gpuResources are the accelerator resources Fargate cannot give a pod.
var gpuResources = []corev1.ResourceName{"nvidia.com/gpu", "amd.com/gpu", "aws.amazon.com/neuron", "aws.amazon.com/neuroncore", "aws.amazon.com/neurondevice"}

// notOnFargate are the provisioners and CSI drivers of volumes Fargate
// pods cannot mount, with what they are called in the refusal: EBS, and
// FSx for Lustre. (EFS works on Fargate.)
var notOnFargate = map[string]string{
	"ebs.csi.aws.com": "EBS", "kubernetes.io/aws-ebs": "EBS", "fsx.csi.aws.com": "FSx for Lustre",
}

// VolumeLookup says which kind of volume Fargate refuses a claim of the
// namespace is, or will be; "" for the claims it can mount.
type VolumeLookup func(namespace, claim string) (refused string)

// unsupported explains, in the words of EKS's Fargate scheduler ("Pod not
// supported on Fargate: ..."), why a pod cannot run on Fargate, or returns
// "" when it can.
func unsupported(pod *corev1.Pod, isEBS VolumeLookup) string {
	var reasons []string
	if owner := controllerOf(pod); owner == "DaemonSet" {
		reasons = append(reasons, "DaemonSet pods are not supported")
	}
	var fields []string
	if pod.Spec.HostNetwork {
		fields = append(fields, "HostNetwork")
	}
	if pod.Spec.HostPID {
		fields = append(fields, "HostPID")
	}
	if pod.Spec.HostIPC {
		fields = append(fields, "HostIPC")
	}
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		hostPort := false
		for _, p := range c.Ports {
			if p.HostPort != 0 || p.HostIP != "" {
				hostPort = true
			}
		}
		if hostPort {
			fields = append(fields, "port contains HostIP or HostPort")
			break
		}
	}
	if len(fields) > 0 {
		reasons = append(reasons, "fields not supported: "+strings.Join(fields, ", "))
	}
	var sc []string
	for _, c := range all {
		if s := c.SecurityContext; s != nil && s.Privileged != nil && *s.Privileged {
			sc = append(sc, "Privileged")
			break
		}
	}
	for _, c := range all {
		if s := c.SecurityContext; s != nil && s.Capabilities != nil && len(s.Capabilities.Add) > 0 && !onlySysPtrace(s.Capabilities.Add) {
			sc = append(sc, "Capabilities.Add")
			break
		}
	}
	if len(sc) > 0 {
		reasons = append(reasons, "invalid SecurityContext fields: "+strings.Join(sc, ", "))
	}
	for _, c := range all {
		for _, r := range gpuResources {
			_, req := c.Resources.Requests[r]
			_, lim := c.Resources.Limits[r]
			if req || lim {
				reasons = append(reasons, "resources not supported: "+string(r))
			}
		}
	}
	var vols []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.HostPath != nil:
			vols = append(vols, v.Name+" (hostPath)")
		case v.AWSElasticBlockStore != nil:
			vols = append(vols, v.Name+" (awsElasticBlockStore)")
		case v.CSI != nil && notOnFargate[v.CSI.Driver] != "":
			vols = append(vols, v.Name+" ("+notOnFargate[v.CSI.Driver]+")")
		case v.PersistentVolumeClaim != nil && isEBS != nil:
			if kind := isEBS(pod.Namespace, v.PersistentVolumeClaim.ClaimName); kind != "" {
				vols = append(vols, v.Name+" ("+kind+")")
			}
		}
	}
	if len(vols) > 0 {
		reasons = append(reasons, "volumes not supported: "+strings.Join(vols, ", "))
	}
	if len(reasons) == 0 {
		return ""
	}
	return "Pod not supported on Fargate: " + strings.Join(reasons, "; ")
}

// onlySysPtrace: Fargate lets a container add SYS_PTRACE and nothing else.
func onlySysPtrace(caps []corev1.Capability) bool {
	for _, c := range caps {
		if strings.TrimPrefix(string(c), "CAP_") != "SYS_PTRACE" {
			return false
		}
	}
	return true
}

// controllerOf is the kind of the pod's controlling owner, or "".
func controllerOf(pod *corev1.Pod) string {
	for _, o := range pod.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return o.Kind
		}
	}
	return ""
}
