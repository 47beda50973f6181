package exporter

import (
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/busapi"
	"github.com/glusterbus/glusterbus/internal/objpath"
	"github.com/glusterbus/glusterbus/internal/state"
)

// Bus names, paths and interfaces of the contract in api/ (see busapi,
// which clients use).
const (
	BusName     = busapi.BusName
	RootPath    = busapi.RootPath
	ManagerPath = busapi.ManagerPath
	GlusterPath = busapi.GlusterPath

	GlusterdPath   = busapi.GlusterdPath
	VolumePrefix   = busapi.VolumePrefix
	BrickPrefix    = busapi.BrickPrefix
	PeerPrefix     = busapi.PeerPrefix
	SnapshotPrefix = busapi.SnapshotPrefix

	ManagerInterface  = busapi.ManagerInterface
	GlusterdInterface = busapi.GlusterdInterface
	VolumeInterface   = busapi.VolumeInterface
	BrickInterface    = busapi.BrickInterface
	PeerInterface     = busapi.PeerInterface
	SnapshotInterface = busapi.SnapshotInterface

	GeoRepPrefix    = busapi.GeoRepPrefix
	GeoRepInterface = busapi.GeoRepInterface

	objectManagerInterface = "org.freedesktop.DBus.ObjectManager"
	propertiesInterface    = "org.freedesktop.DBus.Properties"
	introspectInterface    = "org.freedesktop.DBus.Introspectable"
	peerInterface          = "org.freedesktop.DBus.Peer"
)

// Error names, as UDisks2 names its errors.
const (
	ErrorFailed          = busapi.ErrorFailed
	ErrorNotFound        = busapi.ErrorNotFound
	ErrorTimedout        = busapi.ErrorTimedout
	ErrorNotAuthorized   = busapi.ErrorNotAuthorized
	ErrorInvalidArgument = busapi.ErrorInvalidArgument
)

// Path is the object path of a state object.
func Path(ref state.Ref) dbus.ObjectPath {
	switch ref.Kind {
	case state.KindManager:
		return ManagerPath
	case state.KindGlusterd:
		return GlusterdPath
	case state.KindVolume:
		return dbus.ObjectPath(objpath.Join(string(VolumePrefix), ref.Key))
	case state.KindBrick:
		return dbus.ObjectPath(objpath.Join(string(BrickPrefix), ref.Key))
	case state.KindPeer:
		return dbus.ObjectPath(objpath.Join(string(PeerPrefix), ref.Key))
	case state.KindSnapshot:
		return dbus.ObjectPath(objpath.Join(string(SnapshotPrefix), ref.Key))
	case state.KindGeoRep:
		return GeoRepPrefix + dbus.ObjectPath(GeoRepElement(state.SplitGeoRepKey(ref.Key)))
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
	return [...]string{ManagerInterface, GlusterdInterface, PeerInterface, VolumeInterface, BrickInterface, SnapshotInterface, GeoRepInterface}[k]
}

// GeoRepElement is the path element of a geo-replication session: the
// primary volume's and the secondary's encodings joined by "__". A single
// "_" could not separate them, as it begins every escape; "__" never occurs
// in an encoding (an escape is "_" and two hex digits) and an encoded
// volume name never ends with "_", so the first "__" is the separator.
func GeoRepElement(primary, secondary string) string {
	return objpath.Encode(primary) + "__" + objpath.Encode(secondary)
}

// GeoRepSession returns the primary volume and secondary of a session's
// object path.
func GeoRepSession(p dbus.ObjectPath) (primary, secondary string, ok bool) {
	elem, ok := strings.CutPrefix(string(p), string(GeoRepPrefix))
	if !ok {
		return "", "", false
	}
	pe, se, ok := strings.Cut(elem, "__")
	if !ok {
		return "", "", false
	}
	primary, err1 := objpath.Decode(pe)
	secondary, err2 := objpath.Decode(se)
	return primary, secondary, err1 == nil && err2 == nil
}
