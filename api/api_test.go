package api

import "testing"

func TestInterfacesParse(t *testing.T) {
	ifaces, err := Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"org.storaged.Storaged.Manager.GlusterFS",
		"org.storaged.Storaged.GlusterFS.Glusterd",
		"org.storaged.Storaged.GlusterFS.Volume",
		"org.storaged.Storaged.GlusterFS.Brick",
		"org.storaged.Storaged.GlusterFS.Peer",
	} {
		iface, ok := ifaces[name]
		if !ok {
			t.Fatalf("interface %s missing", name)
		}
		if len(iface.Properties) == 0 {
			t.Errorf("%s has no properties", name)
		}
	}
}
