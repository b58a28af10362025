package asgapi

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/paging"
	"github.com/berthproject/berth/internal/queryapi"
)

// updateParams are the UpdateAutoScalingGroup members berth honours.
var updateParams = []string{"Action", "Version", "AutoScalingGroupName", "MinSize", "MaxSize", "DesiredCapacity"}

func (h *Handler) updateAutoScalingGroup(ctx context.Context, c *call) (any, error) {
	name, err := c.required("AutoScalingGroupName")
	if err != nil {
		return nil, err
	}
	var s Size
	if s.Min, err = c.Int("MinSize"); err != nil {
		return nil, err
	}
	if s.Max, err = c.Int("MaxSize"); err != nil {
		return nil, err
	}
	if s.Desired, err = c.Int("DesiredCapacity"); err != nil {
		return nil, err
	}
	g, _, err := h.cfg.Compute.Group(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := h.unsupportedChanges(c, g); err != nil {
		return nil, err
	}
	if s.Min == nil && s.Max == nil && s.Desired == nil {
		return nil, nil
	}
	return nil, h.resizer.Update(ctx, name, s)
}

// unsupportedChanges refuses the UpdateAutoScalingGroup members berth
// cannot honour, unless they repeat what DescribeAutoScalingGroups shows
// (tools that send a group's whole configuration back).
func (h *Handler) unsupportedChanges(c *call, g *compute.Group) error {
	shown := h.toGroupXML(g, nil, false)
	same := map[string]func(v string) bool{
		"DefaultCooldown":                  func(v string) bool { return v == strconv.Itoa(shown.DefaultCooldown) },
		"HealthCheckType":                  func(v string) bool { return v == shown.HealthCheckType },
		"HealthCheckGracePeriod":           func(v string) bool { return v == strconv.Itoa(shown.HealthCheckGracePeriod) },
		"NewInstancesProtectedFromScaleIn": func(v string) bool { return strings.EqualFold(v, "false") },
		"CapacityRebalance":                func(v string) bool { return strings.EqualFold(v, strconv.FormatBool(shown.CapacityRebalance)) },
		"ServiceLinkedRoleARN":             func(v string) bool { return v == shown.ServiceLinkedRoleARN },
		"VPCZoneIdentifier": func(v string) bool {
			a, b := strings.Split(v, ","), slices.Clone(g.SubnetIDs)
			for i := range a {
				a[i] = strings.TrimSpace(a[i])
			}
			slices.Sort(a)
			slices.Sort(b)
			return slices.Equal(a, b)
		},
	}
	var refused []string
	for _, p := range c.topLevel() {
		if slices.Contains(updateParams, p) || strings.HasPrefix(p, "X-Amz-") {
			continue
		}
		if eq, ok := same[p]; ok && eq(c.Get(p)) {
			continue
		}
		refused = append(refused, p)
	}
	if len(refused) > 0 {
		return validation("berth does not support changing %s yet", strings.Join(refused, ", "))
	}
	return nil
}

func (h *Handler) setDesiredCapacity(ctx context.Context, c *call) (any, error) {
	name, err := c.required("AutoScalingGroupName")
	if err != nil {
		return nil, err
	}
	desired, err := c.Int("DesiredCapacity")
	if err != nil {
		return nil, err
	}
	if desired == nil {
		return nil, missing("DesiredCapacity")
	}
	// HonorCooldown is accepted: berth has no scaling policies, so no
	// cooldown is ever running.
	if _, err := c.Bool("HonorCooldown"); err != nil {
		return nil, err
	}
	return nil, h.resizer.SetDesired(ctx, name, *desired)
}

type activityXML struct {
	ActivityID           string `xml:"ActivityId"`
	AutoScalingGroupName string `xml:"AutoScalingGroupName"`
	Description          string `xml:"Description"`
	Cause                string `xml:"Cause"`
	StartTime            string `xml:"StartTime"`
	EndTime              string `xml:"EndTime,omitempty"`
	StatusCode           string `xml:"StatusCode"`
	StatusMessage        string `xml:"StatusMessage,omitempty"`
	Progress             int    `xml:"Progress"`
	Details              string `xml:"Details"`
	AutoScalingGroupARN  string `xml:"AutoScalingGroupARN"`
}

type terminateResult struct {
	Activities *queryapi.Members[activityXML] `xml:"Activities"`
	Activity   *activityXML                   `xml:"Activity"`
}

// maxTerminateIDs is how many InstanceIds one call may name.
const maxTerminateIDs = 100

func (h *Handler) terminateInstance(ctx context.Context, c *call) (any, error) {
	decrement, err := c.Bool("ShouldDecrementDesiredCapacity")
	if err != nil {
		return nil, err
	}
	if decrement == nil {
		return nil, missing("ShouldDecrementDesiredCapacity")
	}
	ids, err := c.List("InstanceIds")
	if err != nil {
		return nil, err
	}
	var group string
	if name := c.Opt("AutoScalingGroupName"); name != nil {
		group = *name
	}
	one := c.Opt("InstanceId")
	switch {
	case one != nil && len(ids) > 0:
		return nil, validation("Specify either InstanceId or InstanceIds, not both.")
	case one == nil && len(ids) == 0:
		return nil, missing("InstanceId")
	case len(ids) > maxTerminateIDs:
		return nil, validation("1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to %d", maxTerminateIDs)
	case len(ids) > 0 && group == "":
		return nil, missing("AutoScalingGroupName")
	case one != nil:
		if *one == "" {
			return nil, missing("InstanceId")
		}
		ids = []string{*one}
	}
	g, acts, err := h.resizer.Terminate(ctx, group, ids, *decrement)
	if err != nil {
		return nil, err
	}
	instances := map[string]*compute.Instance{}
	for _, id := range ids {
		if in, _, err := h.cfg.Compute.Instance(ctx, id); err == nil {
			instances[id] = in
		}
	}
	out := &terminateResult{}
	if one != nil {
		x := h.toActivityXML(g, acts[0], instances)
		out.Activity = &x
		return out, nil
	}
	out.Activities = &queryapi.Members[activityXML]{}
	for _, a := range acts {
		out.Activities.Member = append(out.Activities.Member, h.toActivityXML(g, a, instances))
	}
	return out, nil
}

// activityInstance returns the instance an activity launched or
// terminates, from its description ("...EC2 instance: i-...").
func activityInstance(a compute.Activity) string {
	_, id, ok := strings.Cut(a.Description, "EC2 instance: ")
	if !ok || !strings.HasPrefix(id, "i-") {
		return ""
	}
	return id
}

// toActivityXML writes an activity. An InProgress termination is
// Successful once its instance is terminated (or forgotten), ending
// then; a drain that failed shows as its status message.
func (h *Handler) toActivityXML(g *compute.Group, a compute.Activity, instances map[string]*compute.Instance) activityXML {
	x := activityXML{
		ActivityID:           a.ID,
		AutoScalingGroupName: g.Name,
		Description:          a.Description,
		Cause:                a.Cause,
		StartTime:            timestamp(a.StartTime),
		StatusCode:           a.Status,
		StatusMessage:        a.Message,
		Details:              "{}",
		AutoScalingGroupARN:  g.ARN,
	}
	end := a.EndTime
	id := activityInstance(a)
	in := instances[id]
	if a.Status == StatusInProgress && strings.HasPrefix(a.Description, terminatingPrefix) {
		switch {
		case in == nil:
			x.StatusCode, end = StatusSuccessful, a.StartTime
		case in.State == compute.StateTerminated:
			x.StatusCode, end = StatusSuccessful, in.TerminatedAt
			if end.IsZero() {
				end = a.StartTime
			}
		case in.Drain != nil && in.Drain.Error != "":
			x.StatusMessage = in.Drain.Error
		case in.State == compute.StateShuttingDown:
			x.Progress = 50
		}
	}
	if x.StatusCode != StatusInProgress {
		x.Progress = 100
		if !end.IsZero() {
			x.EndTime = timestamp(end)
		}
	}
	if in != nil {
		details, _ := json.Marshal(struct {
			SubnetID string `json:"Subnet ID"`
			Zone     string `json:"Availability Zone"`
		}{in.SubnetID, in.AZ})
		x.Details = string(details)
	}
	return x
}

type describeActivitiesResult struct {
	Activities queryapi.Members[activityXML]
	NextToken  string `xml:"NextToken,omitempty"`
}

// activityFilter checks a DescribeScalingActivities filter and returns
// whether an activity, as shown, passes it.
func activityFilter(f queryapi.Filter, a activityXML) (bool, error) {
	switch f.Name {
	case "Status":
		return slices.Contains(f.Values, a.StatusCode), nil
	case "StartTimeLowerBound", "StartTimeUpperBound":
		start, _ := time.Parse(time.RFC3339, a.StartTime)
		for _, v := range f.Values {
			t, err := parseBound(v)
			if err != nil {
				return false, validation("Value '%s' for filter %s is not an ISO 8601 timestamp.", v, f.Name)
			}
			if f.Name == "StartTimeLowerBound" && start.Before(t) || f.Name == "StartTimeUpperBound" && start.After(t) {
				return false, nil
			}
		}
		return true, nil
	case "":
		return false, missing("Filters.member.N.Name")
	}
	return false, validation("Filter name '%s' is not valid. DescribeScalingActivities takes the filters Status, StartTimeLowerBound and StartTimeUpperBound.", f.Name)
}

// parseBound reads an ISO 8601 timestamp; one without a zone is UTC.
func parseBound(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05", v)
}

func (h *Handler) describeScalingActivities(ctx context.Context, c *call) (any, error) {
	ids, err := c.List("ActivityIds")
	if err != nil {
		return nil, err
	}
	filters, err := c.filters()
	if err != nil {
		return nil, err
	}
	if _, err := c.Bool("IncludeDeletedGroups"); err != nil {
		return nil, err
	}
	limit, err := c.maxRecords(100, 100)
	if err != nil {
		return nil, err
	}
	var after string
	tok := c.Opt("NextToken")
	if tok != nil && *tok != "" {
		if after, err = paging.After(*tok); err != nil {
			return nil, invalidToken(*tok)
		}
	}
	groups, err := h.cfg.Compute.Groups(ctx)
	if err != nil {
		return nil, err
	}
	name := c.Opt("AutoScalingGroupName")
	instances, err := h.cfg.Compute.Instances(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*compute.Instance, len(instances))
	for _, in := range instances {
		byID[in.ID] = in
	}
	// Newest first; activities of one group started together keep the
	// order they were recorded in, newest first too.
	type entry struct {
		start time.Time
		x     activityXML
	}
	var all []entry
	for _, g := range groups {
		if name != nil && *name != "" && g.Name != *name {
			continue
		}
		for i := len(g.Activities) - 1; i >= 0; i-- {
			a := g.Activities[i]
			if len(ids) > 0 && !slices.Contains(ids, a.ID) {
				continue
			}
			x := h.toActivityXML(g, a, byID)
			ok := true
			for _, f := range filters {
				if ok, err = activityFilter(f, x); err != nil {
					return nil, err
				} else if !ok {
					break
				}
			}
			if ok {
				all = append(all, entry{a.StartTime, x})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b entry) int { return b.start.Compare(a.start) })
	from := 0
	if after != "" {
		i := slices.IndexFunc(all, func(e entry) bool { return e.x.ActivityID == after })
		if i < 0 {
			return nil, invalidToken(*tok)
		}
		from = i + 1
	}
	out := &describeActivitiesResult{}
	for _, e := range all[from:] {
		if len(out.Activities.Member) == limit {
			out.NextToken = paging.Token(out.Activities.Member[limit-1].ActivityID)
			break
		}
		out.Activities.Member = append(out.Activities.Member, e.x)
	}
	return out, nil
}
