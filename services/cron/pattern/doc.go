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
// timbray/quamina, the well-known Go matcher, was considered: the version
// of its README checked says number matching is textual (35 and 35.000
// differ) and documents no numeric ranges, which rules such as
// "containers.exitCode > 0" need, nor $or. So the matcher is written here,
// after the EventBridge documentation (eb-event-patterns,
// eb-create-pattern-operators). It tests each rule in turn (no shared
// automaton): fine for hundreds of rules, not for millions.
package pattern
