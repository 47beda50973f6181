package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/exporter"
)

// busPhase is one paced run against glusterbus.
type busPhase struct {
	Target      float64    `json:"target_per_s"`
	Send        sendResult `json:"send"`
	SocketDrops int64      `json:"socket_drops"` // dropped by the kernel: the daemon's socket buffer was full
	Journaled   int64      `json:"journaled"`    // LastSequence after minus before
	Signalled   int64      `json:"signalled"`    // distinct datagrams seen as Event signals
	Duplicates  int64      `json:"duplicates"`
	Wrong       int64      `json:"wrong"` // signalled with another event name
	// DrainSeconds is how long after the last datagram the last signal
	// came; JournalDrainSeconds how long after it LastSequence counted
	// every datagram the socket did not drop.
	DrainSeconds        float64 `json:"drain_s"`
	JournalDrainSeconds float64 `json:"journal_drain_s"`
	// PeakClientQueue is the most Event signals dbus-daemon held for the
	// signal client at once (it reads them too slowly when this grows).
	PeakClientQueue int64   `json:"peak_client_queue"`
	DeliveredRate   float64 `json:"delivered_per_s"` // signalled / (first datagram .. last signal)
	LossPercent     float64 `json:"loss_percent"`
	Daemon          Usage   `json:"daemon"`
	Bus             Usage   `json:"dbus_daemon"`
	Driver          Usage   `json:"driver"` // this program: sender and signal client
	SystemBusy      float64 `json:"system_busy_percent"`
	OK              bool    `json:"ok"`
	Why             string  `json:"why,omitempty"`
}

// getEventsCheck is GetEvents read back after the sustained run.
type getEventsCheck struct {
	Events     int64 `json:"events"` // records after the base sequence
	Unique     int64 `json:"unique"` // distinct datagrams among them
	Duplicates int64 `json:"duplicates"`
	Missing    int64 `json:"missing"`
	WrongName  int64 `json:"wrong_name"`
	Other      int64 `json:"other"` // records without a bench_id of this run
	Gaps       int64 `json:"gaps"`  // sequence numbers skipped
	Seconds    float64
}

type busResult struct {
	Shapes    int            `json:"shapes"`
	Sustained busPhase       `json:"sustained"`
	GetEvents getEventsCheck `json:"get_events"`
	ZeroLoss  bool           `json:"zero_loss"` // every datagram once in GetEvents and once as a signal
	Ramp      []busPhase     `json:"ramp"`
	Peak      float64        `json:"peak_per_s"`
	PeakLimit string         `json:"peak_limit"`
}

// sigCollector records the Event signals by bench_id.
type sigCollector struct {
	mix    *sender
	seen   bitset
	total  atomic.Int64 // distinct
	dups   atomic.Int64
	wrong  atomic.Int64
	lastAt atomic.Int64 // unix nanoseconds of the last new one
}

func (c *sigCollector) run(ch <-chan *dbus.Signal) {
	for s := range ch {
		if s.Name != exporter.ManagerInterface+".Event" || len(s.Body) != 6 {
			continue
		}
		name, _ := s.Body[1].(string)
		fields, _ := s.Body[5].(map[string]string)
		id, err := strconv.ParseInt(fields["bench_id"], 10, 64)
		switch {
		case err != nil:
			c.wrong.Add(1)
		case name != c.mix.shapeOf(id).name:
			c.wrong.Add(1)
		case c.seen.set(id):
			c.dups.Add(1)
		default:
			c.total.Add(1)
			c.lastAt.Store(time.Now().UnixNano())
		}
	}
}

