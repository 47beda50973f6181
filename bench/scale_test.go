package bench

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// scale says what to measure of one cluster.
type scale struct {
	label   string // e.g. "real cluster, 300 volumes"
	gluster string // the gluster command prefix, without the timing wrapper
	workdir string // glusterd's working directory
	volume  string // a volume to refresh alone
	volumes int
	// serveArgs are added to glusterbus serve's command line.
	serveArgs []string
	// atScale judges the daemon's own time and memory against the
	// 5 000-volume budgets; otherwise its own time is judged against the
	// CLI's, a real gluster's. (A fake's CLI time, a file printed, says
	// nothing of what a real one costs, and over glusterd's socket there
	// is next to none.)
	atScale bool
	// fullReads, if set, counts the full reads made so far (the CLI log's
	// `volume info all` otherwise).
	fullReads func() int
}

// The 5 000-volume budgets (atScale).
const (
	firstReadBudget = 300 * time.Millisecond
	reloadBudget    = 30 * time.Millisecond
	gmoBudget       = 300 * time.Millisecond
	peakRSSBudget   = 100e6
	steadyRSSBudget = 60e6
)

// cost is one timed call and the CLI time inside it.
type cost struct {
	wall, cli time.Duration
	calls     int
	each      []cliCall
}

// command is the gluster command of a logged call without the prefix's
// options, e.g. "volume info all".
func command(args string) string {
	var words []string
	f := strings.Fields(args)
	for i := 0; i < len(f); i++ {
		switch {
		case f[i] == "-dir":
			i++
		case strings.HasPrefix(f[i], "-") && f[i] != "--version":
		default:
			words = append(words, f[i])
		}
	}
	return strings.Join(words, " ")
}

