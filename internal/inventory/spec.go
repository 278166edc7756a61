package inventory

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// The group spec as InfraKit's default group plugin reads it. Field order is
// the order the spec command prints.

type groupSpec struct {
	ID         string
	Properties groupProperties
}

type groupProperties struct {
	Allocation struct{ Size uint }
	Instance   struct {
		Plugin     string
		Properties instanceProperties
	}
	Flavor struct {
		Plugin     string
		Properties vanillaProperties
	}
}

// instanceProperties is the part of this plugin's instance properties the
// spec command fills in.
type instanceProperties struct {
	RunInstances runInstances
	Tags         map[string]string
}

type runInstances struct {
	ImageId         string
	InstanceType    string
	VSwitchId       string
	SecurityGroupId string
	KeyPairName     string `json:",omitempty"`
	SpotStrategy    string `json:",omitempty"`
}

type vanillaProperties struct {
	Init []string
}

const (
	instancePluginName = "instance-aliyun"
	flavorPluginName   = "flavor-vanilla"
	spotStrategy       = "SpotAsPriceGo"
)

// specOptions are the spec command's flags.
type specOptions struct {
	group, image, instanceType, vswitch, securityGroup, keyPair string
	size                                                        uint
	spot                                                        bool
}

// build returns the group spec, or an error naming every required flag that
// is missing.
func (o specOptions) build() (groupSpec, error) {
	var missing []string
	for _, f := range []struct{ flag, value string }{
		{"--image", o.image},
		{"--type", o.instanceType},
		{"--vswitch", o.vswitch},
		{"--sg", o.securityGroup},
		{"--name", o.group},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return groupSpec{}, fmt.Errorf("missing required flag(s): %s (list candidates with the images, instance-types, vswitches and security-groups commands)",
			strings.Join(missing, ", "))
	}
	s := groupSpec{ID: o.group}
	p := &s.Properties
	p.Allocation.Size = o.size
	p.Instance.Plugin = instancePluginName
	p.Instance.Properties = instanceProperties{
		RunInstances: runInstances{
			ImageId:         o.image,
			InstanceType:    o.instanceType,
			VSwitchId:       o.vswitch,
			SecurityGroupId: o.securityGroup,
			KeyPairName:     o.keyPair,
		},
		Tags: map[string]string{},
	}
	if o.spot {
		p.Instance.Properties.RunInstances.SpotStrategy = spotStrategy
	}
	p.Flavor.Plugin = flavorPluginName
	p.Flavor.Properties.Init = []string{"#!/bin/sh", "echo hello"}
	return s, nil
}

func specCommand() *cobra.Command {
	var o specOptions
	cmd := &cobra.Command{
		Use:   "spec --image ID --type TYPE --vswitch ID --sg ID [--size N] [--name GROUP]",
		Short: "Print a group spec for this plugin, ready for infrakit group commit",
		Long: `Print a group spec for this plugin, ready for "infrakit group commit".
No API call is made; check the result with "validate --online".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.build()
			if err != nil {
				return err
			}
			cmd.SilenceUsage = true
			b, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				return err
			}
			// Catch a drift between this command and the plugin's schema here
			// rather than at commit time.
			if err := checkGroupSpec(b); err != nil {
				return fmt.Errorf("generated spec does not validate: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "", "image ID (required; see images)")
	f.StringVar(&o.instanceType, "type", "", "instance type (required; see instance-types --available)")
	f.StringVar(&o.vswitch, "vswitch", "", "vswitch ID, which picks the VPC and zone (required; see vswitches)")
	f.StringVar(&o.securityGroup, "sg", "", "security group ID, in the vswitch's VPC (required; see security-groups)")
	f.UintVar(&o.size, "size", 1, "number of instances in the group")
	f.StringVar(&o.group, "name", "workers", "group ID")
	f.StringVar(&o.keyPair, "key-pair", "", "SSH key pair name (see key-pairs)")
	f.BoolVar(&o.spot, "spot", false, "use preemptible instances (SpotStrategy "+spotStrategy+")")
	return cmd
}
