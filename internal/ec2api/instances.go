package ec2api

import (
	"context"
	"encoding/xml"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/queryapi"
	"github.com/berthproject/berth/internal/vpc"
)

// userShutdown is the state reason of an instance ended by
// TerminateInstances.
var userShutdown = compute.Reason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}

// instanceIDRE matches the two forms of EC2 instance IDs.
var instanceIDRE = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)

// ec2Time is how EC2 writes timestamps.
const ec2Time = "2006-01-02T15:04:05.000Z"

type describeInstancesResponse struct {
	XMLName xml.Name `xml:"DescribeInstancesResponse"`
	queryapi.EC2Header
	Reservations set[reservationXML] `xml:"reservationSet"`
	NextToken    string              `xml:"nextToken,omitempty"`
}

// reservationXML is one reservation; berth shows one per instance.
type reservationXML struct {
	ReservationID string           `xml:"reservationId"`
	OwnerID       string           `xml:"ownerId"`
	GroupSet      set[groupXML]    `xml:"groupSet"`
	Instances     set[instanceXML] `xml:"instancesSet"`
}

type groupXML struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type stateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type reasonXML struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type instanceXML struct {
	InstanceID                       string                   `xml:"instanceId"`
	ImageID                          string                   `xml:"imageId"`
	State                            stateXML                 `xml:"instanceState"`
	PrivateDNSName                   string                   `xml:"privateDnsName"`
	DNSName                          string                   `xml:"dnsName"`
	Reason                           string                   `xml:"reason"`
	AmiLaunchIndex                   int                      `xml:"amiLaunchIndex"`
	ProductCodes                     set[struct{}]            `xml:"productCodes"`
	InstanceType                     string                   `xml:"instanceType"`
	LaunchTime                       string                   `xml:"launchTime"`
	Placement                        placementXML             `xml:"placement"`
	Monitoring                       monitoringXML            `xml:"monitoring"`
	KeyName                          string                   `xml:"keyName,omitempty"`
	SubnetID                         string                   `xml:"subnetId,omitempty"`
	VpcID                            string                   `xml:"vpcId,omitempty"`
	PrivateIPAddress                 string                   `xml:"privateIpAddress,omitempty"`
	SourceDestCheck                  *bool                    `xml:"sourceDestCheck,omitempty"`
	GroupSet                         set[groupXML]            `xml:"groupSet"`
	StateReason                      *reasonXML               `xml:"stateReason,omitempty"`
	IamInstanceProfile               *profileXML              `xml:"iamInstanceProfile,omitempty"`
	Architecture                     string                   `xml:"architecture"`
	RootDeviceType                   string                   `xml:"rootDeviceType"`
	RootDeviceName                   string                   `xml:"rootDeviceName"`
	BlockDeviceMapping               set[blockDeviceXML]      `xml:"blockDeviceMapping"`
	InstanceLifecycle                string                   `xml:"instanceLifecycle,omitempty"`
	SpotInstanceRequestID            string                   `xml:"spotInstanceRequestId,omitempty"`
	VirtualizationType               string                   `xml:"virtualizationType"`
	ClientToken                      string                   `xml:"clientToken"`
	TagSet                           *set[tag]                `xml:"tagSet,omitempty"`
	Hypervisor                       string                   `xml:"hypervisor"`
	NetworkInterfaceSet              set[networkInterfaceXML] `xml:"networkInterfaceSet"`
	EbsOptimized                     bool                     `xml:"ebsOptimized"`
	EnaSupport                       bool                     `xml:"enaSupport"`
	CPUOptions                       cpuOptionsXML            `xml:"cpuOptions"`
	CapacityReservationSpecification capacityReservationXML   `xml:"capacityReservationSpecification"`
	HibernationOptions               configuredXML            `xml:"hibernationOptions"`
	EnclaveOptions                   enabledXML               `xml:"enclaveOptions"`
	MetadataOptions                  metadataOptionsXML       `xml:"metadataOptions"`
	MaintenanceOptions               maintenanceOptionsXML    `xml:"maintenanceOptions"`
	PrivateDNSNameOptions            privateDNSOptionsXML     `xml:"privateDnsNameOptions"`
	CurrentInstanceBootMode          string                   `xml:"currentInstanceBootMode"`
	PlatformDetails                  string                   `xml:"platformDetails"`
	UsageOperation                   string                   `xml:"usageOperation"`
	UsageOperationUpdateTime         string                   `xml:"usageOperationUpdateTime"`

	// reservation is the instance's reservation id, for the filter.
	reservation string
}

