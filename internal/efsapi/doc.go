// Package efsapi is the Amazon EFS front door: the restJson1 paths of the
// EFS model under /2015-02-01 (file systems, access points, mount targets,
// resource tags) over internal/efs.
//
// Every request is verified first: SigV4, scoped to the signing name
// elasticfilesystem and berth's region, with the body (at most
// Config.MaxBodyBytes) in the signature. This package is the one place
// where the service's errors become EFS wire errors: the HTTP status the
// EFS model gives each error shape, the x-amzn-ErrorType header, and a
// JSON body with ErrorCode, Message and the shape's extra members
// (FileSystemId of FileSystemAlreadyExists, AccessPointId of
// AccessPointAlreadyExists).
package efsapi
