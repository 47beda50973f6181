// Package api holds the D-Bus introspection XML that is the daemon's
// contract with its clients. The exporter serves these definitions as they
// are, and its tests check that what it exports matches them.
package api

import (
	"embed"
	"encoding/xml"
	"fmt"
	"io/fs"

	"github.com/godbus/dbus/v5/introspect"
)

//go:embed *.xml
var files embed.FS

// Interfaces returns every interface defined under api/, by name.
func Interfaces() (map[string]introspect.Interface, error) {
	out := map[string]introspect.Interface{}
	names, err := fs.Glob(files, "*.xml")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var node introspect.Node
		if err := xml.Unmarshal(data, &node); err != nil {
			return nil, fmt.Errorf("api: %s: %w", name, err)
		}
		for _, iface := range node.Interfaces {
			if _, dup := out[iface.Name]; dup {
				return nil, fmt.Errorf("api: %s: interface %s defined twice", name, iface.Name)
			}
			out[iface.Name] = iface
		}
	}
	return out, nil
}

// MustInterfaces is Interfaces for callers that embed known-good XML.
func MustInterfaces() map[string]introspect.Interface {
	m, err := Interfaces()
	if err != nil {
		panic(err)
	}
	return m
}
