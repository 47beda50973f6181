package state

import (
	"maps"
	"slices"
)

// ChangeType says how an object changed.
type ChangeType uint8

// The change types, in the order Diff reports them.
const (
	Added ChangeType = iota
	Modified
	Removed
)

func (t ChangeType) String() string {
	return [...]string{"added", "modified", "removed"}[t]
}

// Change is one object's change. For Added, Props holds every property; for
// Modified, Props holds the new values of the changed properties and Old
// their previous values, in the same order; for Removed, Old holds the last
// properties. Cur holds every current property (nil for Removed), for
// consumers that need context beyond what changed, and Source gives them
// again later (see Source; nil for Removed and for objects that have none).
type Change struct {
	Type   ChangeType
	Ref    Ref
	Props  []Property
	Old    []Property
	Cur    []Property
	Source Source
}

// Diff compares two object lists and reports what changed: first the added
// objects, then the modified ones, then the removed ones, each group in the
// order of its list. Unchanged objects yield nothing.
func Diff(old, cur []Object) []Change {
	if len(old) == 0 {
		// Everything is new (the first read): no lookups to make.
		var added []Change
		if len(cur) > 0 {
			added = make([]Change, len(cur))
		}
		for i := range cur {
			added[i] = Change{Type: Added, Ref: cur[i].Ref, Props: cur[i].Props, Cur: cur[i].Props, Source: cur[i].Source}
		}
		return added
	}
	oldByRef := make(map[Ref]*Object, len(old))
	for i := range old {
		oldByRef[old[i].Ref] = &old[i]
	}
	var added, modified []Change
	seen := make(map[Ref]bool, len(cur))
	for i := range cur {
		o := &cur[i]
		seen[o.Ref] = true
		prev, ok := oldByRef[o.Ref]
		if !ok {
			added = append(added, Change{Type: Added, Ref: o.Ref, Props: o.Props, Cur: o.Props, Source: o.Source})
			continue
		}
		if c, ok := diffProps(prev, o); ok {
			modified = append(modified, c)
		}
	}
	changes := append(added, modified...)
	for i := range old {
		if !seen[old[i].Ref] {
			changes = append(changes, Change{Type: Removed, Ref: old[i].Ref, Old: old[i].Props})
		}
	}
	return changes
}

func diffProps(prev, cur *Object) (Change, bool) {
	c := Change{Type: Modified, Ref: cur.Ref, Cur: cur.Props, Source: cur.Source}
	for i, p := range cur.Props {
		// Objects of a kind list their properties in one order: look at
		// the same place first.
		var old any
		if i < len(prev.Props) && prev.Props[i].Name == p.Name {
			old = prev.Props[i].Value
		} else {
			old = prev.Prop(p.Name)
		}
		if !Equal(old, p.Value) {
			c.Props = append(c.Props, p)
			c.Old = append(c.Old, Property{p.Name, old})
		}
	}
	return c, len(c.Props) > 0
}

// Equal compares two property values of the types Property allows.
func Equal(a, b any) bool {
	switch a := a.(type) {
	case []string:
		b, ok := b.([]string)
		return ok && slices.Equal(a, b)
	case []Ref:
		b, ok := b.([]Ref)
		return ok && slices.Equal(a, b)
	case VolumeList:
		b, ok := b.(VolumeList)
		return ok && a.equal(b)
	case map[string]string:
		b, ok := b.(map[string]string)
		return ok && maps.Equal(a, b)
	case []WebhookState:
		b, ok := b.([]WebhookState)
		return ok && slices.Equal(a, b)
	case []Task:
		b, ok := b.([]Task)
		return ok && tasksEqual(a, b)
	case []GeoRepWorker:
		b, ok := b.([]GeoRepWorker)
		return ok && slices.Equal(a, b)
	case []QuotaLimit:
		b, ok := b.([]QuotaLimit)
		return ok && slices.Equal(a, b)
	default:
		return a == b
	}
}

// tasksEqual compares two lists of tasks.
func tasksEqual(a, b []Task) bool {
	return slices.EqualFunc(a, b, func(x, y Task) bool {
		return x.ID == y.ID && x.Type == y.Type && x.Status == y.Status && maps.Equal(x.Figures, y.Figures)
	})
}