type profileXML struct {
	Arn string `xml:"arn"`
	ID  string `xml:"id"`
}

type placementXML struct {
	AvailabilityZone   string `xml:"availabilityZone"`
	AvailabilityZoneID string `xml:"availabilityZoneId,omitempty"`
	GroupName          string `xml:"groupName"`
	Tenancy            string `xml:"tenancy"`
}

type monitoringXML struct {
	State string `xml:"state"`
}

type blockDeviceXML struct {
	DeviceName string      `xml:"deviceName"`
	Ebs        ebsBlockXML `xml:"ebs"`
}

type ebsBlockXML struct {
	VolumeID            string `xml:"volumeId"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type networkInterfaceXML struct {
	NetworkInterfaceID    string                 `xml:"networkInterfaceId"`
	SubnetID              string                 `xml:"subnetId"`
	VpcID                 string                 `xml:"vpcId"`
	Description           string                 `xml:"description"`
	OwnerID               string                 `xml:"ownerId"`
	Status                string                 `xml:"status"`
	MacAddress            string                 `xml:"macAddress"`
	PrivateIPAddress      string                 `xml:"privateIpAddress"`
	PrivateDNSName        string                 `xml:"privateDnsName"`
	SourceDestCheck       bool                   `xml:"sourceDestCheck"`
	GroupSet              set[groupXML]          `xml:"groupSet"`
	Attachment            eniAttachmentXML       `xml:"attachment"`
	PrivateIPAddressesSet set[privateAddressXML] `xml:"privateIpAddressesSet"`
	Ipv6AddressesSet      set[struct{}]          `xml:"ipv6AddressesSet"`
	InterfaceType         string                 `xml:"interfaceType"`
}

type eniAttachmentXML struct {
	AttachmentID        string `xml:"attachmentId"`
	DeviceIndex         int    `xml:"deviceIndex"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
}

type privateAddressXML struct {
	PrivateIPAddress string `xml:"privateIpAddress"`
	PrivateDNSName   string `xml:"privateDnsName"`
	Primary          bool   `xml:"primary"`
}

type cpuOptionsXML struct {
	CoreCount      int `xml:"coreCount"`
	ThreadsPerCore int `xml:"threadsPerCore"`
}

type capacityReservationXML struct {
	Preference string `xml:"capacityReservationPreference"`
}

type configuredXML struct {
	Configured bool `xml:"configured"`
}

type enabledXML struct {
	Enabled bool `xml:"enabled"`
}

type metadataOptionsXML struct {
	State                   string `xml:"state"`
	HTTPTokens              string `xml:"httpTokens"`
	HTTPPutResponseHopLimit int    `xml:"httpPutResponseHopLimit"`
	HTTPEndpoint            string `xml:"httpEndpoint"`
	HTTPProtocolIpv6        string `xml:"httpProtocolIpv6"`
	InstanceMetadataTags    string `xml:"instanceMetadataTags"`
}

type maintenanceOptionsXML struct {
	AutoRecovery string `xml:"autoRecovery"`
}

// reservationID derives the reservation of an instance: berth launches
// each instance in a reservation of its own.
func reservationID(in *compute.Instance) string {
	if in.Reservation != "" {
		return in.Reservation
	}
	return derivedID("r", in.ID)
}

// derivedID is the stable ID of a resource that belongs to an instance
// (its reservation, volume, network interface): prefix-17 hex digits.
func derivedID(prefix, instanceID string) string { return vpc.ID(prefix, prefix, instanceID) }