func runGlusterbus(args []string) error {
	fs := flag.NewFlagSet("glusterbus", flag.ExitOnError)
	busAddr := fs.String("bus", "", "the D-Bus address of the daemon's bus")
	port := fs.Int("port", 0, "the daemon's events port")
	pid := fs.Int("pid", 0, "the daemon's process id")
	busPid := fs.Int("bus-pid", 0, "the dbus-daemon's process id")
	captured := fs.String("captured", "internal/nativeevents/testdata/captured.jsonl", "captured datagrams")
	payloads := fs.String("payloads", "internal/nativeevents/testdata/payloads.jsonl", "glustereventsd's payloads for them")
	rate := fs.Float64("rate", 10000, "sustained rate, datagrams per second")
	duration := fs.Duration("duration", 60*time.Second, "sustained run length")
	rampFactor := fs.Float64("ramp-factor", 1.4, "rate multiplier between ramp steps")
	rampStep := fs.Duration("ramp-step", 10*time.Second, "length of one ramp step")
	rampBudget := fs.Duration("ramp-budget", 150*time.Second, "time the ramp may take")
	out := fs.String("out", "", "result file (JSON)")
	fs.Parse(args)

	mix, err := loadMix(*captured, *payloads)
	if err != nil {
		return err
	}
	snd, err := newSender(mix, *port)
	if err != nil {
		return err
	}
	defer snd.close()
	conn, err := connectOwner(*busAddr, *pid)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.AddMatchSignal(dbus.WithMatchInterface(exporter.ManagerInterface), dbus.WithMatchMember("Event")); err != nil {
		return err
	}
	ch := make(chan *dbus.Signal, 1<<18)
	conn.Signal(ch)
	col := &sigCollector{mix: snd}
	go col.run(ch)
	manager := conn.Object(exporter.BusName, exporter.ManagerPath)
	lastSeq := func() (uint64, error) {
		var seq uint64
		err := manager.Call(exporter.ManagerInterface+".LastSequence", 0, map[string]dbus.Variant{}).Store(&seq)
		return seq, err
	}
	roots := map[string]int{"daemon": *pid, "bus": *busPid, "driver": os.Getpid()}

	phase := func(target float64, d, quiet time.Duration) (busPhase, error) {
		p := busPhase{Target: target}
		seq0, err := lastSeq()
		if err != nil {
			return p, err
		}
		_, drops0 := socketStats(*port)
		before := col.total.Load()
		dups0, wrong0 := col.dups.Load(), col.wrong.Load()
		m := startMeter(roots)
		stopQueue := make(chan struct{})
		queueDone := make(chan int64)
		go func() { queueDone <- peakQueue(conn, stopQueue) }()
		p.Send = snd.paced(target, d)
		sendEnd := p.Send.Start.Add(time.Duration(p.Send.Seconds * float64(time.Second)))
		// Wait for the journal to count what the sockets took.
		for {
			seq, err := lastSeq()
			if err != nil {
				return p, err
			}
			_, drops := socketStats(*port)
			if int64(seq-seq0) >= p.Send.Sent-(drops-drops0) {
				p.JournalDrainSeconds = time.Since(sendEnd).Seconds()
				break
			}
			if time.Since(sendEnd) > 60*time.Second {
				p.JournalDrainSeconds = -1
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Wait for the signals until all came or none came for quiet.
		for col.total.Load()-before < p.Send.Sent {
			last := time.Unix(0, col.lastAt.Load())
			if time.Since(later(last, sendEnd)) > quiet {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		usage, sys := m.stop()
		close(stopQueue)
		p.PeakClientQueue = <-queueDone
		p.Daemon, p.Bus, p.Driver, p.SystemBusy = usage["daemon"], usage["bus"], usage["driver"], sys
		seq1, err := lastSeq()
		if err != nil {
			return p, err
		}
		_, drops1 := socketStats(*port)
		p.SocketDrops = drops1 - drops0
		p.Journaled = int64(seq1 - seq0)
		p.Signalled = col.seen.count(p.Send.FirstID, p.Send.FirstID+p.Send.Sent)
		p.Duplicates, p.Wrong = col.dups.Load()-dups0, col.wrong.Load()-wrong0
		last := time.Unix(0, col.lastAt.Load())
		p.DrainSeconds = max(0, last.Sub(sendEnd).Seconds())
		p.DeliveredRate = float64(p.Signalled) / later(last, sendEnd).Sub(p.Send.Start).Seconds()
		p.LossPercent = 100 * float64(p.Send.Sent-p.Signalled) / float64(p.Send.Sent)
		logf("  %8.0f/s: sent %d (%.0f/s, at most %d behind), socket drops %d, journaled %d, signalled %d, journal caught up after %.2fs, last signal after %.2fs (at most %d queued for the client), daemon %.0f%% CPU, dbus-daemon %.0f%%, driver %.0f%%, machine %.0f%% busy",
			target, p.Send.Sent, p.Send.Rate, p.Send.MaxLate, p.SocketDrops, p.Journaled, p.Signalled, p.JournalDrainSeconds, p.DrainSeconds, p.PeakClientQueue,
			p.Daemon.CPUPercent, p.Bus.CPUPercent, p.Driver.CPUPercent, p.SystemBusy)
		return p, nil
	}

	res := busResult{Shapes: len(mix)}
	// A few datagrams first, to see the whole path work.
	for range warmup {
		snd.send()
	}
	for deadline := time.Now().Add(30 * time.Second); col.total.Load() < warmup; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d warm-up datagrams were signalled", col.total.Load(), warmup)
		}
	}
	base, err := lastSeq()
	if err != nil {
		return err
	}
	logf("glusterbus: %.0f events/s for %v (%d datagram shapes)", *rate, *duration, len(mix))
	if res.Sustained, err = phase(*rate, *duration, 10*time.Second); err != nil {
		return err
	}
	if res.GetEvents, err = checkGetEvents(manager, base, res.Sustained.Send, snd); err != nil {
		return err
	}
	s, g := res.Sustained, res.GetEvents
	res.ZeroLoss = s.Send.Errors == 0 && s.Signalled == s.Send.Sent && s.Duplicates == 0 && s.Wrong == 0 &&
		g.Unique == s.Send.Sent && g.Duplicates == 0 && g.Missing == 0 && g.WrongName == 0 && g.Other == 0
	logf("  GetEvents: %d records, %d distinct datagrams, %d missing, %d duplicates, %d wrong names, %d gaps (read in %.1fs); zero loss: %v",
		g.Events, g.Unique, g.Missing, g.Duplicates, g.WrongName, g.Gaps, g.Seconds, res.ZeroLoss)

	// The ramp: from the sustained rate, raise the rate step by step until
	// a step loses, lags or the sender cannot keep up (or, if the
	// sustained rate already failed, lower it until a step holds); then
	// try once halfway between the best rate that held and the lowest
	// that failed.
	logf("glusterbus: ramp, %v per step", *rampStep)
	deadline := time.Now().Add(*rampBudget)
	fits := func() bool { return time.Now().Add(*rampStep + 10*time.Second).Before(deadline) }
	judge(&res.Sustained)
	res.Sustained.OK = res.Sustained.OK && res.ZeroLoss
	good, bad := 0.0, 0.0
	var badWhy string
	// step records a measured step and reports whether it held; a step
	// that the sender could not keep up with but that lost nothing counts
	// as holding at the rate achieved, and ends the ramp.
	senderBound := false
	step := func(p busPhase) bool {
		if p.OK {
			good = max(good, p.Send.Rate)
			return true
		}
		if p.Send.Rate < 0.95*p.Target && p.Send.Sent == p.Signalled && p.Duplicates+p.Wrong == 0 {
			good, senderBound, badWhy = max(good, p.Send.Rate), true, p.Why
			return true
		}
		if bad == 0 || p.Target < bad {
			bad, badWhy = p.Target, p.Why
		}
		return false
	}
	// tryRate measures a step, and once more if it fails: the machine may
	// be shared, and a step holds if either run holds.
	tryRate := func(r float64) (bool, error) {
		for try := 0; ; try++ {
			p, err := phase(r, *rampStep, 3*time.Second)
			if err != nil {
				return false, err
			}
			judge(&p)
			if !p.OK && try == 0 && fits() {
				p.Why += "; repeated"
				res.Ramp = append(res.Ramp, p)
				continue
			}
			res.Ramp = append(res.Ramp, p)
			return step(p), nil
		}
	}
	up := step(res.Sustained)
	for r := *rate; !senderBound && fits(); {
		if up {
			r *= *rampFactor
		} else {
			r /= *rampFactor
		}
		held, err := tryRate(r)
		if err != nil {
			return err
		}
		if held != up {
			break // up and failed, or down and held
		}
	}
	if !senderBound && bad > 0 && good > 0 && fits() {
		if _, err := tryRate((good + bad) / 2); err != nil {
			return err
		}
	}
	res.Peak = good
	switch {
	case senderBound:
		res.PeakLimit = badWhy + ", with no loss: this is the sender's limit on this machine, not the daemon's"
	case bad > 0:
		res.PeakLimit = fmt.Sprintf("%.0f/s failed: %s", bad, badWhy)
	default:
		res.PeakLimit = "the ramp's time budget ran out before any step failed"
	}
	logf("  peak sustained: %.0f/s (%s)", res.Peak, res.PeakLimit)
	return writeJSON(*out, res)
}

// checkGetEvents pages through GetEvents after base and checks that every
// datagram of the run is there once, with its event name.
func checkGetEvents(manager dbus.BusObject, base uint64, run sendResult, snd *sender) (getEventsCheck, error) {
	type record struct {
		Seq    uint64
		Name   string
		Usec   int64
		Node   string
		Object dbus.ObjectPath
		Fields map[string]string
	}
	start := time.Now()
	var c getEventsCheck
	var seen bitset
	since, prev := base, base
	for {
		var page []record
		err := manager.Call(exporter.ManagerInterface+".GetEvents", 0, since, uint32(10000), map[string]dbus.Variant{}).Store(&page)
		if err != nil {
			return c, err
		}
		for _, r := range page {
			c.Events++
			if r.Seq != prev+1 {
				c.Gaps += int64(r.Seq - prev - 1)
			}
			prev = r.Seq
			id, err := strconv.ParseInt(r.Fields["bench_id"], 10, 64)
			switch {
			case err != nil || id < run.FirstID || id >= run.FirstID+run.Sent:
				c.Other++
			case r.Name != snd.shapeOf(id).name:
				c.WrongName++
			case seen.set(id):
				c.Duplicates++
			default:
				c.Unique++
			}
		}
		if len(page) < 10000 {
			break
		}
		since = page[len(page)-1].Seq
	}
	c.Missing = run.Sent - c.Unique
	c.Seconds = time.Since(start).Seconds()
	return c, nil
}

// warmup is how many datagrams are sent before measuring.
const warmup = 20

// connectOwner connects to the bus once the daemon owns its name.
func connectOwner(addr string, pid int) (*dbus.Conn, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := dbus.Connect(addr)
		if err == nil {
			var owner string
			if err = c.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, exporter.BusName).Store(&owner); err == nil {
				return c, nil
			}
			c.Close()
		}
		if time.Now().After(deadline) || (pid > 0 && statFields(pid) == nil) {
			return nil, fmt.Errorf("the daemon (pid %d) did not take %s on %s: %v", pid, exporter.BusName, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// judge decides whether a step held: every datagram signalled once, the
// last signal within a second of the last datagram, and the sender at 95 %
// of the rate (it shares the machine; a step that holds counts at the rate
// achieved).
func judge(p *busPhase) {
	p.OK = false
	switch {
	case p.Send.Sent-p.Signalled > 0:
		p.Why = fmt.Sprintf("loss (%d dropped by the socket, %d not journaled, %d not signalled)",
			p.SocketDrops, p.Send.Sent-p.SocketDrops-p.Journaled, p.Send.Sent-p.Signalled)
	case p.Duplicates+p.Wrong > 0:
		p.Why = "duplicate or wrong signals"
	case p.Send.Rate < 0.95*p.Target:
		p.Why = fmt.Sprintf("sender saturated (achieved %.0f/s)", p.Send.Rate)
	case p.DrainSeconds > 1:
		p.Why = fmt.Sprintf("signals lagged %.1f s behind (the journal %.1f s; at most %d signals queued for the client)",
			p.DrainSeconds, p.JournalDrainSeconds, p.PeakClientQueue)
	default:
		p.OK = true
	}
}

// peakQueue samples, until stop, how many messages dbus-daemon holds for
// conn (org.freedesktop.DBus.Debug.Stats), and returns the most; -1 if the
// bus cannot say.
func peakQueue(conn *dbus.Conn, stop <-chan struct{}) int64 {
	names := conn.Names()
	if len(names) == 0 {
		return -1
	}
	peak := int64(-1)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		var stats map[string]dbus.Variant
		err := conn.BusObject().Call("org.freedesktop.DBus.Debug.Stats.GetConnectionStats", 0, names[0]).Store(&stats)
		if err == nil {
			if n, ok := stats["OutgoingMessages"].Value().(uint32); ok {
				peak = max(peak, int64(n))
			}
		}
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}
