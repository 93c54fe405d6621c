package jsonx

import "github.com/bytedance/sonic"

// api behaves as encoding/json does, except that the JSON a json.Marshaler
// returns (json.RawMessage above all) is validated and HTML-escaped but not
// compacted: the same bytes for every such value that encoding/json or
// jsonx wrote, which is every json.RawMessage Berth carries (package doc).
var api = sonic.Config{
	EscapeHTML:     true,
	SortMapKeys:    true,
	CopyString:     true,
	ValidateString: true,
}.Froze()

// Marshal is json.Marshal.
func Marshal(v any) ([]byte, error) { return api.Marshal(v) }

// Unmarshal is json.Unmarshal.
func Unmarshal(data []byte, v any) error { return api.Unmarshal(data, v) }