// instanceToXML renders an instance as DescribeInstances shows it. A
// terminated instance has lost its network interface, address, security
// groups and volumes, as on EC2; its tags, type and zone remain.
func (h *Handler) instanceToXML(in *compute.Instance) instanceXML {
	launch := in.LaunchTime.UTC().Format(ec2Time)
	t, ok := instancetypes.Lookup(in.Type)
	if !ok { // compute launches only catalog types; this is a stale record
		t = instancetypes.Type{Name: in.Type, VCPUs: 2, Architecture: instancetypes.X8664}
	}
	vcpu := instanceTypeToXML(t).VCPUInfo
	boot := "uefi"
	if t.Architecture == instancetypes.X8664 {
		boot = "legacy-bios"
	}
	x := instanceXML{
		InstanceID:                       in.ID,
		ImageID:                          in.ImageID,
		State:                            stateToXML(in.State),
		PrivateDNSName:                   in.PrivateDNS,
		Reason:                           transitionReason(in),
		InstanceType:                     in.Type,
		LaunchTime:                       launch,
		Placement:                        placementXML{AvailabilityZone: in.AZ, Tenancy: "default"},
		Monitoring:                       monitoringXML{State: "disabled"},
		Architecture:                     string(t.Architecture),
		RootDeviceType:                   "ebs",
		RootDeviceName:                   "/dev/xvda",
		VirtualizationType:               "hvm",
		Hypervisor:                       "xen", // EC2 says xen for Nitro instances too
		EnaSupport:                       true,
		CPUOptions:                       cpuOptionsXML{CoreCount: vcpu.DefaultCores, ThreadsPerCore: vcpu.DefaultThreadsPerCore},
		CapacityReservationSpecification: capacityReservationXML{Preference: "open"},
		MetadataOptions: metadataOptionsXML{
			State: "applied", HTTPTokens: "required", HTTPPutResponseHopLimit: 2,
			HTTPEndpoint: "enabled", HTTPProtocolIpv6: "disabled", InstanceMetadataTags: "disabled",
		},
		MaintenanceOptions:       maintenanceOptionsXML{AutoRecovery: "default"},
		PrivateDNSNameOptions:    privateDNSOptionsXML{HostnameType: "ip-name"},
		CurrentInstanceBootMode:  boot,
		PlatformDetails:          "Linux/UNIX",
		UsageOperation:           "RunInstances",
		UsageOperationUpdateTime: launch,
	}
	if s, ok := h.cfg.Network.Subnet(in.SubnetID); ok {
		x.Placement.AvailabilityZoneID = s.AZID
	}
	if in.StateReason.Code != "" {
		x.StateReason = &reasonXML{Code: in.StateReason.Code, Message: in.StateReason.Message}
	}
	x.KeyName, x.ClientToken, x.reservation = in.KeyName, in.ClientToken, reservationID(in)
	if p := in.InstanceProfile; p != nil && in.State != compute.StateTerminated {
		x.IamInstanceProfile = &profileXML{Arn: p.ARN, ID: p.ID}
	}
	if in.CapacityType == compute.Spot {
		x.InstanceLifecycle = compute.Spot
		x.SpotInstanceRequestID = derivedID("sir", in.ID)[:len("sir-")+8]
	}
	if len(in.Tags) > 0 {
		x.TagSet = &set[tag]{}
		for _, k := range slices.Sorted(maps.Keys(in.Tags)) {
			x.TagSet.Items = append(x.TagSet.Items, tag{Key: k, Value: in.Tags[k]})
		}
	}
	if in.State == compute.StateTerminated {
		x.PrivateDNSName = ""
		return x
	}
	groups := []groupXML{{GroupID: h.cfg.Network.SecurityGroupID, GroupName: "default"}}
	check := true
	x.SubnetID, x.VpcID, x.PrivateIPAddress, x.SourceDestCheck = in.SubnetID, in.VpcID, in.PrivateIP, &check
	x.GroupSet = set[groupXML]{Items: groups}
	x.BlockDeviceMapping = set[blockDeviceXML]{Items: []blockDeviceXML{{
		DeviceName: x.RootDeviceName,
		Ebs:        ebsBlockXML{VolumeID: derivedID("vol", in.ID), Status: "attached", AttachTime: launch, DeleteOnTermination: true},
	}}}
	x.NetworkInterfaceSet = set[networkInterfaceXML]{Items: []networkInterfaceXML{{
		NetworkInterfaceID: derivedID("eni", in.ID),
		SubnetID:           in.SubnetID,
		VpcID:              in.VpcID,
		OwnerID:            h.cfg.Account,
		Status:             "in-use",
		MacAddress:         macAddress(in.ID),
		PrivateIPAddress:   in.PrivateIP,
		PrivateDNSName:     in.PrivateDNS,
		SourceDestCheck:    true,
		GroupSet:           set[groupXML]{Items: groups},
		Attachment: eniAttachmentXML{
			AttachmentID: derivedID("eni-attach", in.ID), Status: "attached", AttachTime: launch, DeleteOnTermination: true,
		},
		PrivateIPAddressesSet: set[privateAddressXML]{Items: []privateAddressXML{{
			PrivateIPAddress: in.PrivateIP, PrivateDNSName: in.PrivateDNS, Primary: true,
		}}},
		InterfaceType: "interface",
	}}}
	return x
}

func stateToXML(state string) stateXML {
	return stateXML{Code: compute.StateCodes[state], Name: state}
}

