package glusterd

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

// glusterd's answers become the values gluster's CLI parser makes of the
// CLI's XML for the same answers: the CLI turns the very same dict into
// that XML (cli/src/cli-xml-output.c), so every field here follows what the
// CLI does with the key and what gluster.ParseVolumeInfo does with the
// element. A key the CLI needs and does not find fails the CLI; here it
// fails the read with ErrNotUnderstood.

// volumeStatus names glusterd's volume status (cli_vol_status_str).
var volumeStatus = []string{"Created", "Started", "Stopped"}

// volumeTypes names a volume's type (libglusterfs vol_type_str), indexed as
// the CLI does: glusterd's type (gf1_cluster_type), plus distributedOffset
// when the volume has more bricks than one replica or disperse set.
var volumeTypes = []string{
	"Distribute",
	"Stripe [NOT SUPPORTED from v6.0]",
	"Replicate",
	"Striped-Replicate [NOT SUPPORTED from v6.0]",
	"Disperse",
	"Tier [NOT SUPPORTED from v6.0]",
	"Distributed-Stripe [NOT SUPPORTED from v6.0]",
	"Distributed-Replicate",
	"Distributed-Striped-Replicate [NOT SUPPORTED from v6.0]",
	"Distributed-Disperse",
}

const (
	clusterTypeTier   = 5
	distributedOffset = 5 // GF_CLUSTER_TYPE_MAX - 1
)

var transports = []string{"tcp", "rdma", "tcp,rdma"}

// volumesFromDict reads the volumes of a GET_VOLUME answer.
func volumesFromDict(d Dict) ([]gluster.Volume, error) {
	count, err := d.Int("count")
	if err != nil {
		return nil, err
	}
	if count < 0 || int(count) > len(d) {
		return nil, malformed("count %d with %d keys", count, len(d))
	}
	// The options, gathered in one pass: volumeI.option.KEY.
	options := make([]map[string]string, count)
	for k, val := range d {
		rest, ok := strings.CutPrefix(k, "volume")
		if !ok {
			continue
		}
		num, key, ok := strings.Cut(rest, ".option.")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(num)
		if err != nil || i < 0 || i >= int(count) || strconv.Itoa(i) != num {
			continue
		}
		key = clean(key)
		if key == "" || gluster.IsSecretOption(key) {
			continue
		}
		if options[i] == nil {
			options[i] = map[string]string{}
		}
		options[i][key] = strings.ToValidUTF8(val, "\uFFFD")
	}
	vols := make([]gluster.Volume, 0, count)
	for i := 0; i < int(count); i++ {
		v, err := volumeFromDict(d, fmt.Sprintf("volume%d", i))
		if err != nil {
			return nil, err
		}
		if options[i] != nil {
			v.Options = options[i]
		}
		vols = append(vols, v)
	}
	return vols, nil
}

// ints reads the integer keys prefix.<name> into the given places.
func ints(d Dict, prefix string, into map[string]*int32) error {
	for name, p := range into {
		n, err := d.Int(prefix + "." + name)
		if err != nil {
			return err
		}
		*p = n
	}
	return nil
}

