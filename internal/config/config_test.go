package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	c, err := Parse([]byte(`{"manage_group": "glusterbus", "log_level": "debug"}`))
	if err != nil || c.ManageGroup != "glusterbus" || c.Level(slog.LevelInfo) != slog.LevelDebug {
		t.Fatalf("%+v %v", c, err)
	}
	for name, bad := range map[string]string{
		"typo":       `{"manage_grup": "x"}`,
		"not json":   `manage_group = x`,
		"bad group":  `{"manage_group": "a b; rm -rf /"}`,
		"bad level":  `{"log_level": "loud"}`,
		"trailing":   `{} {}`,
		"wrong type": `{"manage_group": 7}`,
		"huge":       `{"manage_group": "` + strings.Repeat("a", maxSize) + `"}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%s: accepted %.40q", name, bad)
		}
	}
	if c, err := Parse([]byte("  \n")); err != nil || c != (Config{}) {
		t.Fatalf("empty file: %+v %v", c, err)
	}
}

func TestLoad(t *testing.T) {
	if c, err := Load(filepath.Join(t.TempDir(), "missing")); err != nil || c != (Config{}) {
		t.Fatalf("missing file: %+v %v", c, err)
	}
	p := filepath.Join(t.TempDir(), "c.conf")
	os.WriteFile(p, []byte(`{"manage_group": "wheel"}`), 0o644)
	if c, err := Load(p); err != nil || c.ManageGroup != "wheel" {
		t.Fatalf("%+v %v", c, err)
	}
	os.WriteFile(p, []byte(`{`), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("a broken file's error should name it: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"manage_group":"g"}`, `{}`, ``, `{"log_level":"warn"}`, `[`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil && c.ManageGroup != "" && !groupName.MatchString(c.ManageGroup) {
			t.Fatalf("accepted group %q", c.ManageGroup)
		}
	})
}