// transitionReason is EC2's free-text reason for the last state change:
// "User initiated (2006-01-02 15:04:05 GMT)" after TerminateInstances.
func transitionReason(in *compute.Instance) string {
	if in.Live() || in.StateReason.Code != userShutdown.Code {
		return ""
	}
	if in.TerminatedAt.IsZero() {
		return "User initiated"
	}
	return "User initiated (" + in.TerminatedAt.UTC().Format(time.DateTime) + " GMT)"
}

// macAddress derives a stable, locally administered MAC address.
func macAddress(instanceID string) string {
	hex := strings.TrimPrefix(derivedID("mac", instanceID), "mac-")
	parts := []string{"0e"}
	for i := 0; i < 10; i += 2 {
		parts = append(parts, hex[i:i+2])
	}
	return strings.Join(parts, ":")
}

// instanceAttr returns an instance's values for a DescribeInstances
// filter; ok is false for filter names berth does not support. Values come
// from the rendered instance, so filters see what the response shows.
func (h *Handler) instanceAttr(x instanceXML, name string) (values []string, ok bool) {
	if x.TagSet != nil {
		if v, ok := tagFilter(name, x.TagSet.Items); ok {
			return v, true
		}
	} else if isTagFilter(name) {
		return nil, true
	}
	one := func(s string) []string {
		if s == "" {
			return []string{}
		}
		return []string{s}
	}
	eni := func(f func(networkInterfaceXML) string) []string {
		out := []string{}
		for _, n := range x.NetworkInterfaceSet.Items {
			out = append(out, f(n))
		}
		return out
	}
	switch name {
	case "instance-id":
		return one(x.InstanceID), true
	case "image-id":
		return one(x.ImageID), true
	case "instance-state-name":
		return one(x.State.Name), true
	case "instance-state-code":
		return []string{strconv.Itoa(x.State.Code)}, true
	case "instance-type":
		return one(x.InstanceType), true
	case "availability-zone":
		return one(x.Placement.AvailabilityZone), true
	case "availability-zone-id":
		return one(x.Placement.AvailabilityZoneID), true
	case "subnet-id":
		return one(x.SubnetID), true
	case "vpc-id":
		return one(x.VpcID), true
	case "private-ip-address":
		return one(x.PrivateIPAddress), true
	case "private-dns-name":
		return one(x.PrivateDNSName), true
	case "dns-name":
		return one(x.DNSName), true
	case "instance-lifecycle":
		return one(x.InstanceLifecycle), true
	case "spot-instance-request-id":
		return one(x.SpotInstanceRequestID), true
	case "architecture":
		return one(x.Architecture), true
	case "reservation-id":
		return []string{x.reservation}, true
	case "owner-id":
		return []string{h.cfg.Account}, true
	case "launch-time":
		return one(x.LaunchTime), true
	case "hypervisor":
		return one(x.Hypervisor), true
	case "virtualization-type":
		return one(x.VirtualizationType), true
	case "root-device-type":
		return one(x.RootDeviceType), true
	case "root-device-name":
		return one(x.RootDeviceName), true
	case "tenancy":
		return one(x.Placement.Tenancy), true
	case "monitoring-state":
		return one(x.Monitoring.State), true
	case "reason":
		return one(x.Reason), true
	case "state-reason-code":
		if x.StateReason == nil {
			return []string{}, true
		}
		return one(x.StateReason.Code), true
	case "state-reason-message":
		if x.StateReason == nil {
			return []string{}, true
		}
		return one(x.StateReason.Message), true
	case "platform-details":
		return one(x.PlatformDetails), true
	case "instance.group-id", "group-id":
		out := []string{}
		for _, g := range x.GroupSet.Items {
			out = append(out, g.GroupID)
		}
		return out, true
	case "instance.group-name", "group-name":
		out := []string{}
		for _, g := range x.GroupSet.Items {
			out = append(out, g.GroupName)
		}
		return out, true
	case "block-device-mapping.volume-id":
		out := []string{}
		for _, b := range x.BlockDeviceMapping.Items {
			out = append(out, b.Ebs.VolumeID)
		}
		return out, true
	case "network-interface.network-interface-id":
		return eni(func(n networkInterfaceXML) string { return n.NetworkInterfaceID }), true
	case "network-interface.mac-address":
		return eni(func(n networkInterfaceXML) string { return n.MacAddress }), true
	case "network-interface.subnet-id":
		return eni(func(n networkInterfaceXML) string { return n.SubnetID }), true
	case "network-interface.vpc-id":
		return eni(func(n networkInterfaceXML) string { return n.VpcID }), true
	case "network-interface.private-dns-name":
		return eni(func(n networkInterfaceXML) string { return n.PrivateDNSName }), true
	case "network-interface.addresses.private-ip-address":
		return eni(func(n networkInterfaceXML) string { return n.PrivateIPAddress }), true
	}
	return nil, false
}

