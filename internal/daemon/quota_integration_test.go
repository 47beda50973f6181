package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// quotaLimit is one entry of Volume.QuotaLimits, a(sttttbb).
type quotaLimit struct {
	Path                                  string
	HardLimit, SoftLimit, Used, Available uint64
	SoftExceeded, HardExceeded            bool
}

// eventSeen says whether an Event signal named name, from source, whose
// fields hold want, arrived after index from.
func (h *harness) eventSeen(from int, name, source string, want map[string]string) bool {
	return h.signalSeen(from, func(s *dbus.Signal) bool {
		if s.Name != exporter.ManagerInterface+".Event" || s.Body[1] != name {
			return false
		}
		fields := s.Body[5].(map[string]string)
		if fields["source"] != source {
			return false
		}
		for k, v := range want {
			if fields[k] != v {
				return false
			}
		}
		return true
	})
}

// TestQuotaOnTheBus turns quota on for a volume, sets a limit with a soft
// limit, writes past the soft limit through a FUSE mount and waits for the
// limit's usage and flags on the bus and the diff's events; then turns
// quota off. Accounting is asynchronous: every wait is a generous poll.
func TestQuotaOnTheBus(t *testing.T) {
	testbed.QuotaLock(t)
	h := start(t, 1, nil, func(cfg *daemon.Config) {
		cfg.RemoteBrickStatus = false
		cfg.QuotaInterval = 2 * time.Second // no brick events reach a test's port: the reconcile reads usage
	})
	c, n1 := h.cluster, h.cluster.Nodes[0]
	n1.Gluster(t, "volume", "create", "qv", n1.Addr+":"+c.BrickDir(1, "qv"), "force")
	n1.Gluster(t, "volume", "start", "qv")
	vol := volPath("qv")
	h.waitFor("qv started", time.Minute, func() bool {
		return h.prop(vol, exporter.VolumeInterface, "Status") == "Started"
	})
	if on := h.prop(vol, exporter.VolumeInterface, "QuotaEnabled"); on != false {
		t.Fatalf("QuotaEnabled before enable: %v", on)
	}
	limits := func() []quotaLimit {
		var out []quotaLimit
		if err := dbus.Store([]any{h.prop(vol, exporter.VolumeInterface, "QuotaLimits")}, &out); err != nil {
			t.Fatalf("QuotaLimits: %v", err)
		}
		return out
	}

	from := h.mark()
	n1.Gluster(t, "volume", "quota", "qv", "enable")
	h.waitFor("QuotaEnabled", time.Minute, func() bool {
		return h.prop(vol, exporter.VolumeInterface, "QuotaEnabled") == true
	})
	h.waitFor("the QUOTA_ENABLE diff event", time.Minute, func() bool {
		return h.eventSeen(from, "QUOTA_ENABLE", "diff", map[string]string{"volume": "qv"})
	})
	if l := limits(); len(l) != 0 {
		t.Fatalf("limits before any is set: %+v", l)
	}

	mnt := c.Mount(t, 1, "qv")
	if err := os.Mkdir(filepath.Join(mnt, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	n1.Gluster(t, "volume", "quota", "qv", "limit-usage", "/a", "10MB", "50%")
	h.waitFor("the limit of /a on the bus", 2*time.Minute, func() bool {
		l := limits()
		return len(l) == 1 && l[0].Path == "/a" && l[0].HardLimit == 10<<20 && l[0].SoftLimit == 5<<20 && !l[0].SoftExceeded
	})

	from = h.mark()
	if err := os.WriteFile(filepath.Join(mnt, "a", "f"), make([]byte, 7<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []quotaLimit
	h.waitFor("/a past its soft limit on the bus", 3*time.Minute, func() bool {
		got = limits()
		return len(got) == 1 && got[0].Used > got[0].SoftLimit && got[0].SoftExceeded && !got[0].HardExceeded
	})
	t.Logf("QuotaLimits: %+v", got)
	if l := got[0]; l.Available != l.HardLimit-l.Used {
		t.Errorf("available %d, want %d", l.Available, l.HardLimit-l.Used)
	}
	h.waitFor("the QUOTA_CROSSED_SOFT_LIMIT diff event", time.Minute, func() bool {
		return h.eventSeen(from, "QUOTA_CROSSED_SOFT_LIMIT", "diff", map[string]string{
			"volume": "qv", "path": "/a", "soft_limit": fmt.Sprint(5 << 20), "hard_limit": fmt.Sprint(10 << 20)})
	})

	from = h.mark()
	n1.Gluster(t, "volume", "quota", "qv", "disable")
	h.waitFor("quota off and no limits", time.Minute, func() bool {
		return h.prop(vol, exporter.VolumeInterface, "QuotaEnabled") == false && len(limits()) == 0
	})
	h.waitFor("the QUOTA_DISABLE diff event", time.Minute, func() bool {
		return h.eventSeen(from, "QUOTA_DISABLE", "diff", map[string]string{"volume": "qv"})
	})
}
