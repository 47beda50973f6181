package events

import (
	"strconv"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/state"
)

// Names of the quota events the state diff produces: GlusterFS's own where
// it has one (QUOTA_ENABLE, QUOTA_DISABLE from the CLI, QUOTA_CROSSED_SOFT_LIMIT
// from the bricks' quota translator); GlusterFS has no hard limit event.
const (
	QuotaEnable           = "QUOTA_ENABLE"
	QuotaDisable          = "QUOTA_DISABLE"
	QuotaCrossedSoftLimit = "QUOTA_CROSSED_SOFT_LIMIT"
	QuotaCrossedHardLimit = "QUOTA_CROSSED_HARD_LIMIT"
)

// quotaEvents: quota turned on or off, and a limit already known whose
// soft or hard limit became exceeded. A limit first seen exceeded (just
// set, or at the daemon's first read) is not reported: nothing says when it
// crossed, and a restart must not report it again.
func quotaEvents(c *state.Change, volume string, emit emitFunc) {
	vol := journal.Field{Key: "volume", Value: volume}
	if v, ok := find(c.Props, "QuotaEnabled"); ok {
		if on, _ := v.(bool); on {
			emit(c, QuotaEnable, vol)
		} else {
			emit(c, QuotaDisable, vol)
		}
	}
	v, ok := find(c.Props, "QuotaLimits")
	if !ok {
		return
	}
	old, _ := find(c.Old, "QuotaLimits")
	before := map[string]state.QuotaLimit{}
	for _, l := range asQuotaLimits(old) {
		before[l.Path] = l
	}
	for _, l := range asQuotaLimits(v) {
		prev, known := before[l.Path]
		if !known {
			continue
		}
		fields := []journal.Field{vol, {Key: "path", Value: l.Path},
			{Key: "used", Value: strconv.FormatUint(l.Used, 10)},
			{Key: "soft_limit", Value: strconv.FormatUint(l.SoftLimit, 10)},
			{Key: "hard_limit", Value: strconv.FormatUint(l.HardLimit, 10)}}
		if l.SoftExceeded && !prev.SoftExceeded {
			emit(c, QuotaCrossedSoftLimit, fields...)
		}
		if l.HardExceeded && !prev.HardExceeded {
			emit(c, QuotaCrossedHardLimit, fields...)
		}
	}
}

func asQuotaLimits(v any) []state.QuotaLimit {
	l, _ := v.([]state.QuotaLimit)
	return l
}
