// Package pattern matches JSON events against Amazon EventBridge event
// patterns. It is pure: Compile validates a pattern once, Match tests an
// event.
//
// Every content filter EventBridge documents is supported: exact values
// (strings, numbers, booleans, null), prefix and suffix (also with
// equals-ignore-case), equals-ignore-case, wildcard, anything-but (a value,
// a list, prefix, suffix, equals-ignore-case, wildcard), numeric ranges
// (=, <, <=, >, >=, two bounds), exists (true and false), cidr, nested
// objects, arrays in the event (any element matches) and $or.
//
// A quick look found no Go library covering all of these ($or and
// anything-but forms in particular) that was worth the dependency, so the
// matcher is written here against the EventBridge documentation
// (eb-event-patterns, eb-create-pattern-operators).
package pattern
