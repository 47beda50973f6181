package events

import (
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/state"
)

// Geo-replication events the diff finds, named as GlusterFS names its own.
const (
	GeoRepCreate              = "GEOREP_CREATE"
	GeoRepDelete              = "GEOREP_DELETE"
	GeoRepFaulty              = "GEOREP_FAULTY" // per worker that became Faulty
	GeoRepCheckpointCompleted = "GEOREP_CHECKPOINT_COMPLETED"
)

// geoRepEvents uses the field names of gsyncd's own events
// (geo-replication/syncdaemon/gsyncdstatus.py and monitor.py).
func geoRepEvents(c *state.Change, emit emitFunc) {
	props := c.Cur
	if c.Type == state.Removed {
		props = c.Old
	}
	session := []journal.Field{str(props, "primary_volume", "Volume"), str(props, "secondary", "Secondary"),
		str(props, "secondary_host", "SecondaryHost"), str(props, "secondary_volume", "SecondaryVolume"),
		str(props, "secondary_user", "SecondaryUser")}
	switch c.Type {
	case state.Added:
		emit(c, GeoRepCreate, append(session, str(props, "status", "Status"))...)
	case state.Removed:
		emit(c, GeoRepDelete, session...)
	case state.Modified:
		if v, ok := find(c.Props, "Workers"); ok {
			old, _ := find(c.Old, "Workers")
			before := map[[2]string]string{}
			for _, w := range asWorkers(old) {
				before[[2]string{w.PrimaryNode, w.PrimaryBrick}] = w.Status
			}
			for _, w := range asWorkers(v) {
				if faulty(w.Status) && !faulty(before[[2]string{w.PrimaryNode, w.PrimaryBrick}]) {
					emit(c, GeoRepFaulty, append(session[:len(session):len(session)],
						journal.Field{Key: "primary_node", Value: w.PrimaryNode},
						journal.Field{Key: "primary_node_id", Value: w.PrimaryNodeUUID},
						journal.Field{Key: "brick_path", Value: w.PrimaryBrick},
						journal.Field{Key: "status", Value: w.Status})...)
				}
			}
		}
		if v, ok := find(c.Props, "CheckpointCompleted"); ok && v == true {
			at, _ := find(c.Cur, "CheckpointTime")
			var done int64
			cur, _ := find(c.Cur, "Workers")
			for _, w := range asWorkers(cur) {
				if w.Status == state.GeoRepActive {
					done = max(done, w.CheckpointCompletionTime)
				}
			}
			emit(c, GeoRepCheckpointCompleted, append(session[:len(session):len(session)],
				journal.Field{Key: "checkpoint_time", Value: utcTime(at)},
				journal.Field{Key: "completion_time", Value: utcTime(done)})...)
		}
	}
}

func faulty(status string) bool { return status == state.GeoRepFaulty || status == "Config Corrupted" }

func asWorkers(v any) []state.GeoRepWorker {
	w, _ := v.([]state.GeoRepWorker)
	return w
}

// utcTime prints unix microseconds as gsyncd prints its UTC times; "N/A"
// for none.
func utcTime(v any) string {
	usec, _ := v.(int64)
	if usec == 0 {
		return "N/A"
	}
	return time.UnixMicro(usec).UTC().Format(time.DateTime)
}
