// Package demo is `make demo`: the tutorial of infrakit-instance-aliyun run
// for real on the bundled ECS emulator, so it needs no Alibaba Cloud account.
//
// In a temporary INFRAKIT_HOME it starts the emulator, the instance plugin
// (pointed at the emulator), InfraKit's group plugin and vanilla flavor, then
// drives a group with the infrakit CLI: commit example/aliyun-vanilla.json,
// watch the instances boot, kill one behind InfraKit's back and watch it
// being replaced, roll out a changed spec at a bigger size, destroy the
// group. Every command is printed as a user would type it (with build/ on
// PATH), followed by its real output. Whatever happens (failure, Ctrl-C),
// every process is stopped and the temporary directory removed.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/emulator/emuctl"
)

// Options configure a run.
type Options struct {
	BinDir    string        // built binaries (default "build")
	Example   string        // group spec to commit (default "example/aliyun-vanilla.json")
	ScaleTo   int           // size of the changed spec (default 5)
	Pause     time.Duration // pause after each step, to read along
	BootTime  time.Duration // emulated time an instance takes to boot (default 1m)
	TimeScale float64       // emulated seconds per real second (default 20)
	Poll      time.Duration // INFRAKIT_GROUP_POLL_INTERVAL (default 1s)
	Timeout   time.Duration // longest wait for InfraKit to converge (default 60s)
	Out       io.Writer     // default os.Stdout
}

func (o *Options) defaults() {
	if o.BinDir == "" {
		o.BinDir = "build"
	}
	if o.Example == "" {
		o.Example = filepath.Join("example", "aliyun-vanilla.json")
	}
	if o.ScaleTo == 0 {
		o.ScaleTo = 5
	}
	if o.BootTime == 0 {
		o.BootTime = time.Minute
	}
	if o.TimeScale == 0 {
		o.TimeScale = 20
	}
	if o.Poll == 0 {
		o.Poll = time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
}

// Binaries the demo needs in BinDir.
var Binaries = []string{"ecs-emulator", "infrakit-instance-aliyun", "infrakit-group-default", "infrakit-flavor-vanilla", "infrakit"}

// Steps are the step titles, in order.
var Steps = []string{
	"start the ECS emulator (it stands in for Alibaba Cloud: no account needed)",
	"start the Alibaba Cloud instance plugin, pointed at the emulator",
	"start InfraKit's group plugin and vanilla flavor",
	"list the running plugins",
	"commit the group",
	"look at the group once its instances are Running",
	"kill an instance behind InfraKit's back and watch the group replace it",
	"change the spec and scale up: a rolling update",
	"destroy the group",
	"stop everything",
}

type demo struct {
	opts       Options
	binDir     string // absolute
	home       string // INFRAKIT_HOME
	pluginsDir string
	logDir     string
	env        []string
	procs      []*proc
	emu        *emuctl.Client
	step       int
	start      time.Time
}

// ErrInterrupted is returned (wrapped) when ctx was cancelled, e.g. by Ctrl-C.
var ErrInterrupted = errors.New("interrupted")

// Run runs the demo. Whatever happens, it stops every process it started
// and removes its temporary INFRAKIT_HOME before returning.
func Run(ctx context.Context, o Options) (err error) {
	o.defaults()
	d := &demo{opts: o, start: time.Now()}
	if d.binDir, err = filepath.Abs(o.BinDir); err != nil {
		return err
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(d.binDir, b)); err != nil {
			return fmt.Errorf("%s is missing from %s: run `make build` first", b, d.binDir)
		}
	}
	spec, err := os.ReadFile(o.Example)
	if err != nil {
		return err
	}
	if d.home, err = os.MkdirTemp("", "infrakit-demo-"); err != nil {
		return err
	}
	d.pluginsDir = filepath.Join(d.home, "plugins")
	d.logDir = filepath.Join(d.home, "logs")
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w: %v", ErrInterrupted, err)
		}
		switch {
		case errors.Is(err, ErrInterrupted):
			d.printf("\n!!! %v\n\n==> cleaning up\n", err)
		case err != nil:
			d.printf("\n!!! %v\n", err)
			for _, p := range d.procs {
				d.printf("--- last lines of %s (%s) ---\n%s\n", p.name, p.log, tail(p.output(), 15))
			}
			d.printf("\n==> cleaning up after the failure\n")
		}
		if serr := d.stopAll(); serr != nil && err == nil {
			err = serr
		}
		if rerr := os.RemoveAll(d.home); rerr != nil && err == nil {
			err = rerr
		}
		d.printf("# removed %s\n", d.home)
		if err == nil {
			d.printf("\n==> done in %.1fs: no process, socket or pid file left behind\n", time.Since(d.start).Seconds())
		}
	}()
	for _, dir := range []string{d.pluginsDir, d.logDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return d.run(ctx, spec)
}

