package daemon

import (
	"fmt"

	"github.com/Sirupsen/logrus"
	"github.com/spf13/cobra"
)

// The original aliyun plugin (github.com/AliyunContainerService/infrakit.aliyun,
// built for InfraKit v0.3/v0.4) took --region, --access-key-id,
// --access-key-secret, --name, --namespace-tags, --log and --private-ip,
// and its README names --session-token. Its users switch binaries without
// editing their command lines:
//   - --region, --access-key-id, --access-key-secret, --name, --log: the
//     same flags, the same meaning.
//   - --namespace-tags: the original's was a string list (repeatable, and
//     comma-separated); ours is repeatable too, each value k=v,...
//   - --session-token: the STS token, which this plugin calls
//     --security-token.
//   - --private-ip (default true): the original then reported the private IP
//     as the logical ID and never added a public IP, which is what this
//     plugin always does (LogicalID: the infrakit.logical_id tag, else the
//     primary private IP). --private-ip=false made the original give
//     classic-network instances a public IP and report it as the logical
//     ID. ECS closed the classic network to new instances and this plugin
//     creates VPC instances only, where a public IP comes from
//     RunInstances.InternetMaxBandwidthOut; so false is accepted, and a
//     warning says once why it changes nothing.

// mergeLegacyFlags folds --session-token into --security-token. Both given
// with different values is an error rather than a silent pick.
func (o *Options) mergeLegacyFlags(cmd *cobra.Command) error {
	st := cmd.Flags().Lookup("session-token")
	if st == nil || !st.Changed {
		return nil
	}
	if sec := cmd.Flags().Lookup("security-token"); sec != nil && sec.Changed && o.Cloud.SecurityToken != o.SessionToken {
		return fmt.Errorf("--session-token and --security-token: the same setting given twice with different values; give one")
	}
	o.Cloud.SecurityToken = o.SessionToken
	return nil
}

// logLegacyFlags logs, once at start-up, the original plugin's flags that no
// longer change anything. --private-ip defaults to true: false was given.
func (o *Options) logLegacyFlags(log *logrus.Logger) {
	if !o.PrivateIP {
		log.WithField("flag", "--private-ip=false").Warn("Ignored: instances are created in a VPC and get a public IP only from " +
			"RunInstances.InternetMaxBandwidthOut (the classic network, where the original plugin allocated one, is closed to new instances); " +
			"the logical ID stays the infrakit.logical_id tag, else the private IP")
	}
}
