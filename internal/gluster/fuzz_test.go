package gluster

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
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

func FuzzParsePoolList(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		self, peers, err := ParsePoolList(data)
		if err != nil {
			return
		}
		if self.UUID == "" || self.Hostname != localPoolName {
			t.Fatalf("self %+v", self)
		}
		for _, p := range peers {
			if p.UUID == "" {
				t.Fatalf("peer without a UUID: %+v", p)
			}
		}
	})
}

// CheckOutput and every parser agree on whether a document reports a
// failure, and a failure always carries a message.
func FuzzCheckOutput(f *testing.F) {
	addSeeds(f)
	f.Add([]byte("<cliOutput><opRet>-1</opRet><opErrstr>(null)</opErrstr><x><errstr>(null)</errstr></x></cliOutput>"))
	f.Add([]byte("<cliOutput><a/><opRet>-1</opRet><opErrno>30806</opErrno></cliOutput><cliOutput><opRet>0</opRet></cliOutput>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := CheckOutput(data)
		var ce *CLIError
		failed := errors.As(err, &ce)
		if failed {
			if ce.OpRet == 0 || strings.TrimSpace(ce.Message) == "" || ce.Message == "(null)" {
				t.Fatalf("failure %#v", ce)
			}
			errors.Is(err, ErrNoVolume)
			errors.Is(err, ErrLocked)
		}
		for name, parse := range map[string]func([]byte) error{
			"VolumeInfo":   func(b []byte) error { _, err := ParseVolumeInfo(b); return err },
			"StatusDetail": func(b []byte) error { _, err := ParseVolumeStatusDetail(b); return err },
			"PeerStatus":   func(b []byte) error { _, err := ParsePeerStatus(b); return err },
			"OpVersion":    func(b []byte) error { _, err := ParseOpVersion(b); return err },
		} {
			perr := parse(data)
			var pce *CLIError
			if errors.As(perr, &pce) != failed || (failed && *pce != *ce) {
				t.Fatalf("%s = %v, CheckOutput = %v", name, perr, err)
			}
			if err != nil && perr == nil {
				t.Fatalf("%s accepted what CheckOutput refused: %v", name, err)
			}
		}
	})
}

func FuzzParseOpVersion(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseOpVersion(data)
		if err == nil && v == 0 {
			t.Fatal("op-version 0 without an error")
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, name := range []string{"version.txt", "r3.4-version.txt"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("")
	f.Add("glusterfs\n3.4")
	f.Fuzz(func(t *testing.T, out string) {
		v, err := ParseVersion(out)
		if err == nil && (v == "" || strings.ContainsAny(v, " \t\r\n")) {
			t.Fatalf("version %q", v)
		}
	})
}

// A command line parses into words that, quoted again, parse into the same
// words.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"gluster", `gluster --glusterd-sock=/run/gd.sock`, `"/opt/gluster bin/gluster" --mode=script`,
		`a\ b "c\"d" 'e\f' "g\h" ''`, "sudo -n\tgluster", `gluster 'x`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := ParseCommand(s)
		if err != nil {
			return
		}
		if len(words) == 0 {
			t.Fatal("no words without an error")
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		again, err := ParseCommand(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("%q -> %q -> %q, %v", s, words, again, err)
		}
	})
}

func FuzzParseQuotaList(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		limits, err := ParseQuotaList(data)
		if err != nil {
			return
		}
		for i, l := range limits {
			if l.Path == "" {
				t.Fatal("a limit without a path")
			}
			if i > 0 && limits[i-1].Path > l.Path {
				t.Fatal("not sorted by path")
			}
		}
	})
}

func FuzzParseQuotaConf(f *testing.F) {
	f.Add([]byte(quotaConfHeader12 + strings.Repeat("\xab", 16) + "\x01"))
	f.Add([]byte(quotaConfHeader11 + strings.Repeat("\x01", 32)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		conf, err := ParseQuotaConf(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, id := range conf.Usage {
			if len(id) != 36 || seen[id] {
				t.Fatalf("gfid %q", id)
			}
			seen[id] = true
		}
	})
}