// perCommand is the median duration of each command over the calls.
func perCommand(cs []cost) string {
	by := map[string][]time.Duration{}
	var order []string
	for _, c := range cs {
		for _, call := range c.each {
			k := command(call.args)
			if by[k] == nil {
				order = append(order, k)
			}
			by[k] = append(by[k], call.dur)
		}
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("`%s` %s", k, ms(median(by[k]))))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (c cost) own() time.Duration { return c.wall - c.cli }

func medianCost(cs []cost) cost {
	// The median of the own times, with the wall and CLI time of that run.
	best := cs[0]
	owns := make([]time.Duration, len(cs))
	for i, c := range cs {
		owns[i] = c.own()
	}
	m := median(owns)
	for _, c := range cs {
		if c.own() == m {
			best = c
			break
		}
	}
	return best
}

// measureScale runs glusterbus serve against the cluster twice: once with
// no periodic reconcile, to time full and targeted refreshes and
// GetManagedObjects and read its memory; once with the default 10 s
// reconcile, to read its CPU use while nothing changes. The gluster
// command runs under clitime, which logs each call's duration.
func measureScale(t *testing.T, e env, r *report, s scale) {
	t.Helper()
	addr := testbus.Start(t)
	cliLog := filepath.Join(t.TempDir(), "cli.log")
	gluster := filepath.Join(e.bin, "clitime") + " " + cliLog + " " + s.gluster
	reloads := envInt("GLUSTERBUS_BENCH_RELOADS", 5)
	load := loadavg()
	overhead := wrapperOverhead(t, e)

	// Phase 1: refreshes, memory, GetManagedObjects.
	d := startDaemon(t, e, addr, gluster, s.workdir, append([]string{"--interval", "1h"}, s.serveArgs...)...)
	atReady := readProc(t, d.pid)
	calls, startCLI := cliWithin(readCLILog(t, cliLog), d.started, d.ready)
	startup := cost{d.ready.Sub(d.started), startCLI, len(calls), calls}
	// RSS once the start-up burst is over: the daemon gives back what its
	// first read left free within a few seconds (internal/memtrim).
	time.Sleep(5 * time.Second)
	afterRead := readProc(t, d.pid)

	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	timed := func(method string, args ...any) cost {
		from := time.Now()
		wall := call(t, conn, exporter.ManagerPath, managerIface+"."+method, args...)
		to := time.Now()
		in, sum := cliWithin(readCLILog(t, cliLog), from, to)
		return cost{wall, sum, len(in), in}
	}
	opts := map[string]dbus.Variant{}
	var full, one []cost
	beforeReloads := readProc(t, d.pid)
	for range reloads {
		full = append(full, timed("Reload", opts))
	}
	afterReloads := readProc(t, d.pid)
	reloadCPU := (afterReloads.cpu - beforeReloads.cpu) / time.Duration(reloads)
	for range 20 {
		one = append(one, timed("RefreshVolume", s.volume, opts))
	}
	afterRefreshes := readProc(t, d.pid)
	var gmo []time.Duration
	objects := 0
	for range 5 {
		d, n := managedObjects(t, conn)
		gmo, objects = append(gmo, d), n
	}
	// The same call from a client that reads the reply without decoding
	// it: the daemon's part and the bus's relaying, apart from godbus's
	// decoder, which is most of the time above.
	raw, rawBytes := rawManagedObjects(t, addr, 5)
	afterGMO := readProc(t, d.pid)
	// And once that burst is over too, as after the first read.
	time.Sleep(5 * time.Second)
	settled := readProc(t, d.pid)
	d.stop(t)

	// Phase 2: idle CPU with the default reconcile.
	idle := envDuration("GLUSTERBUS_BENCH_IDLE", 60*time.Second)
	d = startDaemon(t, e, addr, gluster, s.workdir, s.serveArgs...)
	time.Sleep(5 * time.Second)
	reads0 := 0
	if s.fullReads != nil {
		reads0 = s.fullReads()
	}
	p0, from := readProc(t, d.pid), time.Now()
	// The idle daemon's RSS, once a second: what it holds between
	// reconciles and while one runs, not only right after a trim.
	var idleRSS []int64
	for end := from.Add(idle); time.Now().Before(end); {
		time.Sleep(min(time.Second, time.Until(end)))
		idleRSS = append(idleRSS, readProc(t, d.pid).rss)
	}
	p1, to := readProc(t, d.pid), time.Now()
	reads1 := 0
	if s.fullReads != nil {
		reads1 = s.fullReads()
	}
	d.stop(t)
	window := to.Sub(from)
	cpu := float64(p1.cpu-p0.cpu) / float64(window) * 100
	childCPU := float64(p1.childCPU-p0.childCPU) / float64(window) * 100
	reconciles := 0
	idleCalls, idleCLI := cliWithin(readCLILog(t, cliLog), from, to)
	for _, c := range idleCalls {
		if strings.Contains(" "+c.args+" ", " volume info all ") {
			reconciles++
		}
	}
	if s.fullReads != nil {
		reconciles = reads1 - reads0
	}

	fc, oc := medianCost(full), medianCost(one)
	ratio := func(c cost) string {
		if c.cli <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(c.own())/float64(c.cli))
	}
	r.printf("\n#### %s\n\n", s.label)
	r.printf("Load average when this part began: %s. The CLI time is what clitime measured around each gluster process; "+
		"the own time is the rest (calls side by side count once), so it includes clitime's own start-up, %s per call (median, measured here).\n\n", load, ms(overhead))
	r.printf("| measure | wall | of which gluster CLI | own (wall − CLI) | own ÷ CLI |\n|---|---|---|---|---|\n")
	r.printf("| start-up to the bus name (first full read, %d CLI calls) | %s | %s | %s | %s |\n",
		startup.calls, ms(startup.wall), ms(startup.cli), ms(startup.own()), ratio(startup))
	r.printf("| full refresh: `Reload` from a client, median of %d (%d CLI calls each) | %s | %s | %s | %s |\n",
		len(full), fc.calls, ms(fc.wall), ms(fc.cli), ms(fc.own()), ratio(fc))
	r.printf("| targeted refresh: `RefreshVolume(%s)`, median of %d (%d CLI call each) | %s | %s | %s | %s |\n",
		s.volume, len(one), oc.calls, ms(oc.wall), ms(oc.cli), ms(oc.own()), ratio(oc))
	r.printf("| `GetManagedObjects` from a client (%d objects), median of %d | %s | – | %s | – |\n",
		objects, len(gmo), ms(median(gmo)), ms(median(gmo)))
	r.printf("| `GetManagedObjects` from a client that reads the reply without decoding it (%.1f MB), median of %d | %s | – | %s | – |\n",
		float64(rawBytes)/1e6, len(raw), ms(median(raw)), ms(median(raw)))
	r.printf("\nThe daemon's CPU (utime+stime) from its start to the bus name: %s; per `Reload`, over the %d: %s.\n",
		ms(atReady.cpu), len(full), ms(reloadCPU))
	r.printf("\nEvery `Reload` (wall / CLI / own): ")
	for i, c := range full {
		if i > 0 {
			r.printf("; ")
		}
		r.printf("%s / %s / %s", ms(c.wall), ms(c.cli), ms(c.own()))
	}
	r.printf(".\n\nA `Reload` of a cluster that did not change gets the same output from every gluster command; " +
		"glusterbus then skips parsing it again (the same digest, the same result), so the start-up read is the one that shows " +
		"the cost of parsing everything.")
	r.printf("\n\nThe CLI calls of a full refresh, median duration of each over the %d `Reload`: %s.\n\n", len(full), perCommand(full))
	r.printf("| memory and idle CPU | value |\n|---|---|\n")
	r.printf("| VmRSS 5 s after the first full read (VmHWM) | %s (%s) |\n", mb(afterRead.rss), mb(afterRead.hwm))
	r.printf("| VmRSS right after %d `Reload`, 20 `RefreshVolume`, 5 `GetManagedObjects` (VmHWM) | %s (%s) |\n",
		len(full), mb(afterGMO.rss), mb(afterGMO.hwm))
	r.printf("| VmHWM after the `Reload` calls; after the `RefreshVolume` calls; after the `GetManagedObjects` calls | %s; %s; %s |\n",
		mb(afterReloads.hwm), mb(afterRefreshes.hwm), mb(afterGMO.hwm))
	r.printf("| VmRSS 5 s after them | %s |\n", mb(settled.rss))
	r.printf("| daemon CPU (utime+stime) over %.0f s idle, default 10 s reconcile (%d reconciles seen) | %.2f%% of one core |\n",
		window.Seconds(), reconciles, cpu)
	r.printf("| its gluster CLI children (cutime+cstime) in that time; CLI wall time | %.2f%% of one core; %s |\n",
		childCPU, ms(idleCLI))
	r.printf("| VmRSS at the end of the idle period (VmHWM) | %s (%s) |\n", mb(p1.rss), mb(p1.hwm))
	r.printf("| VmRSS over the idle period, sampled each second: median; highest (%d samples) | %s; %s |\n",
		len(idleRSS), mb(median(idleRSS)), mb(slices.Max(idleRSS)))

	if s.atScale {
		r.target(fmt.Sprintf("own time of the first full read ≤ %s (%s)", ms(firstReadBudget), s.label),
			fmt.Sprintf("%s own (%s wall, %s CPU)", ms(startup.own()), ms(startup.wall), ms(atReady.cpu)), ms(firstReadBudget), startup.own() <= firstReadBudget)
		r.target(fmt.Sprintf("own time of a `Reload` of the unchanged cluster ≤ %s (%s)", ms(reloadBudget), s.label),
			fmt.Sprintf("%s own, median of %d (%s CPU)", ms(fc.own()), len(full), ms(reloadCPU)), ms(reloadBudget), fc.own() <= reloadBudget)
		r.target(fmt.Sprintf("`GetManagedObjects`, client call to reply, reply read without decoding (%s)", s.label),
			fmt.Sprintf("%s (a godbus client decoding it: %s)", ms(median(raw)), ms(median(gmo))), ms(gmoBudget), median(raw) <= gmoBudget)
		r.target(fmt.Sprintf("peak RSS, VmHWM (%s)", s.label), mb(afterGMO.hwm), mb(peakRSSBudget), afterGMO.hwm < peakRSSBudget)
		steady := median(idleRSS)
		r.target(fmt.Sprintf("steady RSS, median of the idle daemon's sampled each second (%s)", s.label),
			fmt.Sprintf("%s (highest %s; 5 s after the calls %s)", mb(steady), mb(slices.Max(idleRSS)), mb(settled.rss)), mb(steadyRSSBudget), steady < steadyRSSBudget)
	} else {
		versusCLI := func(what string, c cost) {
			what = fmt.Sprintf("own time < 10%% of CLI time, full refresh, %s (%s)", what, s.label)
			if c.calls == 0 {
				// glusterd read over its socket: no gluster process to
				// compare with; the wall time is the daemon's and glusterd's.
				r.verdict(what, fmt.Sprintf("%s wall, no gluster process (glusterd read over its socket)", ms(c.wall)), "10%", "n/a")
				return
			}
			r.target(what, fmt.Sprintf("%s own vs %s CLI (%s)", ms(c.own()), ms(c.cli), ratio(c)), "10%", c.own()*10 < c.cli)
		}
		versusCLI("first read", startup)
		versusCLI("`Reload`", fc)
	}
	r.target(fmt.Sprintf("idle CPU, default reconcile (%s)", s.label), fmt.Sprintf("%.2f%% of a core", cpu), "1%", cpu < 1)
}
