package glusterd

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

// addRecords seeds with every captured reply record.
func addRecords(f *testing.F) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "*.rec"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	var recs [][]byte
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		recs = append(recs, data)
	}
	return recs
}

// checkVolumes holds for whatever volumes a dict gave.
func checkVolumes(t *testing.T, vols []gluster.Volume) {
	for _, v := range vols {
		if v.Options == nil || uint32(len(v.Bricks)) != v.BrickCount {
			t.Fatalf("volume %+v", v)
		}
		for k, val := range v.Options {
			if gluster.IsSecretOption(k) {
				t.Fatalf("secret option %q", k)
			}
			if !utf8.ValidString(k) || !utf8.ValidString(val) {
				t.Fatalf("invalid UTF-8 in option %q", k)
			}
		}
		if !utf8.ValidString(v.Name) || !utf8.ValidString(v.ID) {
			t.Fatalf("invalid UTF-8 in %q", v.Name)
		}
	}
}

// FuzzReply feeds a record to everything that reads glusterd's answers.
func FuzzReply(f *testing.F) {
	for _, rec := range addRecords(f) {
		f.Add(rec)
	}
	f.Add([]byte{0x80, 0, 0, 0})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := readRecord(bytes.NewReader(data), 1<<20)
		if err != nil {
			return
		}
		if len(body) > len(data) {
			t.Fatalf("record of %d bytes from %d", len(body), len(data))
		}
		if len(body) < 4 {
			return
		}
		res, err := parseReply(body, uint32(body[0])<<24|uint32(body[1])<<16|uint32(body[2])<<8|uint32(body[3]), 0)
		if err != nil {
			return
		}
		rsp, err := parseCLIResponse(res)
		if err != nil {
			return
		}
		d, err := decodeDict(rsp.Dict)
		if err != nil {
			return
		}
		vols, err := volumesFromDict(d)
		if err == nil {
			checkVolumes(t, vols)
		}
		peersFromDict(d)
	})
}

// FuzzDict feeds a serialized dict to the dict decoder and what reads
// volumes and peers out of a dict.
func FuzzDict(f *testing.F) {
	for _, rec := range addRecords(f) {
		body, err := readRecord(bytes.NewReader(rec), 1<<20)
		if err != nil {
			f.Fatal(err)
		}
		res, err := parseReply(body, uint32(body[0])<<24|uint32(body[1])<<16|uint32(body[2])<<8|uint32(body[3]), 0)
		if err != nil {
			continue // glusterd's own call
		}
		r := &xdrReader{b: res}
		r.int32("op_ret")
		r.int32("op_errno")
		if d, err := r.opaque("dict or string", len(res)); err == nil {
			f.Add(d)
		}
		if d, err := r.opaque("dict", len(res)); err == nil {
			f.Add(d)
		}
	}
	f.Add(encodeDict(Dict{"count": "1", "volume0.name": "v\xff", "volume0.option.auth.login.u.password": "x"}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeDict(data)
		if err != nil {
			return
		}
		// Decoded twice with one table of shared strings, as the answers
		// of a read are: the same dict.
		shared := &sharedStrings{}
		for range 2 {
			if s, err := decodeDictValues(data, true, shared); err != nil || !maps.Equal(s, d) {
				t.Fatalf("decoded with shared strings: %v, %v; want %v", s, err, d)
			}
		}
		again, err := decodeDict(encodeDict(d))
		if err != nil || len(again) != len(d) {
			t.Fatalf("re-encoded dict: %v", err)
		}
		for k, v := range d {
			if again[k] != v && !(again[k]+"\x00" == v) {
				t.Fatalf("key %q: %q then %q", k, v, again[k])
			}
		}
		if vols, err := volumesFromDict(d); err == nil {
			checkVolumes(t, vols)
		}
		if peers, err := peersFromDict(d); err == nil {
			for _, p := range peers {
				if !utf8.ValidString(p.UUID) || !utf8.ValidString(p.Hostname) || !utf8.ValidString(p.State) {
					t.Fatalf("invalid UTF-8 in peer %+v", p)
				}
			}
		}
	})
}
