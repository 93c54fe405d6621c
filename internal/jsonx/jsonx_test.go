package jsonx_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/outbox"
)

// carried are the types jsonx encodes and decodes: the scheduler's state
// records, event details, the outbox header and API replies, and the agent
// protocol's assignments, heartbeats and reports.
var carried = []any{
	events.TaskRecord{}, events.InstanceRecord{}, events.TaskDetail{}, events.ContainerInstanceDetail{},
	events.TaskAssignment{}, events.Heartbeat{}, events.TaskStateReport{},
	events.Member{}, outbox.Event{}, ecsapi.RunTaskRequest{}, ecsapi.RunTaskResponse{},
	ecsapi.DescribeTasksResponse{}, ecsapi.ListTasksResponse{}, map[string]any{"b": 1.5, "a": []any{"<x>", true, nil}},
}

// TestSameBytesAsEncodingJSON: for every carried type, zero and with every
// field set (strings with HTML and line separators, times with
// nanoseconds, omitempty and omitzero fields), jsonx writes what
// encoding/json writes, and reads it back to the same value.
func TestSameBytesAsEncodingJSON(t *testing.T) {
	for _, zero := range carried {
		typ := reflect.TypeOf(zero)
		for _, filled := range []bool{false, true} {
			v := reflect.New(typ)
			if filled {
				fill(v.Elem(), 0)
			} else {
				v.Elem().Set(reflect.ValueOf(zero))
			}
			want, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatalf("%v: encoding/json: %v", typ, err)
			}
			got, err := jsonx.Marshal(v.Interface())
			if err != nil {
				t.Fatalf("%v: jsonx: %v", typ, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%v (filled %v):\njsonx         %s\nencoding/json %s", typ, filled, got, want)
			}
			back := reflect.New(typ)
			if err := jsonx.Unmarshal(want, back.Interface()); err != nil {
				t.Fatalf("%v: jsonx.Unmarshal: %v", typ, err)
			}
			again, _ := json.Marshal(back.Interface())
			if !bytes.Equal(again, want) {
				t.Fatalf("%v (filled %v) read back:\n%s\nwant %s", typ, filled, again, want)
			}
		}
	}
}

// TestRawMessage: a json.RawMessage that is not compact keeps its spaces
// (HTML characters are still escaped, and it reads back to the same value);
// one that is not JSON is an error, as with encoding/json.
func TestRawMessage(t *testing.T) {
	type wrap struct {
		Raw json.RawMessage `json:"raw"`
	}
	got, err := jsonx.Marshal(wrap{Raw: json.RawMessage(`{ "a" : [1, "<b>"] }`)})
	if err != nil || string(got) != `{"raw":{ "a" : [1, "\u003cb\u003e"] }}` {
		t.Fatalf("spaced raw message: %s, %v", got, err)
	}
	var back, want map[string]any
	if err := jsonx.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(`{"raw":{"a":[1,"<b>"]}}`), &want)
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("read back %v, want %v", back, want)
	}
	if _, err := jsonx.Marshal(wrap{Raw: json.RawMessage(`{"a":`)}); err == nil {
		t.Fatal("invalid raw message: no error")
	}
	if _, err := json.Marshal(wrap{Raw: json.RawMessage(`{"a":`)}); err == nil {
		t.Fatal("encoding/json: invalid raw message: no error")
	}
}

// TestSameErrors: what encoding/json rejects, jsonx rejects.
func TestSameErrors(t *testing.T) {
	for _, in := range []string{`{"id":1}`, `{"id":"x"`, `[]`, `{"holding":"yes"}`, "{\"id\":\"\xff\"}x"} {
		var a, b events.TaskRecord
		errStd, errX := json.Unmarshal([]byte(in), &a), jsonx.Unmarshal([]byte(in), &b)
		if (errStd == nil) != (errX == nil) {
			t.Errorf("%q: encoding/json %v, jsonx %v", in, errStd, errX)
		}
	}
}

var at = time.Date(2026, 12, 7, 5, 30, 1, 123456789, time.UTC)

// fill sets every exported field of v to a value that is not zero.
func fill(v reflect.Value, depth int) {
	if depth > 6 {
		return
	}
	switch {
	case v.Type() == reflect.TypeOf(time.Time{}):
		v.Set(reflect.ValueOf(at))
		return
	case v.Type() == reflect.TypeOf(json.RawMessage(nil)):
		// As encoding/json writes it: compact, HTML escaped.
		v.SetBytes([]byte(`{"raw":[1,"\u003cb\u003e"]}`))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("a<b>&c é\u2028\"d\"")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-42)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(42)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.25)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"zeta", "alpha"} {
			key := reflect.New(v.Type().Key()).Elem()
			if key.Kind() != reflect.String {
				return
			}
			key.SetString(k)
			val := reflect.New(v.Type().Elem()).Elem()
			fill(val, depth+1)
			m.SetMapIndex(key, val)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	}
}
