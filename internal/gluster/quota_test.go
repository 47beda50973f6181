package gluster

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseQuotaList(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []QuotaLimit
	}{
		{"quota-list-paths.xml", []QuotaLimit{
			{"/a", 10485760, 5242880, 7340032, 3145728, true, false},
			{"/b", 1073741824, 858993459, 0, 1073741824, false, false},
			{"/c", 4194304, 3355443, 5373952, 0, true, true},
		}},
		{"quota-list-path.xml", []QuotaLimit{{"/a", 10485760, 5242880, 7340032, 3145728, true, false}}},
		{"quota-list-none.xml", []QuotaLimit{}},
		{"quota-list-missing-path.xml", []QuotaLimit{}},
		{"r3.7-quota-list.xml", []QuotaLimit{
			{"/a", 10485760, 5242880, 7340032, 3145728, true, false},
			{"/b", 1 << 30, 858993459, 0, 1 << 30, false, false},
		}},
		{"shape-quota-list-na.xml", []QuotaLimit{
			{Path: "/a", HardLimit: 1 << 20, Used: 2 << 20, HardExceeded: true},
			{Path: "/z", Used: 4096},
		}},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseQuotaList(data)
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.file, got, tc.want)
		}
	}
	for _, file := range []string{"error-quota-list-disabled.xml", "error-quota-list-missing.xml"} {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseQuotaList(data); err == nil {
			t.Errorf("%s: no error", file)
		}
	}
}

func quotaConf(header string, entries ...[]byte) []byte {
	b := []byte(header)
	for _, e := range entries {
		b = append(b, e...)
	}
	return b
}

func TestParseQuotaConf(t *testing.T) {
	gfid := func(last byte) []byte {
		b := make([]byte, 16)
		b[0], b[15] = 0xab, last
		return b
	}
	v12 := quotaConf(quotaConfHeader12, append(gfid(1), 1), append(gfid(2), 2), append(gfid(3), 1), append(gfid(1), 1))
	conf, err := ParseQuotaConf(v12)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ab000000-0000-0000-0000-000000000001", "ab000000-0000-0000-0000-000000000003"}
	if !reflect.DeepEqual(conf.Usage, want) {
		t.Fatalf("v1.2: %v, want %v", conf.Usage, want)
	}
	conf, err = ParseQuotaConf(quotaConf(quotaConfHeader11, gfid(1), gfid(2)))
	if err != nil || len(conf.Usage) != 2 {
		t.Fatalf("v1.1: %v, %v", conf.Usage, err)
	}
	if conf, err := ParseQuotaConf(nil); err != nil || len(conf.Usage) != 0 {
		t.Fatalf("empty: %v, %v", conf, err)
	}
	for name, data := range map[string][]byte{
		"header only, cut": []byte(quotaConfHeader12[:10]),
		"unknown header":   []byte("GlusterFS Quota conf | version: v9.9\n"),
		"cut entry":        v12[:len(v12)-3],
		"unknown type":     quotaConf(quotaConfHeader12, append(gfid(1), 7)),
	} {
		if _, err := ParseQuotaConf(data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func xattr(vals ...int64) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func TestQuotaLimitFromXattrs(t *testing.T) {
	for _, tc := range []struct {
		name          string
		limit, size   []byte
		defaultSoft   string
		want          QuotaLimit
		wantErrSubstr string
	}{
		{"own soft limit", xattr(10<<20, 50), xattr(7<<20, 1, 1), "80%",
			QuotaLimit{"/d", 10 << 20, 5 << 20, 7 << 20, 3 << 20, true, false}, ""},
		{"default soft limit", xattr(4194304, -1), xattr(5373952, 1, 1), "80%",
			QuotaLimit{"/d", 4194304, 3355443, 5373952, 0, true, true}, ""},
		{"old size, size only", xattr(100, 90), xattr(50), "",
			QuotaLimit{"/d", 100, 90, 50, 50, false, false}, ""},
		{"no size yet", xattr(100, -1), nil, "10",
			QuotaLimit{"/d", 100, 10, 0, 100, false, false}, ""},
		{"at the soft limit", xattr(100, 50), xattr(50, 0, 0), "",
			QuotaLimit{"/d", 100, 50, 50, 50, false, false}, ""},
		{"short limit", xattr(100)[:8], nil, "", QuotaLimit{}, "want 16"},
		{"negative limit", xattr(-5, 50), nil, "", QuotaLimit{}, "negative"},
		{"bad default", xattr(100, -1), nil, "lots", QuotaLimit{}, "percent"},
	} {
		got, err := QuotaLimitFromXattrs("/d", tc.limit, tc.size, tc.defaultSoft)
		if tc.wantErrSubstr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErrSubstr) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.wantErrSubstr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}
