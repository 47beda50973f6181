// Command ingestbench drives bench/ingest/run.sh: it sends GlusterFS native
// event datagrams at a paced rate over loopback UDP, to `glusterbus serve`
// (counting the Event signals and checking GetEvents) or to glustereventsd
// or glusterbus (counting what their webhook receives), measures the daemons' CPU and
// memory, and writes the results.
//
//	ingestbench freeport
//	ingestbench receiver -addr-file F
//	ingestbench glusterbus -bus ADDR -port P -pid PID -bus-pid PID -out F
//	ingestbench eventsd -port P -pid PID -receiver URL -receiver-pid PID -log F -out F
//	ingestbench report -glusterbus F -eventsd F [-glusterbus-webhook F] -doc docs/benchmarks.md -command CMD
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ingestbench freeport|receiver|glusterbus|eventsd|report [flags]")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "freeport":
		var port int
		if port, err = freePort(); err == nil {
			fmt.Println(port)
		}
	case "receiver":
		err = runReceiver(args)
	case "glusterbus":
		err = runGlusterbus(args)
	case "eventsd":
		err = runEventsd(args)
	case "report":
		err = runReport(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestbench:", err)
		os.Exit(1)
	}
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// logf prints progress to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}
