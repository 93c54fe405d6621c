// Command awsgen turns a botocore service model (service-2.json, optionally
// gzipped) into Go wire types for Berth: one struct per model structure with
// the model's exact member names as JSON keys, plus the operation and error
// tables the gateway and services route and answer with.
//
// Mapping: string and enum members are plain strings (omitempty); integers,
// longs, doubles, booleans and timestamps are pointers so that "absent" and
// "zero" stay different; nested structures are pointers; lists and maps use
// omitzero, so nil is omitted but an explicit empty list round-trips as [].
// Timestamps use awsjson.Time (epoch seconds as a JSON number).
//
// Usage (see the go:generate lines in events/ecsapi and friends):
//
//	go run ./internal/awsgen -model service-2.json.gz -pkg ecsapi -out ecsapi
package main
