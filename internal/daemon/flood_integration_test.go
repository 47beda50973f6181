package daemon_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
)

// TestFloodOfUnknownNames sends native events naming volumes that do not
// exist, at the default rate limit, then changes a real volume: the flood
// costs a bounded number of gluster runs (one full read at most every 2 s,
// not one read per name), and the real change still reaches the bus.
// GLUSTERBUS_FLOOD_EVENTS sets how many events (10000 by default).
func TestFloodOfUnknownNames(t *testing.T) {
	var runs string
	port := freeUDPPort(t)
	h := start(t, 1, nil, func(cfg *daemon.Config) {
		cfg.RemoteBrickStatus = false
		cfg.GlusterdSocket = "" // every read a gluster run, to count them
		cfg.EventsPort, cfg.EventsAddrs = port, []string{"127.0.0.1"}
		cfg.EventsRate, cfg.EventsBurst = 1000, 5000 // serve's defaults
		runs = recordGluster(t, cfg)
	})
	n1 := h.cluster.Nodes[0]
	n1.Gluster(t, "volume", "create", "real", n1.Addr+":"+h.cluster.BrickDir(1, "real"), "force")
	h.waitFor("the volume on the bus", 30*time.Second, func() bool {
		return h.prop(volPath("real"), exporter.VolumeInterface, "Status") == "Created"
	})

	events := 10000
	if s := os.Getenv("GLUSTERBUS_FLOOD_EVENTS"); s != "" {
		fmt.Sscan(s, &events)
	}
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := len(glusterRuns(t, runs, ""))
	began := time.Now()
	tick := time.NewTicker(10 * time.Millisecond) // 10 a tick: 1000/s
	defer tick.Stop()
	for i := 0; i < events; {
		<-tick.C
		for range 10 {
			msg := fmt.Sprintf("%d 6 name=nosuch%d;options=,performance.readdir-ahead,off", time.Now().Unix(), i)
			if _, err := conn.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			i++
		}
	}
	sent := time.Since(began)

	n1.Gluster(t, "volume", "set", "real", "user.flood", "over")
	set := time.Now()
	h.waitFor("the real change on the bus", 60*time.Second, func() bool {
		opts, _ := h.prop(volPath("real"), exporter.VolumeInterface, "Options").(map[string]string)
		return opts["user.flood"] == "over"
	})
	shown := time.Since(set)
	cost := glusterRuns(t, runs, "")[before:]
	perKind := map[string]int{}
	for _, line := range cost {
		var words []string
		for _, w := range strings.Fields(line) {
			if !strings.HasPrefix(w, "-") && len(words) < 3 {
				words = append(words, w)
			}
		}
		if len(words) > 0 {
			perKind[strings.Join(words, " ")]++
		}
	}
	status, _ := os.ReadFile("/proc/self/status")
	hwm := ""
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			hwm = strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	t.Logf("%d events naming no volume sent in %v; the real change on the bus %v after its command returned; "+
		"gluster runs meanwhile: %d %v; VmHWM of the test process (the daemon in it) %s",
		events, sent.Round(time.Millisecond), shown.Round(time.Millisecond), len(cost), perKind, hwm)
	// One full read (a few runs) at most every 2 s while the flood lasts,
	// plus the reconcile's: nowhere near one run per name.
	if most := 20 * (2 + int(time.Since(began)/(2*time.Second))); len(cost) > most {
		t.Errorf("%d gluster runs during a flood of %v, want at most %d", len(cost), time.Since(began).Round(time.Second), most)
	}
}
