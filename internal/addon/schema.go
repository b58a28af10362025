package addon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// configurationError is how EKS starts every refusal of
// configurationValues.
const configurationError = "ConfigurationValue provided in request is not supported: "

// schema is the part of JSON Schema the add-on schemas use: types (one or
// a list), properties, additionalProperties (false or a schema), items,
// enum, minimum and maximum.
type schema struct {
	Type                 typeList           `json:"type"`
	Properties           map[string]*schema `json:"properties"`
	AdditionalProperties *additional        `json:"additionalProperties"`
	Items                *schema            `json:"items"`
	Enum                 []any              `json:"enum"`
	Minimum              *json.Number       `json:"minimum"`
	Maximum              *json.Number       `json:"maximum"`
}

// typeList is "type": a name or a list of names.
type typeList []string

func (t *typeList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = typeList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*t = many
	return nil
}

// additional is "additionalProperties": false forbids other properties,
// true or absent allows any, a schema checks them.
type additional struct {
	forbidden bool
	schema    *schema
}

func (a *additional) UnmarshalJSON(b []byte) error {
	var allowed bool
	if err := json.Unmarshal(b, &allowed); err == nil {
		a.forbidden = !allowed
		return nil
	}
	a.schema = new(schema)
	return json.Unmarshal(b, a.schema)
}

func parseSchema(raw string) (*schema, error) {
	s := new(schema)
	if err := json.Unmarshal([]byte(raw), s); err != nil {
		return nil, fmt.Errorf("parsing add-on configuration schema: %w", err)
	}
	return s, nil
}

// compactSchema is a schema as DescribeAddonConfiguration returns it: one
// line of JSON.
func compactSchema(raw string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(raw)); err != nil {
		return raw
	}
	return b.String()
}