// tour is the state the steps of one run pass on: the group being driven
// and what earlier steps saw of it.
type tour struct {
	*demo
	specJSON []byte
	group    string
	size     int
	member   map[string]string       // the group's instances' tags
	url      string                  // the emulator's
	members  []emulator.InstanceView // once Running (step 6)
	healed   []emulator.InstanceView // after the replacement (step 7)
}

func (d *demo) run(ctx context.Context, specJSON []byte) error {
	o := d.opts
	var spec struct {
		ID         string
		Properties struct{ Allocation struct{ Size int } }
	}
	if err := json.Unmarshal(specJSON, &spec); err != nil {
		return fmt.Errorf("%s: %w", o.Example, err)
	}
	group, size := spec.ID, spec.Properties.Allocation.Size
	if group == "" || size == 0 {
		return fmt.Errorf("%s: want a group spec with an ID and Allocation.Size", o.Example)
	}
	t := &tour{demo: d, specJSON: specJSON, group: group, size: size, member: map[string]string{"infrakit.group": group}}
	// One function per entry of Steps, in the same order.
	steps := []func(context.Context) error{
		t.startEmulator,
		t.startPlugin,
		t.startGroupAndFlavor,
		t.listPlugins,
		t.commit,
		t.lookRunning,
		t.killAndReplace,
		t.rollingUpdate,
		t.destroy,
		func(context.Context) error { return nil }, // stopping is done by Run, also after a failure
	}
	for _, step := range steps {
		if err := d.nextStep(ctx); err != nil {
			return err
		}
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// startEmulator is step 1: the emulator on a free port, its URL read from its log.
func (t *tour) startEmulator(ctx context.Context) error {
	o := t.opts
	t.setenv("INFRAKIT_HOME", t.home)
	t.setenv("PATH", t.binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.cmdline("export", "INFRAKIT_HOME="+t.home)
	t.printf("$ export PATH=%s:$PATH\n", quote(t.binDir))
	emuP, err := t.background(ctx, "ecs-emulator", false, "ecs-emulator", "--listen", "127.0.0.1:0",
		"--boot-time", fmtDuration(o.BootTime), "--time-scale", fmt.Sprint(o.TimeScale))
	if err != nil {
		return err
	}
	if err := t.waitFor(ctx, "the emulator to listen", emuP, 20*time.Millisecond, func() (bool, error) {
		if m := emuctl.ListenLine.FindStringSubmatch(emuP.output()); m != nil {
			t.url = m[1]
			return true, nil
		}
		return false, nil
	}); err != nil {
		return err
	}
	t.emu = emuctl.New(t.url)
	t.printf("$ grep 'ecs-emulator listening' $INFRAKIT_HOME/logs/ecs-emulator.log\n%s\n", lineMatching(emuP.output(), emuctl.ListenLine))
	return nil
}

// startPlugin is step 2: the plugin with the emulator's credentials and URL.
func (t *tour) startPlugin(ctx context.Context) error {
	t.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "emulator")
	t.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "emulator")
	t.setenv("ALIBABA_CLOUD_REGION_ID", "cn-hangzhou")
	t.printf("$ export ALIBABA_CLOUD_ACCESS_KEY_ID=emulator ALIBABA_CLOUD_ACCESS_KEY_SECRET=emulator ALIBABA_CLOUD_REGION_ID=cn-hangzhou\n")
	_, err := t.background(ctx, "instance-aliyun", true, "infrakit-instance-aliyun", "--endpoint", t.url)
	return err
}

// startGroupAndFlavor is step 3: InfraKit's own group plugin and vanilla flavor.
func (t *tour) startGroupAndFlavor(ctx context.Context) error {
	poll := fmtDuration(t.opts.Poll)
	t.setenv("INFRAKIT_GROUP_POLL_INTERVAL", poll)
	t.printf("$ export INFRAKIT_GROUP_POLL_INTERVAL=%s   # how often the group checks its instances\n", poll)
	if _, err := t.background(ctx, "flavor-vanilla", true, "infrakit-flavor-vanilla"); err != nil {
		return err
	}
	_, err := t.background(ctx, "group", true, "infrakit-group-default")
	return err
}

// listPlugins is step 4.
func (t *tour) listPlugins(ctx context.Context) error {
	_, err := t.infrakit(ctx, "plugin", "ls")
	return err
}

// commit is step 5: the example spec.
func (t *tour) commit(ctx context.Context) error {
	_, err := t.infrakit(ctx, "group", "commit", t.opts.Example)
	return err
}

// lookRunning is step 6: wait for the group's instances to run, then describe them.
func (t *tour) lookRunning(ctx context.Context) error {
	size := t.size
	var err error
	t.members, err = t.watch(ctx, fmt.Sprintf("%d instances to be Running", size), t.member, nil, func(v []emulator.InstanceView) bool {
		return len(v) == size && emuctl.CountStatus(v, "Running") == size
	})
	if err != nil {
		return err
	}
	if _, err := t.infrakit(ctx, "group", "describe", t.group); err != nil {
		return err
	}
	_, err = t.infrakit(ctx, "instance-aliyun", "describe")
	return err
}

// killAndReplace is step 7: kill the first member and wait for its replacement.
func (t *tour) killAndReplace(ctx context.Context) error {
	size := t.size
	victim := t.members[0].InstanceId
	t.printf("# the emulator's control API deletes %s as if from the console\n", victim)
	if err := t.kill(ctx, victim); err != nil {
		return err
	}
	killed := time.Now()
	var err error
	t.healed, err = t.watch(ctx, "the group to replace "+victim, t.member, nil, func(v []emulator.InstanceView) bool {
		return len(v) == size && emuctl.CountStatus(v, "Running") == size && !contains(emuctl.IDs(v), victim)
	})
	if err != nil {
		return err
	}
	t.printf("# %s was replaced by %s, Running %.1fs after the kill\n", victim, newIDs(t.healed, t.members)[0], time.Since(killed).Seconds())
	_, err = t.infrakit(ctx, "group", "describe", t.group)
	return err
}

// rollingUpdate is step 8: commit a changed, bigger spec and wait until
// every member runs the new config.
func (t *tour) rollingUpdate(ctx context.Context) error {
	o := t.opts
	v2Path, err := t.writeChangedSpec()
	if err != nil {
		return err
	}
	if _, err := t.infrakit(ctx, "group", "commit", v2Path, "--pretend"); err != nil {
		return err
	}
	if _, err := t.infrakit(ctx, "group", "commit", v2Path); err != nil {
		return err
	}
	oldHash := map[string]bool{}
	for _, m := range t.healed {
		oldHash[m.Tags["infrakit.config.hash"]] = true
	}
	if _, err := t.watch(ctx, "the rolling update", t.member, oldHash, func(v []emulator.InstanceView) bool {
		if len(v) != o.ScaleTo || emuctl.CountStatus(v, "Running") != o.ScaleTo {
			return false
		}
		for _, m := range v {
			if oldHash[m.Tags["infrakit.config.hash"]] {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	_, err = t.infrakit(ctx, "group", "describe", t.group)
	return err
}

// writeChangedSpec writes step 8's changed spec into INFRAKIT_HOME and prints
// what changed.
func (t *tour) writeChangedSpec() (string, error) {
	o := t.opts
	v2, changes, err := changedSpec(t.specJSON, o.ScaleTo)
	if err != nil {
		return "", err
	}
	v2Path := filepath.Join(t.home, strings.TrimSuffix(filepath.Base(o.Example), ".json")+"-v2.json")
	if err := os.WriteFile(v2Path, v2, 0o644); err != nil {
		return "", err
	}
	t.printf("# %s is %s with:\n", v2Path, o.Example)
	for _, c := range changes {
		t.printf("#   %s\n", c)
	}
	return v2Path, nil
}

// destroy is step 9: destroy the group, wait until nothing is left, show
// the emulator's counters.
func (t *tour) destroy(ctx context.Context) error {
	if _, err := t.infrakit(ctx, "group", "destroy", t.group); err != nil {
		return err
	}
	if _, err := t.watch(ctx, "every instance to be released", t.member, nil, func(v []emulator.InstanceView) bool {
		return len(v) == 0
	}); err != nil {
		return err
	}
	if _, err := t.infrakit(ctx, "instance-aliyun", "describe"); err != nil {
		return err
	}
	return t.stats(ctx)
}

func (d *demo) nextStep(ctx context.Context) error {
	if d.step > 0 && d.opts.Pause > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d.opts.Pause):
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d.printf("\n==> step %d: %s\n", d.step+1, Steps[d.step])
	d.step++
	return nil
}

func (d *demo) printf(format string, args ...any) {
	fmt.Fprintf(d.opts.Out, format, args...)
}

// cmdline prints a command as a user would type it.
func (d *demo) cmdline(args ...string) {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = quote(a)
	}
	d.printf("$ %s\n", strings.Join(q, " "))
}

func (d *demo) setenv(k, v string) {
	out := d.env[:0:0]
	src := d.env
	if src == nil {
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "INFRAKIT_") {
				src = append(src, kv)
			}
		}
	}
	for _, kv := range src {
		if !strings.HasPrefix(kv, k+"=") {
			out = append(out, kv)
		}
	}
	d.env = append(out, k+"="+v)
}

// background starts a long-running binary with its output in
// $INFRAKIT_HOME/logs/<name>.log; a plugin is waited for until its socket
// accepts connections.
func (d *demo) background(ctx context.Context, name string, plugin bool, binary string, args ...string) (*proc, error) {
	q := []string{binary}
	for _, a := range args {
		q = append(q, quote(a))
	}
	d.printf("$ %s >$INFRAKIT_HOME/logs/%s.log 2>&1 &\n", strings.Join(q, " "), name)
	p, err := d.startProc(name, plugin, binary, args)
	if err != nil {
		return nil, err
	}
	if plugin {
		if err := d.waitSocket(ctx, p); err != nil {
			return nil, err
		}
		d.printf("# %s is running (pid %d), listening on $INFRAKIT_HOME/plugins/%s\n", name, p.cmd.Process.Pid, name)
	} else {
		d.printf("# %s is running (pid %d)\n", name, p.cmd.Process.Pid)
	}
	return p, nil
}

// infrakit runs the CLI in the foreground, printing its output as it comes.
func (d *demo) infrakit(ctx context.Context, args ...string) (string, error) {
	d.cmdline(append([]string{"infrakit"}, args...)...)
	cmd := exec.CommandContext(ctx, filepath.Join(d.binDir, "infrakit"), args...)
	cmd.Env = d.env
	var buf bytes.Buffer
	w := io.MultiWriter(d.opts.Out, &buf)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return buf.String(), fmt.Errorf("infrakit %s: %w", strings.Join(args, " "), err)
	}
	return buf.String(), nil
}

