package main

import "testing"

func TestGlusterdSocket(t *testing.T) {
	for _, c := range []struct {
		command []string
		want    string
	}{
		{[]string{"gluster"}, "/var/run/glusterd.socket"},
		{[]string{"gluster", "--glusterd-sock=/run/gd.sock", "--log-file=/dev/null"}, "/run/gd.sock"},
		{[]string{"/usr/sbin/gluster", "--mode=script"}, "/var/run/glusterd.socket"},
		{[]string{"gluster", "--remote-host=gfs1"}, ""},
	} {
		if got := glusterdSocket(c.command); got != c.want {
			t.Errorf("glusterdSocket(%q) = %q, want %q", c.command, got, c.want)
		}
	}
}
