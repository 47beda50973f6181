package daemon

import (
	"strings"

	"github.com/glusterbus/glusterbus/internal/nativeevents"
)

// quotaEventVolume names the volume of a GlusterFS QUOTA_* event (enable,
// disable, limits set or removed from the CLI; QUOTA_CROSSED_SOFT_LIMIT
// from a brick's quota translator): its limits are worth reading. The name
// comes from the network: TriggerQuota reads only volumes the model knows
// with quota on.
func quotaEventVolume(ev nativeevents.Event) (string, bool) {
	if !strings.HasPrefix(ev.Name, "QUOTA_") {
		return "", false
	}
	vol, _ := ev.Get("volume")
	vol = strings.TrimSpace(vol)
	return vol, vol != ""
}
