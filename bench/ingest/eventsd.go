package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// receiverStats is what the webhook receiver got.
type receiverStats struct {
	Posts      int64 `json:"posts"`
	Unique     int64 `json:"unique"` // distinct bench_ids
	Duplicates int64 `json:"duplicates"`
	Bad        int64 `json:"bad"`     // not a glustereventsd payload with a bench_id
	LastAt     int64 `json:"last_at"` // unix nanoseconds of the last new one
}

// runReceiver serves a webhook that counts glustereventsd's POSTs by the
// bench_id in their message, and its counts on GET /stats.
func runReceiver(args []string) error {
	fs := flag.NewFlagSet("receiver", flag.ExitOnError)
	addrFile := fs.String("addr-file", "", "write the webhook URL here once listening")
	fs.Parse(args)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var (
		seen                           bitset
		posts, unique, dups, bad, last atomic.Int64
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /listen", func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		var p struct {
			Event   string         `json:"event"`
			Message map[string]any `json:"message"`
		}
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = json.NewDecoder(bytes.NewReader(body)).Decode(&p)
		}
		var id int64 = -1
		if s, ok := p.Message["bench_id"].(string); ok && err == nil {
			id, err = strconv.ParseInt(s, 10, 64)
		}
		switch {
		case err != nil || id < 0 || p.Event == "":
			bad.Add(1)
		case seen.set(id):
			dups.Add(1)
		default:
			unique.Add(1)
			last.Store(time.Now().UnixNano())
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(receiverStats{Posts: posts.Load(), Unique: unique.Load(),
			Duplicates: dups.Load(), Bad: bad.Load(), LastAt: last.Load()})
	})
	url := "http://" + ln.Addr().String() + "/listen"
	if err := os.WriteFile(*addrFile+".tmp", []byte(url+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(*addrFile+".tmp", *addrFile); err != nil {
		return err
	}
	return http.Serve(ln, mux)
}

// eventsdResult is the paced run against glustereventsd.
type eventsdResult struct {
	Shapes      int        `json:"shapes"`
	Target      float64    `json:"target_per_s"`
	Send        sendResult `json:"send"`
	SocketDrops int64      `json:"socket_drops"`
	// Logged is how many events glustereventsd wrote to its events log:
	// the datagrams it read and published to its webhook process.
	Logged        int64         `json:"logged"`
	InWindow      int64         `json:"delivered_while_sending"`
	Delivered     int64         `json:"delivered"` // by the end of the drain
	Receiver      receiverStats `json:"receiver"`
	DrainSeconds  float64       `json:"drain_s"` // waited after the last datagram
	DrainLimit    float64       `json:"drain_limit_s"`
	StillComing   bool          `json:"still_coming"` // deliveries had not stopped when the drain ended
	DeliveredRate float64       `json:"delivered_per_s"`
	LossPercent   float64       `json:"loss_percent"`
	Daemon        Usage         `json:"daemon"` // glustereventsd and its webhook process
	Webhook       Usage         `json:"receiver_usage"`
	Driver        Usage         `json:"driver"`
	SystemBusy    float64       `json:"system_busy_percent"`
}

func runEventsd(args []string) error {
	fs := flag.NewFlagSet("eventsd", flag.ExitOnError)
	port := fs.Int("port", 0, "glustereventsd's port")
	pid := fs.Int("pid", 0, "the daemon's process id (glustereventsd's webhook process is its child)")
	receiverURL := fs.String("receiver", "", "the receiver's stats URL")
	receiverPid := fs.Int("receiver-pid", 0, "the receiver's process id")
	logFile := fs.String("log", "", "glustereventsd's events log (none for glusterbus)")
	captured := fs.String("captured", "internal/nativeevents/testdata/captured.jsonl", "captured datagrams")
	payloads := fs.String("payloads", "internal/nativeevents/testdata/payloads.jsonl", "glustereventsd's payloads for them")
	rate := fs.Float64("rate", 10000, "datagrams per second")
	duration := fs.Duration("duration", 60*time.Second, "run length")
	drain := fs.Duration("drain", 60*time.Second, "how long to wait for deliveries after the last datagram")
	quiet := fs.Duration("quiet", 5*time.Second, "stop waiting once nothing was delivered for this long")
	out := fs.String("out", "", "result file (JSON)")
	label := fs.String("label", "glustereventsd", "the daemon's name in the progress lines")
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
	if err := waitBound(*port, *pid); err != nil {
		return err
	}
	stats := func() (receiverStats, error) {
		var s receiverStats
		resp, err := http.Get(*receiverURL)
		if err != nil {
			return s, err
		}
		defer resp.Body.Close()
		return s, json.NewDecoder(resp.Body).Decode(&s)
	}
	// A few datagrams first, to see the whole path work.
	for range warmup {
		snd.send()
	}
	var before receiverStats
	for deadline := time.Now().Add(30 * time.Second); before.Unique < warmup; time.Sleep(50 * time.Millisecond) {
		if before, err = stats(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d warm-up datagrams reached the webhook", before.Unique, warmup)
		}
	}
	logged0 := countLines(*logFile)
	_, drops0 := socketStats(*port)
	res := eventsdResult{Shapes: len(mix), Target: *rate, DrainLimit: drain.Seconds()}
	logf("%s: %.0f events/s for %v", *label, *rate, *duration)
	m := startMeter(map[string]int{"daemon": *pid, "receiver": *receiverPid, "driver": os.Getpid()})
	res.Send = snd.paced(*rate, *duration)
	sendEnd := time.Now()
	s, err := stats()
	if err != nil {
		return err
	}
	res.InWindow = s.Unique - before.Unique
	lastCount, lastChange := s.Unique, time.Now()
	for time.Since(sendEnd) < *drain && s.Unique-before.Unique < res.Send.Sent && time.Since(lastChange) < *quiet {
		time.Sleep(250 * time.Millisecond)
		if s, err = stats(); err != nil {
			return err
		}
		if s.Unique != lastCount {
			lastCount, lastChange = s.Unique, time.Now()
		}
	}
	res.StillComing = time.Since(lastChange) < *quiet && s.Unique-before.Unique < res.Send.Sent
	usage, sys := m.stop()
	res.Daemon, res.Webhook, res.Driver, res.SystemBusy = usage["daemon"], usage["receiver"], usage["driver"], sys
	res.Receiver = s
	res.Delivered = s.Unique - before.Unique
	_, drops1 := socketStats(*port)
	res.SocketDrops = drops1 - drops0
	res.Logged = countLines(*logFile) - logged0
	last := time.Unix(0, s.LastAt)
	res.DrainSeconds = max(0, last.Sub(sendEnd).Seconds())
	res.DeliveredRate = float64(res.Delivered) / later(last, sendEnd).Sub(res.Send.Start).Seconds()
	res.LossPercent = 100 * float64(res.Send.Sent-res.Delivered) / float64(res.Send.Sent)
	logf("  sent %d (%.0f/s, at most %d behind), socket drops %d, logged %d, delivered %d while sending and %d in all (last %.1fs after sending; still coming: %v), %d duplicates, %d bad; %s %.0f%% CPU, %.0f MiB; receiver %.0f%%; machine %.0f%% busy",
		res.Send.Sent, res.Send.Rate, res.Send.MaxLate, res.SocketDrops, res.Logged, res.InWindow, res.Delivered, res.DrainSeconds, res.StillComing,
		s.Duplicates-before.Duplicates, s.Bad-before.Bad, *label, res.Daemon.CPUPercent, res.Daemon.PeakRSSMiB, res.Webhook.CPUPercent, res.SystemBusy)
	return writeJSON(*out, res)
}

// countLines counts the events in glustereventsd's log: each published
// event is one INFO line holding its repr.
func countLines(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var n int64
	for _, line := range bytes.Split(data, []byte("\n")) {
		if bytes.Contains(line, []byte(" INFO ")) && bytes.Contains(line, []byte("'bench_id'")) {
			n++
		}
	}
	return n
}

// waitBound waits until UDP sockets are bound to port on IPv4 and IPv6.
func waitBound(port, pid int) error {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if boundOn("/proc/net/udp", port) && boundOn("/proc/net/udp6", port) {
			return nil
		}
		if time.Now().After(deadline) || statFields(pid) == nil {
			return fmt.Errorf("nothing listens on UDP port %d (pid %d)", port, pid)
		}
	}
}

// boundOn reports whether a socket in the /proc/net table file has the
// local port.
func boundOn(file string, port int) bool {
	data, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) {
			return true
		}
	}
	return false
}
