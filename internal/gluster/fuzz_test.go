package gluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds adds every captured XML output and the hand-written ones.
func addSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(oldVolumeInfo))
	f.Add([]byte(""))
	f.Add([]byte("<cliOutput><opRet>-1</opRet></cliOutput>"))
}

func FuzzParseVolumeInfo(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		vols, err := ParseVolumeInfo(data)
		if err != nil {
			return
		}
		for _, v := range vols {
			if v.Options == nil {
				t.Fatal("nil options")
			}
			for k := range v.Options {
				if IsSecretOption(k) {
					t.Fatalf("secret option %q kept", k)
				}
			}
			if v.BrickCount > 0 && v.DistCount > v.BrickCount {
				t.Fatalf("DistCount %d > BrickCount %d", v.DistCount, v.BrickCount)
			}
		}
	})
}

func FuzzParseVolumeStatusDetail(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseVolumeStatusDetail(data)
		if err != nil {
			return
		}
		for _, b := range st {
			if !strings.HasPrefix(b.Path, "/") {
				t.Fatalf("non-brick entry %+v", b)
			}
			if !b.Online && (b.Pid != -1 || b.Port != 0) {
				t.Fatalf("offline brick with pid %d port %d", b.Pid, b.Port)
			}
		}
	})
}

func FuzzParsePeerStatus(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		peers, err := ParsePeerStatus(data)
		if err != nil {
			return
		}
		for _, p := range peers {
			if p.Hostname != "" && (len(p.Hostnames) == 0 || p.Hostnames[0] != p.Hostname) {
				t.Fatalf("hostnames %q do not start with %q", p.Hostnames, p.Hostname)
			}
		}
		ParsePoolList(data)
	})
}
