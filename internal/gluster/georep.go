package gluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GeoRepSession is one geo-replication session (a primary volume and a
// secondary) with its workers, one per primary brick, as `volume
// geo-replication status` tells them.
type GeoRepSession struct {
	PrimaryVolume string
	// Secondary is the secondary as gluster names it, without the
	// "ssh://" scheme: "user@host::volume", or "host::volume" for root.
	Secondary       string
	SecondaryHost   string
	SecondaryVolume string
	SecondaryUser   string // "root" when the secondary names none
	Workers         []GeoRepWorker
}

// GeoRepWorker is the gsyncd worker of one primary brick. Counters that
// gluster prints as N/A (any worker not Active) are -1; times it prints as
// N/A are zero.
type GeoRepWorker struct {
	PrimaryNode     string
	PrimaryNodeUUID string
	PrimaryBrick    string
	SecondaryNode   string
	// Status is the worker's: Active, Passive, Faulty, Initializing,
	// Created, Stopped, Paused, Config Corrupted (gluster's "Initializing..."
	// without its dots); "" when gluster printed N/A.
	Status      string
	CrawlStatus string // Changelog Crawl, History Crawl, Hybrid Crawl; "" for N/A
	LastSynced  time.Time
	// Entry, Data and Meta are the operations pending; Failures the
	// failures counted.
	Entry, Data, Meta, Failures int64
	CheckpointCompleted         bool
	CheckpointTime              time.Time
	CheckpointCompletionTime    time.Time
}

// GeoRepStatus reads every geo-replication session of the cluster with
// `volume geo-replication status`, given no primary volume: without a
// volume name glusterd takes no volume lock for it (gd_sync_task_begin
// locks only the "volname" the CLI sets, and the CLI sets it only with a
// primary). It is a transaction over every peer, each telling its own
// bricks' workers, so it costs one round trip to every node.
//
// With no session at all, GlusterFS 10.3 prints no XML and exits with 2
// ("geo-replication command failed"), the same as on a real failure: the
// caller tells the two apart by the session directories (see
// GeoRepSessionDirs) and never asks where there is none.
func (c *CLI) GeoRepStatus(ctx context.Context) ([]GeoRepSession, error) {
	out, err := c.Run(ctx, "volume", "geo-replication", "status")
	if err != nil {
		return nil, err
	}
	return ParseGeoRepStatus(out)
}

// GeoRepSessionDirs counts the session directories glusterd keeps in
// <workdir>/geo-replication/ (named <primary>_<secondary host>_<secondary
// volume>, made at create and removed at delete on every primary node).
// The files beside them (templates, keys) are not sessions. A missing
// directory counts none.
func GeoRepSessionDirs(workdir string) (int, error) {
	entries, err := os.ReadDir(filepath.Join(workdir, "geo-replication"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			n++
		}
	}
	return n, nil
}

// geoRepPair is one <pair> of the status document. Releases 3.7 to 9 name
// its elements master_* and slave*, 10 and later primary_* and secondary*;
// 3.6 printed fewer of them. Each field takes whichever is present.
type geoRepPair struct {
	PrimaryNode     string `xml:"primary_node"`
	MasterNode      string `xml:"master_node"`
	PrimaryBrick    string `xml:"primary_brick"`
	MasterBrick     string `xml:"master_brick"`
	SecondaryUser   string `xml:"secondary_user"`
	SlaveUser       string `xml:"slave_user"`
	Secondary       string `xml:"secondary"`
	Slave           string `xml:"slave"`
	SecondaryNode   string `xml:"secondary_node"`
	SlaveNode       string `xml:"slave_node"`
	Status          string `xml:"status"`
	CrawlStatus     string `xml:"crawl_status"`
	Entry           string `xml:"entry"`
	Data            string `xml:"data"`
	Meta            string `xml:"meta"`
	Failures        string `xml:"failures"`
	CheckpointDone  string `xml:"checkpoint_completed"`
	PrimaryNodeUUID string `xml:"primary_node_uuid"`
	MasterNodeUUID  string `xml:"master_node_uuid"`
	LastSynced      string `xml:"last_synced"`
	CheckpointTime  string `xml:"checkpoint_time"`
	CheckpointDoneT string `xml:"checkpoint_completion_time"`
}

// ParseGeoRepStatus parses `volume geo-replication status --xml`
// (cli_xml_output_vol_gsync_status in cli/src/cli-xml-output.c): volumes,
// their sessions and each session's pairs (workers). A successful document
// without <geoRep> is an error, never "no sessions". Workers are grouped by
// primary volume and secondary whatever the nesting says, as some releases
// closed a session element between pairs of the same session.
func ParseGeoRepStatus(data []byte) ([]GeoRepSession, error) {
	var doc struct {
		GeoRep *struct {
			Volumes []struct {
				Name     string `xml:"name"`
				Sessions []struct {
					SessionSecondary string       `xml:"session_secondary"`
					SessionSlave     string       `xml:"session_slave"`
					Pairs            []geoRepPair `xml:"pair"`
				} `xml:"sessions>session"`
			} `xml:"volume"`
		} `xml:"geoRep"`
	}
	if err := decode(data, &doc); err != nil {
		return nil, err
	}
	if doc.GeoRep == nil {
		return nil, errors.New("gluster: geo-replication status output has no <geoRep>")
	}
	var out []GeoRepSession
	index := map[[2]string]int{}
	for vi, v := range doc.GeoRep.Volumes {
		primary := text(v.Name)
		if primary == "" {
			return nil, fmt.Errorf("gluster: geo-replication status output has a volume without a name (volume %d)", vi+1)
		}
		for si, s := range v.Sessions {
			session := text(first(s.SessionSecondary, s.SessionSlave))
			for pi, p := range s.Pairs {
				secondary := secondaryOf(text(first(p.Secondary, p.Slave)), session)
				user, host, vol, ok := splitSecondary(secondary)
				if !ok {
					return nil, fmt.Errorf("gluster: geo-replication status output: volume %s, session %d, pair %d: no secondary host::volume in %q",
						primary, si+1, pi+1, secondary)
				}
				key := [2]string{primary, secondary}
				i, seen := index[key]
				if !seen {
					if user == "" {
						user = text(first(p.SecondaryUser, p.SlaveUser))
					}
					if user == "" {
						user = "root"
					}
					i = len(out)
					index[key] = i
					out = append(out, GeoRepSession{PrimaryVolume: primary, Secondary: secondary,
						SecondaryHost: host, SecondaryVolume: vol, SecondaryUser: user})
				}
				out[i].Workers = append(out[i].Workers, p.worker())
			}
		}
	}
	for i := range out {
		// Sorted, so that the same workers read in another order are no change.
		slices.SortFunc(out[i].Workers, func(a, b GeoRepWorker) int {
			return strings.Compare(a.PrimaryNode+":"+a.PrimaryBrick, b.PrimaryNode+":"+b.PrimaryBrick)
		})
	}
	return out, nil
}

func (p *geoRepPair) worker() GeoRepWorker {
	return GeoRepWorker{
		PrimaryNode:              text(first(p.PrimaryNode, p.MasterNode)),
		PrimaryNodeUUID:          text(first(p.PrimaryNodeUUID, p.MasterNodeUUID)),
		PrimaryBrick:             text(first(p.PrimaryBrick, p.MasterBrick)),
		SecondaryNode:            text(first(p.SecondaryNode, p.SlaveNode)),
		Status:                   strings.TrimRight(text(p.Status), "."),
		CrawlStatus:              text(p.CrawlStatus),
		LastSynced:               geoRepTime(p.LastSynced),
		Entry:                    geoRepCount(p.Entry),
		Data:                     geoRepCount(p.Data),
		Meta:                     geoRepCount(p.Meta),
		Failures:                 geoRepCount(p.Failures),
		CheckpointCompleted:      strings.EqualFold(strings.TrimSpace(p.CheckpointDone), "Yes"),
		CheckpointTime:           geoRepTime(p.CheckpointTime),
		CheckpointCompletionTime: geoRepTime(p.CheckpointDoneT),
	}
}

func first(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return a
	}
	return b
}

