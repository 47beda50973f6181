package exporter

import (
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/objpath"
	"github.com/glusterbus/glusterbus/internal/state"
)

// Bus names, paths and interfaces of the contract in api/.
const (
	BusName     = "org.storaged.Storaged"
	RootPath    = dbus.ObjectPath("/org/storaged/Storaged")
	ManagerPath = RootPath + "/Manager"
	GlusterPath = RootPath + "/glusterfs"

	GlusterdPath   = GlusterPath + "/daemons/glusterd"
	VolumePrefix   = GlusterPath + "/volume/"
	BrickPrefix    = GlusterPath + "/brick/"
	PeerPrefix     = GlusterPath + "/peer/"
	SnapshotPrefix = GlusterPath + "/snapshot/"

	ManagerInterface  = "org.storaged.Storaged.Manager.GlusterFS"
	GlusterdInterface = "org.storaged.Storaged.GlusterFS.Glusterd"
	VolumeInterface   = "org.storaged.Storaged.GlusterFS.Volume"
	BrickInterface    = "org.storaged.Storaged.GlusterFS.Brick"
	PeerInterface     = "org.storaged.Storaged.GlusterFS.Peer"
	SnapshotInterface = "org.storaged.Storaged.GlusterFS.Snapshot"

	objectManagerInterface = "org.freedesktop.DBus.ObjectManager"
	propertiesInterface    = "org.freedesktop.DBus.Properties"
	introspectInterface    = "org.freedesktop.DBus.Introspectable"
	peerInterface          = "org.freedesktop.DBus.Peer"
)

// Error names, as UDisks2 names its errors.
const (
	ErrorFailed          = "org.storaged.Storaged.Error.Failed"
	ErrorNotFound        = "org.storaged.Storaged.Error.NotFound"
	ErrorTimedout        = "org.storaged.Storaged.Error.Timedout"
	ErrorNotAuthorized   = "org.storaged.Storaged.Error.NotAuthorized"
	ErrorInvalidArgument = "org.storaged.Storaged.Error.InvalidArgument"
)

// Path is the object path of a state object.
func Path(ref state.Ref) dbus.ObjectPath {
	switch ref.Kind {
	case state.KindManager:
		return ManagerPath
	case state.KindGlusterd:
		return GlusterdPath
	case state.KindVolume:
		return VolumePrefix + dbus.ObjectPath(objpath.Encode(ref.Key))
	case state.KindBrick:
		return BrickPrefix + dbus.ObjectPath(objpath.Encode(ref.Key))
	case state.KindPeer:
		return PeerPrefix + dbus.ObjectPath(objpath.Encode(ref.Key))
	case state.KindSnapshot:
		return SnapshotPrefix + dbus.ObjectPath(objpath.Encode(ref.Key))
	}
	panic("exporter: unknown object kind " + ref.Kind.String())
}

// VolumeName returns the volume name of a volume object path.
func VolumeName(p dbus.ObjectPath) (string, bool) {
	elem, ok := strings.CutPrefix(string(p), string(VolumePrefix))
	if !ok || strings.Contains(elem, "/") {
		return "", false
	}
	name, err := objpath.Decode(elem)
	return name, err == nil
}

// Interface is the D-Bus interface of a state object.
func Interface(k state.Kind) string {
	return [...]string{ManagerInterface, GlusterdInterface, PeerInterface, VolumeInterface, BrickInterface, SnapshotInterface}[k]
}

// toDBus converts a state property value to the Go value godbus sends.
func toDBus(v any) any {
	switch v := v.(type) {
	case state.Ref:
		return Path(v)
	case []state.Ref:
		paths := make([]dbus.ObjectPath, len(v))
		for i, r := range v {
			paths[i] = Path(r)
		}
		return paths
	}
	return v
}
