// Package eksapi is berth's front door for the Amazon EKS API: the
// restJson1 protocol of the EKS model (botocore data/eks/2017-11-01),
// SigV4 authentication of every request, and the one place where service
// errors become AWS wire errors. It only translates: wire format in, a
// service call, wire format out.
package eksapi