// kill deletes an instance through the emulator's control API, printed as
// the equivalent curl command.
func (d *demo) kill(ctx context.Context, id string) error {
	d.printf("$ curl -s -o /dev/null -w '%%{http_code}\\n' -X DELETE %s%s\n", d.emu.URL, emuctl.KillPath(id))
	if _, err := d.emu.Kill(ctx, id); err != nil {
		return fmt.Errorf("killing %s: %w", id, err)
	}
	d.printf("%d\n", http.StatusOK)
	return nil
}

// stats prints the emulator's counters, as curl would.
func (d *demo) stats(ctx context.Context) error {
	d.printf("$ curl -s %s/emulator/stats\n", d.emu.URL)
	s, err := d.emu.Stats(ctx)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	d.printf("%s\n", b)
	return nil
}

// watch polls the emulator for the group's live instances until done holds,
// printing a line each time their summary changes. Instances whose config
// hash is in old are counted apart as the old config.
func (d *demo) watch(ctx context.Context, what string, tags map[string]string, old map[string]bool,
	done func([]emulator.InstanceView) bool) ([]emulator.InstanceView, error) {
	d.printf("# waiting for %s (polling the emulator's control API):\n", what)
	start := time.Now()
	var live []emulator.InstanceView
	last := ""
	err := d.waitFor(ctx, what, nil, 100*time.Millisecond, func() (bool, error) {
		v, err := d.emu.Live(ctx, tags)
		if err != nil {
			return false, err
		}
		live = v
		if s := summary(v, old); s != last {
			last = s
			d.printf("# %5.1fs  %s\n", time.Since(start).Seconds(), s)
		}
		return done(v), nil
	})
	return live, err
}

