package nativeevents

import (
	"regexp"
	"strconv"
	"strings"
)

// TriggerKind says what an event means for the exported state.
type TriggerKind int

const (
	// TriggerNone: the event does not change what the CLI reports.
	TriggerNone TriggerKind = iota
	// TriggerVolume: one volume, named alongside, changed.
	TriggerVolume
	// TriggerPeers: the peers changed (attached, detached, connected,
	// disconnected, rejected). Re-reading them is enough: a disconnected
	// peer's bricks go offline with it.
	TriggerPeers
	// TriggerAll: a volume whose name the event does not carry changed.
	TriggerAll
)

func (k TriggerKind) String() string {
	switch k {
	case TriggerNone:
		return "none"
	case TriggerVolume:
		return "volume"
	case TriggerPeers:
		return "peers"
	case TriggerAll:
		return "all"
	}
	return "TriggerKind(" + strconv.Itoa(int(k)) + ")"
}

// Trigger says whether the event implies a change of the state the CLI
// reports, and for which volume. Events are hints: not every change sends
// one (a brick process that dies sends none), so callers still refresh
// periodically.
//
//	event                                    kind    volume from
//	VOLUME_CREATE, VOLUME_START,             volume  name
//	VOLUME_STOP, VOLUME_DELETE,
//	VOLUME_SET, VOLUME_RESET
//	VOLUME_ADD_BRICK,                        volume  volume
//	VOLUME_REMOVE_BRICK_START, _COMMIT,
//	_STOP, _FORCE
//	VOLUME_REBALANCE_START, _STOP,           volume  volume
//	_FAILED, _COMPLETE (the task status)
//	BRICK_REPLACE, BRICK_RESET_START,        volume  Volume (capital V, as sent)
//	BRICK_RESET_COMMIT
//	BRICK_CONNECTED, BRICK_DISCONNECTED      volume  volume
//	QUORUM_LOST, QUORUM_REGAINED             volume  volume
//	QUOTA_ENABLE, QUOTA_DISABLE              volume  volume
//	BITROT_ENABLE, BITROT_DISABLE            volume  name (10.3 sends "(null)": all)
//	AFR_QUORUM_MET, AFR_QUORUM_FAIL          volume  subvol "<vol>-replicate-<n>"
//	EC_MIN_BRICKS_UP, EC_MIN_BRICKS_NOT_UP   volume  subvol "<vol>-disperse-<n>"
//	PEER_ATTACH, PEER_DETACH, PEER_CONNECT,  peers   -
//	PEER_DISCONNECT, PEER_REJECT
//	anything else                            none    -
//
// SVC_CONNECTED and SVC_DISCONNECTED (self-heal, quota, bitrot daemons)
// give TriggerNone: the state holds no daemons, only bricks. A volume event
// whose volume field is missing or empty gives TriggerAll, the only events
// that do.
// The *_FAILED events of volume operations change nothing and give
// TriggerNone, except VOLUME_REBALANCE_FAILED, which ends a task.
func (e Event) Trigger() (kind TriggerKind, volume string) {
	switch e.Number {
	case evPeerAttach, evPeerDetach, evPeerConnect, evPeerDisconnect, evPeerReject:
		return TriggerPeers, ""
	case evVolumeCreate, evVolumeStart, evVolumeStop, evVolumeDelete, evVolumeSet, evVolumeReset,
		evBitrotEnable, evBitrotDisable:
		return e.volumeTrigger("name")
	case evVolumeAddBrick, evVolumeRemoveBrickStart, evVolumeRemoveBrickCommit,
		evVolumeRemoveBrickStop, evVolumeRemoveBrickForce,
		evVolumeRebalanceStart, evVolumeRebalanceStop, evVolumeRebalanceFailed, evVolumeRebalanceComplete,
		evBrickConnected, evBrickDisconnected, evQuorumLost, evQuorumRegained,
		evQuotaEnable, evQuotaDisable:
		return e.volumeTrigger("volume")
	case evBrickReplace, evBrickResetStart, evBrickResetCommit:
		return e.volumeTrigger("Volume")
	case evAFRQuorumMet, evAFRQuorumFail:
		return e.subvolTrigger(replicateSubvol)
	case evECMinBricksUp, evECMinBricksNotUp:
		return e.subvolTrigger(disperseSubvol)
	}
	return TriggerNone, ""
}

// SplitBrainVolume names the volume of an AFR_SPLIT_BRAIN event (a client
// found a file in split-brain; subvol "<vol>-replicate-<n>"): its
// split-brain count is worth reading. Clients send it to their volfile
// server only, so it reaches one node's daemon.
func (e Event) SplitBrainVolume() (string, bool) {
	if e.Number != evAFRSplitBrain {
		return "", false
	}
	kind, vol := e.subvolTrigger(replicateSubvol)
	return vol, kind == TriggerVolume
}

// IsSnapshot says whether the event is one of GlusterFS's SNAPSHOT_* events
// (created, activated, restored, deleted, cloned, ...): the snapshots are
// worth reading again.
func (e Event) IsSnapshot() bool { return strings.HasPrefix(e.Name, "SNAPSHOT_") }

// volumeTrigger names the volume from key, falling back on the spellings
// other events use.
func (e Event) volumeTrigger(key string) (TriggerKind, string) {
	for _, k := range [...]string{key, "volume", "Volume", "name"} {
		if v, ok := e.Get(k); ok {
			if v = strings.TrimSpace(v); v != "" {
				return TriggerVolume, v
			}
		}
	}
	return TriggerAll, ""
}

var (
	replicateSubvol = regexp.MustCompile(`^(.+)-replicate-[0-9]+$`)
	disperseSubvol  = regexp.MustCompile(`^(.+)-disperse-[0-9]+$`)
)

// subvolTrigger names the volume from a client xlator's subvolume name.
func (e Event) subvolTrigger(re *regexp.Regexp) (TriggerKind, string) {
	if v, ok := e.Get("subvol"); ok {
		if m := re.FindStringSubmatch(strings.TrimSpace(v)); m != nil {
			return TriggerVolume, m[1]
		}
	}
	return TriggerAll, ""
}

// IsGeoRep says whether the event is one of GlusterFS's GEOREP_* events
// (create, start, stop, pause, resume, delete, config, a worker Faulty,
// Active or Passive, a checkpoint completed): the sessions are worth
// reading again.
func (e Event) IsGeoRep() bool { return strings.HasPrefix(e.Name, "GEOREP_") }
