// Package busclient reads glusterbus's objects from the bus: it is what the
// status and monitor commands show. It never calls gluster itself.
package busclient

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/busapi"
)

// ErrNoDaemon is returned when nothing owns the bus name.
var ErrNoDaemon = errors.New(busapi.BusName + " has no owner: is glusterbus serve running on this bus?")

// objects is what GetManagedObjects returns: path, interface, property.
type objects = map[dbus.ObjectPath]map[string]map[string]dbus.Variant

// Status is every object glusterbus exports, shaped for reading and for
// JSON. JSON keys are the D-Bus property names; Object is an object's path.
type Status struct {
	Glusterd map[string]any // the Glusterd properties, object paths as strings
	Volumes  []VolumeStatus // by name
	Peers    []PeerStatus   // by hostname, then UUID
}

// VolumeStatus is one volume with its bricks in volume order.
type VolumeStatus struct {
	Object           string
	Name             string
	ID               string `json:"Id"`
	Status           string
	Type             string
	BrickCount       uint32
	DistCount        uint32
	ReplicaCount     uint32
	ArbiterCount     uint32
	DisperseCount    uint32
	RedundancyCount  uint32
	Transport        string
	SnapshotCount    uint32
	Options          map[string]string
	Bricks           []BrickStatus
	OnlineBrickCount uint32
	Health           string
}

// BrickStatus is one brick.
type BrickStatus struct {
	Object       string
	Name         string
	Host         string
	Path         string
	HostUUID     string `json:"HostUuid"`
	Volume       string
	IsArbiter    bool
	Online       bool
	State        string // online, offline or unknown
	Pid          int64
	Port         uint32
	SizeTotal    uint64
	SizeFree     uint64
	InodesTotal  uint64
	InodesFree   uint64
	Device       string
	FsName       string
	MountOptions string
}

// PeerStatus is one peer of the pool.
type PeerStatus struct {
	Object    string
	UUID      string `json:"Uuid"`
	Hostname  string
	Hostnames []string
	Connected bool
	State     string
}