// summary is e.g. "3 instances: 1 Pending, 2 Running" or, with old hashes,
// "4 instances: old config 2 Running; new config 1 Pending, 1 Running".
func summary(v []emulator.InstanceView, old map[string]bool) string {
	count := func(keep func(emulator.InstanceView) bool) string {
		by := map[string]int{}
		for _, in := range v {
			if keep(in) {
				by[in.Status]++
			}
		}
		var parts []string
		for s, n := range by {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
		sort.Strings(parts)
		if len(parts) == 0 {
			return "none"
		}
		return strings.Join(parts, ", ")
	}
	s := fmt.Sprintf("%d instances", len(v))
	if len(v) == 1 {
		s = "1 instance"
	}
	if len(v) == 0 {
		return s
	}
	if old == nil {
		return s + ": " + count(func(emulator.InstanceView) bool { return true })
	}
	isOld := func(in emulator.InstanceView) bool { return old[in.Tags["infrakit.config.hash"]] }
	return s + ": old config " + count(isOld) + "; new config " + count(func(in emulator.InstanceView) bool { return !isOld(in) })
}

// changedSpec returns the spec with Allocation.Size set to size and the
// instance type one size up, and a description of the changes.
func changedSpec(specJSON []byte, size int) ([]byte, []string, error) {
	var m map[string]any
	if err := json.Unmarshal(specJSON, &m); err != nil {
		return nil, nil, err
	}
	get := func(keys ...string) (map[string]any, error) {
		cur := m
		for _, k := range keys {
			next, ok := cur[k].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("spec has no %s object", strings.Join(keys, "."))
			}
			cur = next
		}
		return cur, nil
	}
	alloc, err := get("Properties", "Allocation")
	if err != nil {
		return nil, nil, err
	}
	run, err := get("Properties", "Instance", "Properties", "RunInstances")
	if err != nil {
		return nil, nil, err
	}
	oldType, _ := run["InstanceType"].(string)
	newType := biggerType(oldType)
	changes := []string{
		fmt.Sprintf("Allocation.Size: %v -> %d", alloc["Size"], size),
		fmt.Sprintf("RunInstances.InstanceType: %s -> %s", oldType, newType),
	}
	alloc["Size"] = size
	run["InstanceType"] = newType
	out, err := json.MarshalIndent(m, "", "  ")
	return append(out, '\n'), changes, err
}

