package jsonx

import "github.com/bytedance/sonic"

// api behaves as encoding/json does.
var api = sonic.ConfigStd

// Marshal is json.Marshal.
func Marshal(v any) ([]byte, error) { return api.Marshal(v) }

// Unmarshal is json.Unmarshal.
func Unmarshal(data []byte, v any) error { return api.Unmarshal(data, v) }
