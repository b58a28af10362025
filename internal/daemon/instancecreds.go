package daemon

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/iam"
)

// instanceCredentials serves self-managed instances the credentials of
// their instance profile's role, as EC2's instance metadata does: a role
// session named after the instance id, refreshed before it expires. One
// cache per instance, so a node agent that retries its join does not mint
// a session each time.
type instanceCredentials struct {
	iam *iam.Service
	mu  sync.Mutex
	m   map[string]*aws.CredentialsCache // by instance id
}

func newInstanceCredentials(svc *iam.Service) *instanceCredentials {
	return &instanceCredentials{iam: svc, m: map[string]*aws.CredentialsCache{}}
}

func (ic *instanceCredentials) provider(_ context.Context, in *compute.Instance) (aws.CredentialsProvider, error) {
	if in.InstanceProfile == nil {
		return nil, fmt.Errorf("instance %s has no instance profile", in.ID)
	}
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if c, ok := ic.m[in.ID]; ok {
		return c, nil
	}
	profileARN, id := in.InstanceProfile.ARN, in.ID
	c := aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		p, role, err := ic.iam.InstanceProfileRole(ctx, profileARN)
		switch {
		case err != nil:
			return aws.Credentials{}, err
		case p == nil:
			return aws.Credentials{}, fmt.Errorf("instance profile %s does not exist", profileARN)
		case role == "":
			return aws.Credentials{}, fmt.Errorf("instance profile %s has no role", profileARN)
		}
		s, err := ic.iam.InstanceSession(ctx, role, id)
		if err != nil {
			// The profile's role may change; ask again next time.
			ic.forget(id)
			return aws.Credentials{}, err
		}
		return aws.Credentials{
			AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: s.SessionToken,
			CanExpire: true, Expires: s.Expiration, Source: "berth-instance-metadata",
		}, nil
	}))
	ic.m[id] = c
	return c, nil
}

func (ic *instanceCredentials) forget(id string) {
	ic.mu.Lock()
	delete(ic.m, id)
	ic.mu.Unlock()
}
