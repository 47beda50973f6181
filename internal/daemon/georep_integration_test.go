package daemon_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// geoRepWorker is one <pair> of a geo-replication status fixture.
type geoRepWorker struct {
	node, uuid, brick, status, checkpointDone, checkpointTime, completionTime string
}

// geoRepXML writes what `volume geo-replication status --xml` of GlusterFS
// 10 prints (cli_xml_output_vol_gsync_status) for one session of pv to
// geoaccount@sec.example.com::sv; gsyncd's N/A where a worker that is not
// Active tells nothing.
func geoRepXML(workers ...geoRepWorker) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <geoRep>
    <volume>
      <name>pv</name>
      <sessions>
        <session>
          <session_secondary>` + workers[0].uuid + `:ssh://geoaccount@sec.example.com::sv:9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d</session_secondary>
`)
	for _, w := range workers {
		na := func(active string) string {
			if w.status == "Active" {
				return active
			}
			return "N/A"
		}
		fmt.Fprintf(&b, `          <pair>
            <primary_node>%s</primary_node>
            <primary_brick>%s</primary_brick>
            <secondary_user>geoaccount</secondary_user>
            <secondary>ssh://geoaccount@sec.example.com::sv</secondary>
            <secondary_node>%s</secondary_node>
            <status>%s</status>
            <crawl_status>%s</crawl_status>
            <entry>%s</entry>
            <data>%s</data>
            <meta>%s</meta>
            <failures>%s</failures>
            <checkpoint_completed>%s</checkpoint_completed>
            <primary_node_uuid>%s</primary_node_uuid>
            <last_synced>%s</last_synced>
            <checkpoint_time>%s</checkpoint_time>
            <checkpoint_completion_time>%s</checkpoint_completion_time>
          </pair>
`, w.node, w.brick, map[bool]string{true: "sec.example.com", false: "N/A"}[w.status == "Active" || w.status == "Passive"],
			w.status, na("Changelog Crawl"), na("0"), na("2"), na("0"), na("0"), na(w.checkpointDone), w.uuid,
			na("2026-12-06 19:00:00"), na(w.checkpointTime), na(w.completionTime))
	}
	b.WriteString(`        </session>
      </sessions>
    </volume>
  </geoRep>
