package daemon_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/objpath"
)

// diffEvent is one Event signal of a state change, at index at of the
// signals the harness recorded.
type diffEvent struct {
	at     int
	name   string
	fields map[string]string
}

// diffEvents returns the state-change events signalled after mark m.
func (h *harness) diffEvents(m int) []diffEvent {
	var out []diffEvent
	for i, s := range h.since(m) {
		if s.Name != exporter.ManagerInterface+".Event" || len(s.Body) < 6 {
			continue
		}
		fields, _ := s.Body[5].(map[string]string)
		if fields["source"] == "diff" {
			out = append(out, diffEvent{m + i, s.Body[1].(string), fields})
		}
	}
	return out
}

// TestEventsTellTheTruth makes volumes of every kind go through their life
// (create, start, set, stop, delete), restarts another node's glusterd and
// the daemon itself, with the daemon's defaults: no state-change event may say a brick is
// offline, or a volume down or degraded, while every brick process runs. A
// brick that really dies is reported. GLUSTERBUS_TRUTH_CYCLES sets how many
// cycles (bench runs use 50).
func TestEventsTellTheTruth(t *testing.T) {
	h := start(t, 3, nil, func(cfg *daemon.Config) { cfg.RemoteBrickStatus = false })
	c, n1 := h.cluster, h.cluster.Nodes[0]
	cycles := 2
	if s := os.Getenv("GLUSTERBUS_TRUTH_CYCLES"); s != "" {
		fmt.Sscan(s, &cycles)
	}
	m := h.mark()
	stops := map[string]int{} // volume -> the mark when its stop was asked for
	bricksOf := func(vol string) []string {
		var out []string
		for i := range c.Nodes {
			out = append(out, c.Nodes[i].Addr+":"+c.BrickDir(i+1, vol))
		}
		return out
	}
	localBrick := func(vol string) dbus.ObjectPath {
		return exporter.BrickPrefix + dbus.ObjectPath(objpath.Encode(bricksOf(vol)[0]))
	}
	status := func(vol, want string) {
		t.Helper()
		h.waitFor(vol+" "+want, 30*time.Second, func() bool { return h.prop(volPath(vol), exporter.VolumeInterface, "Status") == want })
	}
	startVolume := func(vol, kind string) {
		t.Helper()
		layout := []string{"replica", "3"}
		if kind == "disperse" {
			layout = []string{"disperse", "3", "redundancy", "1"}
		}
		n1.Gluster(t, append(append(append([]string{"volume", "create", vol}, layout...), bricksOf(vol)...), "force")...)
		status(vol, "Created")
		n1.Gluster(t, "volume", "start", vol)
		status(vol, "Started")
		h.waitFor(vol+"'s brick here online", 30*time.Second, func() bool {
			return h.prop(localBrick(vol), exporter.BrickInterface, "State") == "online"
		})
	}
	// A volume whose brick dies at the end, past its start grace.
	killedVol := "killed"
	startVolume(killedVol, "replica")
	for i := range cycles {
		for _, kind := range []string{"replica", "disperse"} {
			vol := fmt.Sprintf("%s%d", kind, i)
			startVolume(vol, kind)
			n1.Gluster(t, "volume", "set", vol, "performance.readdir-ahead", "off")
			h.waitFor(vol+" option", 30*time.Second, func() bool {
				opts, _ := h.prop(volPath(vol), exporter.VolumeInterface, "Options").(map[string]string)
				return opts["performance.readdir-ahead"] == "off"
			})
			if i == cycles/2 && kind == "disperse" {
				// The daemon restarts while the volume runs.
				h.restart()
			}
			if i == cycles/2 && kind == "replica" {
				// Another node's glusterd restarts while the volume runs:
				// its bricks go on running.
				n3 := c.Nodes[2]
				n3.StopGlusterd(t)
				h.waitFor("node 3 disconnected", 60*time.Second, func() bool {
					return h.signalSeen(m, func(s *dbus.Signal) bool {
						return s.Name == exporter.ManagerInterface+".Event" && s.Body[1] == "PEER_DISCONNECT"
					})
				})
				n3.StartGlusterd(t)
				h.waitFor("node 3 back", 60*time.Second, func() bool {
					return h.signalSeen(m, func(s *dbus.Signal) bool {
						return s.Name == exporter.ManagerInterface+".Event" && s.Body[1] == "PEER_CONNECT"
					})
				})
			}
			stops[vol] = h.mark()
			n1.Gluster(t, "volume", "stop", vol)
			status(vol, "Stopped")
			n1.Gluster(t, "volume", "delete", vol)
			h.waitFor(vol+" gone", 30*time.Second, func() bool { return h.prop(volPath(vol), exporter.VolumeInterface, "Name") == nil })
		}
	}
	evs := h.diffEvents(m)
	counts := map[string]int{}
	for _, ev := range evs {
		counts[ev.name]++
	}
	t.Logf("%d cycles of 2 volumes, a glusterd restart and a daemon restart: %d state-change events %v", cycles, len(evs), counts)
	if alarms := falseAlarms(evs, stops); len(alarms) != 0 {
		t.Fatalf("%d false alarms over %d cycles:\n%s", len(alarms), cycles, strings.Join(alarms, "\n"))
	}

	// A brick that really dies is reported, by the next reconcile.
	vol := killedVol
	pid := c.BrickPID(t, vol, 1, c.BrickDir(1, vol))
	if pid <= 0 {
		t.Fatalf("no pid for %s's brick", vol)
	}
	m = h.mark()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	h.waitFor("BRICK_OFFLINE for the killed brick", 60*time.Second, func() bool {
		for _, ev := range h.diffEvents(m) {
			if ev.name == "BRICK_OFFLINE" && ev.fields["brick"] == bricksOf(vol)[0] {
				return true
			}
		}
		return false
	})
	t.Logf("the killed brick reported offline after %v (reconcile interval 1s)", time.Since(killed).Round(10*time.Millisecond))
}

// falseAlarms lists the events that say a brick is offline, or a volume
// down or degraded, while no brick was killed: only a volume's stop, once
// asked for (at the mark in stops), takes its bricks down.
func falseAlarms(evs []diffEvent, stops map[string]int) []string {
	var out []string
	for _, ev := range evs {
		vol := ev.fields["volume"]
		if ev.name == "VOLUME_HEALTH_CHANGED" {
			vol = ev.fields["name"]
		}
		if at, ok := stops[vol]; ok && ev.at >= at {
			continue
		}
		switch ev.name {
		case "BRICK_OFFLINE":
			out = append(out, fmt.Sprintf("BRICK_OFFLINE %s of %s", ev.fields["brick"], vol))
		case "VOLUME_HEALTH_CHANGED":
			if n := ev.fields["new"]; n == "down" || n == "degraded" {
				out = append(out, fmt.Sprintf("VOLUME_HEALTH_CHANGED %s %s -> %s", vol, ev.fields["old"], n))
			}
		}
	}
	return out
}
