// Package fsxapi is the Amazon FSx front door for Lustre file systems:
// the awsJson1_1 protocol (POST /, X-Amz-Target
// AWSSimbaAPIService_v20180301.<Operation>) over internal/fsx, with
// CreateFileSystem, DescribeFileSystems, DeleteFileSystem,
// UpdateFileSystem, TagResource, UntagResource and ListTagsForResource.
//
// Every request is verified first: SigV4, scoped to the signing name fsx
// and berth's region, the body (at most Config.MaxBodyBytes) included.
// This package is the one place where the service's errors become FSx
// wire errors: a JSON body with __type and Message (and the shape's extra
// members, such as InvalidSubnetId or Parameter), status 400 for client
// errors and 500 for server errors.
package fsxapi