var typeSize = regexp.MustCompile(`^(ecs\.[a-z0-9-]+)\.(large|xlarge|(\d+)xlarge)$`)

// biggerType is the next size of an ECS instance type in its family
// (ecs.g6.large -> ecs.g6.xlarge -> ecs.g6.2xlarge).
func biggerType(t string) string {
	m := typeSize.FindStringSubmatch(t)
	switch {
	case m == nil:
		return t
	case m[2] == "large":
		return m[1] + ".xlarge"
	case m[2] == "xlarge":
		return m[1] + ".2xlarge"
	default:
		var n int
		fmt.Sscan(m[3], &n)
		return fmt.Sprintf("%s.%dxlarge", m[1], n*2)
	}
}

// lineMatching returns the first line of s that re matches.
func lineMatching(s string, re *regexp.Regexp) string {
	for _, l := range strings.Split(s, "\n") {
		if re.MatchString(l) {
			return l
		}
	}
	return ""
}

func newIDs(now, before []emulator.InstanceView) []string {
	old := map[string]bool{}
	for _, b := range before {
		old[b.InstanceId] = true
	}
	var out []string
	for _, n := range now {
		if !old[n.InstanceId] {
			out = append(out, n.InstanceId)
		}
	}
	if len(out) == 0 {
		out = append(out, "?")
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// quote quotes s for a POSIX shell when it needs it.
func quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fmtDuration prints 1m rather than 1m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
