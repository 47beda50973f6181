// Package config reads glusterbus's configuration file, a small JSON object
// (by default /etc/glusterbus/glusterbus.conf) that the daemon re-reads on
// SIGHUP:
//
//	{
//	  "manage_group": "glusterbus",   // may call changing methods where polkit does not run
//	  "log_level": "info"             // debug, info, warn or error
//	}
//
// Unknown keys are an error, so a typo is reported instead of ignored.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
)

// DefaultPath is where the daemon looks for its configuration.
const DefaultPath = "/etc/glusterbus/glusterbus.conf"

// maxSize bounds what is read: a configuration is a few lines.
const maxSize = 64 << 10

// Config is the daemon's configuration.
type Config struct {
	ManageGroup string `json:"manage_group"`
	LogLevel    string `json:"log_level"`
}

// groupName is what useradd and groupadd accept, roughly.
var groupName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)

// Load reads the file at path; a missing file is the empty configuration.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and checks a configuration.
func Parse(data []byte) (Config, error) {
	if len(data) > maxSize {
		return Config{}, fmt.Errorf("larger than %d bytes", maxSize)
	}
	var c Config
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("not a valid configuration: %w", err)
	}
	if dec.More() {
		return Config{}, errors.New("not a valid configuration: data after the JSON object")
	}
	if c.ManageGroup != "" && !groupName.MatchString(c.ManageGroup) {
		return Config{}, fmt.Errorf("manage_group %q is not a group name", c.ManageGroup)
	}
	if c.LogLevel != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
			return Config{}, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
		}
	}
	return c, nil
}

// Level is the configured log level, or def when none is set.
func (c Config) Level(def slog.Level) slog.Level {
	var l slog.Level
	if c.LogLevel == "" || l.UnmarshalText([]byte(c.LogLevel)) != nil {
		return def
	}
	return l
}
