package nativeevents

import "strings"

// Count is the number of event types GlusterFS 10 defines. Event numbers
// 0..Count-1 are valid.
const Count = len(eventNames)

// eventNames holds the event types in wire order: the index is the number a
// datagram carries. The names are those glustereventsd publishes, that is the
// entries of eventtypes.py's all_events without their "EVENT_" prefix.
var eventNames = [...]string{
	"PEER_ATTACH",                               // 0
	"PEER_DETACH",                               // 1
	"VOLUME_CREATE",                             // 2
	"VOLUME_START",                              // 3
	"VOLUME_STOP",                               // 4
	"VOLUME_DELETE",                             // 5
	"VOLUME_SET",                                // 6
	"VOLUME_RESET",                              // 7
	"BRICK_RESET_START",                         // 8
	"BRICK_RESET_COMMIT",                        // 9
	"BRICK_REPLACE",                             // 10
	"GEOREP_CREATE",                             // 11
	"GEOREP_START",                              // 12
	"GEOREP_STOP",                               // 13
	"GEOREP_PAUSE",                              // 14
	"GEOREP_RESUME",                             // 15
	"GEOREP_DELETE",                             // 16
	"GEOREP_CONFIG_SET",                         // 17
	"GEOREP_CONFIG_RESET",                       // 18
	"BITROT_ENABLE",                             // 19
	"BITROT_DISABLE",                            // 20
	"BITROT_SCRUB_THROTTLE",                     // 21
	"BITROT_SCRUB_FREQ",                         // 22
	"BITROT_SCRUB_OPTION",                       // 23
	"BITROT_SCRUB_ONDEMAND",                     // 24
	"QUOTA_ENABLE",                              // 25
	"QUOTA_DISABLE",                             // 26
	"QUOTA_SET_USAGE_LIMIT",                     // 27
	"QUOTA_SET_OBJECTS_LIMIT",                   // 28
	"QUOTA_REMOVE_USAGE_LIMIT",                  // 29
	"QUOTA_REMOVE_OBJECTS_LIMIT",                // 30
	"QUOTA_ALERT_TIME",                          // 31
	"QUOTA_SOFT_TIMEOUT",                        // 32
	"QUOTA_HARD_TIMEOUT",                        // 33
	"QUOTA_DEFAULT_SOFT_LIMIT",                  // 34
	"SNAPSHOT_CREATED",                          // 35
	"SNAPSHOT_CREATE_FAILED",                    // 36
	"SNAPSHOT_ACTIVATED",                        // 37
	"SNAPSHOT_ACTIVATE_FAILED",                  // 38
	"SNAPSHOT_DEACTIVATED",                      // 39
	"SNAPSHOT_DEACTIVATE_FAILED",                // 40
	"SNAPSHOT_SOFT_LIMIT_REACHED",               // 41
	"SNAPSHOT_HARD_LIMIT_REACHED",               // 42
	"SNAPSHOT_RESTORED",                         // 43
	"SNAPSHOT_RESTORE_FAILED",                   // 44
	"SNAPSHOT_DELETED",                          // 45
	"SNAPSHOT_DELETE_FAILED",                    // 46
	"SNAPSHOT_CLONED",                           // 47
	"SNAPSHOT_CLONE_FAILED",                     // 48
	"SNAPSHOT_CONFIG_UPDATED",                   // 49
	"SNAPSHOT_CONFIG_UPDATE_FAILED",             // 50
	"SNAPSHOT_SCHEDULER_INITIALISED",            // 51
	"SNAPSHOT_SCHEDULER_INIT_FAILED",            // 52
	"SNAPSHOT_SCHEDULER_ENABLED",                // 53
	"SNAPSHOT_SCHEDULER_ENABLE_FAILED",          // 54
	"SNAPSHOT_SCHEDULER_DISABLED",               // 55
	"SNAPSHOT_SCHEDULER_DISABLE_FAILED",         // 56
	"SNAPSHOT_SCHEDULER_SCHEDULE_ADDED",         // 57
	"SNAPSHOT_SCHEDULER_SCHEDULE_ADD_FAILED",    // 58
	"SNAPSHOT_SCHEDULER_SCHEDULE_EDITED",        // 59
	"SNAPSHOT_SCHEDULER_SCHEDULE_EDIT_FAILED",   // 60
	"SNAPSHOT_SCHEDULER_SCHEDULE_DELETED",       // 61
	"SNAPSHOT_SCHEDULER_SCHEDULE_DELETE_FAILED", // 62
	"SVC_MANAGER_FAILED",                        // 63
	"SVC_RECONFIGURE_FAILED",                    // 64
	"SVC_CONNECTED",                             // 65
	"SVC_DISCONNECTED",                          // 66
	"PEER_STORE_FAILURE",                        // 67
	"PEER_RPC_CREATE_FAILED",                    // 68
	"PEER_REJECT",                               // 69
	"PEER_CONNECT",                              // 70
	"PEER_DISCONNECT",                           // 71
	"PEER_NOT_FOUND",                            // 72
	"UNKNOWN_PEER",                              // 73
	"BRICK_START_FAILED",                        // 74
	"BRICK_STOP_FAILED",                         // 75
	"BRICK_DISCONNECTED",                        // 76
	"BRICK_CONNECTED",                           // 77
	"BRICKPATH_RESOLVE_FAILED",                  // 78
	"NOTIFY_UNKNOWN_OP",                         // 79
	"QUORUM_LOST",                               // 80
	"QUORUM_REGAINED",                           // 81
	"REBALANCE_START_FAILED",                    // 82
	"REBALANCE_STATUS_UPDATE_FAILED",            // 83
	"IMPORT_QUOTA_CONF_FAILED",                  // 84
	"IMPORT_VOLUME_FAILED",                      // 85
	"IMPORT_BRICK_FAILED",                       // 86
	"COMPARE_FRIEND_VOLUME_FAILED",              // 87
	"NFS_GANESHA_EXPORT_FAILED",                 // 88
	"EC_MIN_BRICKS_NOT_UP",                      // 89
	"EC_MIN_BRICKS_UP",                          // 90
	"GEOREP_FAULTY",                             // 91
	"GEOREP_CHECKPOINT_COMPLETED",               // 92
	"GEOREP_ACTIVE",                             // 93
	"GEOREP_PASSIVE",                            // 94
	"QUOTA_CROSSED_SOFT_LIMIT",                  // 95
	"BITROT_BAD_FILE",                           // 96
	"CLIENT_CONNECT",                            // 97
	"CLIENT_AUTH_REJECT",                        // 98
	"CLIENT_DISCONNECT",                         // 99
	"POSIX_SAME_GFID",                           // 100
	"POSIX_ALREADY_PART_OF_VOLUME",              // 101
	"POSIX_BRICK_NOT_IN_VOLUME",                 // 102
	"POSIX_BRICK_VERIFICATION_FAILED",           // 103
	"POSIX_ACL_NOT_SUPPORTED",                   // 104
	"POSIX_HEALTH_CHECK_FAILED",                 // 105
	"AFR_QUORUM_MET",                            // 106
	"AFR_QUORUM_FAIL",                           // 107
	"AFR_SUBVOL_UP",                             // 108
	"AFR_SUBVOLS_DOWN",                          // 109
	"AFR_SPLIT_BRAIN",                           // 110
	"TIER_ATTACH",                               // 111
	"TIER_ATTACH_FORCE",                         // 112
	"TIER_DETACH_START",                         // 113
	"TIER_DETACH_STOP",                          // 114
	"TIER_DETACH_COMMIT",                        // 115
	"TIER_DETACH_FORCE",                         // 116
	"TIER_PAUSE",                                // 117
	"TIER_RESUME",                               // 118
	"TIER_WATERMARK_HI",                         // 119
	"TIER_WATERMARK_DROPPED_TO_MID",             // 120
	"TIER_WATERMARK_RAISED_TO_MID",              // 121
	"TIER_WATERMARK_DROPPED_TO_LOW",             // 122
	"VOLUME_ADD_BRICK",                          // 123
	"VOLUME_ADD_BRICK_FAILED",                   // 124
	"VOLUME_REMOVE_BRICK_START",                 // 125
	"VOLUME_REMOVE_BRICK_START_FAILED",          // 126
	"VOLUME_REMOVE_BRICK_COMMIT",                // 127
	"VOLUME_REMOVE_BRICK_COMMIT_FAILED",         // 128
	"VOLUME_REMOVE_BRICK_STOP",                  // 129
	"VOLUME_REMOVE_BRICK_STOP_FAILED",           // 130
	"VOLUME_REMOVE_BRICK_FORCE",                 // 131
	"VOLUME_REMOVE_BRICK_FORCE_FAILED",          // 132
	"VOLUME_REMOVE_BRICK_FAILED",                // 133
	"VOLUME_REBALANCE_START",                    // 134
	"VOLUME_REBALANCE_STOP",                     // 135
	"VOLUME_REBALANCE_FAILED",                   // 136
	"VOLUME_REBALANCE_COMPLETE",                 // 137
	"TIER_START",                                // 138
	"TIER_START_FORCE",                          // 139
	"DHT_DISK_USAGE",                            // 140
	"DHT_INODES_USAGE",                          // 141
}

