package instance

import (
	"sync"
	"testing"
	"time"

	aliyun "github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/ecs"
)

// Config.Clients is asked before every call, so rotated STS credentials are
// used at once and the expired ones never again.
func TestConfigClientsRotatesCredentialsPerCall(t *testing.T) {
	var mu, clockMu sync.Mutex
	stsNow := time.Now()
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return stsNow }
	srv, err := emulator.New(emulator.Options{TimeScale: 1000, STSNow: clock})
	noErr(t, err)
	defer srv.Close()

	var current *aliyun.Client
	calls := 0
	rotate := func() {
		id, c := srv.IssueSTSCredential(time.Hour)
		current = aliyun.NewECSClientWithEndpointAndSecurityToken(srv.URL(), id, c.AccessKeySecret, c.SecurityToken, emulator.DefaultRegion)
	}
	rotate()
	logger, _ := quietLogger()
	p, err := New(Config{
		Clients:          func() (*aliyun.Client, error) { mu.Lock(); defer mu.Unlock(); calls++; return current, nil },
		RegionID:         emulator.DefaultRegion,
		DescribeCacheTTL: DefaultDescribeCacheTTL,
		Logger:           logger,
		Now:              srv.Now,
		Retry:            ecs.RetryConfig{MaxElapsed: time.Minute, Sleep: srv.Advance},
	})
	noErr(t, err)

	id, err := p.Provision(emuSpec("rotation"))
	noErr(t, err)
	mu.Lock()
	if calls == 0 {
		t.Fatal("Provision did not ask Clients for a client")
	}
	before := calls
	clockMu.Lock()
	stsNow = stsNow.Add(61 * time.Minute) // the first credentials have expired
	clockMu.Unlock()
	rotate()
	mu.Unlock()

	noErr(t, p.Destroy(*id, instance.Termination))
	mu.Lock()
	defer mu.Unlock()
	if calls <= before {
		t.Errorf("Destroy did not ask Clients for a client (%d calls before, %d after)", before, calls)
	}
}
