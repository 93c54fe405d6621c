package awsjson

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Time is an AWS JSON 1.1 timestamp: on the wire a JSON number of seconds
// since the epoch with millisecond precision (1466801808.595). Decoding also
// accepts an ISO-8601 string, which some clients send for input members.
type Time struct{ time.Time }

// NewTime returns t truncated to the millisecond precision of the wire.
func NewTime(t time.Time) *Time {
	return &Time{t.UTC().Truncate(time.Millisecond)}
}

// MarshalJSON writes epoch seconds with at most three decimals.
func (t Time) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		return strconv.AppendInt(nil, ms/1000, 10), nil
	}
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON reads epoch seconds or an RFC 3339 string.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return fmt.Errorf("awsjson: timestamp: %w", err)
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("awsjson: timestamp %q: %w", s, err)
		}
		t.Time = v.UTC()
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("awsjson: timestamp %s is not a number", b)
	}
	sec, frac := math.Modf(f)
	t.Time = time.Unix(int64(sec), int64(math.Round(frac*1000))*int64(time.Millisecond)).UTC()
	return nil
}

// ISO formats t the way EventBridge event details do: "2020-01-23T17:57:34.402Z".
func (t Time) ISO() string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