// eventPrefix is the prefix GlusterFS's own tables put before every name.
const eventPrefix = "EVENT_"

var eventNumbers = func() map[string]int {
	m := make(map[string]int, len(eventNames))
	for i, n := range eventNames {
		m[n] = i
	}
	return m
}()

// Name returns the name of event number n as glustereventsd publishes it
// (for example "VOLUME_SET" for 6), and whether n is a known event number.
func Name(n int) (string, bool) {
	if n < 0 || n >= len(eventNames) {
		return "", false
	}
	return eventNames[n], true
}

// Number returns the number of the named event. It accepts the published
// name ("VOLUME_SET") as well as GlusterFS's internal one ("EVENT_VOLUME_SET").
func Number(name string) (int, bool) {
	if n, ok := eventNumbers[name]; ok {
		return n, true
	}
	if short, ok := strings.CutPrefix(name, eventPrefix); ok {
		n, ok := eventNumbers[short]
		return n, ok
	}
	return 0, false
}

// Event numbers this package treats specially.
const (
	evPeerAttach              = 0
	evPeerDetach              = 1
	evVolumeCreate            = 2
	evVolumeStart             = 3
	evVolumeStop              = 4
	evVolumeDelete            = 5
	evVolumeSet               = 6
	evVolumeReset             = 7
	evBrickResetStart         = 8
	evBrickResetCommit        = 9
	evBrickReplace            = 10
	evBitrotEnable            = 19
	evBitrotDisable           = 20
	evQuotaEnable             = 25
	evQuotaDisable            = 26
	evSvcConnected            = 65
	evSvcDisconnected         = 66
	evPeerReject              = 69
	evPeerConnect             = 70
	evPeerDisconnect          = 71
	evBrickDisconnected       = 76
	evBrickConnected          = 77
	evQuorumLost              = 80
	evQuorumRegained          = 81
	evECMinBricksNotUp        = 89
	evECMinBricksUp           = 90
	evAFRQuorumMet            = 106
	evAFRQuorumFail           = 107
	evAFRSplitBrain           = 110
	evVolumeAddBrick          = 123
	evVolumeRemoveBrickStart  = 125
	evVolumeRemoveBrickCommit = 127
	evVolumeRemoveBrickStop   = 129
	evVolumeRemoveBrickForce  = 131
	evVolumeRebalanceStart    = 134
	evVolumeRebalanceStop     = 135
	evVolumeRebalanceFailed   = 136
	evVolumeRebalanceComplete = 137
)
