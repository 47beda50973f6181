package gluster

import (
	"os"
	"strings"
	"testing"
)

func TestParseHealSummary(t *testing.T) {
	data, err := os.ReadFile("testdata/heal-info-summary-split-brain.xml")
	if err != nil {
		t.Fatal(err)
	}
	bricks, err := ParseHealSummary(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(bricks) != 2 {
		t.Fatalf("bricks = %+v", bricks)
	}
	for _, b := range bricks {
		if b.Host != "127.1.4.1" || !strings.HasSuffix(b.Path, "/s-a") && !strings.HasSuffix(b.Path, "/s-b") ||
			b.HostUUID != "dc8640ef-e655-466a-9a6e-160bdd6f4ecd" || !b.Connected ||
			b.Total != 1 || b.Pending != 0 || b.SplitBrain != 1 || b.PossiblyHealing != 0 {
			t.Errorf("brick %+v", b)
		}
	}
	// A brick that is down is listed, not connected, with no counts.
	down, err := os.ReadFile("testdata/heal-info-summary-brick-down.xml")
	if err != nil {
		t.Fatal(err)
	}
	bricks, err = ParseHealSummary(down)
	if err != nil || len(bricks) != 3 || !bricks[0].Connected || bricks[0].Pending != 1 ||
		bricks[2].Connected || bricks[2].HostUUID != "" || !strings.HasSuffix(bricks[2].Path, "/s-c") {
		t.Errorf("brick down: %+v, %v", bricks, err)
	}
	failed, err := os.ReadFile("testdata/error-heal-info-no-volfile.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseHealSummary(failed); err == nil || !strings.Contains(err.Error(), "Not able to fetch volfile") {
		t.Errorf("failed run: %v", err)
	}
	if _, err := ParseHealSummary([]byte(`<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/></cliOutput>`)); err == nil {
		t.Error("a document without <healInfo> was read as no bricks")
	}
}

func FuzzParseHealSummary(f *testing.F) {
	for _, name := range []string{"testdata/heal-info-summary-split-brain.xml", "testdata/heal-info-summary-brick-down.xml",
		"testdata/error-heal-info-no-volfile.xml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		bricks, err := ParseHealSummary(data)
		if err != nil {
			return
		}
		for _, b := range bricks {
			if b.Path == "" {
				t.Fatalf("brick %+v", b)
			}
		}
	})
}
