package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// sectionTitle is the heading of the section report writes in the
// benchmarks document.
const sectionTitle = "## Native event ingest"

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	busFile := fs.String("glusterbus", "", "result of the glusterbus command")
	eventsdFile := fs.String("eventsd", "", "result of the eventsd command")
	webhookFile := fs.String("glusterbus-webhook", "", "result of the eventsd command run against glusterbus with a webhook (optional)")
	doc := fs.String("doc", "", "the benchmarks document whose section to write (empty: print only)")
	command := fs.String("command", "", "the command that ran the benchmark")
	started := fs.String("started", "", "when the run started (RFC 3339)")
	eventsdVersion := fs.String("eventsd-version", "", "the installed glustereventsd's package version")
	goVersion := fs.String("go-version", runtime.Version(), "the Go that built glusterbus")
	pythonVersion := fs.String("python-version", "", "the Python that ran glustereventsd")
	glusterCalls := fs.Int("gluster-calls", -1, "how many gluster commands glusterbus ran during its runs")
	commit := fs.String("commit", "", "the commit glusterbus was built from")
	loadBefore := fs.String("load-before", "", "/proc/loadavg when the run started")
	took := fs.Duration("took", 0, "how long the run took")
	fs.Parse(args)

	var bus busResult
	var ev eventsdResult
	if err := readJSON(*busFile, &bus); err != nil {
		return err
	}
	if err := readJSON(*eventsdFile, &ev); err != nil {
		return err
	}
	s := bus.Sustained
	ratio := func(a, b float64) string {
		if b == 0 {
			return "∞"
		}
		return fmt.Sprintf("%.1f×", a/b)
	}
	var t strings.Builder
	row := func(cells ...string) { fmt.Fprintf(&t, "| %s |\n", strings.Join(cells, " | ")) }
	row("", "glusterbus", "glustereventsd", "glusterbus ÷ glustereventsd")
	row("---", "---:", "---:", "---:")
	row("offered", fmt.Sprintf("%.0f/s for %.0f s", s.Target, s.Send.Seconds), fmt.Sprintf("%.0f/s for %.0f s", ev.Target, ev.Send.Seconds), "")
	row("datagrams sent", fmt.Sprint(s.Send.Sent), fmt.Sprint(ev.Send.Sent), "")
	row("delivered (signal / webhook POST)", fmt.Sprint(s.Signalled), fmt.Sprint(ev.Delivered), "")
	row("**delivered events/s**", fmt.Sprintf("**%.0f**", s.DeliveredRate), fmt.Sprintf("**%.0f**", ev.DeliveredRate), "**"+ratio(s.DeliveredRate, ev.DeliveredRate)+"**")
	row("**loss**", fmt.Sprintf("**%.2f %%**", s.LossPercent), fmt.Sprintf("**%.2f %%**", ev.LossPercent), "")
	row("dropped by the daemon's UDP socket (kernel)", fmt.Sprint(s.SocketDrops), fmt.Sprint(ev.SocketDrops), "")
	row("last delivery after the last datagram", fmt.Sprintf("%.2f s", s.DrainSeconds), fmt.Sprintf("%.1f s%s", ev.DrainSeconds, map[bool]string{true: " (still delivering at the cut-off)"}[ev.StillComing]), "")
	row("daemon CPU (% of one core)", fmt.Sprintf("%.0f %% (%.0f %% of it in the `gluster` commands it ran)", s.Daemon.CPUPercent, s.Daemon.CommandsCPUPercent),
		fmt.Sprintf("%.0f %% (with its webhook process)", ev.Daemon.CPUPercent), "")
	row("daemon CPU time per event delivered", fmt.Sprintf("%.0f µs", 1e6*s.Daemon.CPUSeconds/float64(max(1, s.Signalled))),
		fmt.Sprintf("%.0f µs", 1e6*ev.Daemon.CPUSeconds/float64(max(1, ev.Delivered))), "")
	row("daemon peak RSS (of which anonymous)", fmt.Sprintf("%.0f MiB (%.0f MiB; the rest is mapped files, mostly the journal)", s.Daemon.PeakRSSMiB, s.Daemon.PeakAnonMiB),
		fmt.Sprintf("%.0f MiB (%.0f MiB)", ev.Daemon.PeakRSSMiB, ev.Daemon.PeakAnonMiB), "")
	row("delivery path CPU", fmt.Sprintf("dbus-daemon %.0f %%", s.Bus.CPUPercent), fmt.Sprintf("webhook receiver %.0f %%", ev.Webhook.CPUPercent), "")
	row("sender: achieved rate, most datagrams behind schedule", fmt.Sprintf("%.0f/s, %d", s.Send.Rate, s.Send.MaxLate), fmt.Sprintf("%.0f/s, %d", ev.Send.Rate, ev.Send.MaxLate), "")
	row("sender and client CPU (this benchmark)", fmt.Sprintf("%.0f %%", s.Driver.CPUPercent), fmt.Sprintf("%.0f %%", ev.Driver.CPUPercent), "")
	row("whole machine busy", fmt.Sprintf("%.0f %%", s.SystemBusy), fmt.Sprintf("%.0f %%", ev.SystemBusy), "")
	table := t.String()

	var wh strings.Builder
	var gw eventsdResult
	if *webhookFile != "" {
		if err := readJSON(*webhookFile, &gw); err != nil {
			return err
		}
		row = func(cells ...string) { fmt.Fprintf(&wh, "| %s |\n", strings.Join(cells, " | ")) }
		row("", "glusterbus", "glustereventsd", "glusterbus ÷ glustereventsd")
		row("---", "---:", "---:", "---:")
		row("offered", fmt.Sprintf("%.0f/s for %.0f s", gw.Target, gw.Send.Seconds), fmt.Sprintf("%.0f/s for %.0f s", ev.Target, ev.Send.Seconds), "")
		row("datagrams sent", fmt.Sprint(gw.Send.Sent), fmt.Sprint(ev.Send.Sent), "")
		row("delivered (webhook POST, distinct events)", fmt.Sprint(gw.Delivered), fmt.Sprint(ev.Delivered), "")
		row("delivered while the datagrams were being sent", fmt.Sprint(gw.InWindow), fmt.Sprint(ev.InWindow), "")
		row("**delivered events/s**", fmt.Sprintf("**%.0f**", gw.DeliveredRate), fmt.Sprintf("**%.0f**", ev.DeliveredRate), "**"+ratio(gw.DeliveredRate, ev.DeliveredRate)+"**")
		row("**loss**", fmt.Sprintf("**%.2f %%**", gw.LossPercent), fmt.Sprintf("**%.2f %%**", ev.LossPercent), "")
		row("duplicates", fmt.Sprint(gw.Receiver.Duplicates), fmt.Sprint(ev.Receiver.Duplicates), "")
		row("dropped by the daemon's UDP socket (kernel)", fmt.Sprint(gw.SocketDrops), fmt.Sprint(ev.SocketDrops), "")
		row("last delivery after the last datagram", fmt.Sprintf("%.1f s%s", gw.DrainSeconds, map[bool]string{true: " (still delivering at the cut-off)"}[gw.StillComing]),
			fmt.Sprintf("%.1f s%s", ev.DrainSeconds, map[bool]string{true: " (still delivering at the cut-off)"}[ev.StillComing]), "")
		row("daemon CPU (% of one core)", fmt.Sprintf("%.0f %%", gw.Daemon.CPUPercent), fmt.Sprintf("%.0f %% (with its webhook process)", ev.Daemon.CPUPercent), "")
		row("daemon CPU time per event delivered", fmt.Sprintf("%.0f µs", 1e6*gw.Daemon.CPUSeconds/float64(max(1, gw.Delivered))),
			fmt.Sprintf("%.0f µs", 1e6*ev.Daemon.CPUSeconds/float64(max(1, ev.Delivered))), "")
		row("daemon peak RSS (of which anonymous)", fmt.Sprintf("%.0f MiB (%.0f MiB)", gw.Daemon.PeakRSSMiB, gw.Daemon.PeakAnonMiB),
			fmt.Sprintf("%.0f MiB (%.0f MiB)", ev.Daemon.PeakRSSMiB, ev.Daemon.PeakAnonMiB), "")
		row("webhook receiver CPU", fmt.Sprintf("%.0f %%", gw.Webhook.CPUPercent), fmt.Sprintf("%.0f %%", ev.Webhook.CPUPercent), "")
		row("sender: achieved rate, most datagrams behind schedule", fmt.Sprintf("%.0f/s, %d", gw.Send.Rate, gw.Send.MaxLate), fmt.Sprintf("%.0f/s, %d", ev.Send.Rate, ev.Send.MaxLate), "")
		row("whole machine busy", fmt.Sprintf("%.0f %%", gw.SystemBusy), fmt.Sprintf("%.0f %%", ev.SystemBusy), "")
	}
	webhookTable := wh.String()

	var r strings.Builder
	row = func(cells ...string) { fmt.Fprintf(&r, "| %s |\n", strings.Join(cells, " | ")) }
	row("offered/s", "achieved/s", "sent", "socket drops", "journaled", "signalled", "journal caught up after", "last signal after", "most signals queued for the client",
		"glusterbus CPU", "dbus-daemon CPU", "sender+client CPU", "machine busy", "verdict")
	row("---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---")
	for i, p := range append([]busPhase{bus.Sustained}, bus.Ramp...) {
		verdict := "sustained"
		if !p.OK {
			verdict = p.Why
		}
		offered := fmt.Sprintf("%.0f", p.Target)
		if i == 0 {
			offered += fmt.Sprintf(" (the %.0f s run)", p.Send.Seconds)
		}
		row(offered, fmt.Sprintf("%.0f", p.Send.Rate), fmt.Sprint(p.Send.Sent), fmt.Sprint(p.SocketDrops),
			fmt.Sprint(p.Journaled), fmt.Sprint(p.Signalled), fmt.Sprintf("%.2f s", p.JournalDrainSeconds), fmt.Sprintf("%.2f s", p.DrainSeconds), fmt.Sprint(p.PeakClientQueue),
			fmt.Sprintf("%.0f %%", p.Daemon.CPUPercent), fmt.Sprintf("%.0f %%", p.Bus.CPUPercent),
			fmt.Sprintf("%.0f %%", p.Driver.CPUPercent), fmt.Sprintf("%.0f %%", p.SystemBusy), verdict)
	}
	ramp := r.String()

	fmt.Println()
	fmt.Print(table)
	if webhookTable != "" {
		fmt.Println()
		fmt.Print(webhookTable)
	}
	fmt.Println()
	fmt.Print(ramp)
	fmt.Printf("\npeak sustained by glusterbus: %.0f events/s (%s)\n", bus.Peak, bus.PeakLimit)
	if *doc == "" {
		if !bus.ZeroLoss {
			return fmt.Errorf("glusterbus did not deliver every datagram exactly once at %.0f/s", s.Target)
		}
		return nil
	}

	g := bus.GetEvents
	check := "every datagram sent was journaled once and signalled once"
	if !bus.ZeroLoss {
		check = "NOT every datagram sent was journaled once and signalled once"
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s\n\n", sectionTitle)
	fmt.Fprintf(&d, "Measured on %s by\n\n    %s\n\n(as root, from the repository's top directory, at commit %s; the run took %s). ", *started, *command, *commit, took.Round(time.Second))
	fmt.Fprintf(&d, "Load average before / after the run: %s / %s.\n\n", loadavg(*loadBefore), loadavg(""))
	fmt.Fprintf(&d, "Machine: %d × %s, %s GiB RAM, Linux %s, loopback only. glusterbus built with %s; glustereventsd from glusterfs-server %s (Python %s). "+
		"The machine was shared: \"whole machine busy\" is the busy share of all its cores during each measurement, the benchmark's own processes included.\n\n",
		runtime.NumCPU(), cpuModel(), memGiB(), osRelease(), *goVersion, *eventsdVersion, *pythonVersion)
	fmt.Fprintf(&d, "Both daemons get the same load: the %d datagram shapes GlusterFS 10.3 sent in `internal/nativeevents/testdata/captured.jsonl` that both accept, in turn, "+
		"each with its current timestamp and an added `bench_id=N` field, sent to the address it was captured on (`[::1]` or 127.1.250.1) at an even pace over loopback UDP (a sender that fell behind its schedule catches up at full speed). "+
		"glusterbus is `glusterbus serve --gluster false --events-rate -1` on a private dbus-daemon with an empty glusterd directory (no cluster); "+
		"it journals each event (bbolt, fsync per group commit) and a D-Bus client counts the `Event` signals; `--journal-max-events` is raised so that the whole run stays in the journal for the check. "+
		"glustereventsd is the installed one with its default configuration except the port, and one webhook, a local Go HTTP receiver counting the POSTs; "+
		"its glusterd directory, events log and pid file are in a temporary directory. "+
		"Delivered events/s is the events delivered divided by the time from the first datagram to the last delivery; "+
		"loss is the share of datagrams sent that were never delivered (glustereventsd: within %.0f s after the last datagram, or until nothing came for 5 s). "+
		"CPU is user+system time of the daemon (glustereventsd: with its webhook process; glusterbus: with the `false` commands its refreshes run) over the same interval, in %% of one core.\n\n",
		bus.Shapes, ev.DrainLimit)
	fmt.Fprintf(&d, "### %.0f events/s for %.0f s\n\n%s\n", s.Target, s.Send.Seconds, table)
	fmt.Fprintf(&d, "glusterbus, read back through `GetEvents`: %d records, %d distinct datagrams, %d missing, %d duplicates, %d with a wrong name, %d sequence gaps; "+
		"signals: %d distinct, %d duplicates: %s.\n\n", g.Events, g.Unique, g.Missing, g.Duplicates, g.WrongName, g.Gaps, s.Signalled, s.Duplicates, check)
	if *glusterCalls >= 0 {
		fmt.Fprintf(&d, "Native events trigger refreshes: during its runs (the 60 s run and the ramp) glusterbus ran the `gluster` command %d times "+
			"(here `false`, which fails at once, so each refresh of a volume the events name, or of everything, followed the last back to back); "+
			"the CPU of those commands is counted in the daemon's.\n\n", *glusterCalls)
	}
	fmt.Fprintf(&d, "glustereventsd wrote %d of the %d datagrams to its events log (read and published to its webhook process), %d were dropped by its sockets, "+
		"and the receiver got %d of them while the datagrams were being sent.\n\n", ev.Logged, ev.Send.Sent, ev.SocketDrops, ev.InWindow)
	if webhookTable != "" {
		fmt.Fprintf(&d, "### Webhook delivery, like for like\n\n"+
			"The same load and the same receiver, with glusterbus delivering to it as its one webhook instead of signalling on D-Bus: "+
			"another `glusterbus serve` as above (its own dbus-daemon, nobody listening to the signals), whose webhooks file holds the receiver "+
			"(`{\"token\": \"\", \"secret\": \"\"}`, no `\"glusterbus\"` settings: one POST per event, glustereventsd's body), measured as glustereventsd is "+
			"(the same drain limit; CPU of the daemon with the `false` commands its refreshes run). Each daemon ran alone; load average before the whole run: %s.\n\n%s\n",
			loadavg(*loadBefore), webhookTable)
	}
	fmt.Fprintf(&d, "### glusterbus: peak sustainable rate\n\n"+
		"From the %.0f s run, steps of %.0f s at rates ×1.4 higher each (or lower, if the run failed) until a step fails (or holds), then one step halfway between the best rate that held and the lowest that failed; a step that fails is repeated once, and holds if the repeat holds. "+
		"A step is sustained if every datagram is signalled, the last signal comes within 1 s of the last datagram and the sender achieves 95 %% of the rate; the peak is the highest achieved rate of a step that held. "+
		"\"Journal caught up after\" is when `LastSequence` counted every datagram the socket took, after the last was sent; "+
		"\"most signals queued for the client\" is the largest backlog dbus-daemon held for the signal client (`GetConnectionStats`, sampled every 100 ms). "+
		"Sender, signal client, dbus-daemon and glusterbus share the %d cores.\n\n%s\n", s.Send.Seconds, rampStepSeconds(bus), runtime.NumCPU(), ramp)
	fmt.Fprintf(&d, "Peak sustained: **%.0f events/s** (%s).\n", bus.Peak, bus.PeakLimit)
	if err := writeSection(*doc, d.String()); err != nil {
		return err
	}
	if !bus.ZeroLoss {
		return fmt.Errorf("glusterbus did not deliver every datagram exactly once at %.0f/s (%s written all the same)", s.Target, *doc)
	}
	return nil
}