// ReadStatus reads every object with one GetManagedObjects call.
func ReadStatus(ctx context.Context, conn *dbus.Conn) (*Status, error) {
	objs, err := managedObjects(ctx, conn)
	if err != nil {
		return nil, err
	}
	s := &Status{Glusterd: map[string]any{}, Volumes: []VolumeStatus{}, Peers: []PeerStatus{}}
	for path, ifaces := range objs {
		if p := ifaces[busapi.GlusterdInterface]; p != nil {
			for name, v := range p {
				s.Glusterd[name] = plain(v.Value())
			}
		}
		if p := ifaces[busapi.VolumeInterface]; p != nil {
			s.Volumes = append(s.Volumes, volumeStatus(path, p, objs))
		}
		if p := ifaces[busapi.PeerInterface]; p != nil {
			s.Peers = append(s.Peers, PeerStatus{
				Object:    string(path),
				UUID:      get[string](p, "Uuid"),
				Hostname:  get[string](p, "Hostname"),
				Hostnames: nonNil(get[[]string](p, "Hostnames")),
				Connected: get[bool](p, "Connected"),
				State:     get[string](p, "State"),
			})
		}
	}
	slices.SortFunc(s.Volumes, func(a, b VolumeStatus) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(s.Peers, func(a, b PeerStatus) int {
		return cmp.Or(cmp.Compare(a.Hostname, b.Hostname), cmp.Compare(a.UUID, b.UUID))
	})
	return s, nil
}

func managedObjects(ctx context.Context, conn *dbus.Conn) (objects, error) {
	var objs objects
	err := conn.Object(busapi.BusName, busapi.RootPath).
		CallWithContext(ctx, "org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0).Store(&objs)
	if noOwner(err) {
		return nil, ErrNoDaemon
	}
	if err != nil {
		return nil, fmt.Errorf("reading the objects of %s: %w", busapi.BusName, err)
	}
	return objs, nil
}

// noOwner tells whether err says the bus name has no owner.
func noOwner(err error) bool {
	var de dbus.Error
	return errors.As(err, &de) &&
		(de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner")
}

func volumeStatus(path dbus.ObjectPath, p map[string]dbus.Variant, objs objects) VolumeStatus {
	v := VolumeStatus{
		Object:           string(path),
		Name:             get[string](p, "Name"),
		ID:               get[string](p, "Id"),
		Status:           get[string](p, "Status"),
		Type:             get[string](p, "Type"),
		BrickCount:       get[uint32](p, "BrickCount"),
		DistCount:        get[uint32](p, "DistCount"),
		ReplicaCount:     get[uint32](p, "ReplicaCount"),
		ArbiterCount:     get[uint32](p, "ArbiterCount"),
		DisperseCount:    get[uint32](p, "DisperseCount"),
		RedundancyCount:  get[uint32](p, "RedundancyCount"),
		Transport:        get[string](p, "Transport"),
		SnapshotCount:    get[uint32](p, "SnapshotCount"),
		Options:          get[map[string]string](p, "Options"),
		Bricks:           []BrickStatus{},
		OnlineBrickCount: get[uint32](p, "OnlineBrickCount"),
		Health:           get[string](p, "Health"),
	}
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	for _, bp := range get[[]dbus.ObjectPath](p, "Bricks") {
		b := objs[bp][busapi.BrickInterface]
		if b == nil {
			continue
		}
		v.Bricks = append(v.Bricks, BrickStatus{
			Object:       string(bp),
			Name:         get[string](b, "Name"),
			Host:         get[string](b, "Host"),
			Path:         get[string](b, "Path"),
			HostUUID:     get[string](b, "HostUuid"),
			Volume:       string(get[dbus.ObjectPath](b, "Volume")),
			IsArbiter:    get[bool](b, "IsArbiter"),
			Online:       get[bool](b, "Online"),
			State:        get[string](b, "State"),
			Pid:          get[int64](b, "Pid"),
			Port:         get[uint32](b, "Port"),
			SizeTotal:    get[uint64](b, "SizeTotal"),
			SizeFree:     get[uint64](b, "SizeFree"),
			InodesTotal:  get[uint64](b, "InodesTotal"),
			InodesFree:   get[uint64](b, "InodesFree"),
			Device:       get[string](b, "Device"),
			FsName:       get[string](b, "FsName"),
			MountOptions: get[string](b, "MountOptions"),
		})
	}
	return v
}

// get returns a property's value, or T's zero value when the property is
// missing or of another type.
func get[T any](props map[string]dbus.Variant, name string) T {
	v, _ := props[name].Value().(T)
	return v
}

// plain turns D-Bus values into plain Go values: object paths become strings.
func plain(v any) any {
	switch v := v.(type) {
	case dbus.ObjectPath:
		return string(v)
	case []dbus.ObjectPath:
		out := make([]string, len(v))
		for i, p := range v {
			out[i] = string(p)
		}
		return out
	case dbus.Variant:
		return plain(v.Value())
	}
	return v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WriteJSON writes the status as indented JSON.
func (s *Status) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteText writes the status as a tree: glusterd, each volume with its
// bricks and options, then the peers.
func (s *Status) WriteText(w io.Writer) error {
	var b strings.Builder
	g := func(name string) any {
		if v, ok := s.Glusterd[name]; ok {
			return v
		}
		return "?"
	}
	fmt.Fprintf(&b, "glusterd  %v  op-version %v  uuid %v  %s", g("Version"), g("OpVersion"), g("Uuid"),
		pick(s.Glusterd["Running"] == true, "running", "not running"))
	if st, _ := s.Glusterd["ActiveState"].(string); st != "" {
		fmt.Fprintf(&b, "  service %s", st)
	}
	if e, _ := s.Glusterd["LastError"].(string); e != "" {
		fmt.Fprintf(&b, "  last error: %s", e)
	}
	b.WriteString("\n")
	for _, v := range s.Volumes {
		fmt.Fprintf(&b, "volume %s  %s  %s %s  health %s  bricks %d/%d online\n",
			v.Name, v.Status, v.Type, layout(&v), v.Health, v.OnlineBrickCount, len(v.Bricks))
		for _, br := range v.Bricks {
			st := br.State
			if st == "" { // a daemon older than Brick.State
				st = pick(br.Online, "online", "offline")
			}
			fmt.Fprintf(&b, "  brick %s  %s", br.Name, st)
			if br.IsArbiter {
				b.WriteString("  arbiter")
			}
			if br.Pid > 0 {
				fmt.Fprintf(&b, "  pid %d", br.Pid)
			}
			if br.Port > 0 {
				fmt.Fprintf(&b, "  port %d", br.Port)
			}
			if br.SizeTotal > 0 {
				fmt.Fprintf(&b, "  free %s of %s", iec(br.SizeFree), iec(br.SizeTotal))
			}
			b.WriteString("\n")
		}
		for _, k := range slices.Sorted(maps.Keys(v.Options)) {
			fmt.Fprintf(&b, "  option %s %s\n", k, v.Options[k])
		}
	}
	for _, p := range s.Peers {
		fmt.Fprintf(&b, "peer %s  %s  %s  (uuid %s)\n", p.Hostname, pick(p.Connected, "connected", "disconnected"), p.State, p.UUID)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// layout describes how the bricks form sets as gluster does: "2 x 3",
// "1 x (2 + 1)" with an arbiter, "1 x (4 + 2)" for disperse.
func layout(v *VolumeStatus) string {
	dist := max(v.DistCount, 1)
	switch {
	case v.DisperseCount > 0:
		return fmt.Sprintf("%d x (%d + %d)", dist, v.DisperseCount-v.RedundancyCount, v.RedundancyCount)
	case v.ReplicaCount > 1 && v.ArbiterCount > 0:
		return fmt.Sprintf("%d x (%d + %d)", dist, v.ReplicaCount-v.ArbiterCount, v.ArbiterCount)
	default:
		return fmt.Sprintf("%d x %d", dist, max(v.ReplicaCount, 1))
	}
}

// iec formats a byte count with binary units, e.g. "12.3 GiB".
func iec(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	div, unit := uint64(1024), 0
	for m := n / 1024; m >= 1024 && unit < 5; m /= 1024 {
		div *= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[unit])
}

func pick(c bool, yes, no string) string {
	if c {
		return yes
	}
	return no
}
