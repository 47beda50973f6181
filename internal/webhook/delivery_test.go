package webhook

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDeliverySetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "webhooks.json")
	if err := Add(file, Webhook{URL: "http://h/a", Delivery: DeliveryCluster}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil || len(cfg.Webhooks) != 1 || cfg.Webhooks[0].Delivery != DeliveryCluster {
		t.Fatalf("after Add: %+v, %v", cfg, err)
	}
	local := ""
	if err := Modify(file, "http://h/a", Change{Delivery: &local}); err != nil {
		t.Fatal(err)
	}
	if cfg, _ := Load(file); cfg.Webhooks[0].Delivery != "" {
		t.Errorf("after clearing: %q", cfg.Webhooks[0].Delivery)
	}
	bad := "everywhere"
	if err := Modify(file, "http://h/a", Change{Delivery: &bad}); err == nil {
		t.Error("an unknown delivery was accepted")
	}
	if err := os.WriteFile(file, []byte(`{"http://h/b": {"token": "", "glusterbus": {"delivery": "all"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := Load(file); err != nil || len(cfg.Invalid) != 1 {
		t.Errorf("a file with an unknown delivery: %+v, %v", cfg, err)
	}
}
