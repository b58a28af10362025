package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// TestEC2OnTheSameEndpoint finds the default subnets through the EC2 API,
// as a user scripting create-cluster would, on berth's one endpoint.
func TestEC2OnTheSameEndpoint(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithSharedCredentialsFiles([]string{filepath.Join(d.dataDir, "credentials")}),
		config.WithSharedConfigFiles([]string{filepath.Join(d.dataDir, "config")}),
	)
	if err != nil {
		t.Fatal(err)
	}
	c := ec2.NewFromConfig(cfg)
	out, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{
		Filters: []ec2types.Filter{{Name: aws.String("default-for-az"), Values: []string{"true"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Subnets) != 6 {
		t.Fatalf("default subnets: %d, want 6", len(out.Subnets))
	}
	var ids []string
	for _, s := range out.Subnets {
		if aws.ToString(s.AvailabilityZone) != "us-east-1e" {
			ids = append(ids, aws.ToString(s.SubnetId))
		}
	}
	if _, err := d.eks(t).CreateCluster(ctx, createInput("from-ec2", ids)); err != nil {
		t.Fatalf("CreateCluster with subnets from DescribeSubnets: %v", err)
	}

	bad := ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000000", "x", "")
	})
	_, err = bad.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AuthFailure" {
		t.Errorf("unknown key: %v", err)
	}
	_, err = c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-00000000000000000"}})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSubnetID.NotFound" {
		t.Errorf("unknown subnet: %v", err)
	}
}