</cliOutput>
`)
	return b.String()
}

// A geo-replication session on the real cluster: glusterd, volumes and
// peers are real, but a session cannot run on loopback (its workers need
// ssh to a secondary), so `geo-replication status` is answered from
// fixture XML by a wrapper around the gluster command, and the session's
// directory under glusterd's working directory is made and removed as
// glusterd does at create and delete. The session appears, a worker turns
// Faulty, a checkpoint completes and the session goes, each with its
// signals and diff events; nothing runs status before a session exists, and
// never with a volume name (which would take the volume's lock). No
// periodic read runs: what reads the sessions is inotify under
// geo-replication/ and a native GEOREP_* event.
func TestGeoRepSession(t *testing.T) {
	var runs, fixture string
	port := freeUDPPort(t)
	h := start(t, 2, func(c *testbed.Cluster) {
		n1 := c.Nodes[0]
		n1.Gluster(t, "volume", "create", "pv", n1.Addr+":"+c.BrickDir(1, "pv"), c.Nodes[1].Addr+":"+c.BrickDir(2, "pv"), "force")
		n1.Gluster(t, "volume", "start", "pv")
	}, func(cfg *daemon.Config) {
		cfg.RemoteBrickStatus = false
		cfg.Interval = time.Hour
		cfg.EventsPort, cfg.EventsAddrs = port, []string{"127.0.0.1"}
		dir := t.TempDir()
		runs, fixture = dir+"/runs", dir+"/georep.xml"
		wrapper := dir + "/gluster"
		script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %s\ncase \"$*\" in *geo-replication*status*) cat %s; exit 0;; esac\nexec %s \"$@\"\n",
			runs, fixture, strings.Join(cfg.Gluster, " "))
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		cfg.Gluster = []string{wrapper}
	})
	c := h.cluster
	n1, n2 := c.Nodes[0], c.Nodes[1]
	uuid := func(n *testbed.Node) string {
		out := n.Gluster(t, "system::", "uuid", "get")
		return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "UUID:"))
	}
	w1 := geoRepWorker{node: n1.Addr, uuid: uuid(n1), brick: c.BrickDir(1, "pv"), status: "Active", checkpointDone: "No",
		checkpointTime: "N/A", completionTime: "N/A"}
	w2 := geoRepWorker{node: n2.Addr, uuid: uuid(n2), brick: c.BrickDir(2, "pv"), status: "Passive", checkpointDone: "N/A",
		checkpointTime: "N/A", completionTime: "N/A"}
	setFixture := func(workers ...geoRepWorker) {
		t.Helper()
		if err := os.WriteFile(fixture+".new", []byte(geoRepXML(workers...)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(fixture+".new", fixture); err != nil {
			t.Fatal(err)
		}
	}
	setFixture(w1, w2)

	// No session yet: full reads go on, and none runs status.
	reload(h, 3)
	if found := glusterRuns(t, runs, "geo-replication"); len(found) != 0 {
		t.Fatalf("geo-replication status ran without a session: %q", found)
	}

	path := exporter.GeoRepPrefix + dbus.ObjectPath(exporter.GeoRepElement("pv", "geoaccount@sec.example.com::sv"))
	since := h.lastSeq()
	from := h.mark()
	session := filepath.Join(n1.Workdir, "geo-replication", "pv_sec.example.com_sv")
	if err := os.MkdirAll(session, 0o755); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the session's object", time.Minute, func() bool { return h.signalSeen(from, added(path)) })
	props := h.objects()[path][exporter.GeoRepInterface]
	if props["PrimaryVolume"].Value() != volPath("pv") || props["Secondary"].Value() != "geoaccount@sec.example.com::sv" ||
		props["SecondaryHost"].Value() != "sec.example.com" || props["SecondaryUser"].Value() != "geoaccount" ||
		props["Status"].Value() != "Active" || props["CheckpointTime"].Value() != int64(0) {
		t.Errorf("session properties %v", props)
	}
	var workers [][]any
	if err := props["Workers"].Store(&workers); err != nil || len(workers) != 2 || workers[0][2] != w1.brick || workers[1][4] != "Passive" {
		t.Errorf("workers %v, %v", workers, err)
	}
	h.waitFor("GEOREP_CREATE", time.Minute, func() bool { return has(h.eventSignals(since), "diff/GEOREP_CREATE") })

	// gsyncd marks the second worker Faulty in its status file.
	since, from = h.lastSeq(), h.mark()
	w2.status = "Faulty"
	setFixture(w1, w2)
	if err := os.WriteFile(filepath.Join(session, "brick_status"), []byte("Faulty"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the session Faulty", time.Minute, func() bool { return h.signalSeen(from, changed(path, "Status", "Faulty")) })
	h.waitFor("GEOREP_FAULTY", time.Minute, func() bool { return has(h.eventSignals(since), "diff/GEOREP_FAULTY") })
	for _, e := range h.eventSignals(since) {
		if e.Name == "GEOREP_FAULTY" && (e.Object != path || e.Fields["brick_path"] != w2.brick || e.Fields["primary_node"] != n2.Addr ||
			e.Fields["primary_volume"] != "pv" || e.Fields["secondary_host"] != "sec.example.com") {
			t.Errorf("GEOREP_FAULTY %v %v", e.Object, e.Fields)
		}
	}

	// The worker recovers; a checkpoint is set and completes, as gsyncd
	// tells in a native event (its status file being on another node).
	since, from = h.lastSeq(), h.mark()
	w2.status = "Passive"
	w1.checkpointTime, w1.checkpointDone, w1.completionTime = "2026-12-06 19:05:00", "Yes", "2026-12-06 19:06:40"
	setFixture(w1, w2)
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := fmt.Sprintf("%d 92 primary_volume=pv;primary_node=%s;primary_node_id=%s;secondary_host=sec.example.com;"+
		"secondary_volume=sv;brick_path=%s;checkpoint_time=2026-12-06 19:05:00;completion_time=2026-12-06 19:06:40",
		time.Now().Unix(), n1.Addr, w1.uuid, w1.brick)
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the checkpoint completed", time.Minute, func() bool {
		return h.signalSeen(from, changed(path, "CheckpointCompleted", true))
	})
	h.waitFor("GEOREP_CHECKPOINT_COMPLETED", time.Minute, func() bool {
		return has(h.eventSignals(since), "diff/GEOREP_CHECKPOINT_COMPLETED")
	})
	if got := h.prop(path, exporter.GeoRepInterface, "CheckpointTime"); got != time.Date(2026, 12, 6, 19, 5, 0, 0, time.UTC).UnixMicro() {
		t.Errorf("CheckpointTime %v", got)
	}

	// A restarted daemon knows the session from its first read: no event.
	since = h.lastSeq()
	h.restart()
	h.waitFor("the session after the restart", time.Minute, func() bool {
		return h.prop(path, exporter.GeoRepInterface, "CheckpointCompleted") == true
	})
	reload(h, 2)
	for _, e := range h.getEvents(since) {
		if strings.HasPrefix(e.Name, "GEOREP_") {
			t.Errorf("after the restart: %v", e)
		}
	}

	// The session is deleted: glusterd removes its directory.
	since, from = h.lastSeq(), h.mark()
	if err := os.RemoveAll(session); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the session's object to go", time.Minute, func() bool { return h.signalSeen(from, removed(path)) })
	h.waitFor("GEOREP_DELETE", time.Minute, func() bool { return has(h.eventSignals(since), "diff/GEOREP_DELETE") })

	// Every diff event is in the journal too, beside gsyncd's own.
	var journaled []string
	for _, e := range h.getEvents(0) {
		if strings.HasPrefix(e.Name, "GEOREP_") {
			journaled = append(journaled, e.Fields["source"]+"/"+e.Name)
		}
	}
	if want := []string{"diff/GEOREP_CREATE", "diff/GEOREP_FAULTY", "native/GEOREP_CHECKPOINT_COMPLETED",
		"diff/GEOREP_CHECKPOINT_COMPLETED", "diff/GEOREP_DELETE"}; strings.Join(journaled, " ") != strings.Join(want, " ") {
		t.Errorf("journal: %q, want %q", journaled, want)
	}
	for _, line := range glusterRuns(t, runs, "geo-replication") {
		if strings.TrimSpace(line) != "volume geo-replication status --xml --mode=script" {
			t.Errorf("the daemon ran %q", line)
		}
	}
}

// reload makes the daemon read everything n times over.
func reload(h *harness, n int) {
	h.t.Helper()
	for range n {
		if err := h.call(exporter.ManagerPath, exporter.ManagerInterface+".Reload", map[string]dbus.Variant{}).Err; err != nil {
			h.t.Fatalf("Reload: %v", err)
		}
	}
}
