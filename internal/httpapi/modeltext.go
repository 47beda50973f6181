package httpapi

import (
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/glusterbus/glusterbus/internal/state"
)

// The families made from the volumes, bricks and peers are written straight
// in Prometheus's text format rather than as const metrics: at 5000 volumes
// x 3 bricks they are 160 000 samples, and making, checking, sorting and
// encoding that many const metrics took about 0.7 s of CPU per scrape
// (BenchmarkScrape), against a few tens of milliseconds this way. They are
// still made from the model at each scrape and nothing is kept between
// scrapes.

// modelFamily is one metric family written by writeModel.
type modelFamily struct {
	name, help string
	labels     []string // documented order
}

var (
	famVolumeTotal   = modelFamily{"gluster_volume_total_count", "Total no of volumes", nil}
	famVolumeCreated = modelFamily{"gluster_volume_created_count", "Freshly created no of volumes", nil}
	famVolumeStarted = modelFamily{"gluster_volume_started_count", "Total no of started volumes", nil}
	famVolumeUp      = modelFamily{"gluster_volume_up", "Volume is started or not (1-started, 0-not started)", volumeLabel}
	famVolumeBricks  = modelFamily{"gluster_volume_brick_count", "Total no of bricks in volume", volumeLabel}
	famVolumeOnline  = modelFamily{"glusterbus_volume_online_brick_count", "Bricks of the volume that are online", volumeLabel}
	famVolumeHealth  = modelFamily{"glusterbus_volume_health", "1 for the volume's current health (up, degraded, down, unknown, stopped), 0 for the others", []string{"volume", "health"}}
	famVolumeInfo    = modelFamily{"glusterbus_volume_info", "Always 1; the volume's identity and layout as labels", []string{"volume", "id", "type", "transport", "status"}}
	famVolumeSnaps   = modelFamily{"glusterbus_volume_snapshot_count", "Snapshots of the volume", volumeLabel}

	famBrickUp          = modelFamily{"gluster_brick_up", "Brick up (1-up, 0-down); absent while the brick's state is unknown", brickUpLabels}
	famBrickUsed        = modelFamily{"gluster_brick_capacity_used_bytes", "Used capacity of gluster bricks in bytes", brickLabels}
	famBrickFree        = modelFamily{"gluster_brick_capacity_free_bytes", "Free capacity of gluster bricks in bytes", brickLabels}
	famBrickTotal       = modelFamily{"gluster_brick_capacity_bytes_total", "Total capacity of gluster bricks in bytes", brickLabels}
	famBrickInodesTotal = modelFamily{"gluster_brick_inodes_total", "Total no of inodes of gluster brick disk", brickLabels}
	famBrickInodesFree  = modelFamily{"gluster_brick_inodes_free", "Free no of inodes of gluster brick disk", brickLabels}
	famBrickInodesUsed  = modelFamily{"gluster_brick_inodes_used", "Used no of inodes of gluster brick disk", brickLabels}
	famSubvolUsed       = modelFamily{"gluster_subvol_capacity_used_bytes", "Effective used capacity of gluster subvolume in bytes", []string{"volume", "subvolume"}}
	famSubvolTotal      = modelFamily{"gluster_subvol_capacity_total_bytes", "Effective total capacity of gluster subvolume in bytes", []string{"volume", "subvolume"}}

	famPeerCount     = modelFamily{"gluster_peer_count", "Number of peers in cluster", nil}
	famPeerConnected = modelFamily{"gluster_peer_connected", "Peer connection status", []string{"hostname", "uuid"}}

	volumeLabel   = []string{"volume"}
	brickUpLabels = []string{"volume", "hostname", "brick_path", "peer_id"}
	brickLabels   = []string{"volume", "host", "brick_path", "subvolume"}

	// modelFamilies lists them all, for the documentation's test.
	modelFamilies = []modelFamily{famVolumeTotal, famVolumeCreated, famVolumeStarted, famVolumeUp, famVolumeBricks,
		famVolumeOnline, famVolumeHealth, famVolumeInfo, famVolumeSnaps, famBrickUp, famBrickUsed, famBrickFree,
		famBrickTotal, famBrickInodesTotal, famBrickInodesFree, famBrickInodesUsed, famSubvolUsed, famSubvolTotal,
		famPeerCount, famPeerConnected}

	healthValues = []string{state.HealthUp, state.HealthDegraded, state.HealthDown, state.HealthUnknown, state.HealthStopped}
)

// brickSpace is a brick whose space is known and current: in a started
// volume, read by volume status.
type brickSpace struct {
	labels string // {volume=...,host=...,brick_path=...,subvolume=...}
	b      *state.Brick
}

