package daemon

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/denverdino/aliyungo/common"
	"github.com/spf13/cobra"

	"infrakit.aliyun/internal/cloud"
	"infrakit.aliyun/internal/redact"
)

// errCheckFailed is returned (after the report is printed) when the check
// did not pass; the command exits 1.
var errCheckFailed = errors.New("check failed")

// checkHints tell the user what to do about the errors a first run meets.
var checkHints = map[string]string{
	"InvalidAccessKeyId.NotFound":                "the access key id does not exist: check for a typo, a deleted key, or a key of the other site (China vs international)",
	"InvalidAccessKeyId.Inactive":                "the access key is disabled in the RAM console",
	"SignatureDoesNotMatch":                      "the access key secret does not belong to the access key id",
	"IncompleteSignature":                        "the access key secret does not belong to the access key id",
	"InvalidTimeStamp.Expired":                   "this machine's clock is more than 15 minutes off: synchronise it (NTP)",
	"InvalidSecurityToken.Expired":               "the STS security token has expired: get a new one, or use a profile that refreshes it (RamRoleArn, EcsRamRole)",
	"InvalidSecurityToken.MismatchWithAccessKey": "the security token does not belong to the access key id (or a token was given with a permanent key)",
	"InvalidSecurityToken.Malformed":             "the security token is damaged (copied incompletely?)",
	"Forbidden.RAM":                              "the RAM user or role lacks permission: attach the policy in docs/ram-policy.json",
	"NoPermission":                               "the RAM user or role lacks permission: attach the policy in docs/ram-policy.json",
	"Forbidden":                                  "the RAM user or role lacks permission: attach the policy in docs/ram-policy.json",
	"InvalidRegionId.NotFound":                   "the region id is wrong: list the regions with the regions subcommand",
	"Throttling":                                 "ECS is rate limiting this account; try again shortly (the daemon retries with backoff)",
	"Throttling.User":                            "ECS is rate limiting this account; try again shortly (the daemon retries with backoff)",
}

func newCheckCommand(o *Options) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Show the credential source, region and endpoint in use, and test them with a read-only call",
		Long: `Resolves credentials, region and endpoint exactly as the daemon does, prints where each
came from (the access key id masked, secrets never), and makes one read-only call:
DescribeInstances with MaxResults=1 in the region (the permission the plugin needs most).
Exits 0 if the call succeeds, 1 otherwise.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.OutOrStdout(), o, timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 20*time.Second, "give up on the ECS call after this long")
	return cmd
}

func runCheck(w io.Writer, o *Options, timeout time.Duration) error {
	cfg, err := cloud.ResolveEnv(o.Cloud, o.cloudEnv())
	if err != nil {
		msg := redact.Text(err.Error(), o.candidateSecrets()...)
		fmt.Fprintf(w, "configuration: FAILED\n  %s\n", strings.ReplaceAll(msg, "\n", "\n  "))
		return errCheckFailed
	}
	token := "not set"
	if cfg.SecurityToken != "" {
		token = "set"
	}
	if !cfg.Expiration.IsZero() {
		token += ", expires " + cfg.Expiration.UTC().Format(time.RFC3339)
		if cfg.Temporary() {
			token += " (the daemon refreshes it before then)"
		}
	}
	fmt.Fprintf(w, "credentials:    %s\n", cfg.Source)
	fmt.Fprintf(w, "access key id:  %s\n", cloud.MaskID(cfg.AccessKeyID))
	fmt.Fprintf(w, "security token: %s\n", token)
	fmt.Fprintf(w, "region:         %s (%s)\n", cfg.Region, cfg.RegionSource)
	fmt.Fprintf(w, "endpoint:       %s (%s)\n", redact.URL(cfg.Endpoint), cfg.EndpointSource)

	client, err := cloud.NewECSClient(cfg, o.clientOptions()...)
	if err != nil {
		fmt.Fprintf(w, "DescribeInstances: FAILED: %v\n", err)
		return errCheckFailed
	}
	args := url.Values{"RegionId": {cfg.Region}, "MaxResults": {"1"}}
	var resp struct {
		RequestId string
		Instances struct{ Instance []struct{ InstanceId string } }
	}
	done := make(chan error, 1)
	go func() { done <- client.Invoke("DescribeInstances", args, &resp) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err = <-done:
	case <-t.C:
		err = fmt.Errorf("no answer after %v", timeout)
	}
	if err != nil {
		fmt.Fprintf(w, "DescribeInstances: FAILED: %s\n", describeCallError(err, append(cfg.Secrets(), o.candidateSecrets()...)))
		var ce *common.Error
		if errors.As(err, &ce) {
			if h, ok := checkHints[ce.Code]; ok {
				fmt.Fprintf(w, "  hint: %s\n", h)
			} else if strings.HasPrefix(ce.Code, "Forbidden") {
				fmt.Fprintf(w, "  hint: %s\n", checkHints["Forbidden"])
			}
		}
		fmt.Fprintln(w, "  see docs/troubleshooting.md")
		return errCheckFailed
	}
	fmt.Fprintf(w, "DescribeInstances: OK (RequestId %s)\n", resp.RequestId)
	return nil
}

// describeCallError renders an aliyungo error as code, status and request
// id, and the message without anything secret (redact.Text drops the string
// to sign a SignatureDoesNotMatch message quotes, and signed URLs' queries).
func describeCallError(err error, secrets []string) string {
	var ce *common.Error
	if errors.As(err, &ce) && ce.Code != "" {
		return fmt.Sprintf("%s (HTTP %d, RequestId %s): %s", ce.Code, ce.StatusCode, ce.RequestId, redact.Text(ce.Message, secrets...))
	}
	return redact.Text(err.Error(), secrets...)
}
