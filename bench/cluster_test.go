package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/objpath"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// TestRealCluster runs on a real three-node loopback GlusterFS cluster:
// propagation latency on an empty cluster, then the scale figures with
// GLUSTERBUS_BENCH_REAL_VOLUMES (300) volumes of which
// GLUSTERBUS_BENCH_REAL_STARTED (100) are started with brick multiplexing,
// then propagation latency again beside those volumes.
func TestRealCluster(t *testing.T) {
	e := benchEnv(t)
	testbed.Require(t)
	c := testbed.Start(t, 3)
	// bench/run.sh stops what is left of the cluster if this test dies
	// before its cleanup runs.
	if err := os.WriteFile(filepath.Join(e.out, "cluster-dir"), []byte(c.Dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cycles := envInt("GLUSTERBUS_BENCH_CYCLES", 13) // 8 operations each

	lat := newReport(e, "latency")
	propagationBothWays(t, e, lat, c, cycles)

	total := envInt("GLUSTERBUS_BENCH_REAL_VOLUMES", 300)
	started := envInt("GLUSTERBUS_BENCH_REAL_STARTED", 100)
	sc := newReport(e, "real")
	n1 := c.Nodes[0]
	begin := time.Now()
	gluster(t, n1, "volume", "set", "all", "cluster.brick-multiplex", "on")
	createVolumes(t, c, total)
	created := time.Since(begin)
	begin = time.Now()
	parallel(started, func(i int) { gluster(t, n1, "volume", "start", scaleVolume(i)) })
	sc.printf("Set up with `volume set all cluster.brick-multiplex on`, %d replica 3 volumes created in %s and %d of them started in %s.\n",
		total, ms(created), started, ms(time.Since(begin)))
	measureScale(t, e, sc, scale{
		label:   fmt.Sprintf("real cluster, 3 nodes, %d volumes x 3 bricks, %d started", total, started),
		gluster: strings.Join(n1.CLI(), " "),
		workdir: n1.Workdir,
		volume:  scaleVolume(started / 2),
		volumes: total,
	})
	sc.write(t)

	measurePropagation(t, e, lat, c, fmt.Sprintf("beside %d volumes (%d started)", total, started), "b",
		envInt("GLUSTERBUS_BENCH_CYCLES_AT_SCALE", cycles))
	lat.write(t)
}

// TestRealPropagation is the first part of TestRealCluster alone:
// propagation latency on an empty three-node cluster, reading glusterd over
// its socket and through the CLI only.
func TestRealPropagation(t *testing.T) {
	e := benchEnv(t)
	testbed.Require(t)
	c := testbed.Start(t, 3)
	if err := os.WriteFile(filepath.Join(e.out, "cluster-dir"), []byte(c.Dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lat := newReport(e, "latency")
	propagationBothWays(t, e, lat, c, envInt("GLUSTERBUS_BENCH_CYCLES", 13))
	lat.write(t)
}

// propagationBothWays measures propagation with the daemon's defaults,
// which read glusterd over its socket, then with `--glusterd-socket ""`,
// which reads everything through the CLI.
func propagationBothWays(t *testing.T, e env, lat *report, c *testbed.Cluster, cycles int) {
	measurePropagation(t, e, lat, c, "empty cluster, glusterd read over its socket (the default)", "a", cycles)
	measurePropagation(t, e, lat, c, "empty cluster, glusterd read through the CLI only (`--glusterd-socket \"\"`)", "c", cycles,
		"--glusterd-socket", "")
}

func scaleVolume(i int) string { return fmt.Sprintf("s%03d", i) }

// gluster runs a gluster command on the node, retrying while another
// transaction holds the lock, and returns how often it had to retry.
func gluster(t testing.TB, n *testbed.Node, args ...string) (retries int) {
	t.Helper()
	for {
		out, err := n.RunGluster(args...)
		if err == nil {
			return retries
		}
		if retries < 50 && isLockBusy(out+err.Error()) {
			retries++
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Fatal(err)
	}
}

func isLockBusy(s string) bool {
	return strings.Contains(s, "Another transaction is in progress") || strings.Contains(s, "Locking failed") ||
		strings.Contains(s, "is busy")
}

// createVolumes creates total replica 3 volumes, one brick on each node.
func createVolumes(t *testing.T, c *testbed.Cluster, total int) {
	t.Helper()
	parallel(total, func(i int) {
		name := scaleVolume(i)
		args := []string{"volume", "create", name, "replica", "3"}
		for node := range c.Nodes {
			args = append(args, c.Nodes[node].Addr+":"+c.BrickDir(node+1, name))
		}
		gluster(t, c.Nodes[0], append(args, "force")...)
	})
}

// parallel runs f(0..n-1) two at a time: glusterd takes two commands on
// different volumes at once faster than one after the other, and more
// gained nothing on this kind of machine.
func parallel(n int, f func(i int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				f(i)
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// op is one admin command and the signal that shows its result.
type op struct {
	kind  string
	args  []string
	match func(*dbus.Signal) bool
	floor bool // time a bare `volume info VOL --xml` after it
}

func volPath(name string) dbus.ObjectPath {
	return exporter.VolumePrefix + dbus.ObjectPath(objpath.Encode(name))
}

func isAdded(path dbus.ObjectPath) func(*dbus.Signal) bool {
	return func(s *dbus.Signal) bool {
		return s.Name == omIface+".InterfacesAdded" && s.Body[0].(dbus.ObjectPath) == path
	}
}

func isRemoved(path dbus.ObjectPath) func(*dbus.Signal) bool {
	return func(s *dbus.Signal) bool {
		return s.Name == omIface+".InterfacesRemoved" && s.Body[0].(dbus.ObjectPath) == path
	}
}

func isChanged(path dbus.ObjectPath, prop string, ok func(v any) bool) func(*dbus.Signal) bool {
	return func(s *dbus.Signal) bool {
		if s.Name != "org.freedesktop.DBus.Properties.PropertiesChanged" || s.Path != path {
			return false
		}
		v, has := s.Body[1].(map[string]dbus.Variant)[prop]
		return has && ok(v.Value())
	}
}

func equals(want any) func(any) bool { return func(v any) bool { return v == want } }

func optionIs(key, value string) func(any) bool {
	return func(v any) bool {
		m, ok := v.(map[string]string)
		return ok && m[key] == value
	}
}

// set is `volume set VOL performance.readdir-ahead value` and the Options
// change that shows it.
func set(vol, value string) op {
	return op{"set", []string{"volume", "set", vol, "performance.readdir-ahead", value},
		isChanged(volPath(vol), "Options", optionIs("performance.readdir-ahead", value)), true}
}

// timedGluster runs the node's gluster CLI and returns when it returned.
func timedGluster(n *testbed.Node, args ...string) (time.Time, time.Duration, string, error) {
	argv := append(n.CLI(), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	end := time.Now()
	return end, end.Sub(start), out.String(), err
}

// measurePropagation starts glusterbus serve (defaults: inotify on
// glusterd's directory, 10 s reconcile, 2 s quiet period; no hooks
// installed, no native events) and runs cycles of create, start, four
// sets, stop and delete on node 1, timing from the moment each command returns to
// the moment a bus client receives the signal that shows its result (0 when
// it came before), and from the command's start.
// Beside each (but delete) it times a bare `gluster volume info VOL --xml`:
// the floor any CLI-based reader pays. serveArgs are added to glusterbus
// serve's command line.
func measurePropagation(t *testing.T, e env, r *report, c *testbed.Cluster, label, tag string, cycles int, serveArgs ...string) {
	t.Helper()
	addr := testbus.Start(t)
	load := loadavg()
	n1 := c.Nodes[0]
	d := startDaemon(t, e, addr, strings.Join(n1.CLI(), " "), n1.Workdir, serveArgs...)
	defer d.stop(t)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sigs := watchSignals(t, conn)
	pause := envDuration("GLUSTERBUS_BENCH_PAUSE", 250*time.Millisecond)

	// The latency is the wait after the command returned: a signal that
	// came before it (the daemon saw glusterd's change while the CLI was
	// still printing) counts as 0 and is counted as early. The time from
	// the command's start is shown beside it.
	lat, latFromStart := map[string][]time.Duration{}, map[string][]time.Duration{}
	var all, fromStart, floor []time.Duration
	var kinds []string
	early, missing, retries := 0, 0, 0
	begin := time.Now()
	for i := range cycles {
		vol := fmt.Sprintf("lat%s%03d", tag, i)
		path := volPath(vol)
		create := []string{"volume", "create", vol, "replica", "3"}
		for node := range c.Nodes {
			create = append(create, c.Nodes[node].Addr+":"+c.BrickDir(node+1, vol))
		}
		ops := []op{
			{"create", append(create, "force"), isAdded(path), true},
			{"start", []string{"volume", "start", vol}, isChanged(path, "Status", equals("Started")), true},
			set(vol, "off"), set(vol, "on"), set(vol, "off"), set(vol, "on"),
			{"stop", []string{"volume", "stop", vol}, isChanged(path, "Status", equals("Stopped")), true},
			{"delete", []string{"volume", "delete", vol}, isRemoved(path), false},
		}
		for _, o := range ops {
			time.Sleep(pause)
			var returned time.Time
			var took time.Duration
			var mark int
			for attempt := 0; ; attempt++ {
				mark = sigs.mark()
				var out string
				returned, took, out, err = timedGluster(n1, o.args...)
				if err == nil {
					break
				}
				if attempt < 50 && isLockBusy(out) {
					retries++
					time.Sleep(100 * time.Millisecond)
					continue
				}
				t.Fatalf("gluster %s: %v\n%s", strings.Join(o.args, " "), err, out)
			}
			at, ok := sigs.waitFor(mark, 30*time.Second, o.match)
			if !ok {
				missing++
				t.Logf("no signal within 30 s after gluster %s", strings.Join(o.args, " "))
				continue
			}
			l := at.Sub(returned)
			if l < 0 {
				early++
				l = 0
			}
			fromStart = append(fromStart, at.Sub(returned.Add(-took)))
			latFromStart[o.kind] = append(latFromStart[o.kind], at.Sub(returned.Add(-took)))
			if !slices.Contains(kinds, o.kind) {
				kinds = append(kinds, o.kind)
			}
			lat[o.kind] = append(lat[o.kind], l)
			all = append(all, l)
			if o.floor {
				_, took, out, err := timedGluster(n1, "volume", "info", vol, "--xml")
				if err != nil {
					t.Fatalf("gluster volume info %s --xml: %v\n%s", vol, err, out)
				}
				floor = append(floor, took)
			}
		}
	}
	elapsed := time.Since(begin)

	p50, p99 := percentile(all, 50), percentile(all, 99)
	f50, f99 := percentile(floor, 50), percentile(floor, 99)
	r.printf("\n#### %s\n\n", label)
	r.printf("Load average when this part began: %s.\n\n", load)
	r.printf("%d operations in %s (%d cycles of create, start, set ×4, stop, delete; %s apart); "+
		"%d signals arrived before the command returned (counted as 0 below), %d had no signal within 30 s, %d commands retried on a busy lock.\n\n",
		len(all), ms(elapsed), cycles, ms(pause), early, missing, retries)
	r.printf("Wait for the signal after the command returned:\n\n")
	r.printf("| operation → signal | n | p50 | p99 | max | from the command's start: p50 | p99 |\n|---|---|---|---|---|---|---|\n")
	for _, k := range kinds {
		ds, fs := lat[k], latFromStart[k]
		r.printf("| %s | %d | %s | %s | %s | %s | %s |\n", k, len(ds), ms(percentile(ds, 50)), ms(percentile(ds, 99)), ms(percentile(ds, 100)),
			ms(percentile(fs, 50)), ms(percentile(fs, 99)))
	}
	r.printf("| **all** | %d | **%s** | **%s** | %s | %s | %s |\n", len(all), ms(p50), ms(p99), ms(percentile(all, 100)),
		ms(percentile(fromStart, 50)), ms(percentile(fromStart, 99)))
	r.printf("| floor: bare `gluster volume info VOL --xml` | %d | %s | %s | %s | | |\n\n", len(floor), ms(f50), ms(f99), ms(percentile(floor, 100)))
	r.printf("From the command's start to the signal, all operations: p50 %s, p99 %s, max %s.\n\n",
		ms(percentile(fromStart, 50)), ms(percentile(fromStart, 99)), ms(percentile(fromStart, 100)))
	r.printf("p99 latency ÷ p99 floor = %.2f; p99 latency ÷ p50 floor = %.2f.\n", float64(p99)/float64(f99), float64(p99)/float64(f50))
	if len(all) > 0 && len(floor) > 0 {
		r.target(fmt.Sprintf("p99 propagation latency < 1.5 × floor (%s)", label),
			fmt.Sprintf("p99 %s vs floor p99 %s (×%.2f)", ms(p99), ms(f99), float64(p99)/float64(f99)),
			"1.5 × floor p99", missing == 0 && float64(p99) < 1.5*float64(f99))
	}
	if sets := lat["set"]; !slices.Contains(serveArgs, "--glusterd-socket") && len(sets) > 0 && len(floor) > 0 {
		s99 := percentile(sets, 99)
		r.target(fmt.Sprintf("p99 propagation after `volume set` ≤ 0.2 × one CLI read (%s)", label),
			fmt.Sprintf("p99 %s vs floor p99 %s (×%.2f; ×%.2f of floor p50 %s)", ms(s99), ms(f99),
				float64(s99)/float64(f99), float64(s99)/float64(f50), ms(f50)),
			"0.2 × floor p99", missing == 0 && float64(s99) <= 0.2*float64(f99))
	}
}