// subvolSpace is a subvolume's effective space, as gluster-prometheus
// computes it: a replica or disperse set holds as much as its fullest data
// brick has used and its smallest can hold (times its data bricks for
// disperse); arbiters hold no file data.
type subvolSpace struct {
	labels      string
	used, total uint64
}

// writeModel writes the model's families to out in the text format.
func writeModel(out io.Writer, snap *state.Snapshot) error {
	w := textWriter{out: out, buf: make([]byte, 0, textChunk+1024)}
	names := slices.Sorted(maps.Keys(snap.Volumes))
	vols := make([]*state.Volume, len(names))
	volLabels := make([]string, len(names))
	var created, started uint64
	var nbricks int
	for i, name := range names {
		v := snap.Volumes[name]
		vols[i] = v
		volLabels[i] = labelSet(volumeLabel, name)
		switch v.Status {
		case "Created":
			created++
		case "Started":
			started++
		}
		nbricks += len(v.Bricks)
	}
	w.family(famVolumeTotal)
	w.sample(famVolumeTotal.name, "", uint64(len(vols)))
	w.family(famVolumeCreated)
	w.sample(famVolumeCreated.name, "", created)
	w.family(famVolumeStarted)
	w.sample(famVolumeStarted.name, "", started)
	w.perVolume(famVolumeUp, vols, volLabels, func(v *state.Volume) uint64 { return b2u(v.Status == "Started") })
	w.perVolume(famVolumeBricks, vols, volLabels, func(v *state.Volume) uint64 { return uint64(len(v.Bricks)) })
	w.perVolume(famVolumeOnline, vols, volLabels, func(v *state.Volume) uint64 { return uint64(v.OnlineBrickCount()) })
	if len(vols) > 0 {
		w.family(famVolumeHealth)
		for _, v := range vols {
			health := v.Health()
			for _, h := range healthValues {
				w.sample(famVolumeHealth.name, labelSet(famVolumeHealth.labels, v.Name, h), b2u(h == health))
			}
		}
		w.family(famVolumeInfo)
		for _, v := range vols {
			w.sample(famVolumeInfo.name, labelSet(famVolumeInfo.labels, v.Name, v.ID, v.Type, v.Transport, v.Status), 1)
		}
	}
	w.perVolume(famVolumeSnaps, vols, volLabels, func(v *state.Volume) uint64 { return uint64(v.SnapshotCount) })

	// Bricks: up or not where known (an unknown brick has no sample, so no
	// alert takes it for down); space where known.
	if nbricks > 0 {
		w.family(famBrickUp)
		for _, v := range vols {
			for i := range v.Bricks {
				b := &v.Bricks[i]
				if b.State() == state.BrickStateUnknown {
					continue
				}
				w.sample(famBrickUp.name, labelSet(brickUpLabels, v.Name, b.Host, b.Path, b.HostUUID), b2u(b.Online))
			}
		}
	}
	spaces, subvols := brickSpaces(vols, nbricks)
	for _, f := range []struct {
		fam   modelFamily
		value func(*state.Brick) uint64
	}{
		{famBrickUsed, func(b *state.Brick) uint64 { return b.SizeTotal - min(b.SizeFree, b.SizeTotal) }},
		{famBrickFree, func(b *state.Brick) uint64 { return b.SizeFree }},
		{famBrickTotal, func(b *state.Brick) uint64 { return b.SizeTotal }},
		{famBrickInodesTotal, func(b *state.Brick) uint64 { return b.InodesTotal }},
		{famBrickInodesFree, func(b *state.Brick) uint64 { return b.InodesFree }},
		{famBrickInodesUsed, func(b *state.Brick) uint64 { return b.InodesTotal - min(b.InodesFree, b.InodesTotal) }},
	} {
		if len(spaces) == 0 {
			break
		}
		w.family(f.fam)
		for _, s := range spaces {
			w.sample(f.fam.name, s.labels, f.value(s.b))
		}
	}
	if len(subvols) > 0 {
		w.family(famSubvolUsed)
		for _, s := range subvols {
			w.sample(famSubvolUsed.name, s.labels, s.used)
		}
		w.family(famSubvolTotal)
		for _, s := range subvols {
			w.sample(famSubvolTotal.name, s.labels, s.total)
		}
	}

	w.family(famPeerCount)
	w.sample(famPeerCount.name, "", uint64(len(snap.Peers)))
	if len(snap.Peers) > 0 {
		w.family(famPeerConnected)
		for _, id := range slices.Sorted(maps.Keys(snap.Peers)) {
			p := snap.Peers[id]
			w.sample(famPeerConnected.name, labelSet(famPeerConnected.labels, p.Hostname, p.UUID), b2u(p.Connected))
		}
	}
	w.flush()
	return w.err
}

