package nodegroup_test

import (
	"encoding/json"
	"testing"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/store"
)

// TestResizeByASG checks the Auto Scaling side's way into a node group's
// scalingConfig: found by its group's name, validated as
// UpdateNodegroupConfig validates scaling, committed with the caller's
// ops, no update created, refused while the node group is deleted.
func TestResizeByASG(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	in := f.input("ng1")
	in.Scaling = &nodegroup.ScalingInput{Min: ptr(1), Max: ptr(5), Desired: ptr(2)}
	ng, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	f.setStatus(t, "c1", "ng1", nodegroup.StatusActive)
	if got, err := f.svc.ByASG(ctx, ng.ASG); err != nil || got.Name != "ng1" {
		t.Fatalf("ByASG = %v, %v; want ng1", got, err)
	}
	to := func(sc nodegroup.Scaling, ops ...store.Op) func(*nodegroup.Nodegroup) (nodegroup.Scaling, []store.Op, error) {
		return func(*nodegroup.Nodegroup) (nodegroup.Scaling, []store.Op, error) { return sc, ops, nil }
	}

	// A valid change commits with the caller's op.
	marker := store.Op{Kind: "test", Key: "marker", Value: json.RawMessage(`{}`), Create: true}
	got, err := f.svc.ResizeByASG(ctx, ng.ASG, to(nodegroup.Scaling{Min: 0, Max: 8, Desired: 7}, marker))
	if err != nil {
		t.Fatal(err)
	}
	if want := (nodegroup.Scaling{Min: 0, Max: 8, Desired: 7}); got.Scaling != want {
		t.Errorf("scaling = %+v, want %+v", got.Scaling, want)
	}
	if _, err := f.st.Get(ctx, "test", "marker"); err != nil {
		t.Errorf("the caller's op was not committed: %v", err)
	}
	stored, _, err := f.svc.Get(ctx, "c1", "ng1")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Scaling.Desired != 7 || stored.Status != nodegroup.StatusActive {
		t.Errorf("stored scaling %+v, status %s; want desired 7, ACTIVE", stored.Scaling, stored.Status)
	}
	if ups, err := f.svc.Updates(ctx, "c1", "ng1"); err != nil || len(ups) != 0 {
		t.Errorf("updates = %v, %v; want none", ups, err)
	}

	for _, tt := range []struct {
		name string
		sc   nodegroup.Scaling
		msg  string
	}{
		{"max zero", nodegroup.Scaling{Min: 0, Max: 0, Desired: 0}, "maxSize must be greater than or equal to 1, not 0."},
		{"over quota", nodegroup.Scaling{Min: 0, Max: 11, Desired: 1}, "maxSize 11 is greater than the quota of 10 nodes per managed node group."},
		{"desired above max", nodegroup.Scaling{Min: 0, Max: 3, Desired: 4}, "Desired capacity 4 can't be greater than maximum capacity 3"},
		{"min above desired", nodegroup.Scaling{Min: 3, Max: 4, Desired: 2}, "Minimum capacity 3 can't be greater than desired size 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.ResizeByASG(ctx, ng.ASG, to(tt.sc))
			wantErr(t, err, apierror.InvalidParameter, tt.msg)
		})
	}

	_, err = f.svc.ResizeByASG(ctx, "eks-nope-00000000-0000-0000-0000-000000000000", to(nodegroup.Scaling{Max: 1}))
	wantErr(t, err, apierror.ResourceNotFound, "No node group owns the Auto Scaling group")

	f.setStatus(t, "c1", "ng1", nodegroup.StatusDeleting)
	_, err = f.svc.ResizeByASG(ctx, ng.ASG, to(nodegroup.Scaling{Min: 1, Max: 5, Desired: 1}))
	wantErr(t, err, apierror.InvalidRequest, "The AutoScaling group may not be modified while it is pending delete")
}