func volumeFromDict(d Dict, prefix string) (gluster.Volume, error) {
	var status, typ, snaps, bricks, leaf, replica, arbiter, disperse, redundancy, transport int32
	if err := ints(d, prefix, map[string]*int32{
		"status": &status, "type": &typ, "snap_count": &snaps, "brick_count": &bricks,
		"dist_count": &leaf, "replica_count": &replica, "arbiter_count": &arbiter,
		"disperse_count": &disperse, "redundancy_count": &redundancy, "transport": &transport,
	}); err != nil {
		return gluster.Volume{}, err
	}
	name, err := d.Str(prefix + ".name")
	if err != nil {
		return gluster.Volume{}, err
	}
	id, err := d.Str(prefix + ".volume_id")
	if err != nil {
		return gluster.Volume{}, err
	}
	if status < 0 || int(status) >= len(volumeStatus) {
		return gluster.Volume{}, malformed("%s: status %d", prefix, status)
	}
	// Every brick takes two keys: a count past that is not believed.
	if bricks < 0 || int(bricks) > len(d)/2 {
		return gluster.Volume{}, malformed("%s: brick_count %d with %d keys", prefix, bricks, len(d))
	}
	for _, n := range []int32{snaps, leaf, replica, arbiter, disperse, redundancy} {
		if n < 0 {
			return gluster.Volume{}, malformed("%s: a negative count", prefix)
		}
	}
	t := typ
	if t != clusterTypeTier && t > 0 && leaf < bricks {
		t += distributedOffset
	}
	if t < 0 || int(t) >= len(volumeTypes) {
		return gluster.Volume{}, malformed("%s: type %d", prefix, typ)
	}

	v := gluster.Volume{
		Name:            clean(name),
		ID:              clean(id),
		Status:          volumeStatus[status],
		Type:            volumeTypes[t],
		BrickCount:      uint32(bricks),
		ReplicaCount:    uint32(replica),
		ArbiterCount:    uint32(arbiter),
		DisperseCount:   uint32(disperse),
		RedundancyCount: uint32(redundancy),
		SnapshotCount:   uint32(snaps),
		Options:         map[string]string{},
	}
	if transport >= 0 && int(transport) < len(transports) {
		v.Transport = transports[transport]
	}
	if v.ReplicaCount == 0 {
		v.ReplicaCount = 1
	}
	v.DistCount = distCount(v, uint32(leaf))

	for j := 1; j <= int(bricks); j++ {
		key := fmt.Sprintf("%s.brick%d", prefix, j)
		brick, err := d.Str(key)
		if err != nil {
			return gluster.Volume{}, err
		}
		uuid, err := d.Str(key + ".uuid")
		if err != nil {
			return gluster.Volume{}, err
		}
		b := gluster.Brick{Name: clean(brick), HostUUID: clean(uuid)}
		b.Host, b.Path = gluster.SplitBrickName(b.Name)
		_, b.IsArbiter = d[key+".isArbiter"]
		v.Bricks = append(v.Bricks, b)
	}
	return v, nil
}

// distCount is the number of distribute subvolumes, derived as
// gluster.Volume.DistCount documents; leaf is glusterd's dist_count (the
// bricks of one set), used only when the counts do not divide.
func distCount(v gluster.Volume, leaf uint32) uint32 {
	set := v.ReplicaCount
	if v.DisperseCount > 0 {
		set = v.DisperseCount
	}
	switch {
	case v.BrickCount == 0:
		return 0
	case v.BrickCount%set == 0:
		return v.BrickCount / set
	case leaf > 0:
		return v.BrickCount / leaf
	}
	return 0
}

// peersFromDict reads the peers of a LIST_FRIENDS answer.
func peersFromDict(d Dict) ([]gluster.Peer, error) {
	count, err := d.Int("count")
	if err != nil {
		return nil, err
	}
	if count < 0 || int(count) > len(d) {
		return nil, malformed("count %d with %d keys", count, len(d))
	}
	peers := make([]gluster.Peer, 0, count)
	for i := 1; i <= int(count); i++ {
		prefix := fmt.Sprintf("friend%d", i)
		uuid, err := d.Str(prefix + ".uuid")
		if err != nil {
			return nil, err
		}
		host, err := d.Str(prefix + ".hostname")
		if err != nil {
			return nil, err
		}
		connected, err := d.Int(prefix + ".connected")
		if err != nil {
			return nil, err
		}
		p := gluster.Peer{
			UUID:      clean(uuid),
			Hostname:  clean(host),
			Connected: connected == 1,
			State:     clean(d[prefix+".state"]),
		}
		if p.Hostname != "" {
			p.Hostnames = append(p.Hostnames, p.Hostname)
		}
		if _, ok := d[prefix+".hostname_count"]; ok {
			n, err := d.Int(prefix + ".hostname_count")
			if err != nil {
				return nil, err
			}
			if int(n) > len(d) {
				return nil, malformed("%s: hostname_count %d with %d keys", prefix, n, len(d))
			}
			for k := 0; k < int(n); k++ {
				h, err := d.Str(fmt.Sprintf("%s.hostname%d", prefix, k))
				if err != nil {
					return nil, err
				}
				if h = clean(h); h != "" && h != p.Hostname {
					p.Hostnames = append(p.Hostnames, h)
				}
			}
		}
		peers = append(peers, p)
	}
	return peers, nil
}

// clean trims a value as the CLI parser trims an element's text, and makes
// it valid UTF-8: D-Bus carries nothing else.
func clean(s string) string {
	return strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
}