// validateConfiguration checks configurationValues, JSON or YAML, against
// an add-on's schema; "" is no configuration. The errors are EKS's
// InvalidParameterException, with the schema violations listed as EKS's
// validator words them ("$.podAnnotations: is not defined in the schema
// and the schema does not allow additional properties").
func validateConfiguration(values, rawSchema string) error {
	if strings.TrimSpace(values) == "" {
		return nil
	}
	js, err := yaml.YAMLToJSON([]byte(values))
	if err != nil {
		return invalid("%sthe value is neither valid JSON nor valid YAML: %v", configurationError, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return invalid("%sthe value is neither valid JSON nor valid YAML: %v", configurationError, err)
	}
	s, err := parseSchema(rawSchema)
	if err != nil {
		return err
	}
	var errs []string
	s.check("$", v, &errs)
	if len(errs) > 0 {
		return invalid("%sJson schema validation failed with error: [%s]", configurationError, strings.Join(errs, ", "))
	}
	return nil
}

// kindOf names the JSON type of a decoded value.
func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// check appends the violations of v against s, at path.
func (s *schema) check(path string, v any, errs *[]string) {
	if len(s.Type) > 0 {
		kind := kindOf(v)
		ok := slices.Contains(s.Type, kind) || kind == "integer" && slices.Contains(s.Type, "number")
		if !ok {
			want := s.Type[0]
			if len(s.Type) > 1 {
				want = "[" + strings.Join(s.Type, ", ") + "]"
			}
			*errs = append(*errs, fmt.Sprintf("%s: %s found, %s expected", path, kind, want))
			return
		}
	}
	if len(s.Enum) > 0 && !slices.ContainsFunc(s.Enum, func(e any) bool { return sameJSON(e, v) }) {
		names := make([]string, len(s.Enum))
		for i, e := range s.Enum {
			names[i] = fmt.Sprint(e)
		}
		*errs = append(*errs, fmt.Sprintf("%s: does not have a value in the enumeration [%s]", path, strings.Join(names, ", ")))
	}
	switch v := v.(type) {
	case json.Number:
		n, ok := new(big.Float).SetString(v.String())
		if !ok {
			return
		}
		if s.Minimum != nil {
			if lo, ok := new(big.Float).SetString(s.Minimum.String()); ok && n.Cmp(lo) < 0 {
				*errs = append(*errs, fmt.Sprintf("%s: must have a minimum value of %s", path, s.Minimum))
			}
		}
		if s.Maximum != nil {
			if hi, ok := new(big.Float).SetString(s.Maximum.String()); ok && n.Cmp(hi) > 0 {
				*errs = append(*errs, fmt.Sprintf("%s: must have a maximum value of %s", path, s.Maximum))
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			at := path + "." + k
			if p, ok := s.Properties[k]; ok {
				p.check(at, v[k], errs)
				continue
			}
			switch a := s.AdditionalProperties; {
			case a == nil:
			case a.forbidden:
				*errs = append(*errs, at+": is not defined in the schema and the schema does not allow additional properties")
			case a.schema != nil:
				a.schema.check(at, v[k], errs)
			}
		}
	case []any:
		if s.Items != nil {
			for i, item := range v {
				s.Items.check(fmt.Sprintf("%s[%d]", path, i), item, errs)
			}
		}
	}
}

// sameJSON reports whether two decoded values are the same JSON value
// (the string "true" is not the boolean true).
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// The configuration schemas of the catalog's add-ons. They follow the
// shape of the schemas EKS publishes for them (draft 2019-09, no other
// top-level keys allowed) with their commonly used keys; the real
// schemas have more, and tighter, members.

const ebsSchema = `{
  "$schema": "https://json-schema.org/draft/2019-09/schema",
  "description": "Configurable parameters of the AWS EBS CSI Driver",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "controller": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "additionalArgs": {"type": "array", "items": {"type": "string"}},
        "affinity": {"type": ["object", "null"]},
        "defaultFsType": {"type": "string", "enum": ["ext2", "ext3", "ext4", "xfs"]},
        "extraVolumeTags": {"type": "object", "description": "Additional tags to be added to all EBS volumes", "additionalProperties": {"type": "string"}},
        "loggingFormat": {"type": "string", "enum": ["text", "json"]},
        "nodeSelector": {"type": ["object", "null"]},
        "podAnnotations": {"type": ["object", "null"]},
        "podLabels": {"type": ["object", "null"]},
        "podDisruptionBudget": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "enabled": {"type": "boolean"},
            "unhealthyPodEvictionPolicy": {"type": "string", "enum": ["IfHealthyBudget", "AlwaysAllow"]}
          }
        },
        "replicaCount": {"type": "integer", "minimum": 1},
        "resources": {"type": ["object", "null"]},
        "tolerations": {"type": ["array", "null"]},
        "topologySpreadConstraints": {"type": ["array", "null"]},
        "volumeModificationFeature": {"type": "object", "additionalProperties": false, "properties": {"enabled": {"type": "boolean"}}}
      }
    },
    "node": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "additionalArgs": {"type": "array", "items": {"type": "string"}},
        "affinity": {"type": ["object", "null"]},
        "enableWindows": {"type": "boolean"},
        "loggingFormat": {"type": "string", "enum": ["text", "json"]},
        "nodeSelector": {"type": ["object", "null"]},
        "podAnnotations": {"type": ["object", "null"]},
        "podLabels": {"type": ["object", "null"]},
        "resources": {"type": ["object", "null"]},
        "tolerateAllTaints": {"type": "boolean", "description": "Node pods will tolerate all taints"},
        "tolerations": {"type": ["array", "null"]},
        "volumeAttachLimit": {"type": ["integer", "null"], "minimum": 1, "description": "Overrides the maximum number of volumes that can be attached per node"}
      }
    },
    "defaultStorageClass": {"type": "object", "additionalProperties": false, "properties": {"enabled": {"type": "boolean"}}},
    "sidecars": {"type": "object"},
    "storageClasses": {"type": "array", "items": {"type": "object"}},
    "volumeSnapshotClasses": {"type": "array", "items": {"type": "object"}}
  }
}`

const efsSchema = `{
  "$schema": "https://json-schema.org/draft/2019-09/schema",
  "description": "Configurable parameters for the aws-efs-csi-driver",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "controller": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "affinity": {"type": ["object", "null"]},
        "deleteAccessPointRootDir": {"type": "boolean"},
        "logLevel": {"type": "integer", "minimum": 0},
        "nodeSelector": {"type": ["object", "null"]},
        "podAnnotations": {"type": ["object", "null"]},
        "podLabels": {"type": ["object", "null"]},
        "regionalStsEndpoints": {"type": "boolean"},
        "resources": {"type": ["object", "null"]},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "tolerations": {"type": ["array", "null"]}
      }
    },
    "node": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "affinity": {"type": ["object", "null"]},
        "logLevel": {"type": "integer", "minimum": 0},
        "nodeSelector": {"type": ["object", "null"]},
        "podAnnotations": {"type": ["object", "null"]},
        "podLabels": {"type": ["object", "null"]},
        "resources": {"type": ["object", "null"]},
        "tolerateAllTaints": {"type": "boolean"},
        "tolerations": {"type": ["array", "null"]},
        "volMetricsOptIn": {"type": "boolean"}
      }
    },
    "replicaCount": {"type": "integer", "minimum": 1, "description": "The number of replicas for the CSI controller service"},
    "sidecars": {"type": "object"},
    "useFIPS": {"type": "boolean"}
  }
}`

const fsxSchema = `{
  "$schema": "https://json-schema.org/draft/2019-09/schema",
  "description": "Configurable parameters for the aws-fsx-csi-driver",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "controller": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "affinity": {"type": ["object", "null"]},
        "logLevel": {"type": "integer", "minimum": 0},
        "nodeSelector": {"type": ["object", "null"]},
        "podAnnotations": {"type": ["object", "null"]},
        "podLabels": {"type": ["object", "null"]},
        "replicaCount": {"type": "integer", "minimum": 1},
        "resources": {"type": ["object", "null"]},
        "tolerations": {"type": ["array", "null"]}
      }
    },
    "node": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "affinity": {"type": ["object", "null"]},
        "logLevel": {"type": "integer", "minimum": 0},
        "nodeSelector": {"type": ["object", "null"]},
        "podAnnotations": {"type": ["object", "null"]},
        "resources": {"type": ["object", "null"]},
        "tolerateAllTaints": {"type": "boolean"},
        "tolerations": {"type": ["array", "null"]}
      }
    },
    "sidecars": {"type": "object"}
  }
}`

const corednsSchema = `{
  "$schema": "https://json-schema.org/draft/2019-09/schema",
  "description": "Configurable parameters of CoreDNS",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "affinity": {"type": ["object", "null"]},
    "autoScaling": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "enabled": {"type": "boolean"},
        "minReplicas": {"type": "integer", "minimum": 2},
        "maxReplicas": {"type": "integer", "minimum": 2}
      }
    },
    "computeType": {"type": "string"},
    "corefile": {"type": "string", "description": "Entire corefile contents to use with installation"},
    "nodeSelector": {"type": ["object", "null"]},
    "podAnnotations": {"type": ["object", "null"]},
    "podDisruptionBudget": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "enabled": {"type": "boolean"},
        "maxUnavailable": {"type": ["integer", "string"]},
        "minAvailable": {"type": ["integer", "string"]}
      }
    },
    "podLabels": {"type": ["object", "null"]},
    "replicaCount": {"type": "integer", "minimum": 1},
    "resources": {"type": ["object", "null"]},
    "tolerations": {"type": ["array", "null"]},
    "topologySpreadConstraints": {"type": ["array", "null"]}
  }
}`

const kubeProxySchema = `{
  "$schema": "https://json-schema.org/draft/2019-09/schema",
  "description": "Configurable parameters of kube-proxy",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "ipvs": {"type": "object", "additionalProperties": false, "properties": {"scheduler": {"type": "string"}}},
    "mode": {"type": "string", "enum": ["iptables", "ipvs", "nftables"]},
    "podAnnotations": {"type": ["object", "null"]},
    "podLabels": {"type": ["object", "null"]},
    "resources": {"type": ["object", "null"]}
  }
}`

const vpcCNISchema = `{
  "$schema": "https://json-schema.org/draft/2019-09/schema",
  "description": "Configurable parameters of the Amazon VPC CNI plugin",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "affinity": {"type": ["object", "null"]},
    "enableNetworkPolicy": {"type": "string", "enum": ["true", "false"]},
    "enableWindowsIpam": {"type": "string", "enum": ["true", "false"]},
    "enableWindowsPrefixDelegation": {"type": "string", "enum": ["true", "false"]},
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "eniConfig": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "create": {"type": "boolean"},
        "region": {"type": "string"},
        "subnets": {"type": "object"}
      }
    },
    "init": {"type": "object", "additionalProperties": false, "properties": {"env": {"type": "object", "additionalProperties": {"type": "string"}}}},
    "livenessProbeTimeoutSeconds": {"type": "integer", "minimum": 1},
    "nodeAgent": {"type": "object"},
    "podAnnotations": {"type": ["object", "null"]},
    "podLabels": {"type": ["object", "null"]},
    "readinessProbeTimeoutSeconds": {"type": "integer", "minimum": 1},
    "resources": {"type": ["object", "null"]},
    "tolerations": {"type": ["array", "null"]}
  }
}`

const podIdentityAgentSchema = `{
  "$schema": "https://json-schema.org/draft/2019-09/schema",
  "description": "Configurable parameters of the EKS Pod Identity Agent",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "affinity": {"type": ["object", "null"]},
    "agent": {"type": "object", "additionalProperties": false, "properties": {"additionalArgs": {"type": ["object", "null"]}}},
    "daemonsets": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "hybrid": {"type": "object", "additionalProperties": false, "properties": {"create": {"type": "boolean"}}},
        "hybrid-bottlerocket": {"type": "object", "additionalProperties": false, "properties": {"create": {"type": "boolean"}}}
      }
    },
    "podAnnotations": {"type": ["object", "null"]},
    "priorityClassName": {"type": "string"},
    "resources": {"type": ["object", "null"]},
    "tolerations": {"type": ["array", "null"]},
    "updateStrategy": {"type": ["object", "null"]}
  }
}`
