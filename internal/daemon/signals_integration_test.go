package daemon_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/objpath"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// quietWindow is long enough for every read a change triggers to be done:
// the targeted read, the brick read after the quiet period, and a
// reconcile, which the harness's one-second interval may stretch to six.
const quietWindow = 8 * time.Second

// TestSignalsExact: a change made with the gluster CLI sends exactly the
// signals that describe it, on the objects it changed, and a reload that
// finds nothing new sends nothing. The volumes are created but not started,
// so no brick runtime (free space) changes under the test.
func TestSignalsExact(t *testing.T) {
	h := start(t, 2, func(c *testbed.Cluster) {
		n1, n2 := c.Nodes[0], c.Nodes[1]
		n1.Gluster(t, "volume", "create", "exact", n1.Addr+":"+c.BrickDir(1, "x1"), n2.Addr+":"+c.BrickDir(2, "x2"),
			n1.Addr+":"+c.BrickDir(1, "x3"), "force")
		n1.Gluster(t, "volume", "create", "bystander", n2.Addr+":"+c.BrickDir(2, "by"), "force")
	})
	c, n1 := h.cluster, h.cluster.Nodes[0]
	vol := volPath("exact")
	if h.prop(vol, exporter.VolumeInterface, "BrickCount") != uint32(3) || h.prop(volPath("bystander"), exporter.VolumeInterface, "Name") == nil {
		t.Fatalf("volumes at start: %v", h.objects())
	}
	h.settle()

	t.Run("reload of nothing new", func(t *testing.T) {
		m := h.mark()
		h.reload()
		time.Sleep(quietWindow)
		h.reload()
		if got := h.since(m); len(got) != 0 {
			t.Fatalf("Reload with nothing changed sent %d signals:\n%s", len(got), describe(got))
		}
	})

	const key = "performance.readdir-ahead"
	t.Run("volume set", func(t *testing.T) {
		m := h.mark()
		n1.Gluster(t, "volume", "set", "exact", key, "off")
		h.waitFor("Options with "+key, 30*time.Second, func() bool {
			return h.signalSeen(m, func(s *dbus.Signal) bool { return changed(vol, "Options", nil)(s) && optionsOf(s)[key] == "off" })
		})
		h.settle()
		checkOnly(t, h.since(m), []string{propertiesChanged(vol, "Options")}, vol)
	})

	t.Run("volume reset", func(t *testing.T) {
		m := h.mark()
		n1.Gluster(t, "volume", "reset", "exact", key)
		h.waitFor("Options without "+key, 30*time.Second, func() bool {
			return h.signalSeen(m, func(s *dbus.Signal) bool {
				_, set := optionsOf(s)[key]
				return changed(vol, "Options", nil)(s) && !set
			})
		})
		h.settle()
		checkOnly(t, h.since(m), []string{propertiesChanged(vol, "Options")}, vol)
	})

	t.Run("remove-brick", func(t *testing.T) {
		gone := n1.Addr + ":" + c.BrickDir(1, "x3")
		brick := exporter.BrickPrefix + dbus.ObjectPath(objpath.Encode(gone))
		if h.prop(brick, exporter.BrickInterface, "Name") != gone {
			t.Fatalf("brick %s not exported: %v", gone, h.objects()[brick])
		}
		optsBefore := h.prop(vol, exporter.VolumeInterface, "Options")
		m := h.mark()
		n1.Gluster(t, "volume", "remove-brick", "exact", gone, "force")
		h.waitFor("the brick removed", 30*time.Second, func() bool { return h.signalSeen(m, removed(brick)) })
		h.settle()
		// DistCount is the brick count over the set size: a distribute
		// volume's follows its BrickCount. glusterd itself may reconfigure
		// an option on remove-brick (performance.client-io-threads).
		props := []string{"BrickCount", "Bricks", "DistCount"}
		if optsAfter := h.prop(vol, exporter.VolumeInterface, "Options"); fmt.Sprint(optsAfter) != fmt.Sprint(optsBefore) {
			t.Logf("glusterd changed the options on remove-brick: %v -> %v", optsBefore, optsAfter)
			props = append(props, "Options")
		}
		checkOnly(t, h.since(m), []string{
			propertiesChanged(vol, props...),
			interfacesRemoved(brick, exporter.BrickInterface),
		}, vol, brick)
		if n := h.prop(vol, exporter.VolumeInterface, "BrickCount"); n != uint32(2) {
			t.Fatalf("BrickCount after remove-brick: %v", n)
		}
	})
}

