package ec2api

import (
	"encoding/xml"
	"slices"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/queryapi"
)

type describeInstanceTypesResponse struct {
	XMLName xml.Name `xml:"DescribeInstanceTypesResponse"`
	queryapi.EC2Header
	InstanceTypes set[instanceTypeXML] `xml:"instanceTypeSet"`
	NextToken     string               `xml:"nextToken,omitempty"`
}

type instanceTypeXML struct {
	InstanceType                  string            `xml:"instanceType"`
	CurrentGeneration             bool              `xml:"currentGeneration"`
	SupportedUsageClasses         set[string]       `xml:"supportedUsageClasses"`
	SupportedRootDeviceTypes      set[string]       `xml:"supportedRootDeviceTypes"`
	SupportedVirtualizationTypes  set[string]       `xml:"supportedVirtualizationTypes"`
	BareMetal                     bool              `xml:"bareMetal"`
	Hypervisor                    string            `xml:"hypervisor,omitempty"`
	ProcessorInfo                 processorInfoXML  `xml:"processorInfo"`
	VCPUInfo                      vcpuInfoXML       `xml:"vCpuInfo"`
	MemoryInfo                    memoryInfoXML     `xml:"memoryInfo"`
	InstanceStorageSupported      bool              `xml:"instanceStorageSupported"`
	EbsInfo                       ebsInfoXML        `xml:"ebsInfo"`
	NetworkInfo                   networkInfoXML    `xml:"networkInfo"`
	PlacementGroupInfo            placementGroupXML `xml:"placementGroupInfo"`
	BurstablePerformanceSupported bool              `xml:"burstablePerformanceSupported"`
	SupportedBootModes            set[string]       `xml:"supportedBootModes"`
}

type processorInfoXML struct {
	SupportedArchitectures set[string] `xml:"supportedArchitectures"`
	Manufacturer           string      `xml:"manufacturer"`
}

type vcpuInfoXML struct {
	DefaultVCPUs          int `xml:"defaultVCpus"`
	DefaultCores          int `xml:"defaultCores"`
	DefaultThreadsPerCore int `xml:"defaultThreadsPerCore"`
}

type memoryInfoXML struct {
	SizeInMiB int64 `xml:"sizeInMiB"`
}

type ebsInfoXML struct {
	EbsOptimizedSupport string `xml:"ebsOptimizedSupport"`
	EncryptionSupport   string `xml:"encryptionSupport"`
	NvmeSupport         string `xml:"nvmeSupport"`
}

type networkInfoXML struct {
	NetworkPerformance        string              `xml:"networkPerformance"`
	MaximumNetworkInterfaces  int                 `xml:"maximumNetworkInterfaces"`
	MaximumNetworkCards       int                 `xml:"maximumNetworkCards"`
	DefaultNetworkCardIndex   int                 `xml:"defaultNetworkCardIndex"`
	NetworkCards              set[networkCardXML] `xml:"networkCards"`
	IPv4AddressesPerInterface int                 `xml:"ipv4AddressesPerInterface"`
	IPv6AddressesPerInterface int                 `xml:"ipv6AddressesPerInterface"`
	IPv6Supported             bool                `xml:"ipv6Supported"`
	EnaSupport                string              `xml:"enaSupport"`
	EfaSupported              bool                `xml:"efaSupported"`
}

type networkCardXML struct {
	NetworkCardIndex         int    `xml:"networkCardIndex"`
	NetworkPerformance       string `xml:"networkPerformance"`
	MaximumNetworkInterfaces int    `xml:"maximumNetworkInterfaces"`
}

type placementGroupXML struct {
	SupportedStrategies set[string] `xml:"supportedStrategies"`
}

// instanceTypeToXML renders a catalog entry. Figures the catalog does not
// hold are what EC2 reports for every nitro type of these families: EBS
// root devices, hvm, one network card, ENA required, NVMe EBS.
func instanceTypeToXML(t instancetypes.Type) instanceTypeXML {
	cores, threads := t.VCPUs, 1
	manufacturer := "AWS"
	boot := []string{"uefi"}
	if t.Architecture == instancetypes.X8664 {
		cores, threads = max(t.VCPUs/2, 1), 2
		manufacturer = "Intel"
		boot = []string{"legacy-bios", "uefi"}
	}
	strategies := []string{"cluster", "partition", "spread"}
	if t.Burstable {
		strategies = []string{"partition", "spread"}
	}
	return instanceTypeXML{
		InstanceType:                 t.Name,
		CurrentGeneration:            t.CurrentGeneration,
		SupportedUsageClasses:        set[string]{Items: t.UsageClasses},
		SupportedRootDeviceTypes:     set[string]{Items: []string{"ebs"}},
		SupportedVirtualizationTypes: set[string]{Items: []string{"hvm"}},
		BareMetal:                    t.BareMetal,
		Hypervisor:                   t.Hypervisor,
		ProcessorInfo: processorInfoXML{
			SupportedArchitectures: set[string]{Items: []string{string(t.Architecture)}},
			Manufacturer:           manufacturer,
		},
		VCPUInfo:   vcpuInfoXML{DefaultVCPUs: t.VCPUs, DefaultCores: cores, DefaultThreadsPerCore: threads},
		MemoryInfo: memoryInfoXML{SizeInMiB: t.MemoryMiB},
		EbsInfo:    ebsInfoXML{EbsOptimizedSupport: "default", EncryptionSupport: "supported", NvmeSupport: "required"},
		NetworkInfo: networkInfoXML{
			NetworkPerformance:       t.NetworkPerformance,
			MaximumNetworkInterfaces: t.MaxENIs,
			MaximumNetworkCards:      1,
			NetworkCards: set[networkCardXML]{Items: []networkCardXML{{
				NetworkPerformance:       t.NetworkPerformance,
				MaximumNetworkInterfaces: t.MaxENIs,
			}}},
			IPv4AddressesPerInterface: t.IPv4PerENI,
			IPv6AddressesPerInterface: t.IPv4PerENI,
			IPv6Supported:             true,
			EnaSupport:                "required",
		},
		PlacementGroupInfo:            placementGroupXML{SupportedStrategies: set[string]{Items: strategies}},
		BurstablePerformanceSupported: t.Burstable,
		SupportedBootModes:            set[string]{Items: boot},
	}
}

