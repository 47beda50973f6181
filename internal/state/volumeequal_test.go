package state

import (
	"reflect"
	"testing"
	"time"
)

// SetAll leaves out volumes volumeEqual finds equal, so a field it does not
// compare would be a change never told. Every field of Volume must count.
func TestVolumeEqualSeesEveryField(t *testing.T) {
	typ := reflect.TypeOf(Volume{})
	for i := range typ.NumField() {
		var a, b Volume
		f := reflect.ValueOf(&b).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(7)
		case reflect.Map:
			m := reflect.MakeMap(f.Type())
			m.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf("v"))
			f.Set(m)
		case reflect.Slice:
			f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
		case reflect.Struct:
			if f.Type() != reflect.TypeOf(time.Time{}) {
				t.Fatalf("field %s: teach this test its kind %v", typ.Field(i).Name, f.Type())
			}
			f.Set(reflect.ValueOf(time.Unix(5, 0)))
		default:
			t.Fatalf("field %s: teach this test its kind %v", typ.Field(i).Name, f.Kind())
		}
		if volumeEqual(&a, &b) {
			t.Errorf("volumeEqual does not compare %s", typ.Field(i).Name)
		}
	}
}
