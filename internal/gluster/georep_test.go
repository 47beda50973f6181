package gluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseGeoRepStatus(t *testing.T) {
	sessions, err := ParseGeoRepStatus(readTestdata(t, "r10-georep-status.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 2 {
		t.Fatalf("%d sessions, want 2: %+v", len(sessions), sessions)
	}
	s := sessions[0]
	if s.PrimaryVolume != "pv" || s.Secondary != "geoaccount@sec1.example.com::sv" || s.SecondaryHost != "sec1.example.com" ||
		s.SecondaryVolume != "sv" || s.SecondaryUser != "geoaccount" || len(s.Workers) != 2 {
		t.Errorf("session %+v", s)
	}
	want := GeoRepWorker{PrimaryNode: "pri1.example.com", PrimaryNodeUUID: "5d6b7e0a-3c1f-4f5e-9b8a-2a1c0d9e8f7a",
		PrimaryBrick: "/bricks/pv/b1", SecondaryNode: "sec1.example.com", Status: "Active", CrawlStatus: "Changelog Crawl",
		LastSynced: time.Date(2026, 12, 6, 18, 40, 12, 0, time.UTC), Entry: 0, Data: 3, Meta: 0, Failures: 0,
		CheckpointTime: time.Date(2026, 12, 6, 18, 45, 0, 0, time.UTC)}
	if s.Workers[0] != want {
		t.Errorf("worker\n %+v\nwant\n %+v", s.Workers[0], want)
	}
	if w := s.Workers[1]; w.Status != "Passive" || w.Entry != -1 || w.Failures != -1 || !w.LastSynced.IsZero() ||
		w.CrawlStatus != "" || w.CheckpointCompleted {
		t.Errorf("passive worker %+v", w)
	}
	if s := sessions[1]; s.Secondary != "dr.example.com::drv" || s.SecondaryUser != "root" || s.SecondaryHost != "dr.example.com" ||
		len(s.Workers) != 2 || s.Workers[0].Status != "Stopped" {
		t.Errorf("root session %+v", s)
	}
}

// Releases 3.7 to 9 name the elements master and slave; 3.6 had fewer of
// them and other counters.
func TestParseGeoRepStatusOlderReleases(t *testing.T) {
	sessions, err := ParseGeoRepStatus(readTestdata(t, "r3.7-georep-status.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || len(sessions[0].Workers) != 2 {
		t.Fatalf("%+v", sessions)
	}
	s := sessions[0]
	if s.PrimaryVolume != "mastervol" || s.Secondary != "slavehost::slavevol" || s.SecondaryUser != "root" {
		t.Errorf("session %+v", s)
	}
	if w := s.Workers[0]; w.PrimaryNode != "node1" || w.Status != "Faulty" || w.PrimaryBrick != "/rhs/brick1/b1" {
		t.Errorf("faulty worker %+v", w)
	}
	if w := s.Workers[1]; w.Status != "Active" || w.CrawlStatus != "History Crawl" || w.Failures != 2 || w.Data != 140 ||
		!w.CheckpointCompleted || w.CheckpointCompletionTime != time.Date(2016, 3, 1, 10, 15, 42, 0, time.UTC) ||
		w.PrimaryNodeUUID != "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f" {
		t.Errorf("active worker %+v", w)
	}

	sessions, err = ParseGeoRepStatus(readTestdata(t, "r3.6-georep-status.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || sessions[0].Secondary != "slavehost::slavevol" || len(sessions[0].Workers) != 1 {
		t.Fatalf("%+v", sessions)
	}
	if w := sessions[0].Workers[0]; w.Status != "Initializing" || w.Entry != -1 || w.PrimaryNode != "node1" {
		t.Errorf("3.6 worker %+v", w)
	}
}

// Missing elements, "-" placeholders, a session split over two elements:
// the secondary comes from <session_secondary> and the workers are one
// session's.
func TestParseGeoRepStatusSparse(t *testing.T) {
	sessions, err := ParseGeoRepStatus(readTestdata(t, "shape-georep-status-sparse.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || len(sessions[0].Workers) != 2 {
		t.Fatalf("%+v", sessions)
	}
	s := sessions[0]
	if s.Secondary != "geoaccount@sec1::sv" || s.SecondaryUser != "geoaccount" || s.SecondaryHost != "sec1" || s.SecondaryVolume != "sv" {
		t.Errorf("session %+v", s)
	}
	if w := s.Workers[0]; w.Status != "" || w.Entry != -1 || !w.LastSynced.IsZero() || w.PrimaryNode != "pri1" {
		t.Errorf("sparse worker %+v", w)
	}
}

func TestParseGeoRepStatusErrors(t *testing.T) {
	var ce *CLIError
	if _, err := ParseGeoRepStatus(readTestdata(t, "r10-georep-status-error.xml")); !errors.As(err, &ce) {
		t.Errorf("failed status: %v, want a CLIError", err)
	}
	// What 10.3 prints with no session at all: no XML.
	if _, err := ParseGeoRepStatus(readTestdata(t, "georep-status-none.txt")); err == nil {
		t.Error("the output of a failed command was read as no sessions")
	}
	if _, err := ParseGeoRepStatus([]byte(`<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/></cliOutput>`)); err == nil {
		t.Error("a document without <geoRep> was read as no sessions")
	}
	if s, err := ParseGeoRepStatus([]byte(`<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><geoRep/></cliOutput>`)); err != nil || len(s) != 0 {
		t.Errorf("empty <geoRep>: %+v, %v", s, err)
	}
	noSecondary := `<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><geoRep><volume><name>pv</name><sessions><session>` +
		`<pair><primary_node>n</primary_node><secondary>N/A</secondary></pair></session></sessions></volume></geoRep></cliOutput>`
	if _, err := ParseGeoRepStatus([]byte(noSecondary)); err == nil {
		t.Error("a pair without a secondary was read")
	}
	// A user or a host left empty beside its "@" is no secondary either.
	for _, secondary := range []string{"@::v", "u@::v", "@h::v", "h::", "::v"} {
		doc := strings.Replace(noSecondary, "N/A", secondary, 1)
		if s, err := ParseGeoRepStatus([]byte(doc)); err == nil {
			t.Errorf("secondary %q was read: %+v", secondary, s)
		}
	}
}

func TestGeoRepSessionDirs(t *testing.T) {
	wd := t.TempDir()
	if n, err := GeoRepSessionDirs(wd); n != 0 || err != nil {
		t.Errorf("no geo-replication directory: %d, %v", n, err)
	}
	dir := filepath.Join(wd, "geo-replication")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gsyncd_template.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := GeoRepSessionDirs(wd); n != 0 || err != nil {
		t.Errorf("only the template: %d, %v", n, err)
	}
	if err := os.Mkdir(filepath.Join(dir, "pv_sec1_sv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if n, err := GeoRepSessionDirs(wd); n != 1 || err != nil {
		t.Errorf("one session: %d, %v", n, err)
	}
}

func FuzzParseGeoRepStatus(f *testing.F) {
	addSeeds(f)
	f.Add(readTestdata(f, "georep-status-none.txt"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sessions, err := ParseGeoRepStatus(data)
		if err != nil {
			return
		}
		seen := map[[2]string]bool{}
		for _, s := range sessions {
			key := [2]string{s.PrimaryVolume, s.Secondary}
			if seen[key] {
				t.Fatalf("session %v twice", key)
			}
			seen[key] = true
			if s.PrimaryVolume == "" || s.SecondaryHost == "" || s.SecondaryVolume == "" || s.SecondaryUser == "" {
				t.Fatalf("session without its names: %+v", s)
			}
			if len(s.Workers) == 0 {
				t.Fatalf("session without workers: %+v", s)
			}
			for _, w := range s.Workers {
				if w.Entry < -1 || w.Data < -1 || w.Meta < -1 || w.Failures < -1 {
					t.Fatalf("negative counter: %+v", w)
				}
			}
		}
	})
}