// instanceTypeAttr returns a type's values for a filter name (never nil),
// nil for names berth does not support.
func instanceTypeAttr(t instanceTypeXML, name string) []string {
	b := strconv.FormatBool
	n := t.NetworkInfo
	switch name {
	case "instance-type":
		return []string{t.InstanceType}
	case "current-generation":
		return []string{b(t.CurrentGeneration)}
	case "bare-metal":
		return []string{b(t.BareMetal)}
	case "burstable-performance-supported":
		return []string{b(t.BurstablePerformanceSupported)}
	case "hypervisor":
		return []string{t.Hypervisor}
	case "supported-usage-class":
		return append([]string{}, t.SupportedUsageClasses.Items...)
	case "supported-root-device-type":
		return append([]string{}, t.SupportedRootDeviceTypes.Items...)
	case "supported-virtualization-type":
		return append([]string{}, t.SupportedVirtualizationTypes.Items...)
	case "supported-boot-mode":
		return append([]string{}, t.SupportedBootModes.Items...)
	case "instance-storage-supported":
		return []string{b(t.InstanceStorageSupported)}
	case "processor-info.supported-architecture":
		return append([]string{}, t.ProcessorInfo.SupportedArchitectures.Items...)
	case "processor-info.manufacturer":
		return []string{t.ProcessorInfo.Manufacturer}
	case "vcpu-info.default-vcpus":
		return []string{strconv.Itoa(t.VCPUInfo.DefaultVCPUs)}
	case "vcpu-info.default-cores":
		return []string{strconv.Itoa(t.VCPUInfo.DefaultCores)}
	case "vcpu-info.default-threads-per-core":
		return []string{strconv.Itoa(t.VCPUInfo.DefaultThreadsPerCore)}
	case "memory-info.size-in-mib":
		return []string{strconv.FormatInt(t.MemoryInfo.SizeInMiB, 10)}
	case "network-info.network-performance":
		return []string{n.NetworkPerformance}
	case "network-info.maximum-network-interfaces":
		return []string{strconv.Itoa(n.MaximumNetworkInterfaces)}
	case "network-info.maximum-network-cards":
		return []string{strconv.Itoa(n.MaximumNetworkCards)}
	case "network-info.ipv4-addresses-per-interface":
		return []string{strconv.Itoa(n.IPv4AddressesPerInterface)}
	case "network-info.ipv6-addresses-per-interface":
		return []string{strconv.Itoa(n.IPv6AddressesPerInterface)}
	case "network-info.ipv6-supported":
		return []string{b(n.IPv6Supported)}
	case "network-info.ena-support":
		return []string{n.EnaSupport}
	case "network-info.efa-supported":
		return []string{b(n.EfaSupported)}
	case "ebs-info.ebs-optimized-support":
		return []string{t.EbsInfo.EbsOptimizedSupport}
	case "ebs-info.encryption-support":
		return []string{t.EbsInfo.EncryptionSupport}
	case "ebs-info.nvme-support":
		return []string{t.EbsInfo.NvmeSupport}
	case "placement-group-info.supported-strategies":
		return append([]string{}, t.PlacementGroupInfo.SupportedStrategies.Items...)
	}
	return nil
}

func (h *Handler) describeInstanceTypes(c *call) (any, error) {
	if _, err := c.flag("IncludeUnsupportedInRegion"); err != nil {
		return nil, err
	}
	names, err := c.List("InstanceType")
	if err != nil {
		return nil, err
	}
	var unknown []string
	for _, n := range names {
		if !slices.ContainsFunc(h.cfg.InstanceTypes, func(t instancetypes.Type) bool { return t.Name == n }) {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, queryapi.Errorf("InvalidInstanceType", "The following supplied instance types do not exist: [%s]", strings.Join(unknown, ", "))
	}
	var probe instanceTypeXML
	filters, err := c.filters(func(name string) bool { return instanceTypeAttr(probe, name) != nil })
	if err != nil {
		return nil, err
	}
	var out []instanceTypeXML
	for _, t := range h.cfg.InstanceTypes {
		if len(names) > 0 && !slices.Contains(names, t.Name) {
			continue
		}
		x := instanceTypeToXML(t)
		if matches(func(name string) []string { return instanceTypeAttr(x, name) }, filters) {
			out = append(out, x)
		}
	}
	from, to, next, err := c.paginate(page{min: 5, max: 100, def: 100}, len(out))
	if err != nil {
		return nil, err
	}
	return &describeInstanceTypesResponse{InstanceTypes: set[instanceTypeXML]{Items: out[from:to]}, NextToken: next}, nil
}
