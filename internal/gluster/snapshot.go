package gluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Snapshot is one volume snapshot as `snapshot info` tells it.
type Snapshot struct {
	Name, ID     string
	Description  string
	CreateTime   string // as glusterd prints it: "2006-01-02 15:04:05", UTC unless glusterd logs in local time
	OriginVolume string
	SnapVolume   string // the snapshot's own volume name (a UUID without dashes)
	// Status is the snapshot volume's: "Started" (activated) or "Stopped".
	Status string
}

// ErrSnapshotsUnavailable is what a node without LVM tools answers to
// every snapshot command: it has no snapshots to tell.
var ErrSnapshotsUnavailable = errors.New("snapshots unavailable on this node")

// Snapshots returns every snapshot with `snapshot info`, which glusterd
// answers from its memory without a volume lock. A node without LVM tools
// gives ErrSnapshotsUnavailable.
func (c *CLI) Snapshots(ctx context.Context) ([]Snapshot, error) {
	out, err := c.Run(ctx, "snapshot", "info")
	if err != nil {
		if isNoLVM(err) {
			return nil, fmt.Errorf("%w: %w", ErrSnapshotsUnavailable, err)
		}
		return nil, err
	}
	return ParseSnapshotInfo(out)
}

func isNoLVM(err error) bool {
	var ce *CLIError
	return errors.As(err, &ce) && strings.Contains(ce.Message, "snapshot functionality is disabled")
}

// ParseSnapshotInfo parses `snapshot info --xml` (cli_xml_snapshot_info in
// cli/src/cli-xml-output.c). A successful document without <snapInfo> is
// an error, never "no snapshots"; so is a snapshot without a name.
func ParseSnapshotInfo(data []byte) ([]Snapshot, error) {
	var doc struct {
		SnapInfo *struct {
			Snapshots []struct {
				Name        string `xml:"name"`
				UUID        string `xml:"uuid"`
				Description string `xml:"description"`
				CreateTime  string `xml:"createTime"`
				SnapVolumes []struct {
					Name   string `xml:"name"`
					Status string `xml:"status"`
					Origin struct {
						Name string `xml:"name"`
					} `xml:"originVolume"`
				} `xml:"snapVolume"`
			} `xml:"snapshots>snapshot"`
		} `xml:"snapInfo"`
	}
	if err := decode(data, &doc); err != nil {
		if isNoLVM(err) {
			return nil, fmt.Errorf("%w: %w", ErrSnapshotsUnavailable, err)
		}
		return nil, err
	}
	if doc.SnapInfo == nil {
		return nil, errors.New("gluster: snapshot info output has no <snapInfo>")
	}
	out := make([]Snapshot, 0, len(doc.SnapInfo.Snapshots))
	for i, x := range doc.SnapInfo.Snapshots {
		s := Snapshot{Name: text(x.Name), ID: text(x.UUID), Description: strings.TrimSpace(x.Description),
			CreateTime: text(x.CreateTime)}
		if s.Name == "" {
			return nil, fmt.Errorf("gluster: snapshot info output has a snapshot without a name (snapshot %d)", i+1)
		}
		if len(x.SnapVolumes) > 0 {
			sv := x.SnapVolumes[0] // glusterd makes snapshots of one volume
			s.SnapVolume, s.Status, s.OriginVolume = text(sv.Name), text(sv.Status), text(sv.Origin.Name)
		}
		out = append(out, s)
	}
	return out, nil
}
