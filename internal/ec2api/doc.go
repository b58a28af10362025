// Package ec2api is berth's front door for the EC2 API subset: the AWS
// query protocol (ec2 flavour). Requests are form-encoded
// (Action=...&Version=2016-11-15&...) in a POST body or a GET query;
// answers are EC2's XML in the 2016-11-15 namespace, lists as <item>
// elements, errors as <Response><Errors><Error>...</Error></Errors>.
//
// It serves the read-only actions clients need to find their network and
// pick instance types: DescribeVpcs, DescribeSubnets,
// DescribeAvailabilityZones and DescribeInstanceTypes, from the default VPC
// model (internal/vpc) and the instance type catalog
// (internal/compute/instancetypes). DescribeInstances and
// TerminateInstances work on the instance records of internal/compute: one
// reservation per instance, terminated instances listed until the compute
// layer forgets them, termination handed to the compute controllers as
// shutting-down. Every other action gets EC2's InvalidAction error. The
// caller verifies SigV4 before the handler runs; the protocol is
// internal/queryapi's EC2 dialect.
package ec2api