// brickSpaces lists the bricks whose space is known and each subvolume's
// effective space where all its bricks' are.
func brickSpaces(vols []*state.Volume, nbricks int) ([]brickSpace, []subvolSpace) {
	spaces := make([]brickSpace, 0, nbricks)
	var subvols []subvolSpace
	for _, v := range vols {
		if v.Status != "Started" {
			continue
		}
		kind, size := subvolLayout(v)
		for start := 0; start < len(v.Bricks); start += size {
			set := v.Bricks[start:min(start+size, len(v.Bricks))]
			name := v.Name + "-" + kind + "-" + strconv.Itoa(start/size)
			sv := subvolSpace{labels: labelSet(famSubvolUsed.labels, v.Name, name)}
			known, data := true, 0
			for i := range set {
				b := &set[i]
				if b.SizeTotal == 0 {
					known = false
					continue
				}
				spaces = append(spaces, brickSpace{labelSet(brickLabels, v.Name, b.Host, b.Path, name), b})
				if b.IsArbiter {
					continue
				}
				sv.used = max(sv.used, b.SizeTotal-min(b.SizeFree, b.SizeTotal))
				if data == 0 || b.SizeTotal < sv.total {
					sv.total = b.SizeTotal
				}
				data++
			}
			if !known || data == 0 {
				continue
			}
			if kind == "disperse" {
				n := max(uint64(v.DisperseCount)-uint64(v.RedundancyCount), 1)
				sv.used, sv.total = sv.used*n, sv.total*n
			}
			subvols = append(subvols, sv)
		}
	}
	return spaces, subvols
}

// subvolLayout names the volume's subvolume kind as gluster-prometheus
// does (<volume>-replicate-0, ...) and says how many bricks each has.
func subvolLayout(v *state.Volume) (string, int) {
	switch {
	case v.DisperseCount > 1:
		return "disperse", int(v.DisperseCount)
	case v.ReplicaCount > 1:
		return "replicate", int(v.ReplicaCount)
	}
	return "distribute", 1 // each brick is a subvolume of its own
}

// textChunk is how much textWriter gathers before writing: the answer
// goes out as it is made, never held whole.
const textChunk = 32 << 10

// textWriter writes Prometheus's text exposition format (version 0.0.4).
// After a write error it writes nothing more.
type textWriter struct {
	out io.Writer
	buf []byte
	err error
}

func (w *textWriter) flush() {
	if w.err == nil && len(w.buf) > 0 {
		_, w.err = w.out.Write(w.buf)
	}
	w.buf = w.buf[:0]
}

// family starts a family: its HELP and TYPE lines. Every family here is a
// gauge.
func (w *textWriter) family(f modelFamily) {
	w.buf = append(w.buf, "# HELP "...)
	w.buf = append(w.buf, f.name...)
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, f.help...) // no backslash or newline in any
	w.buf = append(w.buf, "\n# TYPE "...)
	w.buf = append(w.buf, f.name...)
	w.buf = append(w.buf, " gauge\n"...)
}

func (w *textWriter) sample(name, labels string, v uint64) {
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, labels...)
	w.buf = append(w.buf, ' ')
	w.buf = strconv.AppendUint(w.buf, v, 10)
	w.buf = append(w.buf, '\n')
	if len(w.buf) >= textChunk {
		w.flush()
	}
}

func (w *textWriter) perVolume(f modelFamily, vols []*state.Volume, labels []string, value func(*state.Volume) uint64) {
	if len(vols) == 0 {
		return
	}
	w.family(f)
	for i, v := range vols {
		w.sample(f.name, labels[i], value(v))
	}
}

// labelSet renders {name="value",...}. Values are escaped as the format
// asks and made valid UTF-8, which Prometheus requires of every label (a
// brick path need not be).
func labelSet(names []string, values ...string) string {
	var b strings.Builder
	n := 2
	for i, name := range names {
		n += len(name) + len(values[i]) + 4
	}
	b.Grow(n)
	b.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteString(`="`)
		writeLabelValue(&b, values[i])
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func writeLabelValue(b *strings.Builder, v string) {
	if !needsEscape(v) {
		b.WriteString(v)
		return
	}
	for _, r := range strings.ToValidUTF8(v, "\uFFFD") {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
}

func needsEscape(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\\' || c == '"' || c == '\n' || c >= 0x80 {
			return true
		}
	}
	return false
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