// settle waits until the daemon has sent nothing for a quiet window.
func (h *harness) settle() {
	h.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m := h.mark()
		time.Sleep(quietWindow)
		if h.mark() == m {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the daemon kept sending signals:\n%s", describe(h.since(0)))
		}
	}
}

func (h *harness) reload() {
	h.t.Helper()
	if err := h.call(exporter.ManagerPath, exporter.ManagerInterface+".Reload", map[string]dbus.Variant{}).Err; err != nil {
		h.t.Fatalf("Reload: %v", err)
	}
}

// since returns the signals received after mark m.
func (h *harness) since(m int) []*dbus.Signal {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.signals[min(m, len(h.signals)):])
}

// checkOnly fails unless the signals other than Event are exactly want
// (each once, in any order), and every Event names one of objects.
func checkOnly(t *testing.T, got []*dbus.Signal, want []string, objects ...dbus.ObjectPath) {
	t.Helper()
	var sigs []string
	for _, s := range got {
		if s.Name == exporter.ManagerInterface+".Event" {
			if obj, _ := s.Body[4].(dbus.ObjectPath); !slices.Contains(objects, obj) {
				t.Errorf("an Event about %s, want one of %v: %v", obj, objects, s.Body)
			}
			continue
		}
		sigs = append(sigs, summary(s))
	}
	slices.Sort(sigs)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(sigs, want) {
		t.Errorf("signals:\n  %s\nwant exactly:\n  %s\nall received:\n%s", strings.Join(sigs, "\n  "), strings.Join(want, "\n  "), describe(got))
	}
}

// summary names a signal by what it says about which object: for
// PropertiesChanged the interface, the changed properties, and any
// invalidated ones.
func summary(s *dbus.Signal) string {
	switch s.Name {
	case "org.freedesktop.DBus.Properties.PropertiesChanged":
		iface, _ := s.Body[0].(string)
		var names []string
		for k := range s.Body[1].(map[string]dbus.Variant) {
			names = append(names, k)
		}
		slices.Sort(names)
		sum := fmt.Sprintf("PropertiesChanged %s %s %v", s.Path, iface, names)
		if inv, _ := s.Body[2].([]string); len(inv) > 0 {
			sum += fmt.Sprintf(" invalidated %v", inv)
		}
		return sum
	case "org.freedesktop.DBus.ObjectManager.InterfacesRemoved":
		return fmt.Sprintf("InterfacesRemoved %s %v", s.Body[0], s.Body[1])
	case "org.freedesktop.DBus.ObjectManager.InterfacesAdded":
		var ifaces []string
		for k := range s.Body[1].(map[string]map[string]dbus.Variant) {
			ifaces = append(ifaces, k)
		}
		slices.Sort(ifaces)
		return fmt.Sprintf("InterfacesAdded %s %v", s.Body[0], ifaces)
	}
	return string(s.Path) + " " + s.Name
}

func propertiesChanged(path dbus.ObjectPath, props ...string) string {
	names := slices.Clone(props)
	slices.Sort(names)
	return fmt.Sprintf("PropertiesChanged %s %s %v", path, interfaceOf(path), names)
}

func interfacesRemoved(path dbus.ObjectPath, iface string) string {
	return fmt.Sprintf("InterfacesRemoved %s %v", path, []string{iface})
}

func interfaceOf(path dbus.ObjectPath) string {
	switch {
	case strings.HasPrefix(string(path), string(exporter.VolumePrefix)):
		return exporter.VolumeInterface
	case strings.HasPrefix(string(path), string(exporter.BrickPrefix)):
		return exporter.BrickInterface
	}
	return "?"
}

func describe(sigs []*dbus.Signal) string {
	var b strings.Builder
	for _, s := range sigs {
		fmt.Fprintf(&b, "  %s %s %v\n", s.Path, s.Name, s.Body)
	}
	return b.String()
}

// optionsOf is the Options a PropertiesChanged carries, if any.
func optionsOf(s *dbus.Signal) map[string]string {
	if s.Name != "org.freedesktop.DBus.Properties.PropertiesChanged" {
		return nil
	}
	v, ok := s.Body[1].(map[string]dbus.Variant)["Options"]
	if !ok {
		return nil
	}
	opts, _ := v.Value().(map[string]string)
	return opts
}
