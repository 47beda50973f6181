package nativeevents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// DefaultConfigPath is glustereventsd's configuration file.
const DefaultConfigPath = "/etc/glusterfs/eventsconfig.json"

// ReadConfigPort returns the "port" of a glustereventsd configuration file
// such as DefaultConfigPath: DefaultPort when the file or the key is
// missing, an error when the file is not a JSON object or the port not an
// integer from 1 to 65535.
func ReadConfigPort(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultPort, nil
	}
	if err != nil {
		return 0, err
	}
	var cfg map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&cfg); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if dec.More() {
		return 0, fmt.Errorf("%s: data after the JSON object", path)
	}
	if cfg == nil {
		return 0, fmt.Errorf("%s: not a JSON object", path)
	}
	v, ok := cfg["port"]
	if !ok {
		return DefaultPort, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s: port %v is not a number", path, v)
	}
	port, err := strconv.Atoi(n.String())
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("%s: port %s is not an integer from 1 to 65535", path, n)
	}
	return port, nil
}