// secondaryOf is the pair's secondary without its "ssh://" scheme, or else
// the one in the session's <session_secondary>, which glusterd stores as
// "<primary uuid>:ssh://<secondary>:<secondary volume uuid>".
func secondaryOf(pair, session string) string {
	s := pair
	if s == "" {
		s = session
		if i := strings.Index(s, "://"); i >= 0 {
			s = s[i+3:]
		} else if i := strings.Index(s, ":"); i >= 0 && !strings.HasPrefix(s[i:], "::") {
			s = s[i+1:] // a uuid before the secondary, without a scheme
		}
		// The secondary volume's uuid after the volume name.
		if i := strings.Index(s, "::"); i >= 0 {
			if j := strings.Index(s[i+2:], ":"); j >= 0 {
				s = s[:i+2+j]
			}
		}
	}
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	return strings.TrimSpace(s)
}

// splitSecondary splits "[user@]host::volume"; a user, a host or a volume
// left empty ("@host::v", "user@::v", "host::") is no secondary.
func splitSecondary(s string) (user, host, volume string, ok bool) {
	host, volume, ok = strings.Cut(s, "::")
	if at := strings.LastIndex(host, "@"); at >= 0 {
		user, host = host[:at], host[at+1:]
		ok = ok && user != ""
	}
	return user, host, volume, ok && host != "" && volume != "" && !strings.ContainsAny(s, " \t\n")
}

// geoRepTime parses the UTC times gsyncd prints ("2006-01-02 15:04:05");
// N/A, "-" and anything else is the zero time.
func geoRepTime(s string) time.Time {
	t, err := time.Parse(time.DateTime, strings.TrimSpace(s))
	if err != nil || t.Year() < 1971 {
		return time.Time{}
	}
	return t
}

// geoRepCount parses a worker counter; N/A, "-" and garbage are -1.
func geoRepCount(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