func rampStepSeconds(b busResult) float64 {
	if len(b.Ramp) == 0 {
		return 0
	}
	return b.Ramp[0].Send.Seconds
}

// writeSection replaces the section under sectionTitle (up to the next
// second-level heading) in path, appends it if there is none, and creates
// the file with only the section if it does not exist.
func writeSection(path, section string) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return os.WriteFile(path, []byte(section), 0o644)
	}
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(data), "\n")
	start, end := -1, len(lines)
	for i, l := range lines {
		h := strings.TrimRight(l, "\n")
		if start < 0 && strings.TrimSpace(h) == sectionTitle {
			start = i
			continue
		}
		if start >= 0 && strings.HasPrefix(h, "## ") {
			end = i
			break
		}
	}
	var out string
	if start < 0 {
		out = string(data)
		if !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		out += "\n" + section
	} else {
		rest := strings.Join(lines[end:], "")
		if rest != "" {
			section += "\n"
		}
		out = strings.Join(lines[:start], "") + section + rest
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func osRelease() string {
	data, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(data))
}

func memGiB() string {
	data, _ := os.ReadFile("/proc/meminfo")
	var kb int64
	fmt.Sscanf(string(data), "MemTotal: %d kB", &kb)
	return fmt.Sprintf("%.0f", float64(kb)/(1<<20))
}

// loadavg returns the three load averages of a /proc/loadavg line, or of
// the current one.
func loadavg(line string) string {
	if line == "" {
		data, _ := os.ReadFile("/proc/loadavg")
		line = string(data)
	}
	f := strings.Fields(line)
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