// instanceIDs reads InstanceId.N: distinct, in request order, each well
// formed.
func (c *call) instanceIDs() ([]string, error) {
	ids, err := c.List("InstanceId")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		if !instanceIDRE.MatchString(id) {
			return nil, queryapi.Errorf("InvalidInstanceID.Malformed", "Invalid id: %q", id)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// instances lists every instance berth knows, by launch time.
func (h *Handler) instances(ctx context.Context) ([]*compute.Instance, error) {
	if h.cfg.Instances == nil {
		return nil, nil
	}
	return h.cfg.Instances.Instances(ctx)
}

// missingInstances returns the ids among ids that name no instance.
func missingInstances(all []*compute.Instance, ids []string) []string {
	var missing []string
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(in *compute.Instance) bool { return in.ID == id }) {
			missing = append(missing, id)
		}
	}
	return missing
}

func (h *Handler) describeInstances(ctx context.Context, c *call) (any, error) {
	ids, err := c.instanceIDs()
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 && c.Get("MaxResults") != "" {
		return nil, queryapi.Errorf("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	filters, err := c.filters(func(name string) bool {
		_, ok := h.instanceAttr(instanceXML{}, name)
		return ok
	})
	if err != nil {
		return nil, err
	}
	all, err := h.instances(ctx)
	if err != nil {
		return nil, err
	}
	if missing := missingInstances(all, ids); len(missing) > 0 {
		return nil, notFound("InvalidInstanceID.NotFound", "instance ID", missing)
	}
	// Instances one RunInstances call launched share their reservation.
	var out []reservationXML
	index := map[string]int{}
	for _, in := range all {
		if len(ids) > 0 && !slices.Contains(ids, in.ID) {
			continue
		}
		x := h.instanceToXML(in)
		if !matches(func(name string) []string { v, _ := h.instanceAttr(x, name); return v }, filters) {
			continue
		}
		if i, ok := index[x.reservation]; ok {
			out[i].Instances.Items = append(out[i].Instances.Items, x)
			continue
		}
		index[x.reservation] = len(out)
		out = append(out, reservationXML{
			ReservationID: x.reservation,
			OwnerID:       h.cfg.Account,
			Instances:     set[instanceXML]{Items: []instanceXML{x}},
		})
	}
	from, to, next, err := c.paginate(page{min: 5, max: 1000}, len(out))
	if err != nil {
		return nil, err
	}
	return &describeInstancesResponse{Reservations: set[reservationXML]{Items: out[from:to]}, NextToken: next}, nil
}

type terminateInstancesResponse struct {
	XMLName xml.Name `xml:"TerminateInstancesResponse"`
	queryapi.EC2Header
	Instances set[stateChangeXML] `xml:"instancesSet"`
}

type stateChangeXML struct {
	InstanceID    string   `xml:"instanceId"`
	CurrentState  stateXML `xml:"currentState"`
	PreviousState stateXML `xml:"previousState"`
}

// terminateInstances moves the named instances to shutting-down; the
// compute controllers stop their nodes and finish the termination.
// Instances already ending are reported unchanged.
func (h *Handler) terminateInstances(ctx context.Context, c *call) (any, error) {
	ids, err := c.instanceIDs()
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, queryapi.Errorf("MissingParameter", "The request must contain the parameter InstanceId.")
	}
	all, err := h.instances(ctx)
	if err != nil {
		return nil, err
	}
	if missing := missingInstances(all, ids); len(missing) > 0 {
		return nil, notFound("InvalidInstanceID.NotFound", "instance ID", missing)
	}
	changes, err := h.cfg.Instances.Terminate(ctx, ids, userShutdown)
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		// Forgotten between the check and the call.
		e, _ := apierror.As(err)
		return nil, queryapi.Errorf("InvalidInstanceID.NotFound", "%s", e.Message)
	}
	if err != nil {
		return nil, err
	}
	out := make([]stateChangeXML, 0, len(changes))
	for _, ch := range changes {
		out = append(out, stateChangeXML{
			InstanceID:    ch.ID,
			CurrentState:  stateToXML(ch.Current),
			PreviousState: stateToXML(ch.Previous),
		})
	}
	return &terminateInstancesResponse{Instances: set[stateChangeXML]{Items: out}}, nil
}
